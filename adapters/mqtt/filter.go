package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// filter is a compiled ingress topic filter. Its source is an MQTT topic
// filter in which a level may also be a named single-level wildcard {name},
// optionally behind a shared-subscription prefix $share/<group>/.
type filter struct {
	// subscription is what the adapter subscribes to: the source with
	// every {name} replaced by +.
	subscription string
	// levels of the filter proper (without the $share prefix): a literal,
	// "+" or "#".
	levels []string
	// names maps a level index to the name it captures.
	names map[int]string
}

const sharePrefix = "$share/"

func compileFilter(s string) (*filter, error) {
	if s == "" {
		return nil, errors.New("must not be empty")
	}
	f := &filter{names: make(map[int]string)}
	body, prefix := s, ""
	if strings.HasPrefix(s, sharePrefix) {
		rest := s[len(sharePrefix):]
		i := strings.IndexByte(rest, '/')
		if i <= 0 || i == len(rest)-1 {
			return nil, fmt.Errorf("filter %q: a shared subscription is $share/<group>/<filter>", s)
		}
		if strings.ContainsAny(rest[:i], "+#{}") {
			return nil, fmt.Errorf("filter %q: the share group %q must not contain wildcards or braces", s, rest[:i])
		}
		prefix, body = s[:len(sharePrefix)+i+1], rest[i+1:]
	}
	levels := strings.Split(body, "/")
	sub := make([]string, len(levels))
	seen := make(map[string]bool)
	for i, l := range levels {
		switch {
		case l == "#":
			if i != len(levels)-1 {
				return nil, fmt.Errorf("filter %q: # must be the last level", s)
			}
		case l == "+":
		case strings.HasPrefix(l, "{") && strings.HasSuffix(l, "}"):
			name := l[1 : len(l)-1]
			if !validName(name) {
				return nil, fmt.Errorf("filter %q: level %q: a name is letters, digits and _, starting with a letter", s, l)
			}
			if name == varTopic {
				return nil, fmt.Errorf("filter %q: {topic} is reserved for the whole MQTT topic", s)
			}
			if seen[name] {
				return nil, fmt.Errorf("filter %q: {%s} appears twice", s, name)
			}
			seen[name] = true
			f.names[i] = name
			l = "+"
		case strings.ContainsAny(l, "+#{}"):
			return nil, fmt.Errorf("filter %q: level %q: wildcards and {name} must fill a whole level", s, l)
		}
		sub[i] = l
		f.levels = append(f.levels, l)
	}
	f.subscription = prefix + strings.Join(sub, "/")
	return f, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_'):
		default:
			return false
		}
	}
	return true
}

// has reports whether the filter captures name.
func (f *filter) has(name string) bool {
	for _, n := range f.names {
		if n == name {
			return true
		}
	}
	return false
}

// match reports whether topic matches the filter and returns the values of
// its named levels. As MQTT requires, a filter starting with a wildcard does
// not match topics starting with $.
func (f *filter) match(topic string) (map[string]string, bool) {
	if strings.HasPrefix(topic, "$") && (f.levels[0] == "+" || f.levels[0] == "#") {
		return nil, false
	}
	var vars map[string]string
	rest := topic
	for i, l := range f.levels {
		if l == "#" {
			return vars, true
		}
		var level string
		last := false
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			level, rest = rest[:j], rest[j+1:]
		} else {
			level, last = rest, true
		}
		if l != "+" && l != level {
			return nil, false
		}
		if name, ok := f.names[i]; ok {
			if vars == nil {
				vars = make(map[string]string, len(f.names))
			}
			vars[name] = level
		}
		if last {
			// "a/#" also matches "a": # covers the parent level.
			if i == len(f.levels)-1 || i == len(f.levels)-2 && f.levels[i+1] == "#" {
				return vars, true
			}
			return nil, false
		}
	}
	return nil, false
}

// maxTopicBytes is the longest topic name an MQTT packet can carry.
const maxTopicBytes = 65535

// checkPublishTopic says why topic cannot be published to, or nil: a topic
// name is non-empty UTF-8 without U+0000, no longer than 65535 bytes, and
// holds no wildcard (MQTT 3.1.1 §4.7 and 5 §4.7); a broker that meets one
// that is not does not acknowledge it, so it would be sent again forever.
// Topics starting with $ are the broker's own.
func checkPublishTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("the topic is empty")
	case len(topic) > maxTopicBytes:
		return fmt.Errorf("the topic is %d bytes long; MQTT allows %d", len(topic), maxTopicBytes)
	case !utf8.ValidString(topic):
		return fmt.Errorf("the topic %q is not valid UTF-8", topic)
	case strings.ContainsRune(topic, 0):
		return fmt.Errorf("the topic %q holds U+0000", topic)
	case strings.ContainsAny(topic, "+#"):
		return fmt.Errorf("the topic %q holds a wildcard (+ or #), which only subscriptions may", topic)
	case strings.HasPrefix(topic, "$"):
		return fmt.Errorf("the topic %q starts with $, which marks the broker's own topics", topic)
	}
	return nil
}

// Placeholder names with a fixed meaning.
const (
	varTopic     = "topic"
	varKey       = "key"
	headerPrefix = "header."
)

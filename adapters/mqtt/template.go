package mqtt

import (
	"errors"
	"fmt"
	"strings"
)

// Templates name Kafka topics, keys, event types and MQTT topics from the
// parts of a message. A template is literal text with placeholders in
// braces: {name}. Which names exist depends on where the template is used:
//
//   - ingress: {topic} is the whole MQTT topic, and every {name} level of
//     the rule's filter is that level's value, e.g. the filter
//     factory/{site}/{sensor}/temp gives {site} and {sensor};
//   - egress: {key} is the record key, {topic} the Kafka topic and
//     {header.NAME} the value of the record header NAME.
//
// Braces cannot appear as literal text.

// part is one piece of a template: literal text or a placeholder.
type part struct {
	lit  string
	name string // placeholder name; empty for literal text
}

type template struct {
	src   string
	parts []part
}

// parseTemplate compiles s, accepting only the placeholders for which known
// returns true.
func parseTemplate(s string, known func(name string) bool) (*template, error) {
	if s == "" {
		return nil, errors.New("must not be empty")
	}
	t := &template{src: s}
	rest := s
	for rest != "" {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			t.parts = append(t.parts, part{lit: rest})
			break
		}
		if rest[open] == '}' {
			return nil, fmt.Errorf("template %q: unmatched }", s)
		}
		if open > 0 {
			t.parts = append(t.parts, part{lit: rest[:open]})
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] != '}' {
			return nil, fmt.Errorf("template %q: unclosed {", s)
		}
		name := rest[open+1 : open+1+end]
		if !known(name) {
			return nil, fmt.Errorf("template %q: unknown placeholder {%s}", s, name)
		}
		t.parts = append(t.parts, part{name: name})
		rest = rest[open+2+end:]
	}
	return t, nil
}

// literal reports whether the template has no placeholders.
func (t *template) literal() bool {
	for _, p := range t.parts {
		if p.name != "" {
			return false
		}
	}
	return true
}

// render fills the placeholders with lookup's values.
func (t *template) render(lookup func(name string) string) string {
	if len(t.parts) == 1 && t.parts[0].name == "" {
		return t.parts[0].lit
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.name == "" {
			b.WriteString(p.lit)
		} else {
			b.WriteString(lookup(p.name))
		}
	}
	return b.String()
}

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

// maxTopicLen keeps a rendered topic short enough for Kafka (249) with
// room for the dead-letter prefix.
const maxTopicLen = 249 - len("_mesh.dlq.")

// kafkaTopic makes a rendered name a legal Kafka topic: characters other
// than ASCII letters, digits, '.', '_' and '-' become '_', an empty name
// (or "." or "..") gets a leading '_', and a longer name than maxTopicLen
// is cut.
func kafkaTopic(s string) string {
	switch s {
	case "", ".", "..":
		return "_" + s
	}
	if len(s) > maxTopicLen {
		s = s[:maxTopicLen]
	}
	ok := true
	for i := 0; i < len(s); i++ {
		if !kafkaChar(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i := range b {
		if !kafkaChar(b[i]) {
			b[i] = '_'
		}
	}
	return string(b)
}

func kafkaChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// Placeholder names with a fixed meaning.
const (
	varTopic     = "topic"
	varKey       = "key"
	headerPrefix = "header."
)

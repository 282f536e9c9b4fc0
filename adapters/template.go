package adapters

import (
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Template names Kafka topics, keys, event types and protocol addresses
// from the parts of a message. It is literal text with placeholders in
// braces, {name}; which names exist depends on where it is used (each
// adapter documents its own), and braces cannot appear as literal text.
type Template struct {
	src   string
	parts []part
}

// part is literal text or a placeholder.
type part struct {
	lit  string
	name string // placeholder name; empty for literal text
}

// ParseTemplate compiles s, accepting only the placeholders for which known
// returns true.
func ParseTemplate(s string, known func(name string) bool) (*Template, error) {
	if s == "" {
		return nil, errors.New("must not be empty")
	}
	t := &Template{src: s}
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

// String returns the template as written.
func (t *Template) String() string { return t.src }

// Literal reports whether the template has no placeholders.
func (t *Template) Literal() bool {
	for _, p := range t.parts {
		if p.name != "" {
			return false
		}
	}
	return true
}

// Render fills the placeholders with lookup's values.
func (t *Template) Render(lookup func(name string) string) string {
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

// RenderStrict is Render, except that a placeholder with an empty value is
// an error naming it: an address with an empty level (a device publishing
// to factory//temp) must not land in a topic with a hole in its name.
func (t *Template) RenderStrict(lookup func(name string) string) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.name == "" {
			b.WriteString(p.lit)
			continue
		}
		v := lookup(p.name)
		if v == "" {
			return "", fmt.Errorf("template %q: {%s} is empty", t.src, p.name)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// RecordVar reports whether an egress template may use name: key, topic
// or header.NAME, the names RecordLookup finds in a record.
func RecordVar(name string) bool {
	h, ok := strings.CutPrefix(name, "header.")
	return name == "key" || name == "topic" || ok && h != ""
}

// RecordLookup looks up the names an egress template may use in a Kafka
// record: {key}, {topic} and {header.NAME} (the first header of that
// name). A name it does not hold renders empty.
func RecordLookup(r *kgo.Record) func(name string) string {
	return func(name string) string {
		switch name {
		case "key":
			return string(r.Key)
		case "topic":
			return r.Topic
		}
		want, ok := strings.CutPrefix(name, "header.")
		if !ok {
			return ""
		}
		for _, h := range r.Headers {
			if h.Key == want {
				return string(h.Value)
			}
		}
		return ""
	}
}

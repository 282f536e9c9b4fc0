package policy

import "strings"

// pattern is a compiled * pattern: a * matches any run of characters
// (none included), every other character only itself. There is no escape:
// no name the policy matches (Kafka topic, schema subject, principal)
// needs a literal *.
type pattern struct {
	text  string
	any   bool     // the pattern is "*"
	exact bool     // no *: the name must equal text
	parts []string // the literal runs between the *s
}

func compilePattern(s string) pattern {
	switch {
	case s == "*" || strings.Trim(s, "*") == "" && s != "":
		return pattern{text: s, any: true}
	case !strings.Contains(s, "*"):
		return pattern{text: s, exact: true}
	}
	return pattern{text: s, parts: strings.Split(s, "*")}
}

// match reports whether name matches the pattern. It runs in time linear
// in the name: each literal run after the first is taken at its leftmost
// occurrence, which is always safe for * patterns.
func (p *pattern) match(name string) bool {
	switch {
	case p.any:
		return true
	case p.exact:
		return name == p.text
	}
	first, last := p.parts[0], p.parts[len(p.parts)-1]
	if len(name) < len(first)+len(last) || !strings.HasPrefix(name, first) || !strings.HasSuffix(name, last) {
		return false
	}
	rest := name[len(first) : len(name)-len(last)]
	for _, part := range p.parts[1 : len(p.parts)-1] {
		i := strings.Index(rest, part)
		if i < 0 {
			return false
		}
		rest = rest[i+len(part):]
	}
	return true
}

// prefix returns the literal text before the pattern's first * and
// whether the pattern is exactly that prefix followed by a single *
// (which Kafka ACLs can express as a PREFIXED resource).
func (p *pattern) prefix() (string, bool) {
	i := strings.IndexByte(p.text, '*')
	if i < 0 {
		return p.text, false
	}
	return p.text[:i], i == len(p.text)-1
}

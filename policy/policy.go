package policy

import (
	"fmt"
	"slices"
)

// Policy is a compiled policy file, safe for concurrent use. Its
// decisions are cached (see cache), so asking the same question twice
// costs a map lookup.
type Policy struct {
	file  File
	rules []compiledRule // grants
	deny  []compiledRule
	cache *cache // nil for a policy too small to gain from one
}

type compiledRule struct {
	ref        string // what Explain names: the rule's name and its place
	deny       bool
	principals []pattern
	anyAction  bool
	actions    []string
	resources  []pattern
}

// Compile compiles a file that Validate accepted. A rule that did not
// validate (a pattern that can never match) is compiled as written and
// never matches what it cannot.
func Compile(f File) *Policy {
	p := &Policy{file: f}
	if len(f.Rules)+len(f.Deny) >= cacheFromRules {
		p.cache = newCache(defaultCacheEntries)
	}
	for i, r := range f.Rules {
		p.rules = append(p.rules, compileRule(r, fmt.Sprintf("rules[%d]", i), false))
	}
	for i, r := range f.Deny {
		p.deny = append(p.deny, compileRule(r, fmt.Sprintf("deny[%d]", i), true))
	}
	return p
}

func compileRule(r Rule, place string, deny bool) compiledRule {
	c := compiledRule{ref: place, deny: deny, actions: r.Actions, anyAction: slices.Contains(r.Actions, "*")}
	if r.Name != "" {
		c.ref = fmt.Sprintf("%q (%s)", r.Name, place)
	}
	for _, s := range r.Principals {
		c.principals = append(c.principals, compilePattern(s))
	}
	for _, s := range r.Resources {
		c.resources = append(c.resources, compilePattern(s))
	}
	return c
}

// File returns the policy as written.
func (p *Policy) File() File { return p.file }

func matchAny(ps []pattern, s string) bool {
	for i := range ps {
		if ps[i].match(s) {
			return true
		}
	}
	return false
}

func (r *compiledRule) matches(principal, action, resource string) bool {
	return (r.anyAction || slices.Contains(r.actions, action)) && matchAny(r.principals, principal) && matchAny(r.resources, resource)
}

// Decision is the answer to one question: may principal take action on
// resource?
type Decision struct {
	Allowed bool
	// Rule names the rule that decided ("admins" (rules[0])), or is empty
	// when no rule did: denied by default, or allowed as no policy is set.
	Rule string
	// Denied is true when a deny rule refused it.
	Denied bool
	// NoPolicy is true when no policy is set, so everything is allowed.
	NoPolicy bool
}

// Explain says why the decision was taken, in a sentence.
func (d Decision) Explain() string {
	switch {
	case d.NoPolicy:
		return "allowed: no policy is set, so every request is allowed"
	case d.Denied:
		return "denied by deny rule " + d.Rule
	case d.Allowed:
		return "allowed by rule " + d.Rule
	}
	return "denied: no rule grants it (deny by default)"
}

// Decide decides whether principal may take action on resource (kind:name,
// or mesh): a matching deny rule refuses, else a matching rule grants,
// else it is denied. A nil policy (none set) allows everything.
func (p *Policy) Decide(principal, action, resource string) Decision {
	if p == nil {
		return Decision{Allowed: true, NoPolicy: true}
	}
	if p.cache == nil {
		return p.decide(principal, action, resource)
	}
	key := cacheKey{principal, action, resource}
	if d, ok := p.cache.get(key); ok {
		return d
	}
	d := p.decide(principal, action, resource)
	p.cache.put(key, d)
	return d
}

// decide is Decide without the cache.
func (p *Policy) decide(principal, action, resource string) Decision {
	for i := range p.deny {
		if p.deny[i].matches(principal, action, resource) {
			return Decision{Rule: p.deny[i].ref, Denied: true}
		}
	}
	for i := range p.rules {
		if p.rules[i].matches(principal, action, resource) {
			return Decision{Allowed: true, Rule: p.rules[i].ref}
		}
	}
	return Decision{}
}

package policy

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// FuzzMatch holds the compiled matcher to a reference: the same pattern
// as an anchored regular expression.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"*", ""}, {"orders.*", "orders.created"}, {"*.created", "x.created"}, {"a*b*c", "aXbYc"},
		{"a*a", "a"}, {"a*b*b", "abb"}, {"**", "x"}, {"*x*", "yxy"}, {"svc-*", "svc-"}, {"é*", "é"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, name string) {
		if len(pat) > 64 || len(name) > 256 {
			return
		}
		parts := strings.Split(pat, "*")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		re, err := regexp.Compile(`\A(?s:` + strings.Join(parts, ".*") + `)\z`)
		if err != nil {
			return // not UTF-8: regexp refuses what the matcher takes byte for byte
		}
		p := compilePattern(pat)
		if got, want := p.match(name), re.MatchString(name); got != want {
			t.Fatalf("%q matching %q = %v, the reference says %v", pat, name, got, want)
		}
	})
}

// FuzzParse feeds Parse any text: it never panics, and what it accepts
// decides every question without panicking, the same with and without
// its cache.
func FuzzParse(f *testing.F) {
	f.Add(example, "admin", "write", "subject:x")
	f.Add("rules: []\n", "a", "read", "mesh")
	f.Add("rules:\n  - principals: ['*']\n    actions: [produce]\n    resources: ['topic:a*']\ndeny:\n  - principals: [b]\n    actions: ['*']\n    resources: ['*']\n", "b", "produce", "topic:ab")
	f.Add("rules: [{principals: [x], actions: [read], resources: [\"subject:*\"]}]", "x", "read", "subject:")
	f.Fuzz(func(t *testing.T, text, principal, action, resource string) {
		if len(text) > 4096 {
			return
		}
		p, err := Parse("policy.yaml", []byte(text))
		if err != nil {
			return
		}
		d := p.Decide(principal, action, resource)
		if again := p.Decide(principal, action, resource); again != d || p.decide(principal, action, resource) != d {
			t.Fatalf("the cached decision %+v differs from %+v", again, d)
		}
		if d.Allowed == (d.Denied || d.Rule == "") {
			t.Fatalf("inconsistent decision %+v", d)
		}
	})
}

// TestPropertyDenyWinsAndNoGrantDenies builds random policies and asks
// random questions: a question a deny rule matches is always denied,
// whatever grants it; one no rule matches is always denied; one a rule
// grants and no deny rule matches is allowed.
func TestPropertyDenyWinsAndNoGrantDenies(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 3))
	names := []string{"alice", "bob", "svc-replicator", "svc-registry", "team-a", "team-b"}
	res := []string{"topic:orders.created", "topic:orders.paid", "topic:payments.x", "subject:orders-value", "subject:payments-value", "group:g1", "mesh"}
	acts := Actions()
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	pat := func(s string) string {
		switch rng.IntN(5) {
		case 0:
			return "*"
		case 1:
			if i := strings.IndexAny(s, ".-:"); i >= 0 {
				return s[:i+1] + "*"
			}
		case 2:
			if len(s) > 2 {
				return "*" + s[len(s)-2:]
			}
		}
		return s
	}
	resPat := func() string {
		r := pick(res)
		if r == Mesh || rng.IntN(6) == 0 {
			return pick([]string{"*", Mesh})
		}
		kind, name, _ := strings.Cut(r, ":")
		return kind + ":" + pat(name)
	}
	rule := func() Rule {
		var r Rule
		for range 1 + rng.IntN(2) {
			r.Principals = append(r.Principals, pat(pick(names)))
			r.Actions = append(r.Actions, pick(append(acts, "*")))
			r.Resources = append(r.Resources, resPat())
		}
		return r
	}
	ref := reference{}
	for range 300 {
		var f File
		for range rng.IntN(4) {
			f.Rules = append(f.Rules, rule())
		}
		for range rng.IntN(3) {
			f.Deny = append(f.Deny, rule())
		}
		p := Compile(f)
		for range 50 {
			who, act, what := pick(names), pick(acts), pick(res)
			d := p.Decide(who, act, what)
			denied, granted := false, false
			for _, r := range f.Deny {
				denied = denied || ref.ruleMatches(r, who, act, what)
			}
			for _, r := range f.Rules {
				granted = granted || ref.ruleMatches(r, who, act, what)
			}
			switch {
			case denied && (d.Allowed || !d.Denied):
				t.Fatalf("a deny rule matches %s %s %s, yet %+v (policy %+v)", who, act, what, d, f)
			case !granted && d.Allowed:
				t.Fatalf("no rule grants %s %s %s, yet %+v (policy %+v)", who, act, what, d, f)
			case granted && !denied && !d.Allowed:
				t.Fatalf("a rule grants %s %s %s and none denies, yet %+v (policy %+v)", who, act, what, d, f)
			}
		}
	}
}

// reference matches rules as regular expressions, compiled once each.
type reference map[string]*regexp.Regexp

func (ref reference) ruleMatches(r Rule, who, act, what string) bool {
	m := func(pats []string, s string) bool {
		for _, p := range pats {
			re, ok := ref[p]
			if !ok {
				re = regexp.MustCompile(`\A` + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, `.*`) + `\z`)
				ref[p] = re
			}
			if re.MatchString(s) {
				return true
			}
		}
		return false
	}
	return m(r.Principals, who) && (m(r.Actions, act)) && m(r.Resources, what)
}

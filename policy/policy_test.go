package policy

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

const example = `rules:
  - name: admins
    principals: ["admin", "svc-*"]
    actions: ["*"]
    resources: ["*"]
  - name: viewers
    principals: ["viewer"]
    actions: [read, consume, describe]
    resources: ["*"]
  - name: orders-team
    principals: ["team-orders-*"]
    actions: [produce, consume]
    resources: ["topic:orders.*"]
  - principals: ["team-orders-*"]
    actions: [write]
    resources: ["subject:orders.*-value"]
deny:
  - name: no-payment-deletes
    principals: ["*"]
    actions: [delete]
    resources: ["subject:payments-*"]
services:
  replicator: svc-replicator
  registry: svc-registry
`

func mustParse(t testing.TB, text string) *Policy {
	t.Helper()
	p, err := Parse("policy.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecide(t *testing.T) {
	p := mustParse(t, example)
	for _, c := range []struct {
		principal, action, resource string
		allowed                     bool
		explain                     string
	}{
		{"admin", "write", "subject:orders-value", true, `allowed by rule "admins" (rules[0])`},
		{"svc-replicator", "produce", "topic:x", true, `allowed by rule "admins" (rules[0])`},
		{"admin", "delete", "subject:payments-value", false, `denied by deny rule "no-payment-deletes" (deny[0])`},
		{"admin", "delete", "subject:orders-value", true, `allowed by rule "admins" (rules[0])`},
		{"viewer", "read", "subject:orders-value", true, `allowed by rule "viewers" (rules[1])`},
		{"viewer", "write", "subject:orders-value", false, "denied: no rule grants it (deny by default)"},
		{"viewer", "interest", "topic:orders.created", false, "denied: no rule grants it (deny by default)"},
		{"team-orders-eu", "produce", "topic:orders.created", true, `allowed by rule "orders-team" (rules[2])`},
		{"team-orders-eu", "produce", "topic:payments.created", false, "denied: no rule grants it (deny by default)"},
		{"team-orders-eu", "write", "subject:orders.created-value", true, "allowed by rule rules[3]"},
		{"team-orders-eu", "write", "subject:orders.created-key", false, "denied: no rule grants it (deny by default)"},
		{"nobody", "read", "mesh", false, "denied: no rule grants it (deny by default)"},
		{"", "read", "mesh", false, "denied: no rule grants it (deny by default)"},
	} {
		for range 2 { // the second answer comes from the cache
			d := p.Decide(c.principal, c.action, c.resource)
			if d.Allowed != c.allowed || d.Explain() != c.explain {
				t.Errorf("Decide(%q, %q, %q) = %v, %q; want %v, %q", c.principal, c.action, c.resource, d.Allowed, d.Explain(), c.allowed, c.explain)
			}
		}
	}
	var none *Policy
	if d := none.Decide("anyone", "delete", "subject:x"); !d.Allowed || !strings.Contains(d.Explain(), "no policy is set") {
		t.Errorf("no policy: %+v %q", d, d.Explain())
	}
}

func TestParseErrorsNameLineAndField(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"", "policy.yaml: the policy file is empty"},
		{"deny: []\n", "policy.yaml: field rules: required"},
		{"rules:\n  - principals: [a]\n    actions: [publish]\n    resources: [\"*\"]\n", `policy.yaml:3:15: field rules[0].actions[0]: unknown action "publish"`},
		{"rules:\n  - principals: [a]\n    actions: [read]\n    resources: [\"queue:x\"]\n", `policy.yaml:4:17: field rules[0].resources[0]: resource "queue:x": unknown kind "queue"`},
		{"rules:\n  - principals: []\n    actions: [read]\n    resources: [mesh]\n", "policy.yaml:2:5: field rules[0].principals: must not be empty"},
		{"rules:\n  - principals: [a]\n    actions: [read]\n", "policy.yaml:2:5: field rules[0].resources: must not be empty"},
		{"rules:\n  - principals: [a]\n    actions: [read]\n    resources: [\"topic:orders/*\"]\n", `field rules[0].resources[0]: resource "topic:orders/*" can never match`},
		{"rules:\n  - principals: [a]\n    actions: [read]\n    resources: [\"topic:\"]\n", `resource "topic:" names nothing: write topic:* for every topic`},
		{"rules:\n  - principals: [a]\n    actions: [read]\n    resources: [orders]\n", `resource "orders": want kind:name`},
		{"rules:\n  - principals: [\" a\"]\n    actions: [read]\n    resources: [mesh]\n", `field rules[0].principals[0]: principal " a" begins or ends with white space`},
		{"rules: []\ndeny:\n  - principals: [a]\n    actions: [produce]\n    resources: [\"subject:x\"]\n", `policy.yaml:4:15: field deny[0].actions[0]: produce applies to topic resources, and this rule names none`},
		{"rules:\n  - principals: [a]\n    action: [read]\n    resources: [mesh]\n", `policy.yaml:3:5: field rules[0].action: unknown field "action"`},
		{"rules: []\nservices:\n  replicator: svc-*\n", `field services.replicator: a service's principal is one name, not a pattern`},
		{"rules: []\nservices:\n  broker: x\n", `field services.broker: unknown field "broker"`},
	} {
		_, err := Parse("policy.yaml", []byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v; want an error with %q", c.text, err, c.want)
		}
	}
	if _, err := Parse("policy.yaml", []byte("rules: []\n")); err != nil {
		t.Errorf("rules: [] is a valid policy that denies everything: %v", err)
	}
}

func TestPatternMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true}, {"*", "anything", true}, {"**", "x", true},
		{"orders.*", "orders.created", true}, {"orders.*", "orders.", true}, {"orders.*", "orders", false},
		{"*.created", "orders.created", true}, {"*.created", "orders.updated", false},
		{"a*b*c", "abc", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "acb", false}, {"a*a", "a", false},
		{"a*b*b", "abb", true}, {"a*b*b", "ab", false}, {"x", "x", true}, {"x", "xx", false},
		{"topic:orders.*", "topic:orders.a", true}, {"topic:orders.*", "subject:orders.a", false},
	} {
		p := compilePattern(c.pattern)
		if got := p.match(c.name); got != c.want {
			t.Errorf("%q matching %q = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestCacheIsBoundedAndFreshPerPolicy(t *testing.T) {
	p := bigPolicy(t, 20)
	const bound = 1000
	p.cache = newCache(bound)
	for i := range 3 * bound {
		p.Decide("user-"+strconv.Itoa(i), "read", "mesh")
		if n := p.cache.len(); n > bound || n == 0 {
			t.Fatalf("the cache holds %d decisions, want at most %d", n, bound)
		}
	}
	if mustParse(t, example).cache != nil {
		t.Fatal("a policy of 5 rules has a cache")
	}
	if q := bigPolicy(t, 20); q.cache == nil || q.cache.len() != 0 {
		t.Fatal("a policy compiled anew starts with decisions, or without a cache")
	}
}

// bigPolicy is a policy of n teams, each producing to its own topics, and
// a few deny rules: large enough for the decision cache.
func bigPolicy(t testing.TB, n int) *Policy {
	var b strings.Builder
	b.WriteString("rules:\n  - {name: admins, principals: [admin], actions: [\"*\"], resources: [\"*\"]}\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: team%d, principals: [\"team%d-*\"], actions: [produce, consume], resources: [\"topic:team%d.*\", \"group:team%d-*\"]}\n", i, i, i, i)
	}
	b.WriteString("deny:\n  - {principals: [\"*\"], actions: [delete], resources: [\"subject:payments-*\"]}\n")
	return mustParse(t, b.String())
}

// BenchmarkDecide is the cost of a decision a service takes on every
// request: for the README's policy (matched each time, no cache), and for
// a policy of 200 rules, from its cache and without it.
func BenchmarkDecide(b *testing.B) {
	small, big := mustParse(b, example), bigPolicy(b, 200)
	b.Run("rules=5", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				small.Decide("team-orders-eu", "produce", "topic:orders.created")
			}
		})
	})
	b.Run("rules=202/cached", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				big.Decide("team150-eu", "produce", "topic:team150.created")
			}
		})
	})
	b.Run("rules=202/uncached", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				big.decide("team150-eu", "produce", "topic:team150.created")
			}
		})
	})
}

package policy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's example policy parses, and its meshctl answers are the
// policy's.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var doc string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if strings.HasPrefix(m[1], "rules:") {
			doc = m[1]
		}
	}
	p, err := Parse("README.md", []byte(doc))
	if err != nil {
		t.Fatalf("the README's policy: %v", err)
	}
	checks := regexp.MustCompile(`(?m)^\$ meshctl policy check (\S+) (\S+) (\S+) --policy policy.yaml\n(\S+) may (?:not )?\S+ \S+: (.*)$`).FindAllStringSubmatch(string(b), -1)
	if len(checks) < 2 {
		t.Fatalf("the README's meshctl examples were not found (%d)", len(checks))
	}
	for _, m := range checks {
		if got := p.Decide(m[1], m[2], m[3]).Explain(); got != m[5] {
			t.Errorf("check %s %s %s: %q, the README says %q", m[1], m[2], m[3], got, m[5])
		}
	}
}

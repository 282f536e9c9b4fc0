package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testPolicy = filepath.Join("..", "..", "policy", "testdata", "policy.yaml")

func TestPolicyCheckExplainsWithItsExitStatus(t *testing.T) {
	abs, err := filepath.Abs(testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	isolate(t)
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"admin", "write", "subject:orders-value"}, 0, "admin may write subject:orders-value: allowed by rule \"admins\" (rules[0])\n"},
		{[]string{"viewer", "write", "subject:orders-value"}, 1, "viewer may not write subject:orders-value: denied: no rule grants it (deny by default)\n"},
		{[]string{"admin", "consume", "topic:pii.cards"}, 1, "admin may not consume topic:pii.cards: denied by deny rule \"no-pii\" (deny[0])\n"},
		{[]string{"team-orders-eu", "produce", "topic:orders.created"}, 0, "team-orders-eu may produce topic:orders.created: allowed by rule \"orders-producers\" (rules[2])\n"},
	} {
		code, out, errOut := meshctl(t, append(append([]string{"policy", "check"}, c.args...), "--policy", abs)...)
		if code != c.code || out != c.out {
			t.Errorf("check %q: %d %q %q, want %d %q", c.args, code, out, errOut, c.code, c.out)
		}
	}
	code, out, _ := meshctl(t, "policy", "check", "viewer", "read", "mesh", "--policy", abs, "-o", "json")
	if code != 0 || !strings.Contains(out, `"allowed": true`) || !strings.Contains(out, `"rule": "\"viewers\" (rules[1])"`) {
		t.Errorf("-o json: %d %s", code, out)
	}
	// Errors: 2.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  - principals: [a]\n    actions: [reed]\n    resources: [mesh]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"admin", "wrte", "subject:x", "--policy", abs}, `unknown action "wrte"`},
		{[]string{"admin", "write", "subjects:x", "--policy", abs}, `unknown kind "subjects"`},
		{[]string{"admin", "write", "subject:x", "--policy", bad}, `bad.yaml:3:15: field rules[0].actions[0]: unknown action "reed"`},
		{[]string{"admin", "write", "subject:x"}, "which policy? give --policy FILE"},
		{[]string{"admin", "write"}, "accepts 3 arg(s)"},
	} {
		code, _, errOut := meshctl(t, append([]string{"policy", "check"}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("check %q: %d %q, want 2 and %q", c.args, code, errOut, c.want)
		}
	}
	// The dev mesh's policy, and $MESHWORK_POLICY.
	if err := os.MkdirAll(".mesh", 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(abs)
	if err := os.WriteFile(defaultPolicy, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := meshctl(t, "policy", "check", "viewer", "consume", "topic:x"); code != 0 {
		t.Errorf("with %s: %d %q %q", defaultPolicy, code, out, errOut)
	}
	t.Setenv(policyEnv, bad)
	if code, _, _ := meshctl(t, "policy", "check", "viewer", "consume", "topic:x"); code != 2 {
		t.Errorf("$%s is not read before %s: %d", policyEnv, defaultPolicy, code)
	}
}

// kafka-acls prints what the policy package's golden files hold.
func TestPolicyKafkaACLsGolden(t *testing.T) {
	for format, file := range map[string]string{"table": "kafka-acls.txt", "json": "kafka-acls.json", "strimzi": "kafka-acls.strimzi.yaml"} {
		want, err := os.ReadFile(filepath.Join(filepath.Dir(testPolicy), file))
		if err != nil {
			t.Fatal(err)
		}
		code, out, errOut := meshctl(t, "policy", "kafka-acls", "--policy", testPolicy, "-o", format)
		if code != 0 || out != string(want) {
			t.Errorf("-o %s: %d %q\n%s\nwant:\n%s", format, code, errOut, out, want)
		}
	}
	if code, _, errOut := meshctl(t, "sites", "-o", "strimzi"); code != 2 || !strings.Contains(errOut, "for policy kafka-acls only") {
		t.Errorf("-o strimzi elsewhere: %d %q", code, errOut)
	}
}

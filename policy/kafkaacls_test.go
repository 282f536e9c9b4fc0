package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// golden compares got with the file testdata/name, which UPDATE_GOLDEN=1
// writes instead.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("%s differs (UPDATE_GOLDEN=1 rewrites it once the change is right); got:\n%s", path, got)
	}
}

func TestKafkaACLsGolden(t *testing.T) {
	p, err := Load(filepath.Join("testdata", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	acls := p.KafkaACLs()
	golden(t, "kafka-acls.txt", acls.Commands())
	js, err := json.MarshalIndent(acls, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "kafka-acls.json", string(js)+"\n")
	strimzi, err := acls.Strimzi("my-cluster")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "kafka-acls.strimzi.yaml", strimzi)
}

// The bindings the policy's meaning needs, whatever the golden files say.
func TestKafkaACLsSemantics(t *testing.T) {
	p, err := Load(filepath.Join("testdata", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	acls := p.KafkaACLs()
	has := func(a ACL) bool {
		for _, b := range acls.ACLs {
			b.From = ""
			if b == a {
				return true
			}
		}
		return false
	}
	for _, want := range []ACL{
		{"User:shop", "ALLOW", "WRITE", "TOPIC", "orders.", "PREFIXED", "*", ""},
		{"User:shop", "ALLOW", "DESCRIBE", "TOPIC", "audit", "LITERAL", "*", ""},
		{"User:team-orders-eu", "ALLOW", "WRITE", "TOPIC", "orders.", "PREFIXED", "*", ""}, // a pattern, expanded
		{"User:billing", "ALLOW", "READ", "TOPIC", "orders.", "PREFIXED", "*", ""},
		{"User:billing", "ALLOW", "READ", "GROUP", "billing-", "PREFIXED", "*", ""},
		{"User:viewer", "ALLOW", "READ", "GROUP", "*", "LITERAL", "*", ""},
		{"User:*", "DENY", "READ", "TOPIC", "pii.", "PREFIXED", "*", ""},
		{"User:svc-mqtt", "ALLOW", "WRITE", "TOPIC", "plant.", "PREFIXED", "*", ""}, // widened, with a note
		{"User:svc-replicator", "ALLOW", "WRITE", "TRANSACTIONAL_ID", ReplicatorTransactionalIDPrefix, "PREFIXED", "*", ""},
		{"User:svc-replicator", "ALLOW", "IDEMPOTENT_WRITE", "CLUSTER", "kafka-cluster", "LITERAL", "*", ""},
		{"User:svc-registry", "ALLOW", "WRITE", "TOPIC", RegistryTopic, "LITERAL", "*", ""},
	} {
		if !has(want) {
			t.Errorf("no binding %+v", want)
		}
	}
	for _, unwanted := range []ACL{
		{"User:viewer", "ALLOW", "WRITE", "TOPIC", "*", "LITERAL", "*", ""},  // read is no Kafka grant
		{"User:*", "DENY", "DESCRIBE", "TOPIC", "pii.", "PREFIXED", "*", ""}, // a deny of consume leaves describe
		{"User:billing", "ALLOW", "READ", "GROUP", "*", "LITERAL", "*", ""},  // the rule names its groups
		{"User:team-orders-eu", "ALLOW", "WRITE", "TOPIC", "*", "LITERAL", "*", ""},
	} {
		if has(unwanted) {
			t.Errorf("unwanted binding %+v", unwanted)
		}
	}
	if len(acls.Notes) != 2 {
		t.Errorf("notes %q, want the pattern expanded and the topic widened", acls.Notes)
	}
}

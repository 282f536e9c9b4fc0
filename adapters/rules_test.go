package adapters

import (
	"strings"
	"testing"
	"time"
)

type inRule struct{ name, topic string }

func (r inRule) RuleName() string { return r.name }

type outRule struct{ name, group string }

func (r outRule) RuleName() string  { return r.name }
func (r outRule) RuleGroup() string { return r.group }

// Rules left unnamed are called by their field, names are unique across
// ingress and egress, and egress groups default per protocol and site.
func TestCompileRulesNamesAndGroups(t *testing.T) {
	known := func(string) bool { return false }
	compileIn := func(r inRule, name string) (IngressTarget, error) {
		return CompileIngressTarget(name, r.topic, "", "", nil, known)
	}
	compileOut := func(r outRule, name, group string) ([2]string, error) { return [2]string{name, group}, nil }
	in, out, err := CompileRules("amqp", "east", []inRule{{topic: "t"}, {name: "x", topic: "_mesh.t"}},
		[]outRule{{}, {name: "x", group: "g"}}, compileIn, compileOut)
	for _, want := range []string{
		`ingress[1].topic: "_mesh.t": topics beginning with _`,
		`egress[1].name: "x" is also the name of ingress[1]`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	if in[0].Name != "ingress[0]" || in[0].Topic.String() != "t" {
		t.Errorf("ingress[0] = %+v", in[0])
	}
	if out[0] != [2]string{"egress[0]", "meshwork-amqp-east-egress_0_"} || out[1] != [2]string{"x", "g"} {
		t.Errorf("egress = %v", out)
	}
}

func TestSettingsValidate(t *testing.T) {
	ok := Settings{Adapter: "AMQP", SchemaRule: -1, Acks: "all", NotReadyAfter: time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Settings{Adapter: "AMQP", SchemaRule: 2, Acks: "leader", NotReadyAfter: time.Millisecond}
	err := bad.Validate()
	for _, want := range []string{"registry.url: required: ingress[2] has a schema", "kafka.producer.acks: the AMQP adapter", "not_ready_after: "} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}

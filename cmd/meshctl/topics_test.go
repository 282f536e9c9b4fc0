package main

import (
	"strings"
	"testing"

	"github.com/meshwork/meshwork/controlplane"
)

// describe topic names each adapter rule, with its protocol side and
// whether the adapter reports it as configured.
func TestDescribeTopicNamesAdapterRules(t *testing.T) {
	var b strings.Builder
	err := describeTopic(&b, controlplane.Topic{Name: "plant.temp", Sites: []controlplane.TopicAtSite{{Site: "east", Role: "origin",
		Adapters: []controlplane.AdapterUse{
			{Adapter: "mqtt-east", Rule: "telemetry", Direction: "ingress", Component: "mqtt-adapter/east", Protocol: "plant/+/temp", Configured: true},
			{Adapter: "mqtt-west", Direction: "ingress"},
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"RULE", "PROTOCOL SIDE", "telemetry", "plant/+/temp"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe topic misses %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "telemetry") && !strings.HasSuffix(strings.TrimSpace(line), "yes") ||
			strings.Contains(line, "mqtt-west") && !strings.HasSuffix(strings.TrimSpace(line), "no") {
			t.Fatalf("CONFIGURED column wrong in %q:\n%s", line, out)
		}
	}
}

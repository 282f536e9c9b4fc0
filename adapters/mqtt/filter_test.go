package mqtt

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/config/reference"
)

func TestCompileFilter(t *testing.T) {
	for _, tc := range []struct {
		src, sub, topic string
		match           bool
		vars            map[string]string
	}{
		{"factory/{site}/{sensor}/temp", "factory/+/+/temp", "factory/f1/s9/temp", true, map[string]string{"site": "f1", "sensor": "s9"}},
		{"factory/{site}/{sensor}/temp", "factory/+/+/temp", "factory/f1/temp", false, nil},
		{"factory/+/temp", "factory/+/temp", "factory/x/temp", true, nil},
		{"a/#", "a/#", "a", true, nil},
		{"a/#", "a/#", "a/b/c", true, nil},
		{"#", "#", "$SYS/uptime", false, nil},
		{"+/x", "+/x", "$SYS/x", false, nil},
		{"$SYS/#", "$SYS/#", "$SYS/x", true, nil},
		{"$share/g1/plant/{line}/#", "$share/g1/plant/+/#", "plant/l2/a/b", true, map[string]string{"line": "l2"}},
		{"a/b", "a/b", "a/b/c", false, nil},
	} {
		f, err := compileFilter(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if f.subscription != tc.sub {
			t.Errorf("%s: subscription %q, want %q", tc.src, f.subscription, tc.sub)
		}
		vars, ok := f.match(tc.topic)
		if ok != tc.match || !maps.Equal(vars, tc.vars) {
			t.Errorf("%s on %s: got %v %v, want %v %v", tc.src, tc.topic, ok, vars, tc.match, tc.vars)
		}
	}
	for _, bad := range []string{"", "a/#/b", "a/b+", "a/{x}/{x}", "a/{1x}", "a/{topic}", "$share/g", "$share//a", "$share/g+/a", "a/x{y}"} {
		if _, err := compileFilter(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestConfigErrorsNameFileLineField(t *testing.T) {
	base := "site: east\nbroker:\n  url: tcp://127.0.0.1:1883\n  client_id: a1\nkafka:\n  brokers: [\"127.0.0.1:9092\"]\n"
	for _, tc := range []struct{ doc, want string }{
		{base + "ingress:\n  - filter: factory/{site}/#/x\n    topic: plant.t\n", "mqtt.yaml:8:5: field ingress[0].filter: "},
		{base + "ingress:\n  - filter: f/{site}\n    topic: plant.{sensor}\n", "mqtt.yaml:9:5: field ingress[0].topic: "},
		{base + "ingress:\n  - filter: f/+\n    topic: t\n    qos: 3\n", "mqtt.yaml:10:5: field ingress[0].qos: want 0, 1 or 2"},
		{base + "egress:\n  - topics: [cmds]\n    mqtt_topic: dev/{value}\n", "mqtt.yaml:9:5: field egress[0].mqtt_topic: "},
		{base + "egress:\n  - topics: [cmds]\n    mqtt_topc: x\n", "mqtt.yaml:9:5: field egress[0].mqtt_topc: unknown field"},
		{strings.Replace(base, "tcp://127.0.0.1:1883", "http://x:1", 1) + "egress:\n  - topics: [c]\n", "mqtt.yaml:3:3: field broker.url: unsupported scheme"},
		{strings.Replace(base, "  client_id: a1\n", "", 1) + "egress:\n  - topics: [c]\n", "mqtt.yaml:2:1: field broker.client_id: required"},
		{base, "field ingress: no rules"},
	} {
		cfg := DefaultConfig()
		err := config.Parse("mqtt.yaml", []byte(tc.doc), &cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
		}
	}
	cfg := DefaultConfig()
	if err := config.Parse("mqtt.yaml", []byte(base+"ingress:\n  - filter: f/+\n    topic: t\negress:\n  - topics: [c]\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprintf("%+v", cfg)
	in, out, err := cfg.rules()
	if err != nil {
		t.Fatal(err)
	}
	if r := in[0]; r.qos != 1 || r.Name != "ingress[0]" || r.key.String() != "{topic}" {
		t.Fatalf("ingress defaults not applied: %+v", r)
	}
	if r := out[0]; r.name != "egress[0]" || r.group != "meshwork-mqtt-east-egress_0_" || r.To.String() != "{key}" {
		t.Fatalf("egress defaults not applied: %+v", r)
	}
	if err := cfg.Validate(); err != nil || fmt.Sprintf("%+v", cfg) != before {
		t.Fatalf("Validate changed the configuration or failed: %v", err)
	}
}

// Rules may not name the mesh's, the registry's or Kafka's own topics.
func TestConfigRefusesInternalTopics(t *testing.T) {
	base := "site: east\nbroker:\n  url: tcp://127.0.0.1:1883\n  client_id: a1\nkafka:\n  brokers: [\"127.0.0.1:9092\"]\n"
	for _, topic := range []string{"_schemas", "_mesh.interest", "__consumer_offsets", "_x.{topic}"} {
		cfg := DefaultConfig()
		err := config.Parse("mqtt.yaml", []byte(base+"ingress:\n  - filter: f/+\n    topic: \""+topic+"\"\n"), &cfg)
		if err == nil || !strings.Contains(err.Error(), "field ingress[0].topic") || !strings.Contains(err.Error(), "belong to the mesh") {
			t.Errorf("%s: got %v", topic, err)
		}
	}
}

// The examples in README.md are valid configurations.
func TestReadmeExamples(t *testing.T) {
	reference.CheckExamples(t, "README.md", "mesh-mqtt", func(name string, data []byte) error {
		cfg := DefaultConfig()
		return config.Parse(name, data, &cfg)
	})
}

// TestConfigReference keeps CONFIG.md in step with Config; regenerate it
// with UPDATE_REFERENCE=1 go test ./adapters/mqtt.
func TestConfigReference(t *testing.T) {
	reference.Check(t, "CONFIG.md", reference.Doc{
		Title: "mesh-mqtt configuration",
		Intro: "The MQTT adapter reads one YAML file (`mesh-mqtt -config mqtt.yaml`). Unknown fields are errors, " +
			"and every error names the file, line and field. `kafka` is the Kafka client block described in " +
			"[internal/kafkaclient/CONFIG.md](../../internal/kafkaclient/CONFIG.md); the adapter needs its " +
			"producer to keep `acks: all`. [README.md](README.md) explains rules, templates and delivery.",
	}, DefaultConfig())
}

package mqtt

import (
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/meshwork/meshwork/internal/config"
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

func TestTemplate(t *testing.T) {
	known := func(n string) bool { return n == "site" || n == "topic" }
	tm, err := parseTemplate("plant.{site}.x/{topic}", known)
	if err != nil {
		t.Fatal(err)
	}
	got := tm.render(func(n string) string { return map[string]string{"site": "f1", "topic": "a/b"}[n] })
	if got != "plant.f1.x/a/b" {
		t.Fatalf("got %q", got)
	}
	for _, bad := range []string{"", "a{", "a}", "{nope}", "{site", "{{site}}"} {
		if _, err := parseTemplate(bad, known); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
	for in, want := range map[string]string{"plant.f 1/x": "plant.f_1_x", "": "_", "..": "_..", strings.Repeat("a", 300): strings.Repeat("a", maxTopicLen)} {
		if got := kafkaTopic(in); got != want {
			t.Errorf("kafkaTopic(%q) = %q, want %q", in, got, want)
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
	if err := config.Parse("mqtt.yaml", []byte(base+"ingress:\n  - filter: f/+\n    topic: t\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if r := cfg.Ingress[0]; r.QoS != 1 || r.Name != "ingress[0]" || r.key.src != "{topic}" {
		t.Fatalf("defaults not applied: %+v", r)
	}
}

// The example in README.md is a valid configuration.
func TestReadmeExampleParses(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	doc, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml block in README.md")
	}
	cfg := DefaultConfig()
	if err := config.Parse("README.md", []byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Ingress) != 2 || cfg.Ingress[1].filter.subscription != "$share/adapters/meters/#" || cfg.Egress[0].Group != "mesh-mqtt-east-commands" {
		t.Fatalf("unexpected %+v", cfg)
	}
}

package amqp

import (
	"strings"
	"testing"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/config/reference"
)

func parse(t *testing.T, doc string) error {
	t.Helper()
	cfg := DefaultConfig()
	return config.Parse("amqp.yaml", []byte(doc), &cfg)
}

const goodHead = `site: east
kafka: {brokers: ["127.0.0.1:9092"]}
broker: {url: "amqp://guest:guest@127.0.0.1:5672"}
`

func TestConfigAcceptsAFullFile(t *testing.T) {
	doc := goodHead + `ingress:
  - name: orders
    address: orders
    topic: legacy.orders
    key: "{property.order_id}"
  - address: topic:prices
    topic: "legacy.{subject}"
egress:
  - name: replies
    topics: [svc.replies]
    address: "{header.mesh_reply_to}"
    allow: ["replies.*"]
    body: value
  - topics: [amqp.egress]
    address: commands
`
	cfg := DefaultConfig()
	if err := config.Parse("amqp.yaml", []byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	if !cfg.Egress[0].Durable || !cfg.Egress[1].Durable {
		t.Fatal("egress rules not durable by default")
	}
	_, out, _ := cfg.rules()
	if out[1].group != "meshwork-amqp-east-egress_1_" || out[1].body != BodyData {
		t.Fatalf("defaults %+v", out[1])
	}
}

// Every mistake is reported with the file, line and field it concerns.
func TestConfigErrorsNameFileLineAndField(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"site: east\nkafka: {brokers: [\"k:9092\"]}\nbroker: {url: \"http://h:1\"}\ningress: [{address: a, topic: t}]\n",
			`amqp.yaml:3:10: field broker.url: unsupported scheme "http"`},
		{goodHead + "ingress:\n  - address: a\n    topic: \"{nope}\"\n", `amqp.yaml:6:5: field ingress[0].topic: template "{nope}": unknown placeholder {nope}`},
		{goodHead + "ingress:\n  - address: a\n    topic: _mesh.x\n", "field ingress[0].topic: \"_mesh.x\": topics beginning with _"},
		{goodHead + "ingress:\n  - address: \"\"\n    topic: t\n", "field ingress[0].address: not an AMQP address the adapter may use: empty"},
		{goodHead + "egress:\n  - topics: [t]\n    address: \"{key}\"\n", "field egress[0].allow: required: address \"{key}\" is chosen by each record's key"},
		{goodHead + "egress:\n  - topics: [t]\n", "field egress[0].allow: required"},
		{goodHead + "egress:\n  - topics: [t]\n    address: q\n    body: text\n", `field egress[0].body: want data or value, got "text"`},
		{goodHead + "ingress:\n  - address: q\n    topic: t\negress:\n  - topics: [t]\n    address: q\n", `field egress[0].address: "q" is also the address of ingress rule ingress[0]`},
		{goodHead + "ingress:\n  - address: q\n    topic: t\n    schema: {format: json}\n", "field registry.url: required: ingress[0] has a schema"},
		{"site: east\nkafka: {brokers: [\"k:9092\"]}\nbroker: {url: \"amqp://h:1\", kind: artemis}\ningress: [{address: a, topic: t}]\n", `field broker.kind: want auto, rabbitmq, activemq or plain, got "artemis"`},
		{"site: east\nkafka: {brokers: [\"k:9092\"]}\nbroker: {url: \"amqp://h:1\", sasl: plain}\ningress: [{address: a, topic: t}]\n", "field broker.username: required with sasl plain"},
		{"site: east\nkafka: {brokers: [\"k:9092\"]}\nbroker: {url: \"amqp://u:p@h:1\", username: v}\ningress: [{address: a, topic: t}]\n", "field broker.username: the url holds credentials too"},
		{"site: east\nkafka: {brokers: [\"k:9092\"]}\nbroker: {url: \"amqp://h:1\", tls: {ca_file: /x}}\ningress: [{address: a, topic: t}]\n", "is not amqps://"},
		{goodHead + "max_in_flight: 0\ningress: [{address: a, topic: t}]\n", "field max_in_flight: want 1 to 1048576"},
		{"site: east\nkafka: {brokers: [\"k:9092\"], producer: {acks: leader}}\nbroker: {url: \"amqp://h:1\"}\ningress: [{address: a, topic: t}]\n", "field kafka.producer.acks: the AMQP adapter acknowledges a message to its sender only after Kafka acknowledged it"},
		{goodHead, "field ingress: no rules"},
	} {
		err := parse(t, c.doc)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s", c.doc, err, c.want)
		}
	}
}

func TestDialects(t *testing.T) {
	for _, c := range []struct {
		kind  string
		props map[string]any
		in    string
		link  string
	}{
		{KindAuto, map[string]any{"product": "RabbitMQ", "version": "3.10.8"}, "orders", "/queue/orders"},
		{KindAuto, map[string]any{"product": "RabbitMQ", "version": "3.10.8"}, "topic:prices", "/topic/prices"},
		{KindAuto, map[string]any{"product": "RabbitMQ", "version": "4.1.0"}, "orders", "/queues/orders"},
		{KindAuto, map[string]any{"product": "ActiveMQ", "queue-prefix": "queue://", "topic-prefix": "topic://"}, "queue:orders", "queue://orders"},
		{KindAuto, map[string]any{"product": "ActiveMQ"}, "topic:prices", "topic://prices"},
		{KindAuto, map[string]any{"product": "apache-activemq-artemis"}, "orders", "orders"},
		{KindRabbitMQ, map[string]any{"product": "ActiveMQ"}, "orders", "/queue/orders"},
		{KindAuto, map[string]any{"product": "RabbitMQ"}, "/exchange/amq.fanout", "/exchange/amq.fanout"},
		{KindAuto, map[string]any{"product": "RabbitMQ"}, "queue://x", "queue://x"},
	} {
		d := detect(c.kind, c.props)
		if got := d.link(c.in); got != c.link {
			t.Errorf("%s %v: link(%q) = %q, want %q", c.kind, c.props, c.in, got, c.link)
		}
		if !native(c.in) {
			want := strings.TrimPrefix(c.in, queueForm)
			if got := d.name(d.link(c.in)); got != want {
				t.Errorf("%s: name(link(%q)) = %q", d.kind, c.in, got)
			}
		}
	}
}

func TestAllowPatterns(t *testing.T) {
	for _, c := range []struct {
		pattern, addr string
		ok            bool
	}{
		{"replies.*", "replies.app1", true},
		{"replies.*", "replies.", true},
		{"replies.*", "orders", false},
		{"*.in", "a.b.in", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"*", "", true},
		{"**a**a**a**a**b", strings.Repeat("a", 1000), false}, // linear, not exponential
	} {
		if got := match(c.pattern, c.addr); got != c.ok {
			t.Errorf("match(%q, %q) = %v", c.pattern, c.addr, got)
		}
	}
}

// TestConfigReference keeps CONFIG.md in step with Config; regenerate it
// with make docs.
func TestConfigReference(t *testing.T) {
	reference.Check(t, "CONFIG.md", reference.Doc{
		Title: "mesh-amqp configuration",
		Intro: "The AMQP adapter reads one YAML file (`mesh-amqp -config amqp.yaml`). Unknown fields are errors, " +
			"and every error names the file, line and field. `kafka` is the Kafka client block described in " +
			"[internal/kafkaclient/CONFIG.md](../../internal/kafkaclient/CONFIG.md); the adapter needs its " +
			"producer to keep `acks: all`. [README.md](README.md) explains rules, addresses, mapping and delivery.",
	}, DefaultConfig())
}

// The examples in README.md are valid configurations.
func TestReadmeExamples(t *testing.T) {
	reference.CheckExamples(t, "README.md", "mesh-amqp", func(name string, data []byte) error {
		cfg := DefaultConfig()
		return config.Parse(name, data, &cfg)
	})
}

package integration

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/registry/serde"
)

// TestIntegrationMQTTAdapterSchema runs the adapter with a JSON-to-Avro rule
// against Meshwork's registry on real Kafka: a payload that fits the
// registered schema reaches its topic as Avro in the Confluent wire format;
// one that does not lands in the topic's dead-letter queue with the reason.
func TestIntegrationMQTTAdapterSchema(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	broker, kafka := env(t, "MESH_E2E_MQTT"), env(t, "MESH_E2E_KAFKA_EAST")
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	suffix := uniq("sch")
	topic := "it.mqtt.schema." + suffix
	reg, cl := startRegistry(t, kafka, suffix)
	schema := `{"type":"record","name":"Reading","namespace":"plant","fields":[{"name":"sensor","type":"string"},{"name":"celsius","type":"double"}]}`
	if _, err := cl.CreateSchema(ctx, topic+"-value", sr.Schema{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	createTopics(t, kafka, 1, topic)

	cfg := mqtt.DefaultConfig()
	cfg.Site = "east"
	cfg.Broker.URL = broker
	cfg.Broker.ClientID = "meshwork-it-" + suffix
	cfg.Kafka.Brokers = []string{kafka}
	cfg.Registry.URL = reg
	cfg.Ingress = []mqtt.IngressRule{{Filter: "it/" + suffix + "/{sensor}/temp", QoS: 1, Topic: topic, Schema: &mqtt.RuleSchema{Format: adapters.FormatJSON}}}
	startAdapter(ctx, t, cfg)

	pub := func(payload string) {
		run(ctx, t, nil, "mosquitto_pub", "-h", u.Hostname(), "-p", u.Port(), "-q", "1", "-t", "it/"+suffix+"/s1/temp", "-m", payload)
	}
	pub(`{"sensor": "s1", "celsius": 21.5}`)
	pub(`{"sensor": "s1", "celsius": "hot"}`)

	good := consumeN(ctx, t, kafka, topic, 1)[0]
	sd, err := serde.New(cl)
	if err != nil {
		t.Fatal(err)
	}
	var reading struct {
		Sensor  string  `avro:"sensor"`
		Celsius float64 `avro:"celsius"`
	}
	if err := sd.Decode(ctx, good.Value, &reading); err != nil || reading.Sensor != "s1" || reading.Celsius != 21.5 {
		t.Fatalf("the valid payload is not Avro of the registered schema: %+v (%v)", reading, err)
	}
	bad := consumeN(ctx, t, kafka, dlq.Topic(topic), 1)[0]
	letter, err := dlq.Read(bad)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(letter.Reason, "celsius") || string(bad.Value) != `{"sensor": "s1", "celsius": "hot"}` {
		t.Fatalf("dead letter: reason %q, value %q", letter.Reason, bad.Value)
	}
}

// startRegistry runs a mesh-registry at kafka, on a schemas topic of its
// own (named by suffix), until the test ends; it returns its URL and a
// client of it.
func startRegistry(t *testing.T, kafka, suffix string) (string, *sr.Client) {
	t.Helper()
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-registry")
	port := freePorts(t, 1)[0]
	reg := startService(t, bin, "registry", fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\ntopic: _schemas.%s\ngroup: registry-%s\nkafka:\n  brokers: [%s]\n", port, suffix, suffix, kafka), port)
	cl, err := sr.NewClient(sr.URLs(reg.url))
	if err != nil {
		t.Fatal(err)
	}
	return reg.url, cl
}

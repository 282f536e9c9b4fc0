package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/internal/dlq"
)

// kcatRecord is one line of kcat -J.
type kcatRecord struct {
	Key     string   `json:"key"`
	Payload string   `json:"payload"`
	Headers []string `json:"headers"`
}

func (r kcatRecord) header(key string) string {
	for i := 0; i+1 < len(r.Headers); i += 2 {
		if r.Headers[i] == key {
			return r.Headers[i+1]
		}
	}
	return ""
}

// readKcat reads topic from its start with kcat until it holds n records.
func readKcat(ctx context.Context, t *testing.T, kcat, kafka, topic string, n int) []kcatRecord {
	t.Helper()
	var recs []kcatRecord
	waitFor(t, time.Minute, fmt.Sprintf("%d records in %s", n, topic), func() error {
		out, err := tryRun(ctx, nil, kcat, "-C", "-b", kafka, "-t", topic, "-o", "beginning", "-e", "-q", "-J")
		if err != nil {
			return err
		}
		recs = recs[:0]
		for l := range strings.Lines(string(out)) {
			var r kcatRecord
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				return fmt.Errorf("kcat line: %w", err)
			}
			recs = append(recs, r)
		}
		if len(recs) < n {
			return fmt.Errorf("%d records", len(recs))
		}
		return nil
	})
	return recs
}

// TestIntegrationMQTTOversizeMessage: against Mosquitto and real Kafka
// (1 MB limit), a 1.5 MB MQTT message is dead-lettered as a reference that
// kcat reads back (its size, SHA-256, the first 16 KiB), and the 1000 QoS 1
// messages mosquitto_pub sends after it all reach Kafka.
func TestIntegrationMQTTOversizeMessage(t *testing.T) {
	const follow = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	broker, kafka, kcat := env(t, "MESH_E2E_MQTT"), env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KCAT")
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	suffix := uniq("oversize")
	topic := "it.oversize." + suffix
	createTopics(t, kafka, 1, topic, dlq.Topic(topic))
	cfg := mqtt.DefaultConfig()
	cfg.Site = "east"
	cfg.Broker.URL = broker
	cfg.Broker.ClientID = "meshwork-it-" + suffix
	cfg.Kafka.Brokers = []string{kafka}
	cfg.Ingress = []mqtt.IngressRule{{Filter: "it/" + suffix + "/#", QoS: 1, Topic: topic}}
	startAdapter(ctx, t, cfg)

	big := make([]byte, 1500<<10)
	rand.Read(big) // incompressible
	file := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(file, big, 0o600); err != nil {
		t.Fatal(err)
	}
	mqttTopic := "it/" + suffix + "/cam"
	run(ctx, t, nil, "mosquitto_pub", "-h", u.Hostname(), "-p", u.Port(), "-q", "1", "-t", mqttTopic, "-f", file)
	var lines bytes.Buffer
	for i := range follow {
		fmt.Fprintf(&lines, "m%04d\n", i)
	}
	run(ctx, t, lines.Bytes(), "mosquitto_pub", "-h", u.Hostname(), "-p", u.Port(), "-q", "1", "-t", mqttTopic, "-l")

	seen := map[string]bool{}
	for _, r := range readKcat(ctx, t, kcat, kafka, topic, follow) {
		seen[r.Payload] = true
	}
	if len(seen) != follow {
		t.Fatalf("%d distinct messages of %d in Kafka", len(seen), follow)
	}
	d := readKcat(ctx, t, kcat, kafka, dlq.Topic(topic), 1)[0]
	if d.header(dlq.HeaderTruncated) != "true" || d.header(dlq.HeaderSize) != strconv.Itoa(len(big)+len(mqttTopic)) ||
		d.header(dlq.HeaderSHA256) == "" || !strings.Contains(d.header(dlq.HeaderError), "max.message.bytes") ||
		d.header(dlq.HeaderSource) != "mqtt://"+u.Host+"/"+mqttTopic {
		t.Fatalf("dead letter headers %v", d.Headers)
	}
}

// TestIntegrationMQTTEgressInvalidTopic: a Kafka record whose key renders
// an MQTT topic that is not UTF-8 is dead-lettered with its reason (read
// back with kcat), and the 100 records behind it reach mosquitto_sub.
func TestIntegrationMQTTEgressInvalidTopic(t *testing.T) {
	const follow = 100
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	broker, kafka, kcat := env(t, "MESH_E2E_MQTT"), env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KCAT")
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	suffix := uniq("badkey")
	topic := "it.badkey." + suffix
	createTopics(t, kafka, 1, topic, dlq.Topic(topic))
	prefix := "it/" + suffix + "/devices/"
	sub := startWitness(ctx, t, nil, "mosquitto_sub", "-h", u.Hostname(), "-p", u.Port(), "-q", "1",
		"-t", prefix+"#", "-F", "%t|%p", "-i", "meshwork-it-sub-"+suffix)
	// mosquitto_sub has no ready signal: probe until it receives one.
	waitFor(t, 30*time.Second, "mosquitto_sub subscribed", func() error {
		run(ctx, t, nil, "mosquitto_pub", "-h", u.Hostname(), "-p", u.Port(), "-q", "1", "-t", prefix+"probe", "-m", "probe")
		select {
		case <-sub.lines:
			return nil
		case <-time.After(time.Second):
			return fmt.Errorf("nothing received: %s", sub.stderr.String())
		}
	})
	var recs bytes.Buffer
	recs.WriteString("\xff|bad utf-8\n")
	for i := range follow {
		fmt.Fprintf(&recs, "%d|good-%d\n", i, i)
	}
	run(ctx, t, recs.Bytes(), kcat, "-P", "-b", kafka, "-t", topic, "-K|")

	cfg := mqtt.DefaultConfig()
	cfg.Site = "east"
	cfg.Broker.URL = broker
	cfg.Broker.ClientID = "meshwork-it-" + suffix
	cfg.Kafka.Brokers = []string{kafka}
	cfg.Egress = []mqtt.EgressRule{{Topics: []string{topic}, QoS: 1, MQTTTopic: prefix + "{key}"}}
	startAdapter(ctx, t, cfg)

	got := map[string]bool{}
	for len(got) < follow {
		l := sub.next(t, time.Minute)
		if strings.HasSuffix(l, "|probe") {
			continue
		}
		got[l] = true
	}
	for i := range follow {
		if want := fmt.Sprintf("%s%d|good-%d", prefix, i, i); !got[want] {
			t.Fatalf("%q never arrived", want)
		}
	}
	d := readKcat(ctx, t, kcat, kafka, dlq.Topic(topic), 1)[0]
	if d.Payload != "bad utf-8" || !strings.Contains(d.header(dlq.HeaderError), "not valid UTF-8") || d.header(dlq.HeaderOffset) != "0" {
		t.Fatalf("dead letter %q, headers %v", d.Payload, d.Headers)
	}
}

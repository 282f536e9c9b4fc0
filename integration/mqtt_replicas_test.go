package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/telemetry"
)

// TestIntegrationMQTTReplicasShareSubscription runs two replicas of the MQTT
// adapter from one configuration file, as the Kubernetes manifests do
// (deploy/k8s: client_id meshwork-<site>-${POD_NAME}, a $share/ filter):
// each takes its own session from its POD_NAME, both stay connected, and
// the broker splits the messages between them, so that every message
// reaches Kafka once, not once per replica.
func TestIntegrationMQTTReplicasShareSubscription(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	broker, kafka, kcat := env(t, "MESH_E2E_MQTT"), env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KCAT")
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic := "it.mqtt.replicas." + suffix
	createTopics(t, kafka, 1, topic)
	file := filepath.Join(t.TempDir(), "mqtt.yaml")
	doc := fmt.Sprintf(`site: east
listen: 127.0.0.1:0
kafka: {brokers: [%q]}
broker:
  url: %s
  client_id: meshwork-it-${POD_NAME}
ingress:
  - name: temperature
    filter: $share/it-%s/it/%s/{device}/temp
    qos: 1
    topic: %s
`, kafka, broker, suffix, suffix, topic)
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}

	const replicas, messages = 2, 200
	regs := make([]*prometheus.Registry, replicas)
	ids := map[string]bool{}
	for i := range replicas {
		t.Setenv("POD_NAME", fmt.Sprintf("mesh-mqtt-%d-%s", i, suffix))
		cfg := mqtt.DefaultConfig()
		if err := config.Load(file, &cfg); err != nil {
			t.Fatal(err)
		}
		ids[cfg.Broker.ClientID] = true
		regs[i] = telemetry.NewRegistry()
		a, err := mqtt.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), regs[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close(context.Background()) })
		waitFor(t, 30*time.Second, "replica ready", func() error { return a.Ready(ctx) })
	}
	if len(ids) != replicas {
		t.Fatalf("client ids %v: want one per replica", ids)
	}

	var lines strings.Builder
	for i := range messages {
		fmt.Fprintf(&lines, "{\"n\":%d}\n", i)
	}
	run(ctx, t, []byte(lines.String()), "mosquitto_pub", "-h", u.Hostname(), "-p", u.Port(), "-V", "5", "-q", "1", "-l",
		"-t", "it/"+suffix+"/dev1/temp")

	var got []string
	waitFor(t, 60*time.Second, fmt.Sprintf("%d records in Kafka", messages), func() error {
		out, err := tryRun(ctx, nil, kcat, "-C", "-b", kafka, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n")
		if err != nil {
			return err
		}
		got = strings.Fields(string(out))
		if len(got) < messages {
			return fmt.Errorf("%d records", len(got))
		}
		return nil
	})
	// Both replicas stayed up with their sessions: nothing written twice,
	// and both took a share.
	seen := map[string]bool{}
	for _, g := range got {
		if seen[g] {
			t.Fatalf("%s reached Kafka twice: the replicas did not share the subscription", g)
		}
		seen[g] = true
	}
	if len(got) != messages {
		t.Fatalf("%d records, want %d", len(got), messages)
	}
	for i, reg := range regs {
		n := produced(t, reg)
		t.Logf("replica %d took %d of %d messages", i, n, messages)
		if n == 0 {
			t.Errorf("replica %d took no message: the broker did not split the shared subscription", i)
		}
	}
}

// produced sums an adapter's ingress_messages_total{result="produced"}.
func produced(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if !strings.HasSuffix(mf.GetName(), "ingress_messages_total") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "produced" {
					n += int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return n
}

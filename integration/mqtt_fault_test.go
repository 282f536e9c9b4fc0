package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestIntegrationMQTTAdapterSurvivesKill9 kills the adapter process with
// SIGKILL in the middle of a stream of numbered QoS 1 messages and starts it
// again: every message must reach Kafka, because the adapter acknowledges
// to Mosquitto only what Kafka acknowledged, and Mosquitto keeps the rest in
// the adapter's persistent session. Duplicates are allowed at QoS 1 and
// counted.
func TestIntegrationMQTTAdapterSurvivesKill9(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	broker, kafka := env(t, "MESH_E2E_MQTT"), env(t, "MESH_E2E_KAFKA_EAST")
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-mqtt")
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic := "it.mqtt.kill." + suffix
	adm, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopics(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	port := freePorts(t, 1)[0]
	cfg := fmt.Sprintf(`site: east
listen: 127.0.0.1:%d
broker:
  url: %s
  client_id: meshwork-it-kill-%s
kafka:
  brokers: [%s]
ingress:
  - filter: it/%s/kill/#
    topic: %s
    qos: 1
`, port, broker, suffix, kafka, suffix, topic)
	adapter := startService(t, bin, "mqtt", cfg, port)

	const n = 600
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("meshwork-it-kill-pub-" + suffix).
		SetConnectTimeout(5 * time.Second))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	published := make(chan error, 1)
	killAt := make(chan struct{})
	go func() {
		// Publish without waiting for each PUBACK, so that the adapter holds
		// many messages in flight when it is killed.
		toks := make([]paho.Token, 0, n)
		for i := range n {
			if i == n/3 {
				close(killAt)
			}
			toks = append(toks, pub.Publish(fmt.Sprintf("it/%s/kill/%d", suffix, i%10), 1, false, fmt.Sprintf("n=%d", i)))
		}
		for i, tok := range toks {
			if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
				published <- fmt.Errorf("publish %d: %v", i, tok.Error())
				return
			}
		}
		published <- nil
	}()
	<-killAt
	if err := adapter.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-adapter.done
	adapter = startService(t, bin, "mqtt", cfg, port)
	if err := <-published; err != nil {
		t.Fatal(err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]int{}
	total := 0
	deadline := time.Now().Add(90 * time.Second)
	for len(seen) < n {
		if time.Now().After(deadline) {
			t.Fatalf("after the kill only %d of %d messages reached Kafka", len(seen), n)
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if !strings.HasPrefix(v, "n=") {
				t.Fatalf("unexpected value %q", v)
			}
			seen[v]++
			total++
		})
	}
	t.Logf("%d messages, %d records in Kafka: %d duplicates from the kill (allowed at QoS 1)", n, total, total-n)
}

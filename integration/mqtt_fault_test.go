package integration

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
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
	createTopics(t, kafka, 3, topic)
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
	start := time.Now()
	c := newTally()
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("meshwork-it-kill-pub-" + suffix).
		SetConnectTimeout(5 * time.Second))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	published := make(chan struct{})
	killAt := make(chan struct{})
	go func() {
		defer close(published)
		// Publish without waiting for each PUBACK, so that the adapter holds
		// many messages in flight when it is killed.
		toks := make([]paho.Token, 0, n)
		for i := range n {
			if i == n/3 {
				close(killAt)
			}
			toks = append(toks, pub.Publish(fmt.Sprintf("it/%s/kill/%d", suffix, i%10), 1, false, fmt.Sprintf("n=%d", c.send())))
		}
		for i, tok := range toks {
			if tok.WaitTimeout(60*time.Second) && tok.Error() == nil {
				c.ack(i)
			}
		}
	}()
	<-killAt
	if err := adapter.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-adapter.done
	startService(t, bin, "mqtt", cfg, port) // the restarted adapter; stopped when the test ends
	<-published
	if _, acked, _, _, _ := c.counts(); acked < n {
		t.Errorf("Mosquitto acknowledged %d of %d publishes", acked, n)
	}
	collect(ctx, t, kafka, topic, c, 90*time.Second)
	c.report(t, "kill -9 mesh-mqtt (Mosquitto -> Kafka, QoS 1)", fmt.Sprintf("%d QoS 1 publishes, killed after %d", n, n/3), true, time.Since(start))
}

// TestIntegrationMQTTAdapterKafkaOutage stops the site's Kafka cluster while
// devices publish: the adapter withholds its acknowledgements, keeps at most
// its window in flight and its memory bounded, and when Kafka returns every
// message arrives.
func TestIntegrationMQTTAdapterKafkaOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	broker, kafka := env(t, "MESH_E2E_MQTT"), env(t, "MESH_E2E_KAFKA_EAST")
	down, up := deployScript(t, "down.sh"), deployScript(t, "up.sh")
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-mqtt")
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic := "it.mqtt.outage." + suffix
	createTopics(t, kafka, 3, topic)
	const window = 64
	port := freePorts(t, 1)[0]
	cfg := fmt.Sprintf(`site: east
listen: 127.0.0.1:%d
max_in_flight: %d
broker:
  url: %s
  client_id: meshwork-it-outage-%s
kafka:
  brokers: [%s]
ingress:
  - filter: it/%s/outage/#
    topic: %s
`, port, window, broker, suffix, kafka, suffix, topic)
	adapter := startService(t, bin, "mqtt", cfg, port)

	// Mosquitto queues at most 1000 messages per offline or slow client by
	// default; stay below so that any loss would be the adapter's.
	const n = 800
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("meshwork-it-outage-pub-" + suffix))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			tok := pub.Publish(fmt.Sprintf("it/%s/outage/%d", suffix, i%10), 1, false, fmt.Sprintf("n=%d", i))
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				t.Fatalf("publish %d: %v", i, tok.Error())
			}
		}
	}
	publish(0, n/4)
	run(ctx, t, nil, down, "kafka-east")
	kafkaDown := true
	defer func() {
		if kafkaDown {
			run(context.Background(), t, nil, up, "kafka-east")
		}
	}()
	publish(n/4, n)
	// With Kafka gone, the adapter holds what it took and no more.
	var rss int
	waitFor(t, 30*time.Second, "the adapter to fill its window", func() error {
		m := scrape(t, adapter.url+"/metrics")
		if v := m["meshwork_mqtt_ingress_in_flight"]; v < 1 {
			return fmt.Errorf("in flight %v", v)
		}
		return nil
	})
	m := scrape(t, adapter.url+"/metrics")
	if v := m["meshwork_mqtt_ingress_in_flight"]; v > window {
		t.Fatalf("%v messages in flight, more than the window of %d", v, window)
	}
	rss = int(m["process_resident_memory_bytes"])
	if rss > 256<<20 {
		t.Fatalf("adapter uses %d MiB during the outage", rss>>20)
	}
	run(ctx, t, nil, up, "kafka-east")
	kafkaDown = false

	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]bool{}
	total := 0
	deadline := time.Now().Add(2 * time.Minute)
	for len(seen) < n {
		if time.Now().After(deadline) {
			t.Fatalf("after Kafka returned only %d of %d messages arrived", len(seen), n)
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true; total++ })
	}
	t.Logf("%d messages, %d records after a Kafka outage; adapter RSS during the outage %d MiB", n, total, rss>>20)
}

func deployScript(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "deploy", "dev", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// scrape reads unlabelled (or summed) Prometheus samples from a /metrics page.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(value, 64)
		if err == nil {
			out[name] += v
		}
	}
	return out
}

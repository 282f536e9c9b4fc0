package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/adapters/amqp"
	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/registry/serde"
)

// amqpSender is a go-amqp sender to one queue of a broker, closed when the
// test ends.
func amqpSender(ctx context.Context, t *testing.T, b amqpBroker, queue string) *goamqp.Sender {
	t.Helper()
	conn, err := goamqp.Dial(ctx, b.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := sess.NewSender(ctx, b.queuePrefix+queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	return snd
}

// TestIntegrationAMQPAdapterKafkaOutage cuts the adapter off from Kafka (a
// single-broker Kafka of the test's own, reached only through a proxy the
// test controls) while numbered messages flow in from the broker: the
// adapter withholds settlement and credit, so it holds no more than its
// window (the rest waits in the broker's queue), and once Kafka is
// reachable again every message the broker accepted is in Kafka, in the
// order it was sent, none lost.
func TestIntegrationAMQPAdapterKafkaOutage(t *testing.T) {
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-amqp")
	kafka := startFaultKafka(t, "kafka-amqp-outage", true)
	proxy := startFaultProxy(t, "kafka-amqp-outage", kafka.meshAddr, fmt.Sprintf("127.0.0.1:%d", kafka.meshPort))
	for _, b := range amqpBrokers(t) {
		t.Run(b.name, func(t *testing.T) {
			const n, window, outage = 2000, 64, 15 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			s := uniq("it.amqp.outage." + b.name)
			createTopics(t, kafka.addr, 1, s) // one partition: one order to check
			port := freePorts(t, 1)[0]
			cfg := fmt.Sprintf(`site: east
listen: 127.0.0.1:%d
not_ready_after: 2s
broker:
  url: %s
  container_id: meshwork-it-%s
kafka:
  brokers: [%s]
  request_timeout_overhead: 2s
max_in_flight: %d
ingress:
  - address: %s
    topic: %s
`, port, b.url, s, kafka.meshAddr, window, s, s)
			adapter := startService(t, bin, "amqp", cfg, port)
			snd := amqpSender(ctx, t, b, s)
			start := time.Now()
			c := newTally()
			send := func(from, to int) {
				for i := from; i < to; i++ {
					msg := goamqp.NewMessage([]byte(fmt.Sprintf("n=%d", c.send())))
					msg.Header = &goamqp.MessageHeader{Durable: true}
					if err := snd.Send(ctx, msg, nil); err != nil {
						t.Fatalf("send %d: %v", i, err)
					}
					c.ack(i)
				}
			}
			send(0, n/4)
			collect(ctx, t, kafka.addr, s, c, time.Minute)
			if lost := c.missing(); lost > 0 {
				t.Fatalf("%d of the first %d messages did not reach Kafka before the cut", lost, n/4)
			}

			adm := kadm.NewClient(mustClient(t, kafka.addr))
			proxy.cut(t)
			cutAt := time.Now()
			healed := false
			defer func() {
				if !healed {
					proxy.heal()
				}
			}()
			before, _ := endOffsets(ctx, adm, s)
			send(n/4, n) // the broker takes them all: its queue holds what the adapter may not
			// With Kafka out of reach the adapter takes its window of
			// messages and no more: credit is withheld, nothing settled.
			// (Credit goes back a quarter of the window at a time, so up to
			// a quarter less may have been given when the cut came.)
			waitFor(t, 30*time.Second, "the adapter to hold its window unsettled", func() error {
				if v := scrape(t, adapter.url+"/metrics")["meshwork_amqp_ingress_unsettled"]; v < window-window/4 {
					return fmt.Errorf("%v unsettled, want its window of %d less at most a quarter", v, window)
				}
				return nil
			})
			if d := readyzDuring(adapter.url, 30*time.Second); d < 0 {
				t.Errorf("/readyz answered 200 throughout 30 s of Kafka out of reach (not_ready_after 2s)")
			}
			m := scrape(t, adapter.url+"/metrics")
			if v := m["meshwork_amqp_ingress_unsettled"]; v > window {
				t.Fatalf("%v messages unsettled, more than the window of %d", v, window)
			}
			if v := m["meshwork_amqp_ingress_released_total"]; v != 0 {
				t.Fatalf("%v messages Released while Kafka was away", v)
			}
			rss := int(m["process_resident_memory_bytes"])
			after, _ := endOffsets(ctx, adm, s)
			if after > before {
				t.Fatalf("%d records reached Kafka during the cut: the adapter's traffic does not cross the proxy", after-before)
			}
			// Hold the cut past a produce request's timeout (10 s + the 2 s
			// overhead), so that requests time out and are tried again, not
			// only see their connections closed by the heal.
			time.Sleep(time.Until(cutAt.Add(outage)))
			proxy.heal()
			healed = true

			got := readValues(ctx, t, kafka.addr, s, n, 2*time.Minute)
			final := newTally() // every record from the start, so duplicates of the first quarter count too
			for i := range n {
				final.send()
				final.ack(i)
			}
			for _, v := range got {
				var k int
				if _, err := fmt.Sscanf(v, "n=%d", &k); err == nil {
					final.deliver(k)
				}
			}
			if at, prev, ok := firstOutOfOrder(got); !ok {
				t.Errorf("Kafka holds n=%d after n=%d (record %d): not in the order sent", prev, at, at)
			}
			t.Logf("adapter RSS during the outage: %d MiB", rss>>20)
			final.report(t, "Kafka cut off from mesh-amqp ("+b.name+" -> Kafka)", fmt.Sprintf("%d messages, %d during a %s cut", n, n-n/4, outage), false, time.Since(start))
		})
	}
}

// readValues reads topic (one partition) from the start until it has n
// distinct values, or fails after timeout; it returns every value read, in
// order, duplicates included.
func readValues(ctx context.Context, t *testing.T, broker, topic string, n int, timeout time.Duration) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []string
	seen := map[string]bool{}
	deadline := time.Now().Add(timeout)
	for len(seen) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages in %s after %s", len(seen), n, topic, timeout)
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, string(r.Value))
			seen[string(r.Value)] = true
		})
	}
	return out
}

// firstOutOfOrder checks that the first arrival of each numbered value
// ("n=K") comes in increasing order; it returns the position and number of
// the first that does not, and ok.
func firstOutOfOrder(values []string) (at, prev int, ok bool) {
	prev = -1
	seen := map[int]bool{}
	for i, v := range values {
		var k int
		if _, err := fmt.Sscanf(v, "n=%d", &k); err != nil || seen[k] {
			continue
		}
		seen[k] = true
		if k < prev {
			return i, prev, false
		}
		prev = k
	}
	return 0, prev, true
}

// TestIntegrationAMQPAdapterSchema runs an ingress rule that encodes JSON
// bodies to Avro with the topic's schema in Meshwork's registry, on both
// brokers: a body that fits reaches the topic as Avro in the Confluent
// wire format; one that does not lands in _mesh.dlq.<topic> with the
// reason, is Accepted, and the message behind it still reaches the topic.
func TestIntegrationAMQPAdapterSchema(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kafka := env(t, "MESH_E2E_KAFKA_EAST")
	suffix := uniq("sch")
	reg, cl := startRegistry(t, kafka, suffix)
	sd, err := serde.New(cl)
	if err != nil {
		t.Fatal(err)
	}
	schema := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"qty","type":"int"}]}`
	for _, b := range amqpBrokers(t) {
		t.Run(b.name, func(t *testing.T) {
			topic := "it.amqp.schema." + b.name + "." + suffix
			if _, err := cl.CreateSchema(ctx, topic+"-value", sr.Schema{Schema: schema}); err != nil {
				t.Fatal(err)
			}
			createTopics(t, kafka, 1, topic, dlq.Topic(topic))
			cfg := amqp.DefaultConfig()
			cfg.Site = "east"
			cfg.Listen = "127.0.0.1:0"
			cfg.Broker.URL = b.url
			cfg.Broker.ContainerID = "meshwork-it-" + topic
			cfg.Kafka.Brokers = []string{kafka}
			cfg.Registry.URL = reg
			cfg.Ingress = []amqp.IngressRule{{Address: topic, Topic: topic, Schema: &amqp.RuleSchema{Format: adapters.FormatJSON}}}
			startAMQPAdapter(ctx, t, cfg)

			snd := amqpSender(ctx, t, b, topic)
			bodies := []string{`{"id": "o-1", "qty": 2}`, `{"id": "o-2", "qty": "two"}`, `{"id": "o-3", "qty": 5}`}
			for _, body := range bodies {
				msg := goamqp.NewMessage([]byte(body))
				msg.Properties = &goamqp.MessageProperties{ContentType: ptrTo("application/json")}
				if err := snd.Send(ctx, msg, nil); err != nil {
					t.Fatal(err)
				}
			}
			var want = []struct {
				id  string
				qty int
			}{{"o-1", 2}, {"o-3", 5}}
			for i, r := range consumeN(ctx, t, kafka, topic, 2) {
				var order struct {
					ID  string `avro:"id"`
					Qty int    `avro:"qty"`
				}
				if err := sd.Decode(ctx, r.Value, &order); err != nil || order.ID != want[i].id || order.Qty != want[i].qty {
					t.Fatalf("record %d is not the Avro of %v under the registered schema: %+v (%v)", i, want[i], order, err)
				}
			}
			bad := consumeN(ctx, t, kafka, dlq.Topic(topic), 1)[0]
			letter, err := dlq.Read(bad)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(letter.Reason, "qty") || string(bad.Value) != bodies[1] {
				t.Fatalf("dead letter: reason %q, value %q", letter.Reason, bad.Value)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

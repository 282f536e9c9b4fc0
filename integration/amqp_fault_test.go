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
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters/amqp"
	"github.com/meshwork/meshwork/internal/dlq"
)

// TestIntegrationAMQPAdapterSurvivesKill9 kills the mesh-amqp process with
// SIGKILL amid a stream of numbered messages that a go-amqp sender hands to
// the broker, and starts it again: every message the broker accepted must
// reach Kafka, because the adapter settles a message Accepted only once
// Kafka acknowledged it and the broker redelivers what was unsettled when
// the connection died. Duplicates are allowed (at least once) and counted.
func TestIntegrationAMQPAdapterSurvivesKill9(t *testing.T) {
	kafka := env(t, "MESH_E2E_KAFKA_EAST")
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-amqp")
	for _, b := range amqpBrokers(t) {
		t.Run(b.name, func(t *testing.T) {
			const n = 3000
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			s := uniq("it.amqp.kill." + b.name)
			createTopics(t, kafka, 3, s)
			port := freePorts(t, 1)[0]
			cfg := fmt.Sprintf(`site: east
listen: 127.0.0.1:%d
broker:
  url: %s
  container_id: meshwork-it-%s
kafka:
  brokers: [%s]
max_in_flight: 256
ingress:
  - address: %s
    topic: %s
`, port, b.url, s, kafka, s, s)
			adapter := startService(t, bin, "amqp", cfg, port)

			start := time.Now()
			c := newTally()
			snd := amqpSender(ctx, t, b, s)
			sent := make(chan struct{})
			killAt := make(chan struct{})
			go func() {
				defer close(sent)
				receipts := make([]goamqp.SendReceipt, 0, n)
				for i := range n {
					if i == n/3 {
						close(killAt)
					}
					msg := goamqp.NewMessage([]byte(fmt.Sprintf("n=%d", c.send())))
					msg.Header = &goamqp.MessageHeader{Durable: true}
					r, err := snd.SendWithReceipt(ctx, msg, nil)
					if err != nil {
						t.Errorf("send %d: %v", i, err)
						return
					}
					receipts = append(receipts, r)
				}
				for i := range receipts {
					if st, err := receipts[i].Wait(ctx); err == nil {
						if _, ok := st.(*goamqp.StateAccepted); ok {
							c.ack(i)
						}
					}
				}
			}()
			<-killAt
			if err := adapter.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-adapter.done
			startService(t, bin, "amqp", cfg, port) // stopped (SIGTERM) when the test ends
			<-sent
			if _, acked, _, _, _ := c.counts(); acked < n {
				t.Errorf("the broker accepted %d of %d sends", acked, n)
			}
			collect(ctx, t, kafka, s, c, 90*time.Second)
			c.report(t, "kill -9 mesh-amqp ("+b.name+" -> Kafka)", fmt.Sprintf("%d messages, killed after %d", n, n/3), true, time.Since(start))
		})
	}
}

// TestIntegrationAMQPPoisonMessage: a message larger than its topic's
// max.message.bytes is dead-lettered with the reason (kcat reads the dead
// letter back) and Accepted, and the messages behind it all reach Kafka.
func TestIntegrationAMQPPoisonMessage(t *testing.T) {
	const follow = 200
	kafka, kcat, py := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KCAT"), env(t, "MESH_E2E_PYTHON")
	for _, b := range amqpBrokers(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s := uniq("it.amqp.poison." + b.name)
			createTopics(t, kafka, 1, dlq.Topic(s))
			cl, err := kgo.NewClient(kgo.SeedBrokers(kafka))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cl.Close) // after the topic's deletion below
			limit := "65536"
			if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": &limit}, s); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { deleteTopics(context.Background(), t, kadm.NewClient(cl), s) })
			cfg := amqp.DefaultConfig()
			cfg.Site = "east"
			cfg.Broker.URL = b.url
			cfg.Broker.ContainerID = "meshwork-it-" + s
			cfg.Kafka.Brokers = []string{kafka}
			cfg.Ingress = []amqp.IngressRule{{Address: s, Topic: s}}
			a := startAMQPAdapter(ctx, t, cfg)

			big := make([]byte, 100<<10)
			rand.Read(big)
			specs := []map[string]any{{"kind": "data", "body": fmt.Sprintf("%x", big), "id": "poison"}}
			for i := range follow {
				specs = append(specs, map[string]any{"kind": "data", "body": fmt.Sprintf("n=%d", i), "id": fmt.Sprintf("ok-%d", i)})
			}
			js, _ := json.Marshal(specs)
			file := filepath.Join(t.TempDir(), "messages.json")
			if err := os.WriteFile(file, js, 0o600); err != nil {
				t.Fatal(err)
			}
			w := startWitness(ctx, t, nil, py, witnessPath("amqp_send.py"), b.url, b.queuePrefix+s, "@"+file)
			if l := w.next(t, 60*time.Second); l != fmt.Sprintf("sent %d", follow+1) {
				t.Fatalf("sender said %q", l)
			}
			recs := readKcat(ctx, t, kcat, kafka, s, follow)
			if len(recs) != follow || !bytes.Equal([]byte(recs[0].Payload), []byte("n=0")) {
				t.Fatalf("%d records, first %q", len(recs), recs[0].Payload)
			}
			d := readKcat(ctx, t, kcat, kafka, dlq.Topic(s), 1)[0]
			if reason := d.header(dlq.HeaderError); !strings.Contains(reason, "max.message.bytes") {
				t.Fatalf("dead letter reason %q", reason)
			}
			waitFor(t, 30*time.Second, "every message settled", func() error {
				if err := a.Ready(ctx); err != nil {
					return err
				}
				return nil
			})
		})
	}
}

// TestIntegrationAMQPAdapterBrokerRestart drops the adapter's connection to
// the broker (a proxy between them stops, as a restarting broker closes
// its connections, and starts again while a sixth of the messages are
// sent, about a second) amid a stream of
// numbered messages sent straight to the broker: the adapter reconnects
// with backoff, counts it, and every message reaches Kafka (duplicates
// counted: what was in flight is delivered again).
func TestIntegrationAMQPAdapterBrokerRestart(t *testing.T) {
	kafka := env(t, "MESH_E2E_KAFKA_EAST")
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-amqp")
	for _, b := range amqpBrokers(t) {
		t.Run(b.name, func(t *testing.T) {
			const n = 3000
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			s := uniq("it.amqp.restart." + b.name)
			createTopics(t, kafka, 3, s, s+".out")
			u, err := url.Parse(b.url)
			if err != nil {
				t.Fatal(err)
			}
			ports := freePorts(t, 2)
			proxy := startFaultProxy(t, "amqp-"+b.name, fmt.Sprintf("127.0.0.1:%d", ports[1]), u.Host)
			viaProxy := *u
			viaProxy.Host = fmt.Sprintf("127.0.0.1:%d", ports[1])
			cfg := fmt.Sprintf(`site: east
listen: 127.0.0.1:%d
broker:
  url: %s
  container_id: meshwork-it-%s
  max_reconnect_interval: 2s
kafka:
  brokers: [%s]
max_in_flight: 256
ingress:
  - address: %s
    topic: %s
egress:
  - topics: [%s.out]
    address: %s.out
`, ports[0], viaProxy.String(), s, kafka, s, s, s, s)
			adapter := startService(t, bin, "amqp", cfg, ports[0])

			start := time.Now()
			c := newTally()
			conn, err := goamqp.Dial(ctx, b.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			sess, err := conn.NewSession(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			snd, err := sess.NewSender(ctx, b.queuePrefix+s, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if i == n/3 {
					proxy.p.Stop()
				}
				if i == n/2 {
					if err := proxy.p.Start(); err != nil {
						t.Fatal(err)
					}
				}
				msg := goamqp.NewMessage([]byte(fmt.Sprintf("n=%d", c.send())))
				msg.Header = &goamqp.MessageHeader{Durable: true}
				if err := snd.Send(ctx, msg, nil); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				c.ack(i)
				if i < n/2 {
					time.Sleep(time.Millisecond) // spread the first half over the outage
				}
			}
			collect(ctx, t, kafka, s, c, 90*time.Second)
			m := scrape(t, adapter.url+"/metrics")
			if m["meshwork_amqp_reconnects_total"] < 1 {
				t.Errorf("reconnects_total %v", m["meshwork_amqp_reconnects_total"])
			}
			c.report(t, "broker connection dropped ("+b.name+" -> Kafka)", fmt.Sprintf("%d messages", n), true, time.Since(start))

			// The other way: Kafka records to the queue, the connection
			// dropped once a third has arrived; every record reaches the
			// queue (the committed offset never passed an unaccepted one).
			start = time.Now()
			out := newTally()
			// The witness receives on a connection of its own, made anew
			// (within a bound) whenever it gets nothing for a while: a
			// go-amqp receiver on RabbitMQ 3.10 is at times left with credit
			// the broker no longer counts, and a session in that state may
			// not answer a new attach either (see the README), so that the
			// test measures the adapter, not the witness.
			first := goamqp.ReceiverSettleModeFirst
			var rconn *goamqp.Conn
			var rcv *goamqp.Receiver
			attach := func() error {
				if rconn != nil {
					_ = rconn.Close()
				}
				actx, acancel := context.WithTimeout(ctx, 15*time.Second)
				defer acancel()
				var err error
				if rconn, err = goamqp.Dial(actx, b.url, nil); err != nil {
					return err
				}
				rs, err := rconn.NewSession(actx, nil)
				if err != nil {
					return err
				}
				r, err := rs.NewReceiver(actx, b.queuePrefix+s+".out", &goamqp.ReceiverOptions{Credit: -1, SettlementMode: &first})
				if err != nil {
					return err
				}
				rcv = r // the last one made stays (closed with its connection) when a later attach fails
				return rcv.IssueCredit(500)
			}
			if err := attach(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = rconn.Close() }()
			pr, err := kgo.NewClient(kgo.SeedBrokers(kafka))
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			for range n {
				pr.Produce(ctx, &kgo.Record{Topic: s + ".out", Value: []byte(fmt.Sprintf("n=%d", out.send()))}, nil)
			}
			if err := pr.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				out.ack(i)
			}
			dropped, settled := false, 0
			deadline := time.Now().Add(90 * time.Second)
			for out.missing() > 0 && time.Now().Before(deadline) {
				if !dropped && n-out.missing() >= n/3 {
					proxy.p.Stop()
					time.AfterFunc(time.Second, func() { _ = proxy.p.Start() })
					dropped = true
				}
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				msg, err := rcv.Receive(rctx, nil)
				rcancel()
				if err != nil {
					if err := attach(); err != nil {
						t.Logf("witness: attaching anew: %v", err)
					}
					settled = 0
					continue
				}
				var k int
				if _, err := fmt.Sscanf(string(msg.GetData()), "n=%d", &k); err == nil {
					out.deliver(k)
				}
				_ = rcv.AcceptMessage(ctx, msg)
				// Credit back in batches, as the adapter gives it: a flow
				// frame per message once stalled RabbitMQ 3.10 here.
				if settled++; settled%64 == 0 {
					_ = rcv.IssueCredit(64)
				}
			}
			if out.missing() > 0 {
				log, _ := os.ReadFile(adapter.log)
				if len(log) > 8000 {
					log = log[len(log)-8000:]
				}
				// Which side stopped: the adapter's count of accepted sends
				// against what the receiver got.
				m := scrape(t, adapter.url+"/metrics")
				t.Logf("adapter: egress published %v, retries %v; adapter log (end):\n%s",
					m["meshwork_amqp_egress_messages_total"], m["meshwork_amqp_retries_total"], log)
			}
			out.report(t, "broker connection dropped (Kafka -> "+b.name+")", fmt.Sprintf("%d records", n), true, time.Since(start))
		})
	}
}

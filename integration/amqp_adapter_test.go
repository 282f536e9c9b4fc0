package integration

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/meshwork/meshwork/adapters/amqp"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/telemetry"
)

// amqpBroker is one AMQP 1.0 broker of the e2e services, with the address
// syntax its own clients use.
type amqpBroker struct {
	name, url, queuePrefix string
}

func amqpBrokers(t *testing.T) []amqpBroker {
	return []amqpBroker{
		{"rabbitmq", env(t, "MESH_E2E_RABBITMQ_AMQP"), "/queue/"},
		{"activemq", env(t, "MESH_E2E_ACTIVEMQ_AMQP"), "queue://"},
	}
}

// startAMQPAdapter runs an AMQP adapter in this process until the test
// ends and waits until it is ready.
func startAMQPAdapter(ctx context.Context, t *testing.T, cfg amqp.Config) *amqp.Adapter {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := amqp.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), telemetry.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Close(cctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	waitFor(t, 30*time.Second, "amqp adapter ready", func() error { return a.Ready(ctx) })
	return a
}

// saramaRead reads n records of topic with sarama, from the start of every
// partition.
func saramaRead(t *testing.T, kafka, topic string, n int, timeout time.Duration) []*sarama.ConsumerMessage {
	t.Helper()
	var out []*sarama.ConsumerMessage
	saramaConsume(t, kafka, topic, timeout, func(m *sarama.ConsumerMessage) bool {
		out = append(out, m)
		return len(out) >= n
	})
	return out
}

// saramaConsume hands the records of topic, from the start of every
// partition, to done until it returns true, and fails t if it has not
// by timeout.
func saramaConsume(t *testing.T, kafka, topic string, timeout time.Duration, done func(*sarama.ConsumerMessage) bool) {
	t.Helper()
	c, err := sarama.NewConsumer([]string{kafka}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *sarama.ConsumerMessage, 1024)
	stop := make(chan struct{})
	defer close(stop)
	for _, p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				select {
				case got <- m:
				case <-stop:
					return
				}
			}
		}()
	}
	deadline := time.After(timeout)
	for {
		select {
		case m := <-got:
			if done(m) {
				return
			}
		case <-deadline:
			t.Fatalf("sarama: what the test waits for is not in %s after %s", topic, timeout)
		}
	}
}

func saramaHeaders(m *sarama.ConsumerMessage) map[string]string {
	hs := map[string]string{}
	for _, h := range m.Headers {
		hs[string(h.Key)] = string(h.Value)
	}
	return hs
}

func saramaProduce(t *testing.T, kafka string, msgs ...*sarama.ProducerMessage) {
	t.Helper()
	p, err := sarama.NewSyncProducer([]string{kafka}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
}

type receivedAMQP struct {
	Kind          string            `json:"kind"`
	Body          any               `json:"body"`
	ID            string            `json:"id"`
	Subject       string            `json:"subject"`
	ContentType   string            `json:"content_type"`
	ReplyTo       string            `json:"reply_to"`
	CorrelationID string            `json:"correlation_id"`
	Durable       bool              `json:"durable"`
	Properties    map[string]string `json:"properties"`
}

func nextAMQP(t *testing.T, w *witness) receivedAMQP {
	t.Helper()
	var m receivedAMQP
	l := w.next(t, 30*time.Second)
	if err := json.Unmarshal([]byte(l), &m); err != nil {
		t.Fatalf("witness line %q: %v", l, err)
	}
	return m
}

// TestIntegrationAMQPAdapter bridges RabbitMQ and ActiveMQ with Kafka, each
// witnessed by clients Meshwork did not write: qpid-proton (Python) sends
// and receives AMQP, sarama reads and writes Kafka.
//   - ingress: a data section, an amqp-value string, an amqp-value map and
//     an amqp-sequence reach Kafka as the README's body rule says, with the
//     envelope (ce_id from message-id, subject, application properties);
//   - egress: a Kafka record reaches a proton receiver with its body, the
//     envelope as properties (message-id, content-type) and its headers as
//     application properties;
//   - request/reply: a proton request with reply-to and correlation-id is
//     answered by a service that reads Kafka and writes the reply with the
//     request's mesh_reply_to and mesh_correlation_id; the reply reaches
//     the requester's reply queue with its correlation-id.
func TestIntegrationAMQPAdapter(t *testing.T) {
	py, kafka := env(t, "MESH_E2E_PYTHON"), env(t, "MESH_E2E_KAFKA_EAST")
	for _, b := range amqpBrokers(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			s := uniq("it.amqp." + b.name)
			inTopic, outTopic, repTopic := s+".in", s+".out", s+".rep"
			createTopics(t, kafka, 1, inTopic, outTopic, repTopic)
			cfg := amqp.DefaultConfig()
			cfg.Site = "east"
			cfg.Broker.URL = b.url
			cfg.Broker.ContainerID = "meshwork-it-" + s
			cfg.Kafka.Brokers = []string{kafka}
			cfg.Ingress = []amqp.IngressRule{{Name: "in", Address: s + ".requests", Topic: inTopic}}
			cfg.Egress = []amqp.EgressRule{
				{Name: "out", Topics: []string{outTopic}, Address: "{key}", Allow: []string{s + ".cmd.*"}, Durable: true},
				{Name: "replies", Topics: []string{repTopic}, Address: "{header.mesh_reply_to}", Allow: []string{s + ".replies.*"}, Body: amqp.BodyValue, Durable: true},
			}
			startAMQPAdapter(ctx, t, cfg)

			t.Run("ingress", func(t *testing.T) {
				specs := []map[string]any{
					{"kind": "data", "body": `{"n":1}`, "id": "m-data", "subject": "order-1", "content_type": "application/json", "properties": map[string]any{"tenant": "acme"}},
					{"kind": "value", "body": "plain text", "id": "m-string", "subject": "order-2"},
					{"kind": "value", "body": map[string]any{"a": 1, "b": "x"}, "id": "m-map"},
					{"kind": "sequence", "body": []any{1, "two"}, "id": "m-seq"},
				}
				js, _ := json.Marshal(specs)
				w := startWitness(ctx, t, nil, py, witnessPath("amqp_send.py"), b.url, b.queuePrefix+s+".requests", string(js))
				if l := w.next(t, 30*time.Second); l != "sent 4" {
					t.Fatalf("sender said %q", l)
				}
				recs := saramaRead(t, kafka, inTopic, 4, 30*time.Second)
				want := map[string]struct{ key, value, body, ct string }{
					"m-data":   {"order-1", `{"n":1}`, "data", "application/json"},
					"m-string": {"order-2", "plain text", "value", ""},
					"m-map":    {"m-map", `{"a":1,"b":"x"}`, "value", "application/json"},
					"m-seq":    {"m-seq", `[[1,"two"]]`, "sequence", "application/json"},
				}
				for _, r := range recs {
					hs := saramaHeaders(r)
					w, ok := want[hs[envelope.HeaderID]]
					if !ok {
						t.Fatalf("unexpected record %q: %v", r.Value, hs)
					}
					if string(r.Key) != w.key || string(r.Value) != w.value || hs[amqp.HeaderBody] != w.body || hs[envelope.HeaderContentType] != w.ct ||
						hs[envelope.HeaderOrigin] != "east" || hs[envelope.HeaderSource] == "" || hs[envelope.HeaderTraceParent] == "" {
						t.Errorf("%s: key %q value %q headers %v", hs[envelope.HeaderID], r.Key, r.Value, hs)
					}
					if hs[envelope.HeaderID] == "m-data" && (hs["tenant"] != "acme" || hs[envelope.HeaderSubject] != "order-1") {
						t.Errorf("m-data: properties not carried: %v", hs)
					}
				}
			})

			t.Run("egress", func(t *testing.T) {
				queue := s + ".cmd.valve"
				w := startWitness(ctx, t, nil, py, witnessPath("amqp_recv.py"), b.url, b.queuePrefix+queue, "1")
				if l := w.next(t, 30*time.Second); l != "ready" {
					t.Fatalf("receiver said %q", l)
				}
				saramaProduce(t, kafka, &sarama.ProducerMessage{Topic: outTopic, Key: sarama.StringEncoder(queue), Value: sarama.StringEncoder("open"),
					Headers: []sarama.RecordHeader{
						{Key: []byte("ce_id"), Value: []byte("cmd-1")}, {Key: []byte("ce_type"), Value: []byte("plant.valve.command")},
						{Key: []byte("ce_source"), Value: []byte("/ops/console")}, {Key: []byte("ce_specversion"), Value: []byte("1.0")},
						{Key: []byte("content-type"), Value: []byte("text/plain")}, {Key: []byte("operator"), Value: []byte("ana")},
						{Key: []byte("mesh_origin"), Value: []byte("west")}, {Key: []byte("mesh_path"), Value: []byte("west,east")},
					}})
				m := nextAMQP(t, w)
				if m.Kind != "data" || m.Body != "open" || m.ID != "cmd-1" || m.ContentType != "text/plain" || m.Subject != queue || !m.Durable ||
					m.Properties["cloudEvents_type"] != "plant.valve.command" || m.Properties["operator"] != "ana" || m.Properties["mesh_origin"] != "west" {
					t.Fatalf("received %+v", m)
				}
			})

			t.Run("request-reply", func(t *testing.T) {
				replies := s + ".replies.app1"
				w := startWitness(ctx, t, nil, py, witnessPath("amqp_recv.py"), b.url, b.queuePrefix+replies, "1")
				if l := w.next(t, 30*time.Second); l != "ready" {
					t.Fatalf("receiver said %q", l)
				}
				js, _ := json.Marshal([]map[string]any{{"kind": "value", "body": "what time is it?", "id": "req-1",
					"reply_to": b.queuePrefix + replies, "correlation_id": "corr-42"}})
				if l := startWitness(ctx, t, nil, py, witnessPath("amqp_send.py"), b.url, b.queuePrefix+s+".requests", string(js)).next(t, 30*time.Second); l != "sent 1" {
					t.Fatalf("sender said %q", l)
				}
				// The service: reads the request from Kafka, answers with the
				// request's reply address and correlation id.
				var req *sarama.ConsumerMessage
				for _, r := range saramaRead(t, kafka, inTopic, 5, 30*time.Second) {
					if saramaHeaders(r)[envelope.HeaderID] == "req-1" {
						req = r
					}
				}
				if req == nil {
					t.Fatal("the request did not reach Kafka")
				}
				hs := saramaHeaders(req)
				if hs[envelope.HeaderReplyTo] != replies || hs[envelope.HeaderCorrelationID] != "corr-42" {
					t.Fatalf("request headers %v: want mesh_reply_to %q as a plain name and mesh_correlation_id corr-42", hs, replies)
				}
				saramaProduce(t, kafka, &sarama.ProducerMessage{Topic: repTopic, Value: sarama.StringEncoder("noon"),
					Headers: []sarama.RecordHeader{
						{Key: []byte(envelope.HeaderReplyTo), Value: []byte(hs[envelope.HeaderReplyTo])},
						{Key: []byte(envelope.HeaderCorrelationID), Value: []byte(hs[envelope.HeaderCorrelationID])},
					}})
				m := nextAMQP(t, w)
				if m.Kind != "value" || m.Body != "noon" || m.CorrelationID != "corr-42" || !strings.HasSuffix(m.ReplyTo, replies) {
					t.Fatalf("reply %+v", m)
				}
			})
		})
	}
}

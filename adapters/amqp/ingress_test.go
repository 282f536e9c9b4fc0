package amqp

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

func order(i int) *amqp.Message {
	id := fmt.Sprintf("m%04d", i)
	return &amqp.Message{
		Properties: &amqp.MessageProperties{MessageID: id, Subject: ptr(fmt.Sprintf("order-%d", i%7)),
			ContentType: ptr("application/json")},
		ApplicationProperties: map[string]any{"tenant": "acme", "n": int64(i)},
		Data:                  [][]byte{[]byte(fmt.Sprintf(`{"n":%d}`, i))},
	}
}

// While Kafka refuses every produce, nothing is settled (neither Accepted
// nor Released) and the receiver never has more than its credit out; once
// Kafka takes them, every message is Accepted, in arrival order, though
// three partitions complete them in any order, and Kafka holds each with
// its envelope.
func TestIngressAcceptsOnlyAfterKafkaInArrivalOrder(t *testing.T) {
	const n, credit = 300, 64
	kafka := kafkatest.Cluster(t, kfake.SeedTopics(3, "legacy.orders"))
	var down atomic.Bool
	down.Store(true)
	refused := kafkatest.RefuseProduce(kafka, kerr.NotEnoughReplicas.Code, func(*kmsg.ProduceRequest) bool { return down.Load() })
	cfg := testConfig(kafka)
	cfg.MaxInFlight = credit
	cfg.Ingress = []IngressRule{{Name: "orders", Address: "orders", Topic: "legacy.orders"}}
	a := startAdapter(t, cfg)
	rcv := newFakeReceiver()
	runIngress(t, a, 0, rcv, detect(KindRabbitMQ, nil))
	var want []string
	for i := range n {
		rcv.msgs <- order(i)
		want = append(want, fmt.Sprintf("m%04d", i))
	}
	eventually(t, "produces refused", func() bool { return refused.Load() >= 3 })
	if acc, rel, out := rcv.settled(); len(acc) != 0 || len(rel) != 0 || out != credit {
		t.Fatalf("while Kafka refuses: %d accepted, %d released, %d out (credit %d)", len(acc), len(rel), out, credit)
	}
	down.Store(false)
	eventually(t, "all accepted", func() bool { acc, _, _ := rcv.settled(); return len(acc) == n })
	acc, rel, maxOut := rcv.settled()
	if !slices.Equal(acc, want) || len(rel) != 0 || maxOut > credit {
		t.Fatalf("accepted out of order or released: %d released, max out %d\n%v", len(rel), maxOut, acc[:10])
	}
	// Credit goes back in quarters of the window, not a flow per message.
	rcv.mu.Lock()
	flows := rcv.flows
	rcv.mu.Unlock()
	if flows > 1+n/(credit/4) {
		t.Fatalf("%d flow frames for %d messages with credit %d", flows, n, credit)
	}
	recs := kafkatest.Read(t, kafka, "legacy.orders", n, testWait)
	r := recs[0]
	for _, x := range recs {
		if header(x, envelope.HeaderID) == "m0003" {
			r = x
		}
	}
	for k, v := range map[string]string{
		envelope.HeaderID: "m0003", envelope.HeaderSubject: "order-3", envelope.HeaderContentType: "application/json",
		envelope.HeaderOrigin: "east", envelope.HeaderType: "legacy.orders", envelope.HeaderSource: "amqp://127.0.0.1:1/orders",
		"tenant": "acme", "n": "3", HeaderBody: "data", adapters.HeaderAdapter: "meshwork-amqp-east",
	} {
		if got := header(r, k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if string(r.Key) != "order-3" || string(r.Value) != `{"n":3}` {
		t.Fatalf("key %q value %q", r.Key, r.Value)
	}
}

// A message too large for its topic goes to the dead-letter topic with the
// reason and is then Accepted; the 200 behind it reach Kafka and are
// Accepted in order.
func TestIngressPoisonIsDeadLetteredAndAccepted(t *testing.T) {
	const follow, limit = 200, 32 << 10
	kafka := kafkatest.Cluster(t, kfake.SeedTopics(1, "legacy.images"),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(limit)}))
	cfg := testConfig(kafka)
	cfg.MaxInFlight = 32
	cfg.Ingress = []IngressRule{{Name: "img", Address: "images", Topic: "legacy.images"}}
	a := startAdapter(t, cfg)
	rcv := newFakeReceiver()
	runIngress(t, a, 0, rcv, detect(KindActiveMQ, nil))
	big := make([]byte, 64<<10)
	rand.Read(big)
	rcv.msgs <- &amqp.Message{Properties: &amqp.MessageProperties{MessageID: "big"}, Data: [][]byte{big}}
	for i := range follow {
		rcv.msgs <- order(i)
	}
	eventually(t, "all accepted", func() bool { acc, _, _ := rcv.settled(); return len(acc) == follow+1 })
	if acc, _, _ := rcv.settled(); acc[0] != "big" || acc[1] != "m0000" {
		t.Fatalf("order %v", acc[:3])
	}
	kafkatest.Read(t, kafka, "legacy.images", follow, testWait)
	d := kafkatest.Read(t, kafka, dlq.Topic("legacy.images"), 1, testWait)[0]
	l, err := dlq.Read(d)
	if err != nil || !strings.Contains(l.Reason, "max.message.bytes") || l.Component != "amqp-adapter/east" || !strings.Contains(l.Source, "images") {
		t.Fatalf("dead letter %+v: %v", l, err)
	}
	if n := testutil.ToFloat64(a.m.DeadLetterCount("ingress", adapters.ReasonTooLarge)); n != 1 {
		t.Fatalf("%v dead letters counted", n)
	}
}

// Stopping while Kafka refuses: the messages in flight are Released (the
// broker's next consumer takes them), none Accepted; the adapter stops
// within its deadline.
func TestIngressReleasesOnlyOnShutdown(t *testing.T) {
	kafka := kafkatest.Cluster(t, kfake.SeedTopics(1, "legacy.orders"))
	refused := kafkatest.RefuseProduce(kafka, kerr.NotEnoughReplicas.Code, func(*kmsg.ProduceRequest) bool { return true })
	cfg := testConfig(kafka)
	cfg.MaxInFlight = 8
	cfg.Ingress = []IngressRule{{Name: "orders", Address: "orders", Topic: "legacy.orders"}}
	a, err := New(cfg, quietLog(), nil, testKafkaOpts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rcv := newFakeReceiver()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = a.in.run(ctx, &a.in.rules[0], rcv, nil, dialect{}) }()
	for i := range 20 {
		rcv.msgs <- order(i)
	}
	eventually(t, "the window full", func() bool { _, _, out := rcv.settled(); return out == 8 })
	eventually(t, "produces refused", func() bool { return refused.Load() >= 2 })
	if acc, rel, _ := rcv.settled(); len(acc)+len(rel) != 0 {
		t.Fatalf("settled while Kafka was down: %v %v", acc, rel)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer ccancel()
	start := time.Now()
	if err := a.Close(cctx); err == nil {
		t.Fatal("close reported every message settled")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("close overran its deadline")
	}
	eventually(t, "in-flight messages released", func() bool { _, rel, _ := rcv.settled(); return len(rel) >= 8 })
	acc, rel, _ := rcv.settled()
	if len(acc) != 0 {
		t.Fatalf("accepted %v without Kafka", acc)
	}
	if !slices.Equal(rel[:8], []string{"m0000", "m0001", "m0002", "m0003", "m0004", "m0005", "m0006", "m0007"}) {
		t.Fatalf("released %v", rel)
	}
}

// What the adapter's own egress sent comes back through a receiver only
// by a configuration loop; it is Accepted and not written to Kafka again.
func TestIngressSkipsItsOwnEgress(t *testing.T) {
	kafka := kafkatest.Cluster(t, kfake.SeedTopics(1, "legacy.orders"))
	cfg := testConfig(kafka)
	cfg.Ingress = []IngressRule{{Name: "orders", Address: "orders", Topic: "legacy.orders"}}
	a := startAdapter(t, cfg)
	rcv := newFakeReceiver()
	runIngress(t, a, 0, rcv, dialect{})
	own := order(0)
	own.ApplicationProperties[adapters.HeaderAdapter] = "meshwork-amqp-east"
	rcv.msgs <- own
	rcv.msgs <- order(1)
	eventually(t, "both accepted", func() bool { acc, _, _ := rcv.settled(); return len(acc) == 2 })
	recs := kafkatest.Read(t, kafka, "legacy.orders", 1, testWait)
	if header(recs[0], envelope.HeaderID) != "m0001" {
		t.Fatalf("wrote %s", header(recs[0], envelope.HeaderID))
	}
	if n := testutil.ToFloat64(a.m.IngressCount("", adapters.ResultUnmatched)); n != 1 {
		t.Fatalf("%v counted as skipped", n)
	}
}

func TestIngressRecordMapping(t *testing.T) {
	created := time.Date(2026, 3, 1, 12, 0, 0, 5e6, time.UTC)
	uuid := amqp.UUID{0x01, 0x92, 0xa7, 0xe4, 0x7c, 0x1e, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 1}
	rules := func(r IngressRule) ingressRule {
		cr, err := r.compile("r")
		if err != nil {
			t.Fatal(err)
		}
		return cr
	}
	in := &ingress{host: "mq:5672", id: "me"}
	for _, c := range []struct {
		name   string
		rule   IngressRule
		d      dialect
		msg    *amqp.Message
		topic  string
		key    string
		value  string
		check  map[string]string
		errHas string
	}{
		{
			name: "properties to envelope", rule: IngressRule{Address: "rpc", Topic: "svc.requests"},
			d: detect(KindRabbitMQ, map[string]any{"version": "3.10.8"}),
			msg: &amqp.Message{Properties: &amqp.MessageProperties{MessageID: uuid, CorrelationID: uint64(42),
				ReplyTo: ptr("/queue/replies.app1"), CreationTime: &created, GroupID: ptr("g")}, Value: "hello"},
			topic: "svc.requests", key: "0192a7e4-7c1e-7000-8000-000000000001", value: "hello",
			check: map[string]string{envelope.HeaderID: "0192a7e4-7c1e-7000-8000-000000000001", envelope.HeaderReplyTo: "replies.app1",
				envelope.HeaderCorrelationID: "42", envelope.HeaderTime: "2026-03-01T12:00:00.005Z", HeaderBody: "value"},
		},
		{
			name: "cloudEvents properties win", rule: IngressRule{Address: "a", Topic: "t", Key: "{property.k}-{group-id}"},
			d: detect(KindActiveMQ, map[string]any{"queue-prefix": "queue://"}),
			msg: &amqp.Message{Properties: &amqp.MessageProperties{MessageID: "amqp-id", GroupID: ptr("g1"), ReplyTo: ptr("queue://r")},
				ApplicationProperties: map[string]any{"cloudEvents_id": "ce-1", "cloudEvents_type": "shop.order.created", "k": int32(7),
					"mesh_origin": "west"},
				Value: map[string]any{"a": int64(1), "b": []any{true, nil}}},
			topic: "t", key: "7-g1", value: `{"a":1,"b":[true,null]}`,
			check: map[string]string{envelope.HeaderID: "ce-1", envelope.HeaderType: "shop.order.created", envelope.HeaderContentType: "application/json",
				envelope.HeaderReplyTo: "r", "k": "7"},
		},
		{
			name: "topic from subject", rule: IngressRule{Address: "topic:events", Topic: "legacy.{subject}"},
			msg:   &amqp.Message{Properties: &amqp.MessageProperties{Subject: ptr("a/b")}, Sequence: [][]any{{int64(1), "x"}, {}}},
			topic: "legacy.a_b", key: "a/b", value: `[[1,"x"],[]]`,
			check: map[string]string{HeaderBody: "sequence", envelope.HeaderSource: "amqp://mq:5672/topic:events"},
		},
		{
			name: "empty placeholder is unroutable", rule: IngressRule{Address: "a", Topic: "legacy.{subject}"},
			msg: &amqp.Message{Data: [][]byte{[]byte("x")}}, topic: "", errHas: "is empty",
		},
		{
			name: "message-id with a control character", rule: IngressRule{Address: "a", Topic: "t"},
			msg: &amqp.Message{Properties: &amqp.MessageProperties{MessageID: "a\x01b"}, Data: [][]byte{[]byte("x")}}, topic: "t", key: "a\x01b", value: "x",
			errHas: "control character",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rules(c.rule)
			m := &adapters.Message{}
			in.record(&r, c.msg, c.d, m)
			if m.Record.Topic != c.topic {
				t.Fatalf("topic %q, want %q", m.Record.Topic, c.topic)
			}
			if c.errHas != "" {
				if m.Invalid == nil || !strings.Contains(m.Invalid.Error(), c.errHas) {
					t.Fatalf("invalid: %v, want %q", m.Invalid, c.errHas)
				}
				return
			}
			if m.Invalid != nil {
				t.Fatal(m.Invalid)
			}
			if string(m.Record.Key) != c.key || !bytes.Equal(m.Record.Value, []byte(c.value)) {
				t.Fatalf("key %q value %q", m.Record.Key, m.Record.Value)
			}
			m.Envelope.Complete("east", time.Now())
			m.Envelope.SetKafka(m.Record)
			for k, v := range c.check {
				if got := header(m.Record, k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if header(m.Record, envelope.HeaderOrigin) != "east" {
				t.Errorf("an application set mesh_origin: %q", header(m.Record, envelope.HeaderOrigin))
			}
		})
	}
}

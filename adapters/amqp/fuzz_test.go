package amqp

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/envelope"
)

func fuzzRule(t testing.TB) ingressRule {
	r, err := IngressRule{Address: "in", Topic: "legacy.{subject}", Key: "{property.k}{message-id}"}.compile("r")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// FuzzIngressMapping decodes arbitrary bytes as an AMQP message and maps
// it to a Kafka record: it must never panic, map the same message the
// same way twice, and either say why the message is invalid or produce
// envelope headers that read back without error.
func FuzzIngressMapping(f *testing.F) {
	for _, m := range []*amqp.Message{
		order(1),
		{Properties: &amqp.MessageProperties{MessageID: uint64(7), Subject: ptr("s"), ReplyTo: ptr("/queue/r"), CorrelationID: []byte{1, 2}},
			Value: map[any]any{int64(1): []any{1.5, "x", amqp.Symbol("y")}, "k": time.Unix(1, 0)}},
		{ApplicationProperties: map[string]any{"cloudEvents_time": "2026-01-01T00:00:00Z", "k": "v"}, Sequence: [][]any{{int8(1)}}},
		{Value: amqp.UUID{1}},
	} {
		b, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	rule := fuzzRule(f)
	d := detect(KindRabbitMQ, nil)
	in := &ingress{host: "h:5672", id: "me"}
	f.Fuzz(func(t *testing.T, data []byte) {
		var msg amqp.Message
		if err := msg.UnmarshalBinary(data); err != nil {
			return
		}
		var a, b adapters.Message
		in.record(&rule, &msg, d, &a)
		in.record(&rule, &msg, d, &b)
		if a.Record == nil {
			return // the adapter's own message
		}
		if !bytes.Equal(a.Record.Value, b.Record.Value) || !bytes.Equal(a.Record.Key, b.Record.Key) || a.Record.Topic != b.Record.Topic {
			t.Fatal("the same message mapped two ways")
		}
		if a.Invalid != nil {
			return
		}
		if _, err := adapters.Topic(a.Record.Topic); err != nil {
			t.Fatalf("valid message with topic %q: %v", a.Record.Topic, err)
		}
		a.Envelope.Complete("east", time.Now())
		a.Envelope.SetKafka(a.Record)
		if _, err := envelope.FromKafka(a.Record.Headers); err != nil {
			t.Fatalf("headers of a valid message do not read back: %v", err)
		}
	})
}

// FuzzEgressRoundTrip sends an arbitrary record through egress's mapping,
// the AMQP encoding and ingress's mapping: the value, the text headers and
// the envelope's id, reply address and correlation id come back.
func FuzzEgressRoundTrip(f *testing.F) {
	f.Add([]byte("k"), []byte("v"), "tenant", "acme", "replies.1", "c-1", false)
	f.Add([]byte{0xff}, []byte{0, 1, 2}, "x", "\xff", "", "", true)
	out, err := EgressRule{Topics: []string{"t"}, Address: "q"}.compile("e", "g")
	if err != nil {
		f.Fatal(err)
	}
	rule, err := IngressRule{Address: "q", Topic: "t"}.compile("r")
	if err != nil {
		f.Fatal(err)
	}
	d := detect(KindActiveMQ, nil)
	in := &ingress{host: "h:5672", id: "other"}
	f.Fuzz(func(t *testing.T, key, value []byte, hk, hv, replyTo, corr string, asValue bool) {
		out := out
		if asValue {
			out.body = BodyValue
		}
		s := &sender{rule: out, site: "east", id: "me", waits: &sync.WaitGroup{}}
		r := &kgo.Record{Topic: "t", Key: key, Value: value, Offset: 3, Headers: []kgo.RecordHeader{{Key: hk, Value: []byte(hv)}}}
		env := envelope.Envelope{ReplyTo: replyTo, CorrelationID: corr}
		if env.Validate() != nil && (replyTo != "" || corr != "") {
			env = envelope.Envelope{}
		}
		r.Headers = append(r.Headers, env.KafkaHeaders()...)
		msg := s.message(r, d)
		b, err := msg.MarshalBinary()
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		var back amqp.Message
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatalf("decode: %v", err)
		}
		var m adapters.Message
		in.record(&rule, &back, d, &m)
		if !bytes.Equal(m.Record.Value, value) && !(len(value) == 0 && len(m.Record.Value) == 0) {
			t.Fatalf("value %q came back as %q", value, m.Record.Value)
		}
		if m.Invalid != nil {
			return // e.g. a header value the envelope refuses
		}
		if sendable(kgo.RecordHeader{Key: hk, Value: []byte(hv)}) && hk != envelope.HeaderID {
			if got := header(m.Record, hk); got != hv {
				t.Fatalf("header %q=%q came back as %q", hk, hv, got)
			}
		}
		if m.Envelope.ID == "" || m.Envelope.ReplyTo != env.ReplyTo || m.Envelope.CorrelationID != env.CorrelationID {
			t.Fatalf("envelope %+v, sent %+v", m.Envelope, env)
		}
	})
}

package adapters

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/trace"
)

// headerSender records the traceparent each record reaches the peer with.
type headerSender struct{ got chan string }

func (s *headerSender) Send(_ context.Context, r *kgo.Record) Confirm {
	s.got <- trace.EventOf(r.Headers).TraceParent
	return Confirmed(nil)
}

// With a tracer provider, one MQTT message gives spans from ingress, the
// Kafka produce (kotel), the Kafka fetch (kotel) and egress, all of one
// trace; the peer receives the egress span as its parent.
func TestSpansShareOneTraceFromIngressToEgress(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := telemetry.NewTracerProvider(rec, "test", "east", 1)
	prev := otel.GetTracerProvider()
	telemetry.UseTracing(tp)
	defer otel.SetTracerProvider(prev)

	c := kafkatest.Cluster(t, kfake.SeedTopics(1, "plant.temp"))
	kcfg := kafkatest.Config(c)
	prod, err := kafkaclient.New(kcfg, "test", "east") // with the kotel hooks
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	m := NewMetrics(prometheus.NewRegistry(), "test", "east")
	log := kafkatest.Logger()
	in := NewIngress(IngressConfig{Site: "east", Component: "mqtt-adapter/east", MaxInFlight: 4, MaxQueued: 4,
		Kafka: prod, DeadLetters: NewDeadLetters(prod, nil, "x", log, m), Metrics: m, Log: log, Protocol: trace.ProtocolMQTT})
	cons, err := kafkaclient.New(kcfg, "test", "east", append(GroupOptions("g", "plant.temp"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	snd := &headerSender{got: make(chan string, 1)}
	e := NewEgress(EgressConfig{Rule: "cmds", Client: cons, MaxInFlight: 4, Timeout: time.Second, Sender: snd,
		DeadLetters: NewDeadLetters(prod, nil, "x", log, m), Metrics: m, Log: log, Protocol: trace.ProtocolAMQP})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); in.Run(ctx) }()
	go func() { e.Run(ctx, ctx) }()
	defer func() { cancel(); <-done; _ = e.Close(context.Background()) }()

	var s settled
	msg := message("r", "plant.temp", "21.5", &s)
	in.Submit(msg)
	var atPeer string
	select {
	case atPeer = <-snd.got:
	case <-time.After(testWait):
		t.Fatal("the record never reached the peer")
	}
	kafkatest.Wait(t, testWait, func() error {
		if n := len(rec.Ended()); n < 4 {
			return fmt.Errorf("%d spans ended", n)
		}
		return nil
	})
	traceID := trace.TraceIDOf(msg.Envelope.TraceParent)
	kinds := map[string]bool{}
	var egress sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if got := sp.SpanContext().TraceID().String(); got != traceID {
			t.Errorf("span %q of trace %s, want %s", sp.Name(), got, traceID)
		}
		kinds[sp.Name()] = true
		if sp.Name() == "send cmds" {
			egress = sp
		}
	}
	for _, name := range []string{"process plant.temp", "plant.temp publish", "send cmds"} {
		if !kinds[name] {
			t.Errorf("no span %q among %v", name, kinds)
		}
	}
	if egress == nil || !strings.Contains(atPeer, egress.SpanContext().SpanID().String()) {
		t.Errorf("the peer got traceparent %q, not the egress span's", atPeer)
	}
	if egress != nil {
		var system string
		for _, kv := range egress.Attributes() {
			if kv.Key == "messaging.system" {
				system = kv.Value.AsString()
			}
		}
		if system != "amqp" {
			t.Errorf("egress span messaging.system %q", system)
		}
	}
	if err := tp.Shutdown(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		t.Log(err)
	}
}

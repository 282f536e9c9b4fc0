package kafkaclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/internal/telemetry"
)

// With tracing on, a client's records of event topics get spans and a
// traceparent header; records of the mesh's own topics get neither.
func TestTracingHooksSkipTheMeshsOwnTopics(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := telemetry.NewTracerProvider(rec, "test", "east", 1)
	prev := otel.GetTracerProvider()
	telemetry.UseTracing(tp)
	defer otel.SetTracerProvider(prev)

	c := kafkatest.Cluster(t, kfake.SeedTopics(1, "shop.order.created", "_mesh.trace"))
	cl, err := kafkaclient.New(kafkatest.Config(c), "test", "east")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	event := &kgo.Record{Topic: "shop.order.created", Value: []byte("e")}
	mesh := &kgo.Record{Topic: "_mesh.trace", Value: []byte("m")}
	if err := cl.ProduceSync(ctx, event, mesh).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	if len(names) != 1 || names[0] != "shop.order.created publish" {
		t.Errorf("spans %v, want one publish span of the event topic", names)
	}
	has := func(r *kgo.Record) bool {
		for _, h := range r.Headers {
			if h.Key == "traceparent" {
				return true
			}
		}
		return false
	}
	if !has(event) || has(mesh) {
		t.Errorf("traceparent on the event record %v, on the mesh's record %v", has(event), has(mesh))
	}
}

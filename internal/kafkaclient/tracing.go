package kafkaclient

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// tracingHooks are kotel's tracing hooks for the records of event
// topics: spans for each produce and fetch, and the trace context carried
// in each record's traceparent header. Records of the mesh's and Kafka's
// own topics (names beginning with "_": _mesh.trace, _mesh.interest,
// _schemas, checkpoints, ...) get none: they are not events, and a
// replicator or control plane reading them would fill the exporter's
// queue with spans nobody asked for, crowding out those of events.
type tracingHooks struct{ t *kotel.Tracer }

func newTracingHooks(tp oteltrace.TracerProvider, clientID string) tracingHooks {
	return tracingHooks{kotel.NewTracer(kotel.TracerProvider(tp), kotel.ClientID(clientID))}
}

func traced(topic string) bool { return !strings.HasPrefix(topic, "_") }

func (h tracingHooks) OnProduceRecordBuffered(r *kgo.Record) {
	if traced(r.Topic) {
		h.t.OnProduceRecordBuffered(r)
	}
}

func (h tracingHooks) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if traced(r.Topic) {
		h.t.OnProduceRecordUnbuffered(r, err)
	}
}

func (h tracingHooks) OnFetchRecordBuffered(r *kgo.Record) {
	if traced(r.Topic) {
		h.t.OnFetchRecordBuffered(r)
	}
}

func (h tracingHooks) OnFetchRecordUnbuffered(r *kgo.Record, polled bool) {
	if traced(r.Topic) {
		h.t.OnFetchRecordUnbuffered(r, polled)
	}
}

var (
	_ kgo.HookProduceRecordBuffered   = tracingHooks{}
	_ kgo.HookProduceRecordUnbuffered = tracingHooks{}
	_ kgo.HookFetchRecordBuffered     = tracingHooks{}
	_ kgo.HookFetchRecordUnbuffered   = tracingHooks{}
)

package trace

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/envelope"
)

// Event is what identifies an event in its hops: its id, source and trace
// context, read from its envelope.
type Event struct {
	ID, Source, TraceParent string
}

// TraceID is the event's W3C trace id, or "".
func (e Event) TraceID() string { return TraceIDOf(e.TraceParent) }

// EventOf reads the event of a Kafka record from its headers (ce_id,
// ce_source, traceparent), without decoding the rest of its envelope: it
// runs for every record a component handles.
func EventOf(headers []kgo.RecordHeader) Event {
	var e Event
	for _, h := range headers {
		switch h.Key {
		case envelope.HeaderID:
			e.ID = string(h.Value)
		case envelope.HeaderSource:
			e.Source = string(h.Value)
		case envelope.HeaderTraceParent:
			e.TraceParent = string(h.Value)
		}
	}
	return e
}

// SampledEvent reports whether r records the hops of e (false for an
// event without an id, which no hop could name).
func (r *Recorder) SampledEvent(e Event) bool {
	return r != nil && e.ID != "" && Sampled(r.cfg.SampleRate, e.TraceID(), e.ID)
}

// KafkaHop is the hop of a step that left rec at its place in Kafka: the
// record's topic, partition and offset (none when rec was not written),
// protocol KAFKA, at now.
func KafkaHop(e Event, rec *kgo.Record, action Action, outcome Outcome) Hop {
	h := Hop{EventID: e.ID, Source: e.Source, TraceID: e.TraceID(), TraceParent: e.TraceParent, Topic: rec.Topic,
		Action: action, Protocol: ProtocolKafka, Outcome: outcome, Time: nowUTC(), Partition: -1, Offset: -1}
	if outcome == OutcomeOK {
		h.Partition, h.Offset = rec.Partition, rec.Offset
	}
	return h
}

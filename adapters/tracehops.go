package adapters

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/trace"
)

// The hops the adapter core records for the adapters (see package trace):
// an ingress message records INGRESS (at the protocol) then PRODUCED or
// DEAD_LETTERED (in Kafka), and a PRODUCED hop with outcome RETRIED for
// each produce tried again; an egress record records DELIVERED when its
// peer confirmed it, DEAD_LETTERED when it never can be, and DELIVERED
// with outcome RETRIED for each delivery tried again.

// traceIngress records the hops of m, which ended with result (cause: why
// it was dead-lettered, or why its produce is tried again).
func (in *Ingress) traceIngress(m *Message, result string, cause error) {
	rec := in.cfg.Trace
	if rec == nil || m.Rule == "" {
		return
	}
	ev := trace.Event{ID: m.Envelope.ID, Source: m.Envelope.Source, TraceParent: m.Envelope.TraceParent}
	if !rec.SampledEvent(ev) {
		return
	}
	var step trace.Hop
	switch result {
	case ResultProduced:
		step = trace.KafkaHop(ev, m.Record, trace.ActionProduced, trace.OutcomeOK)
	case ResultDLQ:
		step = trace.KafkaHop(ev, m.Record, trace.ActionDeadLettered, trace.OutcomeDLQ)
		step.Address = dlq.Topic(m.Record.Topic)
	case resultRetried:
		step = trace.KafkaHop(ev, m.Record, trace.ActionProduced, trace.OutcomeRetried)
	default:
		return // best effort and refused: no step to show
	}
	if cause != nil {
		step.Detail = truncate(cause.Error(), 512)
	}
	step.Duration = max(step.Time.Sub(m.received), time.Microsecond)
	if m.traced { // the INGRESS hop went with an earlier try
		rec.Record(step)
		return
	}
	m.traced = true
	ingress := trace.Hop{EventID: ev.ID, Source: ev.Source, TraceID: ev.TraceID(), TraceParent: ev.TraceParent,
		Topic: m.Record.Topic, Action: trace.ActionIngress, Protocol: in.cfg.Protocol, Outcome: trace.OutcomeOK,
		Time: m.received.UTC(), Partition: -1, Offset: -1, Address: m.Source}
	rec.Record(ingress, step)
}

// resultRetried marks, for traceIngress, a produce tried again.
const resultRetried = "retried"

// traceEgress records the hop of r handed to the peer at start, which
// ended with outcome (cause: why, unless it was delivered).
func (e *Egress) traceEgress(r *kgo.Record, start time.Time, outcome trace.Outcome, cause error) {
	rec := e.cfg.Trace
	if rec == nil {
		return
	}
	ev := trace.EventOf(r.Headers)
	if !rec.SampledEvent(ev) {
		return
	}
	h := trace.Hop{EventID: ev.ID, Source: ev.Source, TraceID: ev.TraceID(), TraceParent: ev.TraceParent,
		Topic: r.Topic, Action: trace.ActionDelivered, Protocol: e.cfg.Protocol, Outcome: outcome,
		Time: time.Now().UTC(), Partition: r.Partition, Offset: r.Offset}
	h.Duration = max(h.Time.Sub(start), time.Microsecond)
	if outcome == trace.OutcomeDLQ {
		h.Action, h.Protocol, h.Address = trace.ActionDeadLettered, trace.ProtocolKafka, dlq.Topic(r.Topic)
	}
	if cause != nil {
		h.Detail = truncate(cause.Error(), 512)
	}
	rec.Record(h)
}

// TraceProduced records the hops of an event that an adapter wrote to
// Kafka itself rather than through an Ingress (the REST adapter's produce
// API): INGRESS at protocol from address, received at received, then
// PRODUCED where Kafka put r (r as its produce callback got it). A nil
// rec records nothing.
func TraceProduced(rec *trace.Recorder, protocol trace.Protocol, r *kgo.Record, received time.Time, address string) {
	if rec == nil {
		return
	}
	ev := trace.EventOf(r.Headers)
	if !rec.SampledEvent(ev) {
		return
	}
	step := trace.KafkaHop(ev, r, trace.ActionProduced, trace.OutcomeOK)
	step.Duration = max(step.Time.Sub(received), time.Microsecond)
	rec.Record(trace.Hop{EventID: ev.ID, Source: ev.Source, TraceID: ev.TraceID(), TraceParent: ev.TraceParent,
		Topic: r.Topic, Action: trace.ActionIngress, Protocol: protocol, Outcome: trace.OutcomeOK,
		Time: received.UTC(), Partition: -1, Offset: -1, Address: address}, step)
}

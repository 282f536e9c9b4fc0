package adapters

import (
	"context"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/trace"
)

// spans makes the OpenTelemetry spans of the adapter core, with the
// messaging semantic conventions: one per ingress message (from the
// protocol peer into Kafka) and one per egress record (from Kafka to the
// peer). Each continues the trace the event carries in traceparent, and
// hands its own context on: at ingress into the record's traceparent (and
// to the Kafka client's kotel hooks, whose publish span follows), at
// egress into the traceparent the peer receives (MQTT 5 user property,
// AMQP application property, HTTP header). nil when the process has no
// tracer provider (see telemetry.UseTracing): no cost then.
type spans struct {
	tracer oteltrace.Tracer
	prop   propagation.TraceContext
}

func newSpans() *spans {
	tp, ok := telemetry.Tracing()
	if !ok {
		return nil
	}
	return &spans{tracer: tp.Tracer("github.com/meshwork/meshwork/adapters")}
}

// mapCarrier carries one traceparent and tracestate.
type mapCarrier map[string]string

func (c mapCarrier) Get(k string) string { return c[k] }
func (c mapCarrier) Set(k, v string)     { c[k] = v }
func (c mapCarrier) Keys() []string      { return []string{"traceparent", "tracestate"} }

func system(p trace.Protocol) string { return strings.ToLower(p.String()) }

// startIngress starts m's span as a child of the trace m carries (a new
// trace when it carries none) and makes the span m's trace context: its
// envelope's traceparent, and its record's context for the Kafka client.
func (s *spans) startIngress(m *Message, protocol trace.Protocol) {
	ctx := s.prop.Extract(context.Background(), mapCarrier{"traceparent": m.Envelope.TraceParent, "tracestate": m.Envelope.TraceState})
	ctx, span := s.tracer.Start(ctx, "process "+m.Record.Topic, oteltrace.WithSpanKind(oteltrace.SpanKindConsumer),
		oteltrace.WithAttributes(
			semconv.MessagingSystemKey.String(system(protocol)),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("ingress"),
			semconv.MessagingDestinationName(m.Source),
			attribute.String("meshwork.topic", m.Record.Topic),
		))
	c := mapCarrier{}
	s.prop.Inject(ctx, c)
	if tp := c["traceparent"]; tp != "" {
		m.Envelope.TraceParent = tp
	}
	m.Record.Context = ctx
	m.span = span
}

// endIngress ends m's span as it ended with result (err: not written).
func endIngress(m *Message, result string, err error) {
	if m.span == nil {
		return
	}
	m.span.SetAttributes(semconv.MessagingMessageID(m.Envelope.ID), attribute.String("meshwork.result", result))
	if result == ResultProduced {
		m.span.SetAttributes(semconv.MessagingDestinationPartitionID(strconv.Itoa(int(m.Record.Partition))),
			semconv.MessagingKafkaOffset(int(m.Record.Offset)))
	}
	if err != nil || result == ResultDLQ {
		m.span.SetStatus(codes.Error, result)
		if err != nil {
			m.span.RecordError(err)
		}
	}
	m.span.End()
	m.span = nil
}

// startEgress starts the span of r handed to the peer: a child of the
// Kafka client's span when its hooks made one, else of the trace r
// carries; r's traceparent header becomes the span's, which the peer
// receives.
func (s *spans) startEgress(ctx context.Context, r *kgo.Record, protocol trace.Protocol, rule string) (context.Context, oteltrace.Span) {
	parent := r.Context
	if parent == nil || !oteltrace.SpanContextFromContext(parent).IsValid() {
		ev := trace.EventOf(r.Headers)
		parent = s.prop.Extract(context.Background(), mapCarrier{"traceparent": ev.TraceParent})
	}
	sctx, span := s.tracer.Start(oteltrace.ContextWithSpanContext(ctx, oteltrace.SpanContextFromContext(parent)),
		"send "+rule, oteltrace.WithSpanKind(oteltrace.SpanKindProducer),
		oteltrace.WithAttributes(
			semconv.MessagingSystemKey.String(system(protocol)),
			semconv.MessagingOperationTypeSend,
			semconv.MessagingOperationName("egress"),
			semconv.MessagingDestinationName(rule),
			semconv.MessagingMessageID(trace.EventOf(r.Headers).ID),
			attribute.String("meshwork.topic", r.Topic),
			semconv.MessagingDestinationPartitionID(strconv.Itoa(int(r.Partition))),
			semconv.MessagingKafkaOffset(int(r.Offset)),
		))
	c := mapCarrier{}
	s.prop.Inject(sctx, c)
	if tp := c["traceparent"]; tp != "" {
		setHeader(r, envelope.HeaderTraceParent, tp)
	}
	return sctx, span
}

// setHeader sets the value of header key of r, or adds it.
func setHeader(r *kgo.Record, key, value string) {
	for i, h := range r.Headers {
		if h.Key == key {
			r.Headers[i].Value = []byte(value)
			return
		}
	}
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

// endSpan ends span with err (nil: done).
func endSpan(span oteltrace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		span.RecordError(err)
	}
	span.End()
}

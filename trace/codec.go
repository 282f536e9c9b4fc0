package trace

import (
	"errors"
	"fmt"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/schemas"
)

// Topic is the topic each site's components write their hops to; the
// replicators copy every site's to every other site.
const Topic = "_mesh.trace"

// ContentType is the content-type header of every record of Topic: the
// value is an Avro binary array whose items are TraceHop records, as the
// contract in schemas/ writes them.
const ContentType = "application/vnd.meshwork.trace-hops+avro"

// MaxHopsPerRecord bounds the hops one record carries, and what Decode
// accepts.
const MaxHopsPerRecord = 4096

// Codec encodes and decodes the records of Topic. Make one with NewCodec
// and share it: it is safe for concurrent use.
type Codec struct {
	array avro.Schema
	api   avro.API
}

// wireHop mirrors the contract field by field.
type wireHop struct {
	EventID         string  `avro:"event_id"`
	Topic           string  `avro:"topic"`
	Site            string  `avro:"site"`
	Component       string  `avro:"component"`
	Action          string  `avro:"action"`
	At              int64   `avro:"at"`
	Partition       *int32  `avro:"partition"`
	Offset          *int64  `avro:"offset"`
	ProtocolAddress *string `avro:"protocol_address"`
	TraceParent     *string `avro:"traceparent"`
	Detail          *string `avro:"detail"`
	TraceID         *string `avro:"trace_id"`
	Protocol        string  `avro:"protocol"`
	Outcome         string  `avro:"outcome"`
	Source          *string `avro:"source"`
	DurationMicros  *int64  `avro:"duration_micros"`
}

// NewCodec parses the contract.
func NewCodec() (*Codec, error) {
	s, err := schemas.Parse(schemas.TraceHop)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	// A corrupt length must not allocate much: hops are small, and a
	// record holds at most MaxHopsPerRecord of them.
	api := avro.Config{MaxByteSliceSize: 64 << 10, MaxSliceAllocSize: MaxHopsPerRecord}.Freeze()
	return &Codec{array: avro.NewArraySchema(s), api: api}, nil
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func fromOpt(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func toWire(h Hop) wireHop {
	w := wireHop{
		EventID: h.EventID, Topic: h.Topic, Site: h.Site, Component: h.Component,
		Action: h.Action.String(), At: h.Time.UnixMilli(), ProtocolAddress: optString(h.Address),
		TraceParent: optString(h.TraceParent), Detail: optString(h.Detail), TraceID: optString(h.TraceID),
		Protocol: h.Protocol.String(), Outcome: outcomeSymbols[0], Source: optString(h.Source),
	}
	if int(h.Outcome) < len(outcomeSymbols) {
		w.Outcome = outcomeSymbols[h.Outcome]
	}
	if h.Partition >= 0 {
		p := h.Partition
		w.Partition = &p
	}
	if h.Offset >= 0 {
		o := h.Offset
		w.Offset = &o
	}
	if h.Duration > 0 {
		d := h.Duration.Microseconds()
		w.DurationMicros = &d
	}
	return w
}

func fromWire(w wireHop) Hop {
	h := Hop{
		EventID: w.EventID, Topic: w.Topic, Site: w.Site, Component: w.Component,
		Time: time.UnixMilli(w.At).UTC(), Partition: -1, Offset: -1, Address: fromOpt(w.ProtocolAddress),
		TraceParent: fromOpt(w.TraceParent), Detail: fromOpt(w.Detail), TraceID: fromOpt(w.TraceID),
		Source: fromOpt(w.Source),
	}
	for i, sym := range actionSymbols {
		if w.Action == sym {
			h.Action = Action(i)
		}
	}
	for i, sym := range protocolSymbols {
		if w.Protocol == sym {
			h.Protocol = Protocol(i)
		}
	}
	for i, sym := range outcomeSymbols {
		if w.Outcome == sym {
			h.Outcome = Outcome(i)
		}
	}
	if h.Outcome == OutcomeUnknown && h.Action == ActionDeadLettered {
		h.Outcome = OutcomeDLQ // a hop from before outcomes were written
	}
	if h.TraceID == "" {
		h.TraceID = TraceIDOf(h.TraceParent)
	}
	if w.Partition != nil {
		h.Partition = *w.Partition
	}
	if w.Offset != nil {
		h.Offset = *w.Offset
	}
	if w.DurationMicros != nil && *w.DurationMicros > 0 {
		h.Duration = time.Duration(*w.DurationMicros) * time.Microsecond
	}
	return h
}

// Marshal returns the Avro binary encoding of hops as one array.
func (c *Codec) Marshal(hops []Hop) ([]byte, error) {
	if len(hops) > MaxHopsPerRecord {
		return nil, fmt.Errorf("trace: %d hops in one record, at most %d", len(hops), MaxHopsPerRecord)
	}
	ws := make([]wireHop, len(hops))
	for i, h := range hops {
		ws[i] = toWire(h)
	}
	b, err := c.api.Marshal(c.array, ws)
	if err != nil {
		return nil, fmt.Errorf("trace: encoding %d hops: %w", len(hops), err)
	}
	return b, nil
}

// Unmarshal decodes what Marshal wrote. Bytes left over after the array,
// or an array cut short, are errors.
func (c *Codec) Unmarshal(b []byte) ([]Hop, error) {
	var ws []wireHop
	r := avro.NewReader(nil, 0, avro.WithReaderConfig(c.api)).Reset(b)
	r.ReadVal(c.array, &ws)
	if r.Error != nil {
		return nil, fmt.Errorf("trace: decoding hops: %w", r.Error)
	}
	if r.Peek(); r.Error == nil {
		return nil, errors.New("trace: decoding hops: bytes left over after the array")
	}
	if len(ws) > MaxHopsPerRecord {
		return nil, fmt.Errorf("trace: %d hops in one record, at most %d", len(ws), MaxHopsPerRecord)
	}
	hops := make([]Hop, len(ws))
	for i, w := range ws {
		hops[i] = fromWire(w)
		if hops[i].EventID == "" {
			return nil, fmt.Errorf("trace: hop %d has no event id", i)
		}
	}
	return hops, nil
}

// Record returns the record of Topic that carries hops, written by
// component at site.
func (c *Codec) Record(site, component string, hops []Hop) (*kgo.Record, error) {
	v, err := c.Marshal(hops)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{
		Topic: Topic,
		Key:   []byte(component),
		Value: v,
		Headers: []kgo.RecordHeader{
			{Key: envelope.HeaderContentType, Value: []byte(ContentType)},
			{Key: envelope.HeaderOrigin, Value: []byte(site)},
		},
	}, nil
}

// Decode reads a record of Topic. A record of another content type is an
// error (nothing else belongs in Topic).
func (c *Codec) Decode(r *kgo.Record) ([]Hop, error) {
	for _, h := range r.Headers {
		if h.Key == envelope.HeaderContentType && string(h.Value) != ContentType {
			return nil, fmt.Errorf("trace: record at %s/%d@%d: content-type %q, want %q", r.Topic, r.Partition, r.Offset, h.Value, ContentType)
		}
	}
	hops, err := c.Unmarshal(r.Value)
	if err != nil {
		return nil, fmt.Errorf("record at %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	return hops, nil
}

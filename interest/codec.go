package interest

import (
	"errors"
	"fmt"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/schemas"
)

// Topic is the compacted topic each site publishes its interest to.
const Topic = "_mesh.interest"

// ContentType is the content-type header of every lease record.
const ContentType = "application/vnd.apache.avro+binary"

// headerContentType is the header that carries ContentType.
const headerContentType = "content-type"

// Codec encodes leases as the InterestLease contract in Avro binary. Make
// one with NewCodec and share it: it is safe for concurrent use.
type Codec struct {
	schema avro.Schema
	api    avro.API
}

// wireLease mirrors the contract field by field; times are milliseconds
// since the Unix epoch.
type wireLease struct {
	Topic      string `avro:"topic"`
	Pattern    bool   `avro:"pattern"`
	Site       string `avro:"site"`
	SourceKind string `avro:"source_kind"`
	SourceID   string `avro:"source_id"`
	Since      int64  `avro:"since"`
	Expires    int64  `avro:"expires"`
	Resume     string `avro:"resume"`
	ResumeAt   *int64 `avro:"resume_at"`
}

// NewCodec parses the contract; each codec has its own parsed schema and
// Avro configuration.
func NewCodec() (*Codec, error) {
	s, err := schemas.Parse(schemas.InterestLease)
	if err != nil {
		return nil, fmt.Errorf("interest: %w", err)
	}
	// A lease is small: refuse to allocate much for a corrupt length.
	api := avro.Config{MaxByteSliceSize: 64 << 10}.Freeze()
	return &Codec{schema: s, api: api}, nil
}

// Marshal validates l and returns its Avro binary encoding.
func (c *Codec) Marshal(l Lease) ([]byte, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	w := wireLease{
		Topic:      l.Topic,
		Pattern:    l.Pattern,
		Site:       l.Site,
		SourceKind: l.Kind.String(),
		SourceID:   l.SourceID,
		Since:      l.Since.UnixMilli(),
		Expires:    neverMillis,
		Resume:     l.Resume.String(),
	}
	if !l.Expires.IsZero() {
		w.Expires = l.Expires.UnixMilli()
	}
	if l.Resume == ResumeTimestamp {
		at := l.ResumeAt.UnixMilli()
		w.ResumeAt = &at
	}
	b, err := c.api.Marshal(c.schema, w)
	if err != nil {
		return nil, fmt.Errorf("interest: encoding lease %s: %w", l.Key(), err)
	}
	return b, nil
}

// Unmarshal decodes an Avro binary lease and validates it. Times come back
// in UTC, whole milliseconds.
func (c *Codec) Unmarshal(b []byte) (Lease, error) {
	var w wireLease
	r := avro.NewReader(nil, 0, avro.WithReaderConfig(c.api)).Reset(b)
	r.ReadVal(c.schema, &w)
	if r.Error != nil {
		// io.EOF included: the value ended before the record did.
		return Lease{}, fmt.Errorf("interest: decoding lease: %w", r.Error)
	}
	if r.Peek(); r.Error == nil {
		return Lease{}, errors.New("interest: decoding lease: bytes left over after the record")
	}
	kind, err := ParseKind(w.SourceKind)
	if err != nil {
		return Lease{}, err
	}
	l := Lease{
		Topic:    w.Topic,
		Pattern:  w.Pattern,
		Site:     w.Site,
		Kind:     kind,
		SourceID: w.SourceID,
		Since:    fromMillis(w.Since),
		Resume:   ResumeCheckpoint,
	}
	if w.Expires != neverMillis {
		l.Expires = fromMillis(w.Expires)
	}
	for i, sym := range resumeSymbols {
		if w.Resume == sym {
			l.Resume = Resume(i)
		}
	}
	if w.ResumeAt != nil {
		l.ResumeAt = fromMillis(*w.ResumeAt)
	}
	if err := l.Validate(); err != nil {
		return Lease{}, err
	}
	return l, nil
}

// fromMillis turns wire milliseconds into a time; 0 is the Unix epoch, not
// the zero time, so that validation catches it as a real (early) time.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// Record returns the record that publishes l to Topic.
func (c *Codec) Record(l Lease) (*kgo.Record, error) {
	v, err := c.Marshal(l)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{
		Topic:   Topic,
		Key:     []byte(l.Key()),
		Value:   v,
		Headers: []kgo.RecordHeader{{Key: headerContentType, Value: []byte(ContentType)}},
	}, nil
}

// Tombstone returns the record that removes the lease with l's key.
func Tombstone(l Lease) *kgo.Record {
	return &kgo.Record{Topic: Topic, Key: []byte(l.Key())}
}

// Decode reads a record of Topic: its key, and the lease unless the record
// is a tombstone (nil lease). A record whose key is not its lease's key is
// an error, so one key never stands for two leases.
func (c *Codec) Decode(r *kgo.Record) (string, *Lease, error) {
	key := string(r.Key)
	if len(r.Key) == 0 {
		return "", nil, errors.New("interest: record without a key")
	}
	if r.Value == nil {
		return key, nil, nil
	}
	for _, h := range r.Headers {
		if h.Key == headerContentType && string(h.Value) != ContentType {
			return key, nil, fmt.Errorf("interest: record %s: content-type %q, want %q", key, h.Value, ContentType)
		}
	}
	l, err := c.Unmarshal(r.Value)
	if err != nil {
		return key, nil, fmt.Errorf("record %s: %w", key, err)
	}
	if k := l.Key(); k != key {
		return key, nil, fmt.Errorf("interest: record key %q does not match its lease, whose key is %q", key, k)
	}
	return key, &l, nil
}

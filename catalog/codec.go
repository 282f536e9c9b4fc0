package catalog

import (
	"errors"
	"fmt"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/schemas"
)

// Topic is the compacted topic each site publishes its catalog to.
const Topic = "_mesh.catalog"

// ContentType is the content-type header of every entry record.
const ContentType = "application/vnd.apache.avro+binary"

const headerContentType = "content-type"

// Codec encodes entries as the TopicCatalogEntry contract in Avro binary;
// it is safe for concurrent use.
type Codec struct {
	schema avro.Schema
	api    avro.API
}

// wireEntry mirrors the contract field by field.
type wireEntry struct {
	Site       string            `avro:"site"`
	Topic      string            `avro:"topic"`
	Role       string            `avro:"role"`
	Partitions int32             `avro:"partitions"`
	Configs    map[string]string `avro:"configs"`
	Updated    int64             `avro:"updated"`
}

// NewCodec parses the contract.
func NewCodec() (*Codec, error) {
	s, err := schemas.Parse(schemas.TopicCatalog)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	// An entry is small: refuse to allocate much for a corrupt length.
	api := avro.Config{MaxByteSliceSize: 256 << 10, MaxSliceAllocSize: 1 << 12}.Freeze()
	return &Codec{schema: s, api: api}, nil
}

// Marshal validates e and returns its Avro binary encoding.
func (c *Codec) Marshal(e Entry) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	w := wireEntry{Site: e.Site, Topic: e.Topic, Role: e.Role.String(), Partitions: e.Partitions,
		Configs: e.Configs, Updated: e.Updated.UnixMilli()}
	if w.Configs == nil {
		w.Configs = map[string]string{}
	}
	b, err := c.api.Marshal(c.schema, w)
	if err != nil {
		return nil, fmt.Errorf("catalog: encoding %s: %w", e.Key(), err)
	}
	return b, nil
}

// Unmarshal decodes and validates an entry.
func (c *Codec) Unmarshal(b []byte) (Entry, error) {
	var w wireEntry
	r := avro.NewReader(nil, 0, avro.WithReaderConfig(c.api)).Reset(b)
	r.ReadVal(c.schema, &w)
	if r.Error != nil {
		return Entry{}, fmt.Errorf("catalog: decoding an entry: %w", r.Error)
	}
	if r.Peek(); r.Error == nil {
		return Entry{}, errors.New("catalog: decoding an entry: bytes left over after the record")
	}
	e := Entry{Site: w.Site, Topic: w.Topic, Partitions: w.Partitions, Configs: w.Configs, Updated: time.UnixMilli(w.Updated).UTC()}
	switch w.Role {
	case "ORIGIN":
		e.Role = RoleOrigin
	case "COPY":
		e.Role = RoleCopy
	default:
		return Entry{}, fmt.Errorf("catalog: unknown role %q", w.Role)
	}
	if len(e.Configs) == 0 {
		e.Configs = nil
	}
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// Record returns the record that publishes e to Topic.
func (c *Codec) Record(e Entry) (*kgo.Record, error) {
	v, err := c.Marshal(e)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: Topic, Key: []byte(e.Key()), Value: v,
		Headers: []kgo.RecordHeader{{Key: headerContentType, Value: []byte(ContentType)}}}, nil
}

// Tombstone returns the record that says site no longer holds topic.
func Tombstone(site, topic string) *kgo.Record {
	return &kgo.Record{Topic: Topic, Key: []byte(site + "/" + topic)}
}

// Decode reads a record of Topic: its key, and the entry unless the record
// is a tombstone (nil entry). A record whose key is not its entry's key is
// an error, so one key never stands for two entries.
func (c *Codec) Decode(r *kgo.Record) (string, *Entry, error) {
	key := string(r.Key)
	if len(r.Key) == 0 {
		return "", nil, errors.New("catalog: record without a key")
	}
	if r.Value == nil {
		return key, nil, nil
	}
	for _, h := range r.Headers {
		if h.Key == headerContentType && string(h.Value) != ContentType {
			return key, nil, fmt.Errorf("catalog: record %s: content-type %q, want %q", key, h.Value, ContentType)
		}
	}
	e, err := c.Unmarshal(r.Value)
	if err != nil {
		return key, nil, fmt.Errorf("record %s: %w", key, err)
	}
	if k := e.Key(); k != key {
		return key, nil, fmt.Errorf("catalog: record key %q does not match its entry, whose key is %q", key, k)
	}
	return key, &e, nil
}

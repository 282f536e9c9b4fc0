package dlq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// TopicPrefix starts the name of every dead-letter topic.
const TopicPrefix = "_mesh.dlq."

// Headers added to a dead-lettered record.
const (
	HeaderError     = "mesh_dlq_error"
	HeaderComponent = "mesh_dlq_component"
	HeaderTopic     = "mesh_dlq_topic"
	HeaderPartition = "mesh_dlq_partition"
	HeaderOffset    = "mesh_dlq_offset"
	HeaderSource    = "mesh_dlq_source"
	HeaderAttempts  = "mesh_dlq_attempts"
	HeaderTime      = "mesh_dlq_time"
	// HeaderSize and HeaderSHA256 describe the original of a dead letter
	// that could not be kept whole (see Write); HeaderTruncated is then
	// "true".
	HeaderSize      = "mesh_dlq_original_size"
	HeaderSHA256    = "mesh_dlq_original_sha256"
	HeaderTruncated = "mesh_dlq_truncated"
)

// UnroutableTopic receives what could not be given an event topic at all
// (a message whose address renders to no topic an adapter may write): its
// HeaderTopic holds what the address rendered to.
const UnroutableTopic = TopicPrefix + "unroutable"

// Limits of a dead letter that stands for a record too large to copy.
const (
	// MaxKeptBytes of the original key and value each are kept.
	MaxKeptBytes = 16 << 10
	// MaxKeptHeaderBytes of the original headers are kept; beyond, none.
	MaxKeptHeaderBytes = 32 << 10
)

// Topic returns the dead-letter topic for records of topic.
func Topic(topic string) string { return TopicPrefix + topic }

// Failure describes why and where a record failed.
type Failure struct {
	// Err is the reason; its message is stored in the record.
	Err error
	// Component names who gave up, e.g. mqtt-adapter/east.
	Component string
	// Topic is the event topic the record belongs to; its DLQ is
	// _mesh.dlq.<Topic>.
	Topic string
	// Partition and Offset locate the original record when it was read from
	// Kafka; Offset is -1 when the record never reached Kafka.
	Partition int32
	Offset    int64
	// Source is the protocol address it came from when not from Kafka, e.g.
	// mqtt://broker/factory/1/temp.
	Source string
	// Attempts counts delivery attempts made before giving up.
	Attempts int
	// Time is when the record was dead-lettered.
	Time time.Time
	// Unroutable sends the record to UnroutableTopic: Topic is not an
	// event topic but what a message's address rendered to.
	Unroutable bool
}

// Writer produces dead-lettered records, creating DLQ topics on first use.
type Writer struct {
	cl         *kgo.Client
	partitions int32
	retention  time.Duration
	limits     *kafkaclient.Limits // nil: limits are learnt from refusals

	mu      sync.Mutex
	ensured map[string]bool
}

// Option configures a Writer.
type Option func(*Writer)

// Partitions sets the partition count of DLQ topics the writer creates
// (default 1: dead letters are few, and one partition keeps them in order).
func Partitions(n int32) Option { return func(w *Writer) { w.partitions = n } }

// Retention sets retention.ms of DLQ topics the writer creates (default 14
// days, long enough to notice and redrive).
func Retention(d time.Duration) Option { return func(w *Writer) { w.retention = d } }

// Limits has the writer check a dead letter's size against its DLQ topic's
// limit before producing it: a copy that cannot fit is written as a
// reference at once, and the reference is cut to fit that limit.
func Limits(l *kafkaclient.Limits) Option { return func(w *Writer) { w.limits = l } }

// NewWriter returns a writer producing with cl, which should use acks=all.
func NewWriter(cl *kgo.Client, opts ...Option) *Writer {
	w := &Writer{
		cl:         cl,
		partitions: 1,
		retention:  14 * 24 * time.Hour,
		ensured:    make(map[string]bool),
	}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Write dead-letters rec: it copies key, value, headers and timestamp into
// the DLQ topic of f.Topic, adds the failure headers, and returns once Kafka
// acknowledged the write. rec itself is not modified.
//
// A record too large for the dead-letter topic (Kafka refused the original
// as too large, so its copy usually is too) is replaced by a reference: its
// size and SHA-256, the first MaxKeptBytes of its key and value, and its
// headers when they are small, so that one oversized message is recorded
// and never stops the stream it came from. The reference always fits: what
// it keeps of the original, and its reason and source, are cut to the DLQ
// topic's limit (known through the Limits option, else 1 MB).
func (w *Writer) Write(ctx context.Context, rec *kgo.Record, f Failure) error {
	out, err := Record(rec, f)
	if err != nil {
		return err
	}
	if err := w.Ensure(ctx, out.Topic); err != nil {
		return err
	}
	limit := int32(kafkaclient.DefaultMaxMessageBytes)
	if w.limits != nil {
		limit = w.limits.MaxBytes(ctx, out.Topic)
	}
	if kafkaclient.RecordBytes(out) > int(limit) {
		err = kerr.MessageTooLarge // known without asking
	} else {
		err = w.cl.ProduceSync(ctx, out).FirstErr()
	}
	if tooLarge(err) {
		ref, _ := Reference(rec, f, int(limit))
		err = w.cl.ProduceSync(ctx, ref).FirstErr()
	}
	if err != nil {
		return fmt.Errorf("dlq: write to %s: %w", out.Topic, err)
	}
	return nil
}

// tooLarge reports whether Kafka refused a record for its size.
func tooLarge(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge)
}

// dlqTopic is the dead-letter topic of a failure of rec.
func dlqTopic(rec *kgo.Record, f *Failure) (string, error) {
	if f.Topic == "" {
		f.Topic = rec.Topic
	}
	if f.Unroutable {
		return UnroutableTopic, nil
	}
	if f.Topic == "" {
		return "", errors.New("dlq: the failure names no topic; set Failure.Topic")
	}
	return Topic(f.Topic), nil
}

// Record is the dead letter of rec, for a caller that produces it itself
// (in a transaction, say) into a topic it made sure exists (Ensure): rec's
// key, value, headers and timestamp, with the failure's headers, for the
// dead-letter topic of f.Topic (rec's topic when unset). rec itself is not
// modified. When it may be too large for that topic, write Reference
// instead.
func Record(rec *kgo.Record, f Failure) (*kgo.Record, error) {
	topic, err := dlqTopic(rec, &f)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{
		Topic:     topic,
		Key:       rec.Key,
		Value:     rec.Value,
		Timestamp: rec.Timestamp,
		Headers:   append(append(make([]kgo.RecordHeader, 0, len(rec.Headers)+8), rec.Headers...), f.headers()...),
	}, nil
}

// maxReferenceText bounds a reference's reason and source headers: an
// error or an MQTT topic may be 64 kB long.
const maxReferenceText = 1 << 10

// Reference is the dead letter of a record too large to keep whole, for a
// topic that takes at most limit bytes in a batch (its max.message.bytes):
// the original's size and SHA-256, its headers when they are small
// (MaxKeptHeaderBytes), and the first MaxKeptBytes of its key and value,
// all cut so that the reference fits, with the failure's headers.
func Reference(rec *kgo.Record, f Failure, limit int) (*kgo.Record, error) {
	topic, err := dlqTopic(rec, &f)
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	sum.Write(rec.Value)
	size := len(rec.Key) + len(rec.Value)
	hs := f.headers()
	for i := range hs {
		if len(hs[i].Value) > maxReferenceText {
			hs[i].Value = hs[i].Value[:maxReferenceText]
		}
	}
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderSize, Value: []byte(strconv.Itoa(size))},
		kgo.RecordHeader{Key: HeaderSHA256, Value: []byte(hex.EncodeToString(sum.Sum(nil)))},
		kgo.RecordHeader{Key: HeaderTruncated, Value: []byte("true")},
	)
	ref := &kgo.Record{Topic: topic, Timestamp: rec.Timestamp, Headers: hs}
	budget := limit - kafkaclient.RecordBytes(ref)
	n := 0
	for _, h := range rec.Headers {
		n += len(h.Key) + len(h.Value) + 10
	}
	if n <= MaxKeptHeaderBytes && n <= budget/2 {
		ref.Headers = append(slices.Clone(rec.Headers), hs...)
		budget -= n
	}
	budget = max(budget, 0)
	ref.Key = rec.Key[:min(len(rec.Key), MaxKeptBytes, budget/2)]
	ref.Value = rec.Value[:min(len(rec.Value), MaxKeptBytes, budget-len(ref.Key))]
	return ref, nil
}

func (f Failure) headers() []kgo.RecordHeader {
	if f.Time.IsZero() {
		f.Time = time.Now()
	}
	reason := "unknown error"
	if f.Err != nil {
		reason = f.Err.Error()
	}
	hs := []kgo.RecordHeader{
		{Key: HeaderError, Value: []byte(reason)},
		{Key: HeaderComponent, Value: []byte(f.Component)},
		{Key: HeaderTopic, Value: []byte(f.Topic)},
		{Key: HeaderTime, Value: []byte(f.Time.UTC().Format(time.RFC3339Nano))},
		{Key: HeaderAttempts, Value: []byte(strconv.Itoa(f.Attempts))},
	}
	if f.Offset >= 0 {
		hs = append(hs,
			kgo.RecordHeader{Key: HeaderPartition, Value: []byte(strconv.Itoa(int(f.Partition)))},
			kgo.RecordHeader{Key: HeaderOffset, Value: []byte(strconv.FormatInt(f.Offset, 10))},
		)
	}
	if f.Source != "" {
		hs = append(hs, kgo.RecordHeader{Key: HeaderSource, Value: []byte(f.Source)})
	}
	return hs
}

// Ensure creates the dead-letter topic topic (a Record's or Reference's
// topic) with the writer's partitions and retention, unless the writer saw
// it before or it exists.
func (w *Writer) Ensure(ctx context.Context, topic string) error {
	w.mu.Lock()
	done := w.ensured[topic]
	w.mu.Unlock()
	if done {
		return nil
	}
	_, err := kafkaclient.EnsureTopic(ctx, w.cl, kafkaclient.Topic{Name: topic, Partitions: w.partitions,
		Configs: map[string]string{"retention.ms": strconv.FormatInt(w.retention.Milliseconds(), 10)}})
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	w.mu.Lock()
	w.ensured[topic] = true
	w.mu.Unlock()
	return nil
}

// Letter is a dead-lettered record as read back from a DLQ topic.
type Letter struct {
	Failure
	// Reason is the stored error message.
	Reason string
	// Record is the original record: its topic is the original topic, and
	// its headers are the original headers without the DLQ headers.
	Record *kgo.Record
	// Truncated is set when the dead letter only refers to an original too
	// large to keep whole (see Write): Record holds its beginning.
	Truncated bool
}

// Read parses a record consumed from a DLQ topic.
func Read(rec *kgo.Record) (Letter, error) {
	if !strings.HasPrefix(rec.Topic, TopicPrefix) {
		return Letter{}, fmt.Errorf("dlq: %s is not a dead-letter topic (they start with %s)", rec.Topic, TopicPrefix)
	}
	l := Letter{Failure: Failure{Offset: -1}}
	orig := &kgo.Record{Key: rec.Key, Value: rec.Value, Timestamp: rec.Timestamp}
	var errs []error
	for _, h := range rec.Headers {
		v := string(h.Value)
		switch h.Key {
		case HeaderError:
			l.Reason = v
			l.Err = errors.New(v)
		case HeaderComponent:
			l.Component = v
		case HeaderTopic:
			l.Topic = v
		case HeaderSource:
			l.Source = v
		case HeaderPartition:
			p, err := strconv.ParseInt(v, 10, 32)
			errs = append(errs, headerErr(h.Key, v, err))
			l.Partition = int32(p)
		case HeaderOffset:
			o, err := strconv.ParseInt(v, 10, 64)
			errs = append(errs, headerErr(h.Key, v, err))
			l.Offset = o
		case HeaderSize, HeaderSHA256, HeaderTruncated:
			l.Truncated = true
		case HeaderAttempts:
			n, err := strconv.Atoi(v)
			errs = append(errs, headerErr(h.Key, v, err))
			l.Attempts = n
		case HeaderTime:
			t, err := time.Parse(time.RFC3339Nano, v)
			errs = append(errs, headerErr(h.Key, v, err))
			l.Time = t
		default:
			orig.Headers = append(orig.Headers, h)
		}
	}
	l.Unroutable = rec.Topic == UnroutableTopic
	if l.Topic == "" && !l.Unroutable {
		l.Topic = strings.TrimPrefix(rec.Topic, TopicPrefix)
	}
	orig.Topic = l.Topic
	l.Record = orig
	return l, errors.Join(errs...)
}

func headerErr(key, v string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("dlq: header %s=%q: %w", key, v, err)
}

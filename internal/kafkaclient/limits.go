package kafkaclient

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultMaxMessageBytes is the record batch limit assumed for a topic
// whose limit could not be read: franz-go's own default, a little under
// Kafka's (1048588), so that it errs on the side that fits.
const DefaultMaxMessageBytes = 1000012

// Record batch overhead Kafka counts against max.message.bytes: the batch
// header, and per record its varint lengths, attributes, deltas, and two
// varints per header. Estimates are upper bounds.
const (
	batchOverhead     = 61
	recordOverhead    = 5 + 1 + 10 + 5 + 5 + 5 + 5
	perHeaderOverhead = 10
)

// limitsTTL is how long a topic's limit is trusted before it is read again.
const limitsTTL = 5 * time.Minute

// Limits knows the largest record batch each topic takes (its
// max.message.bytes, or the broker's message.max.bytes where the topic
// sets none), so that a record that can never fit is refused before it is
// produced: it costs no round trip and no retry, and never shares a batch
// with records that would have been written.
//
// It also sizes the producer's batches (BatchMaxBytes, given to
// kgo.ProducerBatchMaxBytesFn): a topic whose limit is under franz-go's
// default would otherwise see whole batches of small, valid records
// refused as too large. franz-go asks once per partition, when it first
// produces to the topic, and Check has read the topic's limit by then;
// a limit lowered later is noticed when Kafka refuses a batch.
type Limits struct {
	mu  sync.Mutex
	adm *kadm.Client
	by  map[string]limit
}

type limit struct {
	bytes int32
	read  time.Time
}

// NewLimits returns limits that read topics' configurations once Use gave
// them a client; until then, and for a topic whose configuration cannot be
// read, they assume DefaultMaxMessageBytes.
func NewLimits() *Limits { return &Limits{by: map[string]limit{}} }

// Use reads configurations through cl, the client whose batches the limits
// size (the client is built with BatchMaxBytes, and so after the Limits).
func (l *Limits) Use(cl *kgo.Client) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.adm = kadm.NewClient(cl)
}

// BatchMaxBytes is for kgo.ProducerBatchMaxBytesFn: the limit known for
// topic, without I/O (the producer calls it under its own locks).
func (l *Limits) BatchMaxBytes(topic string) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.by[topic]; ok {
		return b.bytes
	}
	return DefaultMaxMessageBytes
}

// MaxBytes returns topic's limit, reading it from Kafka when it is not
// known or is older than five minutes: the topic's max.message.bytes, else
// (a topic not created yet) a broker's message.max.bytes, else the default.
func (l *Limits) MaxBytes(ctx context.Context, topic string) int32 {
	l.mu.Lock()
	b, ok := l.by[topic]
	adm := l.adm
	l.mu.Unlock()
	if ok && time.Since(b.read) < limitsTTL || adm == nil {
		if !ok {
			return DefaultMaxMessageBytes
		}
		return b.bytes
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, override, err := topicLimit(ctx, adm, topic)
	if err != nil || !override {
		// A topic that sets no limit of its own takes the broker's
		// message.max.bytes (some brokers describe the built-in default
		// for it instead).
		if bn, berr := brokerLimit(ctx, adm); berr == nil {
			n, err = bn, nil
		}
	}
	if err != nil {
		if ok {
			return b.bytes // keep what was known; ask again next time
		}
		n = DefaultMaxMessageBytes
	}
	l.mu.Lock()
	l.by[topic] = limit{bytes: n, read: time.Now()}
	l.mu.Unlock()
	return n
}

// Forget drops what is known of topic's limit, so the next MaxBytes reads
// it again (Kafka refused a batch as too large: the limit may have
// changed).
func (l *Limits) Forget(topic string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.by, topic)
}

// Check returns an error wrapping kerr.MessageTooLarge when r cannot fit
// in one record batch of its topic, whatever else is in the batch.
func (l *Limits) Check(ctx context.Context, r *kgo.Record) error {
	max := l.MaxBytes(ctx, r.Topic)
	if size := RecordBytes(r); size > int(max) {
		return fmt.Errorf("%w: the record takes %d bytes in a batch; %s takes at most %d (its max.message.bytes)",
			kerr.MessageTooLarge, size, r.Topic, max)
	}
	return nil
}

// RecordBytes is an upper bound of what r takes, alone, in a record batch.
func RecordBytes(r *kgo.Record) int {
	n := batchOverhead + recordOverhead + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += perHeaderOverhead + len(h.Key) + len(h.Value)
	}
	return n
}

// TopicLimit is the max.message.bytes in force for a topic, as Kafka
// describes it.
type TopicLimit struct {
	// Bytes is the value: the topic's own, or the default it inherits.
	Bytes int64
	// Own is set when the topic sets it itself.
	Own bool
}

// DescribeMaxMessageBytes reads the max.message.bytes of topics at adm's
// cluster, many topics to a request. It fails, naming the topic, when one
// cannot be described or holds no positive number; a topic described
// without the setting is not in the map.
func DescribeMaxMessageBytes(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]TopicLimit, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("reading max.message.bytes of %d topics: %w", len(topics), err)
	}
	out := make(map[string]TopicLimit, len(topics))
	answered := map[string]bool{}
	for _, rc := range rcs {
		answered[rc.Name] = true
		if rc.Err != nil {
			return nil, fmt.Errorf("reading max.message.bytes of %s: %w", rc.Name, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			v, err := strconv.ParseInt(*c.Value, 10, 64)
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("max.message.bytes of %s is %q, not a positive number", rc.Name, *c.Value)
			}
			out[rc.Name] = TopicLimit{Bytes: v, Own: c.Source == kmsg.ConfigSourceDynamicTopicConfig}
		}
	}
	for _, t := range topics {
		if !answered[t] {
			return nil, fmt.Errorf("reading max.message.bytes of %s: no answer", t)
		}
	}
	return out, nil
}

// topicLimit returns topic's max.message.bytes, and whether the topic sets
// it itself.
func topicLimit(ctx context.Context, adm *kadm.Client, topic string) (int32, bool, error) {
	got, err := DescribeMaxMessageBytes(ctx, adm, topic)
	if err != nil {
		return 0, false, err
	}
	l, ok := got[topic]
	if !ok {
		return 0, false, fmt.Errorf("max.message.bytes of %s not described", topic)
	}
	if l.Bytes < 512 || l.Bytes > math.MaxInt32 {
		return 0, false, fmt.Errorf("max.message.bytes=%d of %s: not a usable limit", l.Bytes, topic)
	}
	return int32(l.Bytes), l.Own, nil
}

func brokerLimit(ctx context.Context, adm *kadm.Client) (int32, error) {
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return 0, err
	}
	if len(md.Brokers) == 0 {
		return 0, fmt.Errorf("no broker in the metadata")
	}
	rcs, err := adm.DescribeBrokerConfigs(ctx, md.Brokers[0].NodeID)
	if err != nil {
		return 0, err
	}
	for _, rc := range rcs {
		if rc.Err == nil {
			return configBytes(rc.Configs, "message.max.bytes")
		}
	}
	return 0, fmt.Errorf("no broker configuration")
}

func configBytes(cs []kadm.Config, key string) (int32, error) {
	for _, c := range cs {
		if c.Key == key && c.Value != nil {
			n, err := strconv.ParseInt(*c.Value, 10, 32)
			if err != nil || n < 512 {
				return 0, fmt.Errorf("%s=%q: not a usable limit", key, *c.Value)
			}
			return int32(n), nil
		}
	}
	return 0, fmt.Errorf("%s not described", key)
}

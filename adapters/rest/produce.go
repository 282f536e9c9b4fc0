package rest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/semaphore"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/trace"
)

// producer writes the records of produce requests with acks=all, within a
// window of MaxInFlight records shared by all requests. A request waits
// for its own records only: unlike the adapter core's Ingress, which
// settles a protocol's messages in arrival order, HTTP requests are
// independent, so one waiting on a slow partition never holds another
// back. Records are partitioned here (key hash as Kafka's Java client
// does it, an explicit partition, or one partition per request for
// records without a key), so the response can name a partition that was
// checked against the topic before anything was written.
type producer struct {
	kafka      *kgo.Client
	adm        *kadm.Client
	limits     *kafkaclient.Limits
	window     *semaphore.Weighted
	max        int64
	retryAfter time.Duration
	timeout    time.Duration
	site       string
	topics     *topicCache
	trouble    *adapters.Trouble
	trace      *trace.Recorder // nil when tracing is off
}

// produced is the outcome of one record.
type produced struct {
	Partition int32
	Offset    int64
	Timestamp time.Time
	Err       error
}

// acquire takes n places in the window, or answers 413 (n can never fit)
// or 429 (not now).
func (p *producer) acquire(n int) error {
	if int64(n) > p.max {
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge,
			"Request has %d records; this adapter takes at most %d in one request: split it.", n, p.max)
	}
	if !p.window.TryAcquire(int64(n)) {
		return &apiError{Status: http.StatusTooManyRequests, Code: CodeTooManyRequests, RetryAfter: p.retryAfter,
			Message: "Too many records in flight to Kafka: retry after the time in Retry-After."}
	}
	return nil
}

func (p *producer) release(n int) { p.window.Release(int64(n)) }

// checkTopic answers whether clients may produce to topic and how many
// partitions it has.
func (p *producer) checkTopic(ctx context.Context, topic string) (int32, error) {
	if strings.HasPrefix(topic, "_") {
		return 0, errorf(http.StatusForbidden, CodeForbidden, "Topic %q belongs to the mesh, the registry or Kafka itself: clients may not write it.", topic)
	}
	if !adapters.LegalTopic(topic) || len(topic) > adapters.MaxTopicLen {
		return 0, topicNotFound(topic)
	}
	return p.topics.partitions(ctx, topic)
}

// place gives each record its partition: the explicit one (checked), the
// key's, or for records without a key one partition chosen for the
// request, so that they travel in one batch.
func place(recs []*kgo.Record, explicit []int32, partitions int32) error {
	sticky := rand.Int32N(partitions)
	for i, r := range recs {
		switch {
		case explicit != nil && explicit[i] >= 0:
			if explicit[i] >= partitions {
				return partitionNotFound(r.Topic, explicit[i])
			}
			r.Partition = explicit[i]
		case r.Key != nil:
			r.Partition = keyPartition(r.Key, partitions)
		default:
			r.Partition = sticky
		}
	}
	return nil
}

// keyPartitioner hashes keys as Kafka's Java client does (murmur2), so a
// key lands where a Java, librdkafka (with its murmur2 partitioner) or
// REST Proxy producer puts it.
var keyPartitioner = kgo.StickyKeyPartitioner(nil)

func keyPartition(key []byte, n int32) int32 {
	return int32(keyPartitioner.ForTopic("").Partition(&kgo.Record{Key: key}, int(n)))
}

// stamp completes each record's envelope (a first hop: an id, the origin,
// a trace) unless the request gave one, and writes it into the headers.
// Records of one request that carry no envelope of their own share
// everything but their id (one request, one trace), so their headers are
// rendered once and copied.
func (p *producer) stamp(recs []*kgo.Record, envs []envelope.Envelope, now time.Time) {
	if len(recs) > 1 && plain(envs) {
		e := envelope.Envelope{ContentType: envs[0].ContentType, Type: recs[0].Topic, Source: "/" + p.site + "/rest/" + recs[0].Topic}
		e.Complete(p.site, now)
		base := e.KafkaHeaders()
		id := slices.IndexFunc(base, func(h kgo.RecordHeader) bool { return h.Key == "ce_id" })
		for i, r := range recs {
			hs := make([]kgo.RecordHeader, 0, len(r.Headers)+len(base))
			hs = append(append(hs, envelope.StripKafka(r.Headers)...), base...)
			e.ID = envelope.NewID()
			hs[len(hs)-len(base)+id].Value = []byte(e.ID)
			r.Headers = hs
			envs[i] = e
		}
		return
	}
	for i, r := range recs {
		var e envelope.Envelope
		if envs != nil {
			e = envs[i]
		}
		if e.Type == "" {
			e.Type = r.Topic
		}
		if e.Source == "" {
			e.Source = "/" + p.site + "/rest/" + r.Topic
		}
		e.Complete(p.site, now)
		e.SetKafka(r)
		if envs != nil {
			envs[i] = e
		}
	}
}

// plain reports whether envs hold nothing but one content type. Field by
// field, not reflect.DeepEqual: that took 7% of the adapter's CPU on
// 100-record requests; TestPlainSeesEveryEnvelopeField fails when the
// envelope grows a field this does not look at.
func plain(envs []envelope.Envelope) bool {
	if envs == nil {
		return false
	}
	ct := envs[0].ContentType
	for i := range envs {
		e := &envs[i]
		if e.ContentType != ct || e.SpecVersion != "" || e.ID != "" || e.Source != "" || e.Type != "" || !e.Time.IsZero() ||
			e.Subject != "" || e.DataSchema != "" || e.Origin != "" || e.Path != nil || e.TraceParent != "" ||
			e.TraceState != "" || e.ReplyTo != "" || e.CorrelationID != "" || e.Extensions != nil {
			return false
		}
	}
	return true
}

// produce writes recs (already placed and stamped) and waits for Kafka's
// acknowledgement of each, or the produce timeout.
func (p *producer) produce(ctx context.Context, recs []*kgo.Record) []produced {
	out := make([]produced, len(recs))
	received := time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, r := range recs {
		if err := p.limits.Check(ctx, r); err != nil {
			out[i].Err = err
			continue
		}
		wg.Add(1)
		p.kafka.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				if errors.Is(err, kerr.MessageTooLarge) {
					p.limits.Forget(r.Topic)
				}
				out[i].Err = err
				if perm, _ := adapters.Classify(err); !perm {
					p.trouble.Failed(err)
				}
				return
			}
			p.trouble.Succeeded()
			adapters.TraceProduced(p.trace, trace.ProtocolHTTP, r, received, "http://"+p.site+"/topics/"+r.Topic)
			out[i] = produced{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}
		})
	}
	wg.Wait()
	return out
}

// topicCache knows which topics exist and their partition counts, asking
// Kafka at most every ttl per topic. Requests never queue behind a
// refresh: once a topic is known, the request that finds its entry stale
// refreshes it while the others go on with the count known so far (as a
// Kafka client's metadata), and the first requests for a topic share one
// metadata request. (Every request past the ttl asking Kafka on its own
// put a metadata round trip, and a herd of them, into the tail latency
// every few seconds.)
type topicCache struct {
	adm     *kadm.Client
	ttl     time.Duration
	mu      sync.Mutex
	by      map[string]topicInfo
	loading map[string]chan struct{} // first reads in progress, closed when done
}

type topicInfo struct {
	partitions int32
	read       time.Time
	refreshing bool // a request is asking Kafka for it now
}

const maxCachedTopics = 10000

func newTopicCache(adm *kadm.Client, ttl time.Duration) *topicCache {
	return &topicCache{adm: adm, ttl: ttl, by: map[string]topicInfo{}, loading: map[string]chan struct{}{}}
}

func (c *topicCache) partitions(ctx context.Context, topic string) (int32, error) {
	c.mu.Lock()
	info, ok := c.by[topic]
	switch {
	case ok && (info.refreshing || time.Since(info.read) < c.ttl):
		c.mu.Unlock()
		return info.partitions, nil
	case ok:
		info.refreshing = true
		c.by[topic] = info
		c.mu.Unlock()
		n, err := c.load(ctx, topic)
		var ae *apiError
		if err != nil && errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable {
			c.mu.Lock()
			if cur, still := c.by[topic]; still {
				cur.refreshing = false // the next request tries again
				c.by[topic] = cur
			}
			c.mu.Unlock()
			return info.partitions, nil // keep what was known
		}
		return n, err
	}
	if wait, loading := c.loading[topic]; loading {
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		c.mu.Lock()
		info, ok = c.by[topic]
		c.mu.Unlock()
		if ok {
			return info.partitions, nil
		}
		return c.load(ctx, topic) // the first read failed; say why for this request too
	}
	done := make(chan struct{})
	c.loading[topic] = done
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.loading, topic)
		c.mu.Unlock()
		close(done)
	}()
	return c.load(ctx, topic)
}

// load asks Kafka for topic and keeps the answer.
func (c *topicCache) load(ctx context.Context, topic string) (int32, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	td, err := c.adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, RetryAfter: time.Second,
			Message: fmt.Sprintf("Kafka did not answer a metadata request for %q: %v; try again.", topic, err)}
	}
	d, found := td[topic]
	if !found || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		c.forget(topic)
		return 0, topicNotFound(topic)
	}
	if d.Err != nil {
		return 0, &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, RetryAfter: time.Second,
			Message: fmt.Sprintf("Kafka: topic %q: %v; try again.", topic, d.Err)}
	}
	n := int32(len(d.Partitions))
	if n == 0 {
		c.forget(topic)
		return 0, topicNotFound(topic)
	}
	c.mu.Lock()
	if len(c.by) >= maxCachedTopics {
		clear(c.by)
	}
	c.by[topic] = topicInfo{partitions: n, read: time.Now()}
	c.mu.Unlock()
	return n, nil
}

func (c *topicCache) forget(topic string) {
	c.mu.Lock()
	delete(c.by, topic)
	c.mu.Unlock()
}

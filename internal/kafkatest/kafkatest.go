package kafkatest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// Cluster starts a one-broker in-process Kafka cluster, closed when t
// ends; opts add to (or override) kfake.NumBrokers(1).
func Cluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: starting a cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Config is the mesh's Kafka client configuration, defaults included, that
// reaches c.
func Config(c *kfake.Cluster) kafkaclient.Config {
	cfg := kafkaclient.Defaults()
	cfg.Brokers = c.ListenAddrs()
	return cfg
}

// Client returns a franz-go client of c with opts, closed when t ends.
func Client(t testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Produce writes recs synchronously and fails t if Kafka refused one.
func Produce(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("kafkatest: produce: %v", err)
	}
}

// Read reads topic of c from its start until it has n records, and fails t
// if they do not arrive within timeout. It returns exactly what arrived
// when more than n did in the same fetch.
func Read(t testing.TB, c *kfake.Cluster, topic string, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl := Client(t, c, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("kafkatest: %d of %d records of %s after %s", len(out), n, topic, timeout)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("kafkatest: reading %s: %v", topic, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// Wait calls cond every 20 ms until it returns nil, and fails t with
// cond's last error if timeout passes first.
func Wait(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kafkatest: not so after %s: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Logger discards what it is given, unless MESHWORK_TEST_LOG is set (then
// it writes debug and above to stderr), so a failing test can be rerun with
// its logs.
func Logger() *slog.Logger {
	if os.Getenv("MESHWORK_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// RefuseProduce makes c answer every produce request for which refuse
// returns true with code for each of its partitions, as a broker under
// trouble would (kerr.NotEnoughReplicas.Code for a retriable refusal,
// kerr.MessageTooLarge.Code for a final one). It returns the count of
// requests refused so far.
func RefuseProduce(c *kfake.Cluster, code int16, refuse func(*kmsg.ProduceRequest) bool) *atomic.Int64 {
	var refused atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		if !refuse(pr) {
			return nil, nil, false
		}
		refused.Add(1)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return &refused
}

// Context returns a context that ends after d, or when t ends.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// LogBuffer collects what a test's logger (or a command's output) writes,
// safe for the goroutines that write while the test reads.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

package adapters

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// startSizedIngress runs a pipeline whose producer is sized by Limits, as
// adapters build it, until the test ends.
func startSizedIngress(t *testing.T, c *kfake.Cluster, window, queue int, notReadyAfter time.Duration, opts ...kgo.Opt) (*Ingress, *Metrics) {
	t.Helper()
	limits := kafkaclient.NewLimits()
	cl := kafkatest.Client(t, c, append([]kgo.Opt{kgo.AllowAutoTopicCreation(), kgo.MetadataMinAge(50 * time.Millisecond),
		kgo.ProducerBatchMaxBytesFn(limits.BatchMaxBytes)}, opts...)...)
	limits.Use(cl)
	m := NewMetrics(prometheus.NewRegistry(), "test", "east")
	log := kafkatest.Logger()
	in := NewIngress(IngressConfig{Site: "east", Component: "test/east", MaxInFlight: window, MaxQueued: queue,
		Kafka: cl, DeadLetters: NewDeadLetters(cl, limits, "test/east", log, m), Metrics: m, Log: log,
		Limits: limits, NotReadyAfter: notReadyAfter})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); in.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return in, m
}

// A message over Kafka's limit is dead-lettered as a reference that fits,
// without a produce or a retry, and settled in its turn; the 1000 messages
// behind it are all written and settled in order, in batches that fit the
// limit, and the pipeline never holds more than its bounds.
func TestIngressOversizeMessageNeverStopsTheStream(t *testing.T) {
	const limit, follow, window, queue = 64 << 10, 1000, 64, 16
	c := kafkatest.Cluster(t, kfake.SeedTopics(1, "plant.image"),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(limit)}))
	in, m := startSizedIngress(t, c, window, queue, 0)
	var peak atomic.Int64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak.Store(max(peak.Load(), in.pending.Load()))
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	var s settled
	big := message("r", "plant.image", "big", &s)
	big.Record.Value = make([]byte, 200<<10)
	rand.Read(big.Record.Value) // incompressible: Kafka refuses it too
	in.Submit(big)
	for i := range follow {
		msg := message("r", "plant.image", fmt.Sprintf("%04d", i), &s)
		msg.Record.Value = append(msg.Record.Value, bytes.Repeat([]byte{'y'}, 1000)...)
		msg.Settle = s.settle(fmt.Sprintf("%04d", i))
		in.Submit(msg)
	}
	kafkatest.Wait(t, testWait, func() error {
		if ids, _ := s.get(); len(ids) != follow+1 {
			return fmt.Errorf("%d of %d settled", len(ids), follow+1)
		}
		return nil
	})
	close(stop)
	<-sampled
	ids, errs := s.get()
	for i, id := range ids {
		want := "big"
		if i > 0 {
			want = fmt.Sprintf("%04d", i-1)
		}
		if id != want || errs[i] != nil {
			t.Fatalf("settled #%d: %s (%v), want %s settled with nil", i, id, errs[i], want)
		}
	}
	if n := len(kafkatest.Read(t, c, "plant.image", follow, testWait)); n != follow {
		t.Fatalf("%d records in plant.image", n)
	}
	r := kafkatest.Read(t, c, dlq.Topic("plant.image"), 1, testWait)[0]
	l, err := dlq.Read(r)
	if err != nil || !l.Truncated || !strings.Contains(l.Reason, "max.message.bytes") || kafkaclient.RecordBytes(r) > limit {
		t.Fatalf("dead letter %+v (%d bytes) %v", l, kafkaclient.RecordBytes(r), err)
	}
	if n := testutil.ToFloat64(m.RetryCount("ingress")); n != 0 {
		t.Fatalf("%v produces tried again", n)
	}
	if n := testutil.ToFloat64(m.DeadLetterCount("ingress", ReasonTooLarge)); n != 1 {
		t.Fatalf("%v dead letters counted as too large", n)
	}
	// Queued or in flight: the window, the queue, the one message the
	// producer took from the queue and holds until the window has room,
	// and the one submitter waiting for a place in the queue.
	if p := peak.Load(); p > window+queue+2 {
		t.Fatalf("%d messages held at once, over the bound %d", p, window+queue+2)
	}
}

// A transient failure is retried, shown by the retrying gauge at once and
// by Ready after not_ready_after, and the message is kept: it is written
// once Kafka takes it again.
func TestIngressTransientFailureIsRetriedAndShown(t *testing.T) {
	c := kafkatest.Cluster(t, kfake.SeedTopics(1, "plant.a"))
	var fail atomic.Bool
	fail.Store(true)
	kafkatest.RefuseProduce(c, kerr.NotEnoughReplicas.Code, func(*kmsg.ProduceRequest) bool { return fail.Load() })
	// The client library gives up at once, so the pipeline's own retries
	// are what keeps the message.
	in, m := startSizedIngress(t, c, 4, 4, 300*time.Millisecond, kgo.RecordRetries(0))
	var s settled
	in.Submit(message("r", "plant.a", "kept", &s))
	var retrying bool
	kafkatest.Wait(t, testWait, func() error {
		retrying = retrying || testutil.ToFloat64(m.Retrying("ingress")) > 0
		if err := in.Ready(); err == nil || !strings.Contains(err.Error(), "NOT_ENOUGH_REPLICAS") || !retrying {
			return fmt.Errorf("Ready: %v, retrying seen: %v", err, retrying)
		}
		return nil
	})
	if ids, _ := s.get(); len(ids) != 0 {
		t.Fatalf("settled %v while Kafka refused it", ids)
	}
	if testutil.ToFloat64(m.DeadLetterCount("ingress", ReasonRefused)) != 0 {
		t.Fatal("a transient failure was dead-lettered")
	}
	fail.Store(false)
	kafkatest.Wait(t, testWait, func() error {
		if ids, errs := s.get(); len(ids) != 1 || errs[0] != nil {
			return errors.New("not settled")
		}
		return nil
	})
	kafkatest.Read(t, c, "plant.a", 1, testWait)
	kafkatest.Wait(t, testWait, func() error {
		if v := testutil.ToFloat64(m.Retrying("ingress")); v != 0 {
			return fmt.Errorf("retrying %v", v)
		}
		return in.Ready()
	})
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err    error
		reason string // "" for transient
	}{
		{fmt.Errorf("%w (uncompressed_bytes=2000000)", kerr.MessageTooLarge), ReasonTooLarge},
		{kerr.RecordListTooLarge, ReasonTooLarge},
		{kerr.InvalidRecord, ReasonInvalid},
		{kerr.CorruptMessage, ReasonInvalid},
		{kerr.InvalidTopicException, ReasonTopic},
		{kerr.TopicAuthorizationFailed, ReasonUnauthorized},
		{kerr.PolicyViolation, ReasonRefused},
		{fmt.Errorf("reading: %w", &envelope.AttributeError{Name: "mesh_origin"}), ReasonEnvelope},
		{Permanent(ReasonSchema, errors.New("no field c")), ReasonSchema},
		{kerr.NotLeaderForPartition, ""},
		{kerr.NotEnoughReplicas, ""},
		{kerr.RequestTimedOut, ""},
		{kerr.ThrottlingQuotaExceeded, ""},
		{kerr.ClusterAuthorizationFailed, ""},
		{kgo.ErrMaxBuffered, ""},
		{context.DeadlineExceeded, ""},
		{ErrNoConfirm, ""},
		{errors.New("connection refused"), ""},
	} {
		perm, reason := Classify(c.err)
		if perm != (c.reason != "") || reason != c.reason {
			t.Errorf("Classify(%v) = %v, %q; want %q", c.err, perm, reason, c.reason)
		}
	}
}

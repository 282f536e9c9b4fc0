package rest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

// Requests never queue behind the topic cache's metadata requests: the
// first requests for a topic share one, and once the topic is known, a
// stale entry is refreshed by one request while the others answer with
// the known partition count, even while Kafka does not answer.
func TestTopicCacheSharesAndNeverQueues(t *testing.T) {
	cluster := kafkatest.Cluster(t, kfake.SeedTopics(3, "orders"))
	var asked atomic.Int64
	hold := make(chan struct{})
	var holding atomic.Bool
	cluster.ControlKey(int16(kmsg.Metadata), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		for _, tp := range req.(*kmsg.MetadataRequest).Topics {
			if tp.Topic != nil && *tp.Topic == "orders" {
				asked.Add(1)
				if holding.Load() {
					<-hold
				}
			}
		}
		return nil, nil, false
	})
	// The Kafka client keeps metadata for MetadataMinAge itself; a short
	// one lets the refresh below reach Kafka.
	const minAge = 20 * time.Millisecond
	c := newTopicCache(kadm.NewClient(kafkatest.Client(t, cluster, kgo.MetadataMinAge(minAge))), time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	concurrently := func(n int) []int32 {
		got := make([]int32, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				p, err := c.partitions(ctx, "orders")
				if err != nil {
					t.Error(err)
				}
				got[i] = p
			})
		}
		wg.Wait()
		return got
	}
	for _, p := range concurrently(50) {
		if p != 3 {
			t.Fatalf("partitions %d, want 3", p)
		}
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("50 first requests asked Kafka %d times, want once", n)
	}

	// Stale, and Kafka holds the refresh: every other request answers at
	// once with the count known so far.
	c.mu.Lock()
	info := c.by["orders"]
	info.read = time.Now().Add(-2 * time.Hour)
	c.by["orders"] = info
	c.mu.Unlock()
	holding.Store(true)
	time.Sleep(2 * minAge) // past the client's own metadata cache
	refreshed := make(chan error, 1)
	go func() { _, err := c.partitions(ctx, "orders"); refreshed <- err }()
	kafkatest.Wait(t, 10*time.Second, func() error {
		if asked.Load() != 2 {
			return errors.New("the refresh has not asked Kafka yet")
		}
		return nil
	})
	start := time.Now()
	for _, p := range concurrently(50) {
		if p != 3 {
			t.Fatalf("partitions %d while refreshing, want 3", p)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("requests waited %s behind the refresh", d)
	}
	close(hold)
	if err := <-refreshed; err != nil {
		t.Fatal(err)
	}
	if n := asked.Load(); n != 2 {
		t.Fatalf("Kafka asked %d times, want twice (first read, one refresh)", n)
	}
}

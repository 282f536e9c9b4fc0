package amqp

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// A receiver link that stops sending while it has credit and its queue
// has messages (RabbitMQ 3.10 was seen to) is detached once what it
// delivered is settled, and a link attached anew takes the rest: every
// message reaches Kafka, none twice, and the stall is counted. Without
// the watchdog the stream stops at the stall.
func TestWatchdogAttachesAStalledReceiverAnew(t *testing.T) {
	const n, credit, stallAt = 200, 64, 50
	kafka := kafkatest.Cluster(t, kfake.SeedTopics(1, "legacy.orders"))
	cfg := testConfig(kafka)
	cfg.MaxInFlight = credit
	cfg.Broker.StallTimeout = time.Second
	cfg.Ingress = []IngressRule{{Name: "orders", Address: "orders", Topic: "legacy.orders"}}
	a := startAdapter(t, cfg)
	first := newFakeReceiver()
	first.stallAfter = stallAt
	var mu sync.Mutex
	var links []*fakeReceiver
	attach := func(context.Context) (receiver, error) {
		mu.Lock()
		defer mu.Unlock()
		l := first.anotherLink()
		links = append(links, l)
		return l, nil
	}
	runIngressAttaching(t, a, 0, first, attach, detect(KindRabbitMQ, nil))
	var want []string
	for i := range n {
		first.msgs <- order(i)
		want = append(want, fmt.Sprintf("m%04d", i))
	}
	recs := kafkatest.Read(t, kafka, "legacy.orders", n, testWait)
	var got []string
	for _, r := range recs {
		got = append(got, header(r, envelope.HeaderID))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Kafka holds %d records, not the %d in order: %v", len(got), n, got)
	}
	acc, rel, _ := first.settled()
	if len(acc) != stallAt || len(rel) != 0 {
		t.Fatalf("the stalled link settled %d accepted, %d released; want %d accepted", len(acc), len(rel), stallAt)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(links) != 1 {
		t.Fatalf("%d links attached anew, want 1", len(links))
	}
	// Kafka has them all; the last are Accepted just after.
	eventually(t, "the new link to accept the rest", func() bool { acc, _, _ := links[0].settled(); return len(acc) == n-stallAt })
	if _, _, maxOut := links[0].settled(); maxOut > credit {
		t.Fatalf("the new link had %d out, over its credit %d", maxOut, credit)
	}
	if v := testutil.ToFloat64(a.lm.reattaches.WithLabelValues("orders")); v != 1 {
		t.Fatalf("reattaches_total %v, want 1", v)
	}
	if v := testutil.ToFloat64(a.lm.stalls.WithLabelValues("orders")); v != 1 {
		t.Fatalf("stalls_total %v, want 1", v)
	}
}

// An idle queue is not a stall: the watchdog attaches its link anew now
// and then (the period doubling while nothing comes: 1s, then 2s), counts
// no stall, and the new link delivers what comes later.
func TestWatchdogOnAnIdleQueue(t *testing.T) {
	kafka := kafkatest.Cluster(t, kfake.SeedTopics(1, "legacy.orders"))
	cfg := testConfig(kafka)
	cfg.MaxInFlight = 8
	cfg.Broker.StallTimeout = time.Second
	cfg.Ingress = []IngressRule{{Name: "orders", Address: "orders", Topic: "legacy.orders"}}
	a := startAdapter(t, cfg)
	first := newFakeReceiver()
	var mu sync.Mutex
	var attached []time.Time
	attach := func(context.Context) (receiver, error) {
		mu.Lock()
		defer mu.Unlock()
		attached = append(attached, time.Now())
		return first.anotherLink(), nil
	}
	runIngressAttaching(t, a, 0, first, attach, detect(KindRabbitMQ, nil))
	// The counter may move before the attach it counts is made: wait for
	// both.
	eventually(t, "two links attached anew", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(attached) >= 2 && testutil.ToFloat64(a.lm.reattaches.WithLabelValues("orders")) == 2
	})
	mu.Lock()
	gap := attached[1].Sub(attached[0])
	mu.Unlock()
	if gap < 2*time.Second {
		t.Fatalf("the second link was attached %s after the first: the period did not double", gap)
	}
	// A message that comes well after the new link was attached is no sign
	// of a stall.
	time.Sleep(stallProof + 100*time.Millisecond)
	first.msgs <- order(1)
	kafkatest.Read(t, kafka, "legacy.orders", 1, testWait)
	if v := testutil.ToFloat64(a.lm.stalls.WithLabelValues("orders")); v != 0 {
		t.Fatalf("stalls_total %v on an idle queue", v)
	}
}

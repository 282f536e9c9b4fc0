package demand

import (
	"context"
	"testing"
	"time"

	"github.com/meshwork/meshwork/interest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// waitChange waits for a value on ch.
func waitChange(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("no change notified for %s", what)
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestWatcherCatchUp(t *testing.T) {
	c := testCluster(t)
	cl := testClient(t, c)
	ensureTopic(t, cl)
	ctx := testCtx(t)
	codec := testCodec(t)

	// History: 50 leases, every other one tombstoned, one invalid record,
	// and last a transaction, so the topic ends with a commit marker.
	var recs []*kgo.Record
	for i := range 50 {
		l := declared("west", "shop.order.created", "d"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		recs = append(recs, record(t, codec, l))
		if i%2 == 1 {
			recs = append(recs, interest.Tombstone(l))
		}
	}
	recs = append(recs, &kgo.Record{Topic: interest.Topic, Key: []byte("west/declared/x/topic:y"), Value: []byte("not avro")})
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	txn := testClient(t, c, kgo.TransactionalID("test-txn"))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	last := declared("north", "billing.invoice", "last")
	if err := txn.ProduceSync(ctx, record(t, codec, last)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	w := startWatcher(t, c, WithMetrics(m))
	waitChange(t, w.Changes(), "ready")
	tb := w.Table()
	if n := len(tb.Active(time.Now())); n != 26 {
		t.Fatalf("%d leases active after catch-up, want 25 + the transactional one", n)
	}
	if _, ok := tb.Lease(last.Key()); !ok {
		t.Fatal("the committed transactional lease is missing")
	}
	if tb.Invalid() != 1 || testutil.ToFloat64(m.invalid) != 1 {
		t.Fatalf("invalid records: table %d, metric %v", tb.Invalid(), testutil.ToFloat64(m.invalid))
	}
	if got := testutil.ToFloat64(m.leases.WithLabelValues("west", "DECLARED")); got != 25 {
		t.Fatalf("leases gauge west/DECLARED = %v", got)
	}
}

func TestWatcherMissingTopic(t *testing.T) {
	c := testCluster(t)
	w := startWatcher(t, c) // ready although there is no topic
	if len(w.Table().Leases()) != 0 {
		t.Fatal("leases from nowhere")
	}
	// Leases written once the topic exists are seen.
	cl := testClient(t, c)
	p, err := interest.NewPublisher(cl, "east", interest.TTL(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Set(testCtx(t), []interest.Lease{{Topic: "t", Kind: interest.KindDeclared, SourceID: "x"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the lease on the new topic", func() bool { return len(w.Table().Leases()) == 1 })
}

func TestWatcherNotifiesChangesAndExpiry(t *testing.T) {
	c := testCluster(t)
	cl := testClient(t, c)
	ensureTopic(t, cl)
	ctx := testCtx(t)
	codec := testCodec(t)
	w := startWatcher(t, c)
	drain(w.Changes())

	permanent := declared("east", "shop.order.created", "ops")
	permanent.Expires = time.Time{}
	if err := cl.ProduceSync(ctx, record(t, codec, permanent)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitChange(t, w.Changes(), "a new lease")
	if got := w.Table().Resolve(time.Now(), nil); len(got["shop.order.created"]) != 1 {
		t.Fatalf("Resolve after the change: %v", got)
	}

	// A lease that nobody renews: its expiry is a change by itself.
	short := declared("west", "billing.invoice", "temp")
	short.Since = ms(time.Now())
	short.Expires = short.Since.Add(time.Second)
	if err := cl.ProduceSync(ctx, record(t, codec, short)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the short lease", func() bool { return len(w.Table().Active(time.Now())) == 2 })
	drain(w.Changes())
	waitChange(t, w.Changes(), "the short lease's expiry")
	if now := time.Now(); now.Before(short.Expires) {
		t.Fatalf("notified %s before the expiry", short.Expires.Sub(now))
	}
	if got := w.Table().Resolve(time.Now(), nil); len(got) != 1 || got["billing.invoice"] != nil {
		t.Fatalf("Resolve after expiry: %v", got)
	}

	// A tombstone is a change.
	if err := cl.ProduceSync(ctx, interest.Tombstone(permanent)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitChange(t, w.Changes(), "the tombstone")
	if len(w.Table().Active(time.Now())) != 0 {
		t.Fatal("leases left")
	}
}

func TestWatcherCloseEndsRun(t *testing.T) {
	w, err := NewWatcher([]kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}) // nothing listens: still catching up
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); w.Run(context.Background()) }()
	time.Sleep(50 * time.Millisecond) // let Run start; it ends either way
	w.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running after Close")
	}
}

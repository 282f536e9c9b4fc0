package interest

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// history returns the records of key in Topic, in order, with their
// leases decoded (nil for tombstones).
func history(t *testing.T, c *kfake.Cluster, key string) ([]*kgo.Record, []*Lease) {
	t.Helper()
	codec := testCodec(t)
	var recs []*kgo.Record
	var leases []*Lease
	for _, r := range readAll(t, c) {
		if string(r.Key) != key {
			continue
		}
		_, l, err := codec.Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		recs, leases = append(recs, r), append(leases, l)
	}
	return recs, leases
}

func TestPublisherRenewsKeepingSince(t *testing.T) {
	c := testCluster(t)
	cl := testClient(t, c)
	ensureTopic(t, cl)
	w := observe(t, c)
	ctx := testCtx(t)

	const ttl = 300 * time.Millisecond
	p, err := NewPublisher(cl, "east", TTL(ttl), Logger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	l := Lease{Topic: "shop.order.created", Kind: KindDeclared, SourceID: "ops"}
	if err := p.Set(ctx, []Lease{l}); err != nil {
		t.Fatal(err)
	}
	first := p.Leases()[0]
	if d := first.Expires.Sub(first.Since); d < ttl-time.Millisecond || d > ttl+ttl/3 {
		t.Fatalf("expires %s after since, want the TTL %s", d, ttl)
	}
	l.Site = "east"
	key := l.Key()
	// Renewed several times, Since kept, Expires moving on: the lease
	// outlives its first expiry.
	waitFor(t, 5*time.Second, "three renewals", func() bool {
		cur, _ := w.Lease(key)
		return cur.Expires.Sub(first.Expires) >= ttl-time.Millisecond
	})
	cur, _ := w.Lease(key)
	if !cur.Since.Equal(first.Since) {
		t.Fatalf("since moved from %v to %v on renewal", first.Since, cur.Since)
	}
	if len(w.Active(time.Now())) != 1 {
		t.Fatal("renewed lease not active")
	}

	// Setting the same lease again writes nothing new and keeps Since;
	// a changed policy is written at once, Since still kept.
	l.Resume = ResumeLatest
	if err := p.Set(ctx, []Lease{l}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the new policy", func() bool {
		cur, _ := w.Lease(key)
		return cur.Resume == ResumeLatest && cur.Since.Equal(first.Since)
	})

	// Dropping it from the set tombstones it.
	if err := p.Set(ctx, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the tombstone", func() bool { _, ok := w.Lease(key); return !ok })
	if _, h := history(t, c, key); h[len(h)-1] != nil {
		t.Fatal("last record is not a tombstone")
	}
}

func TestPublisherCloseAndRemove(t *testing.T) {
	c := testCluster(t)
	cl := testClient(t, c)
	ensureTopic(t, cl)
	w := observe(t, c)
	ctx := testCtx(t)

	const ttl = 600 * time.Millisecond
	a := Lease{Topic: "shop.order.created", Kind: KindAdapterEgress, SourceID: "mqtt/orders"}
	b := Lease{Topic: `shop\..*`, Pattern: true, Kind: KindAdapterEgress, SourceID: "mqtt/all"}
	p1, err := NewPublisher(cl, "east", TTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	if err := p1.Set(ctx, []Lease{a, b}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "two leases", func() bool { return len(w.Active(time.Now())) == 2 })
	leases := p1.Leases()
	if err := p1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p1.Set(ctx, []Lease{a}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}

	// A restart within the TTL continues the interest: same Since.
	p2, err := NewPublisher(cl, "east", TTL(time.Minute), Continue(w.read()))
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Set(ctx, []Lease{a}); err != nil {
		t.Fatal(err)
	}
	if got := p2.Leases(); len(got) != 1 || !got[0].Since.Equal(leases[1].Since) {
		t.Fatalf("restarted publisher's lease %+v, want since %v", got, leases[1].Since)
	}

	// Close wrote no tombstone: b just expires.
	waitFor(t, 5*time.Second, "b to expire", func() bool { return len(w.Active(time.Now())) == 1 })
	if _, ok := w.Lease(leases[0].Key()); !ok {
		t.Fatal("Close tombstoned a lease")
	}
	_, h := history(t, c, leases[0].Key())
	for _, l := range h {
		if l == nil {
			t.Fatal("Close wrote a tombstone")
		}
	}

	// Remove tombstones at once.
	if err := p2.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a's tombstone", func() bool { _, ok := w.Lease(leases[1].Key()); return !ok })
	if len(p2.Leases()) != 0 {
		t.Fatal("removed publisher still holds leases")
	}
}

func TestPublisherExpireRemoved(t *testing.T) {
	c := testCluster(t)
	cl := testClient(t, c)
	ensureTopic(t, cl)
	w := observe(t, c)
	ctx := testCtx(t)

	p, err := NewPublisher(cl, "east", TTL(300*time.Millisecond), ExpireRemoved())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	l := Lease{Topic: "shop.order.created", Kind: KindConsumerGroup, SourceID: "billing"}
	if err := p.Set(ctx, []Lease{l}); err != nil {
		t.Fatal(err)
	}
	key := p.Leases()[0].Key()
	waitFor(t, 5*time.Second, "the lease", func() bool { return len(w.Active(time.Now())) == 1 })
	if err := p.Set(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if len(p.Leases()) != 0 {
		t.Fatal("the publisher still holds the removed lease")
	}
	// Once expired, the publisher tombstones it to keep the topic small:
	// the tombstone comes after the last lease's expiry, never before.
	waitFor(t, 5*time.Second, "the clean-up tombstone", func() bool { _, ok := w.Lease(key); return !ok })
	recs, h := history(t, c, key)
	n := len(h)
	if n < 2 || h[n-1] != nil || h[n-2] == nil {
		t.Fatalf("history of %s: %v", key, h)
	}
	if recs[n-1].Timestamp.Before(h[n-2].Expires) {
		t.Fatalf("tombstone written at %v, before the lease expired at %v", recs[n-1].Timestamp, h[n-2].Expires)
	}
}

func TestPublisherRejects(t *testing.T) {
	c := testCluster(t)
	cl := testClient(t, c)
	ctx := testCtx(t)
	if _, err := NewPublisher(cl, "east", TTL(-time.Second)); err == nil {
		t.Fatal("negative TTL accepted")
	}
	if _, err := NewPublisher(cl, "East"); err == nil {
		t.Fatal("invalid site accepted")
	}
	p, err := NewPublisher(cl, "east", TTL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	ok := Lease{Topic: "t", Kind: KindDeclared, SourceID: "x"}
	for _, bad := range [][]Lease{
		{{Topic: "t", Site: "west", Kind: KindDeclared, SourceID: "x"}},
		{ok, ok},
		{ok, {Topic: "(", Pattern: true, Kind: KindDeclared, SourceID: "y"}},
	} {
		if err := p.Set(ctx, bad); !errors.Is(err, ErrInvalidLease) {
			t.Errorf("Set(%+v) = %v", bad, err)
		}
	}
	if len(p.Leases()) != 0 {
		t.Fatal("a rejected set was kept")
	}
	// TTL 0: a lease that never expires.
	if err := p.Set(ctx, []Lease{ok}); err != nil {
		t.Fatal(err)
	}
	if got := p.Leases()[0]; !got.Expires.IsZero() {
		t.Fatalf("TTL 0 lease expires %v", got.Expires)
	}
}

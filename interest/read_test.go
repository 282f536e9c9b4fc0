package interest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRead(t *testing.T) {
	c := testCluster(t)
	cl := testClient(t, c)
	ctx := testCtx(t)
	if ls, err := Read(ctx, clientOpts(c)); err != nil || len(ls) != 0 {
		t.Fatalf("no topic yet: %v %v", ls, err)
	}
	ensureTopic(t, cl)
	codec := testCodec(t)
	a, b := declared("east", "shop.order.created", "ops"), declared("west", "shop.order.shipped", "ops")
	ra, _ := codec.Record(a)
	rb, _ := codec.Record(b)
	bad := &kgo.Record{Topic: Topic, Key: []byte("east/declared/x/topic:y"), Value: []byte{1, 2}}
	if err := cl.ProduceSync(ctx, ra, rb, bad, Tombstone(b)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ls, err := Read(ctx, clientOpts(c))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := ls.Lease(a.Key()); !ok || !got.SameInterest(a) || len(ls) != 1 {
		t.Fatalf("read %v; want only %s (b tombstoned, the bad record skipped)", ls.Sorted(), a.Key())
	}
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Read(short, []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}); err == nil {
		t.Fatal("Read from nowhere succeeded")
	}
}

package interest

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

func testCluster(t *testing.T) *kfake.Cluster { return kafkatest.Cluster(t) }

func clientOpts(c *kfake.Cluster) []kgo.Opt { return []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)} }

func testClient(t *testing.T, c *kfake.Cluster, extra ...kgo.Opt) *kgo.Client {
	return kafkatest.Client(t, c, extra...)
}

func testCtx(t *testing.T) context.Context { return kafkatest.Context(t, 20*time.Second) }

func testLogger() *slog.Logger { return kafkatest.Logger() }

// waitFor polls cond until it holds, failing the test at the deadline.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	kafkatest.Wait(t, within, func() error {
		if cond() {
			return nil
		}
		return errors.New("still waiting for " + what)
	})
}

// observer shows what a reader of c's Topic finds now: each question reads
// the whole topic with Read.
type observer struct {
	t *testing.T
	c *kfake.Cluster
}

func observe(t *testing.T, c *kfake.Cluster) observer { return observer{t, c} }

func (o observer) read() Leases {
	o.t.Helper()
	ls, err := Read(testCtx(o.t), clientOpts(o.c))
	if err != nil {
		o.t.Fatal(err)
	}
	return ls
}

func (o observer) Lease(key string) (Lease, bool) { return o.read().Lease(key) }

func (o observer) Active(now time.Time) []Lease {
	var out []Lease
	for _, l := range o.read().Sorted() {
		if !l.Expired(now) {
			out = append(out, l)
		}
	}
	return out
}

// ensureTopic creates _mesh.interest at c.
func ensureTopic(t *testing.T, cl *kgo.Client) {
	t.Helper()
	if err := EnsureTopic(testCtx(t), cl); err != nil {
		t.Fatal(err)
	}
}

// readAll returns every record of Topic at c, tombstones included.
func readAll(t *testing.T, c *kfake.Cluster) []*kgo.Record {
	t.Helper()
	ctx := testCtx(t)
	cl := testClient(t, c)
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, Topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(Topic, 0)
	if end.Offset == 0 {
		return nil
	}
	rd := testClient(t, c, kgo.ConsumeTopics(Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	for len(out) == 0 || out[len(out)-1].Offset < end.Offset-1 {
		fs := rd.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func declared(site, topic, name string) Lease {
	now := time.Now().Truncate(time.Millisecond).UTC()
	return Lease{Topic: topic, Site: site, Kind: KindDeclared, SourceID: name, Since: now, Expires: now.Add(time.Hour)}
}

package demand

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/kafkatest"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testCluster starts a one-broker fake Kafka with topics seeded.
func testCluster(t *testing.T, topics ...string) *kfake.Cluster {
	t.Helper()
	if len(topics) == 0 {
		return kafkatest.Cluster(t)
	}
	return kafkatest.Cluster(t, kfake.SeedTopics(1, topics...))
}

func clientOpts(c *kfake.Cluster) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
}

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

// startWatcher runs a watcher on c until the test ends and waits until it
// is ready.
func startWatcher(t *testing.T, c *kfake.Cluster, opts ...WatcherOpt) *Watcher {
	t.Helper()
	w, err := NewWatcher(clientOpts(c), append([]WatcherOpt{Logger(testLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; w.Close() })
	select {
	case <-w.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("watcher not ready within 10s")
	}
	return w
}

// ensureTopic creates _mesh.interest at c.
func ensureTopic(t *testing.T, cl *kgo.Client) {
	t.Helper()
	if err := interest.EnsureTopic(testCtx(t), cl); err != nil {
		t.Fatal(err)
	}
}

func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

func declared(site, topic, name string) interest.Lease {
	now := ms(time.Now())
	return interest.Lease{Topic: topic, Site: site, Kind: interest.KindDeclared, SourceID: name, Since: now, Expires: now.Add(time.Hour)}
}

func testCodec(t testing.TB) *interest.Codec {
	t.Helper()
	c, err := interest.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

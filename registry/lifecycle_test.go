package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

// closedPort returns an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func unreachableConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Site = "east"
	cfg.Kafka.Brokers = []string{closedPort(t)}
	return cfg
}

// waitGoroutines waits until no more goroutines run than base: what a
// registry started must all have ended.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines still running, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNewStartsNothing(t *testing.T) {
	base := runtime.NumGoroutine()
	reg, err := New(unreachableConfig(t), testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n > base { // earlier tests' may still be ending
		t.Fatalf("New started %d goroutines", n-base)
	}
	if reg.Ready(context.Background()) == nil {
		t.Fatal("a registry never started must not be ready")
	}
	if err := reg.Close(context.Background()); err != nil {
		t.Fatalf("Close without Start: %v", err)
	}
	if err := reg.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := reg.Start(context.Background()); err == nil {
		t.Fatal("Start after Close must fail")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cfg := unreachableConfig(t)
	cfg.Topic = ""
	if _, err := New(cfg, testLogger(), nil); err == nil {
		t.Fatal("New must validate the config")
	}
}

func TestFailedStartLeavesNothingRunning(t *testing.T) {
	base := runtime.NumGoroutine()
	reg, err := New(unreachableConfig(t), testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := reg.Start(ctx); err == nil {
		t.Fatal("Start against no Kafka must fail")
	}
	if err := reg.Close(context.Background()); err != nil {
		t.Fatalf("Close after a failed Start: %v", err)
	}
	waitGoroutines(t, base)
}

func TestStartTwiceFails(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	if err := in.reg.Start(context.Background()); err == nil {
		t.Fatal("a second Start must fail")
	}
}

// TestCloseWaitsForEverything runs a leader and a follower on one cluster
// and closes both: every goroutine they started has ended when Close
// returns (give or take the HTTP connections winding down).
func TestCloseWaitsForEverything(t *testing.T) {
	cluster := newCluster(t)
	base := runtime.NumGoroutine()
	a := startInstance(t, cluster, nil)
	b := startInstance(t, cluster, nil)
	a.waitReady(t)
	b.waitReady(t)
	waitUntil(t, "a leader", func() bool { return a.reg.IsLeader() || b.reg.IsLeader() })
	a.register(t, "g-value", orderV1)
	a.stop()
	b.stop()
	waitGoroutines(t, base)
}

// TestLeaderCloseHandsOver checks that a closing leader leaves the group:
// the follower takes over well before the session timeout (6s) would have
// let it.
func TestLeaderCloseHandsOver(t *testing.T) {
	cluster := newCluster(t)
	a := startInstance(t, cluster, nil)
	b := startInstance(t, cluster, nil)
	a.waitReady(t)
	b.waitReady(t)
	waitUntil(t, "exactly one leader", func() bool { return a.reg.IsLeader() != b.reg.IsLeader() })
	leader, follower := a, b
	if b.reg.IsLeader() {
		leader, follower = b, a
	}
	start := time.Now()
	leader.stop()
	waitUntil(t, "the follower to lead", follower.reg.IsLeader)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the follower took %s to lead", took)
	}
}

func TestElectionSignalNeverBlocks(t *testing.T) {
	e := &election{notify: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			e.set(i%2 == 0) // last: false
		}
		e.set(true)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("set blocked with nobody reading")
	}
	if len(e.notify) != 1 || !e.elected.Load() {
		t.Fatalf("want one pending wake-up and the latest verdict (true), got %d and %v", len(e.notify), e.elected.Load())
	}
}

// TestStoreCloseIsBounded plays a write that never finishes: close gives
// up on it when its context ends, and writes waiting behind it are told
// the instance is closing.
func TestStoreCloseIsBounded(t *testing.T) {
	st := newStore("_schemas", testLogger(), newState(testLogger()))
	if err := st.lock(context.Background()); err != nil { // the stuck write
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := st.update(context.Background(), func(*view) ([]logRecord, error) {
			return []logRecord{{key: maxIDKey(), value: maxIDValue{MaxID: 1}}}, nil
		})
		waiting <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := st.close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close with a write stuck: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("close took %s", took)
	}
	select {
	case err := <-waiting:
		if !errors.Is(err, errNotLeader) {
			t.Fatalf("a write waiting at close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write waiting at close never returned")
	}
	st.unlock()
}

// TestConcurrentRegistrations registers from many clients at once: no id
// and no version is handed out twice.
func TestConcurrentRegistrations(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	in.must(t, 200, "PUT", "/config", map[string]string{"compatibility": "NONE"})
	const n = 16
	ids := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ids[i] = in.register(t, "c-value", fmt.Sprintf(`{"type":"record","name":"R%d","fields":[{"name":"a","type":"string"}]}`, i))
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("id %d handed out twice: %v", id, ids)
		}
		seen[id] = true
	}
	var versions []int
	in.must(t, 200, "GET", "/subjects/c-value/versions", nil).decode(t, &versions)
	if len(versions) != n || versions[0] != 1 || versions[n-1] != n {
		t.Fatalf("versions %v, want 1..%d", versions, n)
	}
}

// TestReimportedIDIsParsedAfresh hard-deletes an id and imports another
// schema under it: lookups and registrations see the new schema, not a
// cached parse of the old one.
func TestReimportedIDIsParsedAfresh(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	id := in.register(t, "old-value", `"string"`)
	in.must(t, 200, "POST", "/subjects/old-value", map[string]any{"schema": `"string"`}) // parses and caches id
	in.must(t, 200, "DELETE", "/subjects/old-value", nil)
	in.must(t, 200, "DELETE", "/subjects/old-value?permanent=true", nil)
	in.must(t, 200, "PUT", "/mode?force=true", map[string]string{"mode": "IMPORT"})
	in.must(t, 200, "POST", "/subjects/new-value/versions", map[string]any{"schema": `"long"`, "id": id, "version": 1})
	var sv subjectVersion
	in.must(t, 200, "POST", "/subjects/new-value", map[string]any{"schema": `"long"`}).decode(t, &sv)
	if sv.ID != id || sv.Schema != `"long"` {
		t.Fatalf("lookup of the re-imported schema: %+v", sv)
	}
	if r := in.do(t, "POST", "/subjects/new-value", map[string]any{"schema": `"string"`}); r.errorCode() != codeSchemaNotFound {
		t.Fatalf("the hard-deleted schema must not match: %d %s", r.status, r.body)
	}
}

// A schema log that retention would empty is refused at the start, with
// the command that fixes it: clients keep naming schemas by id for ever.
func TestStartRefusesASchemaLogThatIsNotCompacted(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(kafkatest.Client(t, c))
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, "_schemas"); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Site, cfg.Listen, cfg.Kafka.Brokers = "east", "127.0.0.1:0", c.ListenAddrs()
	reg, err := New(cfg, testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(ctx)
	if err := reg.Start(ctx); err == nil || !strings.Contains(err.Error(), "--add-config cleanup.policy=compact") {
		t.Fatalf("got %v, want the command that compacts _schemas", err)
	}
}

package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/replicator"
)

// logCopier plays the replicator for a follower site: it creates the
// schema log in the follower's cluster (compacted, one partition) when
// started, and copies the primary's log into it, in order, with keys,
// values and headers, as long as it is not paused. The copies have other
// offsets than their originals: the replicator's copies do too.
type logCopier struct {
	paused atomic.Bool
	copied atomic.Int64
}

func startCopier(t *testing.T, from, to *kfake.Cluster, topic string) *logCopier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	adm := kadm.NewClient(kafkatest.Client(t, to))
	_, err := adm.CreateTopic(kafkatest.Context(t, 10*time.Second), 1, 1,
		map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatal(err)
	}
	src := kafkatest.Client(t, from, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(20*time.Millisecond))
	dst := kafkatest.Client(t, to, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	c := &logCopier{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			fs := src.PollFetches(ctx)
			var copies []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) {
				copies = append(copies, &kgo.Record{Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp})
			})
			for c.paused.Load() && ctx.Err() == nil { // what was read meanwhile waits
				time.Sleep(10 * time.Millisecond)
			}
			if len(copies) == 0 {
				continue
			}
			if err := dst.ProduceSync(ctx, copies...).FirstErr(); err != nil {
				if ctx.Err() == nil {
					t.Errorf("copying the schema log: %v", err)
				}
				return
			}
			c.copied.Add(int64(len(copies)))
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return c
}

// startFollower runs a follower site's instance on its own cluster, with
// writes forwarded to primary.
func startFollower(t *testing.T, cluster *kfake.Cluster, primary *instance, edit func(*Config)) *instance {
	t.Helper()
	return startInstance(t, cluster, func(c *Config) {
		c.Site = "west"
		c.Primary = &Primary{URL: primary.url}
		if edit != nil {
			edit(c)
		}
	})
}

func schemaN(i int) string {
	return fmt.Sprintf(`{"type":"record","name":"R%d","namespace":"rw","fields":[{"name":"a","type":"string"}]}`, i)
}

// A follower that starts before the replicator brought the schema log
// starts anyway, says in /readyz what it waits for and answers the API
// with 503 (nothing from a log it has not read); once the log arrives, it
// loads it and serves what the primary wrote before.
func TestFollowerAwaitsItsSchemaLog(t *testing.T) {
	east, west := newCluster(t), newCluster(t)
	primary := startInstance(t, east, nil)
	primary.waitReady(t)
	id := primary.register(t, "early-value", orderV1)

	follower := startFollower(t, west, primary, nil)
	time.Sleep(300 * time.Millisecond)
	err := follower.reg.Ready(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not exist on this site's cluster yet") || !strings.Contains(err.Error(), "replicator") {
		t.Fatalf("Ready before the log exists: %v", err)
	}
	for _, path := range []string{fmt.Sprintf("/schemas/ids/%d", id), "/subjects"} {
		r := follower.do(t, "GET", path, nil)
		if r.status != http.StatusServiceUnavailable || r.errorCode() != codeStoreError || !strings.Contains(string(r.body), "replicator") {
			t.Fatalf("GET %s before the log exists: %d %s", path, r.status, r.body)
		}
	}
	if r := follower.do(t, "POST", "/subjects/x-value/versions", map[string]any{"schema": orderV2}); r.status != http.StatusServiceUnavailable {
		t.Fatalf("a write before the log exists: %d %s", r.status, r.body)
	}

	startCopier(t, east, west, "_schemas")
	follower.waitReady(t)
	var byID schemaByID
	follower.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d", id), nil).decode(t, &byID)
	if byID.Schema != orderV1 {
		t.Fatalf("id %d at west: %+v", id, byID)
	}
}

// A follower whose copy of the log exists but is not filled yet does not
// serve it as complete: loading ends once it has reached the position the
// primary had when the copy was read to its end.
func TestFollowerLoadsUpToThePrimary(t *testing.T) {
	east, west := newCluster(t), newCluster(t)
	primary := startInstance(t, east, nil)
	primary.waitReady(t)
	primary.must(t, 200, "PUT", "/config", map[string]string{"compatibility": "NONE"})
	var last int
	for i := range 20 {
		last = primary.register(t, "fill-value", schemaN(i))
	}
	copier := startCopier(t, east, west, "_schemas")
	copier.paused.Store(true) // the topic exists at west, empty
	follower := startFollower(t, west, primary, nil)
	kafkatest.Wait(t, 10*time.Second, func() error {
		err := follower.reg.Ready(context.Background())
		if err == nil || !strings.Contains(err.Error(), "at write position 0 of the primary's") {
			return fmt.Errorf("Ready with an empty copy: %v", err)
		}
		return nil
	})
	if r := follower.do(t, "GET", fmt.Sprintf("/schemas/ids/%d", last), nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("a follower still filling its copy answered %d %s", r.status, r.body)
	}
	copier.paused.Store(false)
	follower.waitReady(t)
	follower.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d", last), nil)
}

// A follower that starts while the primary is down serves what its copy
// holds, once it has given up asking the primary (write_timeout).
func TestFollowerStartsWithThePrimaryDown(t *testing.T) {
	east, west := newCluster(t), newCluster(t)
	primary := startInstance(t, east, nil)
	primary.waitReady(t)
	id := primary.register(t, "down-value", orderV1)
	startCopier(t, east, west, "_schemas")
	edit := func(c *Config) { c.WriteTimeout = time.Second }
	first := startFollower(t, west, primary, edit)
	first.waitReady(t)
	first.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d", id), nil)
	first.stop()

	primary.stop()
	start := time.Now()
	again := startFollower(t, west, primary, edit)
	again.waitReady(t)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("ready after %s with the primary down", took)
	}
	again.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d", id), nil)
}

// A write at a follower site is answered once the follower's own copy of
// the log has it: every registration is read back at the follower at once,
// and so are the other writes (config, mode, deletes).
func TestFollowerReadsItsOwnWrites(t *testing.T) {
	east, west := newCluster(t), newCluster(t)
	primary := startInstance(t, east, nil)
	primary.waitReady(t)
	startCopier(t, east, west, "_schemas")
	follower := startFollower(t, west, primary, nil)
	follower.waitReady(t)

	follower.must(t, 200, "PUT", "/config/rw-value", map[string]string{"compatibility": "NONE"})
	var cfg map[string]string
	follower.must(t, 200, "GET", "/config/rw-value", nil).decode(t, &cfg)
	if cfg["compatibilityLevel"] != "NONE" {
		t.Fatalf("config read back at west: %v", cfg)
	}
	const n = 100
	for i := range n {
		r := follower.must(t, 200, "POST", "/subjects/rw-value/versions", map[string]any{"schema": schemaN(i)})
		var res struct{ ID int }
		r.decode(t, &res)
		if got := follower.do(t, "GET", fmt.Sprintf("/schemas/ids/%d", res.ID), nil); got.status != 200 {
			t.Fatalf("round %d: id %d registered at west, then read at west: %d %s", i, res.ID, got.status, got.body)
		}
		var sv subjectVersion
		follower.must(t, 200, "GET", "/subjects/rw-value/versions/latest", nil).decode(t, &sv)
		if sv.ID != res.ID || sv.Version != i+1 {
			t.Fatalf("round %d: latest at west is %+v, want id %d version %d", i, sv, res.ID, i+1)
		}
	}
	// Registering again writes nothing; the answer still waits for the
	// state it came from, which west has.
	var again struct{ ID int }
	follower.must(t, 200, "POST", "/subjects/rw-value/versions", map[string]any{"schema": schemaN(0)}).decode(t, &again)
	follower.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d", again.ID), nil)

	follower.must(t, 200, "PUT", "/mode/rw-value", map[string]string{"mode": "READONLY"})
	var m map[string]string
	follower.must(t, 200, "GET", "/mode/rw-value", nil).decode(t, &m)
	if m["mode"] != "READONLY" {
		t.Fatalf("mode read back at west: %v", m)
	}
	follower.must(t, 200, "DELETE", "/mode/rw-value", nil)
	follower.must(t, 200, "DELETE", "/subjects/rw-value/versions/1", nil)
	if r := follower.do(t, "GET", "/subjects/rw-value/versions/1", nil); r.errorCode() != codeVersionNotFound {
		t.Fatalf("a version deleted at west, read at west: %d %s", r.status, r.body)
	}
	follower.must(t, 200, "DELETE", "/subjects/rw-value", nil)
	if r := follower.do(t, "GET", "/subjects/rw-value/versions", nil); r.errorCode() != codeSubjectNotFound {
		t.Fatalf("a subject deleted at west, read at west: %d %s", r.status, r.body)
	}

	// The primary goes away: west still serves what it has.
	primary.stop()
	follower.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d", again.ID), nil)
	if r := follower.do(t, "POST", "/subjects/other-value/versions", map[string]any{"schema": orderV1}); r.errorCode() != codeForwardError {
		t.Fatalf("a write with the primary down: %d %s", r.status, r.body)
	}
}

// When the follower's copy of the log does not bring a forwarded write
// within write_timeout, the client is told the write is done at the
// leader but not readable here yet (50002), not answered as if it were.
func TestFollowerSaysWhenItsLogLags(t *testing.T) {
	east, west := newCluster(t), newCluster(t)
	primary := startInstance(t, east, nil)
	primary.waitReady(t)
	copier := startCopier(t, east, west, "_schemas")
	follower := startFollower(t, west, primary, func(c *Config) { c.WriteTimeout = 500 * time.Millisecond })
	follower.waitReady(t)
	follower.register(t, "lag-value", orderV1)

	copier.paused.Store(true)
	start := time.Now()
	r := follower.do(t, "POST", "/subjects/lag-value/versions", map[string]any{"schema": orderV2})
	if r.status != http.StatusInternalServerError || r.errorCode() != codeOperationTimeout ||
		!strings.Contains(string(r.body), `did the write (its answer: {\"id\":2})`) || !strings.Contains(string(r.body), "replicator") {
		t.Fatalf("a write whose copy does not arrive: %d %s", r.status, r.body)
	}
	if took := time.Since(start); took < 500*time.Millisecond || took > 5*time.Second {
		t.Fatalf("answered after %s, want about write_timeout (500ms)", took)
	}
	primary.must(t, 200, "GET", "/schemas/ids/2", nil) // done at the primary
	if r := follower.do(t, "GET", "/schemas/ids/2", nil); r.errorCode() != codeSchemaNotFound {
		t.Fatalf("west read id 2 though its log never brought it: %d %s", r.status, r.body)
	}

	copier.paused.Store(false)
	kafkatest.Wait(t, 10*time.Second, func() error {
		if r := follower.do(t, "GET", "/schemas/ids/2", nil); r.status != 200 {
			return fmt.Errorf("%d %s", r.status, r.body)
		}
		return nil
	})
	// Registering the same schema again is safe: the same id, at once.
	var res struct{ ID int }
	follower.must(t, 200, "POST", "/subjects/lag-value/versions", map[string]any{"schema": orderV2}).decode(t, &res)
	if res.ID != 2 {
		t.Fatalf("registered again: id %d, want 2", res.ID)
	}
}

// Every write ends with its mark, and the positions the leader answers
// with only grow; a write that changes nothing answers with the position
// of the newest write.
func TestWritePositions(t *testing.T) {
	c := newCluster(t)
	in := startInstance(t, c, nil)
	in.waitReady(t)
	position := func(r response) int64 {
		t.Helper()
		p, err := strconv.ParseInt(r.header.Get(positionHeader), 10, 64)
		if r.status != 200 || err != nil || p <= 0 {
			t.Fatalf("answer %d %s without a position: %q", r.status, r.body, r.header.Get(positionHeader))
		}
		return p
	}
	in.must(t, 200, "PUT", "/config/p-value", map[string]string{"compatibility": "NONE"})
	var positions []int64
	for i := range 3 {
		p := position(in.do(t, "POST", "/subjects/p-value/versions", map[string]any{"schema": schemaN(i)}))
		if len(positions) > 0 && p <= positions[len(positions)-1] {
			t.Fatalf("write %d at position %d after %v", i, p, positions)
		}
		positions = append(positions, p)
	}
	newest := positions[len(positions)-1]
	if p := position(in.do(t, "POST", "/subjects/p-value/versions", map[string]any{"schema": schemaN(0)})); p != newest {
		t.Fatalf("a registration that writes nothing answers position %d, want the newest write's, %d", p, newest)
	}
	if p := position(in.do(t, "PUT", "/config", map[string]string{"compatibility": "FULL"})); p <= newest {
		t.Fatalf("a config write at position %d after %d", p, newest)
	}
	marked := []int64{0} // the config of p-value: not asked for

	// In the log, each write's last record is its mark: a NOOP naming its
	// position, which is where the log stood when the write was planned.
	cl := kafkatest.Client(t, c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"_schemas": {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond))
	ctx := kafkatest.Context(t, 10*time.Second)
	var marks []string
	var prev *kgo.Record
	for len(marks) < len(marked)+len(positions) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("marks found: %v", marks)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == `{"keytype":"NOOP","magic":0}` {
				marks = append(marks, string(r.Value))
				if len(marks) > len(marked) && len(marks) <= len(marked)+len(positions) && (prev == nil || !strings.Contains(string(prev.Key), `"keytype":"SCHEMA"`)) {
					t.Errorf("mark %s follows %s, want the write's SCHEMA record", r.Value, prev.Key)
				}
			}
			prev = r
		})
	}
	for i, p := range positions {
		if want := fmt.Sprintf(`{"position":%d}`, p); marks[len(marked)+i] != want {
			t.Fatalf("mark of registration %d is %s, want %s", i, marks[len(marked)+i], want)
		}
	}
}

// The real path, in process: west's registry reads the _schemas that
// west's replicator copies from east (transactions, the mesh's headers),
// starting before the replicator has created it there. Every schema
// registered at west is read back at west at once.
func TestFollowerWithTheReplicator(t *testing.T) {
	east, west := newCluster(t), newCluster(t)
	primary := startInstance(t, east, nil)
	primary.waitReady(t)
	follower := startFollower(t, west, primary, nil)

	cfg := replicator.DefaultConfig()
	cfg.Site, cfg.Listen, cfg.Kafka = "west", "127.0.0.1:0", kafkatest.Config(west)
	cfg.Sites = []replicator.Site{{Name: "east", Kafka: kafkatest.Config(east)}, {Name: "west"}}
	cfg.SchemasPrimary = "east"
	cfg.Interest.Discover = false
	cfg.Flow.FetchMaxWait = 20 * time.Millisecond
	cfg.Flow.PlanInterval = 200 * time.Millisecond
	rep, err := replicator.New(cfg, testLogger(), prometheus.NewRegistry(), kgo.TransactionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := kafkatest.Context(t, 30*time.Second)
	if err := rep.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rep.Close(kafkatest.Context(t, 30*time.Second)); err != nil {
			t.Errorf("replicator: %v", err)
		}
	})
	follower.waitReady(t)

	follower.must(t, 200, "PUT", "/config/rep-value", map[string]string{"compatibility": "NONE"})
	start := time.Now()
	const n = 50
	var id int
	for i := range n {
		id = follower.register(t, "rep-value", schemaN(i))
		if r := follower.do(t, "GET", fmt.Sprintf("/schemas/ids/%d", id), nil); r.status != 200 {
			t.Fatalf("round %d: id %d registered at west, then read at west: %d %s", i, id, r.status, r.body)
		}
	}
	t.Logf("%d registrations at west, each read back there: %s", n, time.Since(start))

	primary.stop()
	var sv subjectVersion
	follower.must(t, 200, "GET", "/subjects/rep-value/versions/latest", nil).decode(t, &sv)
	if sv.ID != id || sv.Version != n {
		t.Fatalf("latest at west with east down: %+v, want id %d version %d", sv, id, n)
	}
}

package replicator

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// readUncommitted returns every record of topic at c, aborted ones
// included, as most clients' default (read_uncommitted) sees them, waiting
// until there are at least want and a little longer to catch extras.
func readUncommitted(t testing.TB, c *kfake.Cluster, topic string, want int) []*kgo.Record {
	t.Helper()
	return readAllAs(t, c, topic, want, kgo.ReadUncommitted())
}

// numbered keeps the records whose value is "n=<i>" (what produce writes).
func numbered(recs []*kgo.Record) []*kgo.Record {
	var out []*kgo.Record
	for _, r := range recs {
		if bytes.HasPrefix(r.Value, []byte("n=")) {
			out = append(out, r)
		}
	}
	return out
}

// refusedBy returns meshwork_replicator_records_refused_total by reason.
func refusedBy(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "meshwork_replicator_records_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// A record the source accepted (its topic takes 4 MiB) and this site's
// copy of the topic does not (1 MiB, made before the replicator could copy
// the source's limit) is dead-lettered here as a reference, in the batch
// that passes it, and the flow goes on: the records before and after it
// arrive once, no reader sees an aborted copy, and the flow never restarts.
// Where the replicator creates the copy it takes the source's limit, and
// the same record is copied whole.
func TestRecordTooLargeHereIsDeadLetteredAndTheFlowGoesOn(t *testing.T) {
	for _, mode := range []string{ExactlyOnce, AtLeastOnce} {
		t.Run(mode, func(t *testing.T) { testRecordTooLarge(t, mode) })
	}
}

func testRecordTooLarge(t *testing.T, mode string) {
	const small, large = "plant.image.small", "plant.image.large" // west's copy takes 1 MiB, the one it creates 4 MiB
	m := mesh{"east": newCluster(t), "west": newCluster(t)}
	fourMiB := map[string]*string{"max.message.bytes": kadm.StringPtr("4194304")}
	createTopic(t, m["east"], small, 1, fourMiB)
	createTopic(t, m["east"], large, 1, fourMiB)
	createTopic(t, m["west"], small, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("1048576")})
	cfg := m.config("west")
	cfg.Mode = mode
	cfg.Interest.Declared = []Declared{{Topic: small}, {Topic: large}}
	reg := prometheus.NewRegistry()
	startReplicatorWith(t, cfg, reg)

	big := &kgo.Record{Key: []byte("camera-1"), Value: bytes.Repeat([]byte{'x'}, 2<<20)}
	cl := kafkatest.Client(t, m["east"], kgo.ProducerBatchMaxBytes(4<<20))
	for _, topic := range []string{small, large} {
		produce(t, m["east"], topic, 0, 10)
		kafkatest.Produce(t, cl, &kgo.Record{Topic: topic, Key: big.Key, Value: big.Value})
		produce(t, m["east"], topic, 10, 10)
	}

	for _, read := range []func(testing.TB, *kfake.Cluster, string, int) []*kgo.Record{readAll, readUncommitted} {
		got := read(t, m["west"], small, 20)
		checkOnce(t, got, 20)
		if len(got) != 20 {
			t.Fatalf("%s at west holds %d records, want the 20 that fit", small, len(got))
		}
		got = read(t, m["west"], large, 21)
		checkOnce(t, numbered(got), 20)
		if len(got) != 21 || !bytes.Equal(got[10].Value, big.Value) {
			t.Fatalf("%s at west holds %d records, want 21 with the large one whole and in its place", large, len(got))
		}
	}
	if v := topicConfigs(t, kadm.NewClient(kafkatest.Client(t, m["west"])), large)["max.message.bytes"]; v != "4194304" {
		t.Fatalf("the copy the replicator created has max.message.bytes %q, want the source's", v)
	}

	letters := readAll(t, m["west"], dlq.Topic(small), 1)
	if len(letters) != 1 {
		t.Fatalf("%d dead letters, want 1", len(letters))
	}
	l, err := dlq.Read(letters[0])
	if err != nil {
		t.Fatal(err)
	}
	if !l.Truncated || l.Topic != small || l.Offset != 10 || l.Source != "east" || !strings.Contains(l.Reason, "max.message.bytes=1048576") ||
		!bytes.Equal(l.Record.Key, big.Key) || len(l.Record.Value) != dlq.MaxKeptBytes {
		t.Fatalf("dead letter %+v", l)
	}
	if topicExists(t, m["west"], dlq.Topic(large)) {
		t.Fatal("a dead-letter topic was made for a topic whose records all fit")
	}
	if got := refusedBy(t, reg); got[reasonTooLarge] != 1 || len(got) != 1 {
		t.Fatalf("refused %v, want one too large", got)
	}
	for _, metric := range []string{"meshwork_replicator_flow_restarts_total", "meshwork_replicator_transaction_aborts_total", "meshwork_replicator_flows_failing"} {
		if n := gathered(t, reg, metric); n != 0 {
			t.Fatalf("%s = %v: the flow did not simply go on", metric, n)
		}
	}
}

// Records whose mesh headers are present but cannot be trusted are never
// copied nor given a hop: each is dead-lettered here with its reason and
// counted by it. Records without mesh headers, and valid ones, are copied;
// a valid one that came from elsewhere is skipped as before.
func TestMalformedMeshHeadersAreRefusedAndDeadLettered(t *testing.T) {
	for _, mode := range []string{ExactlyOnce, AtLeastOnce} {
		t.Run(mode, func(t *testing.T) { testMalformedMeshHeaders(t, mode) })
	}
}

func testMalformedMeshHeaders(t *testing.T, mode string) {
	const topic = "shop.order.created"
	m := mesh{"east": newCluster(t, topic), "west": newCluster(t)}
	cfg := m.config("west")
	cfg.Mode = mode
	cfg.Interest.Declared = []Declared{{Topic: topic}}
	reg := prometheus.NewRegistry()
	startReplicatorWith(t, cfg, reg)

	h := func(kv ...string) []kgo.RecordHeader {
		var hs []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	noise := make([]byte, 4<<10)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range noise {
		noise[i] = byte(rng.UintN(256))
	}
	bad := []struct {
		reason  string
		headers []kgo.RecordHeader
	}{
		{"mesh_origin_malformed", h("mesh_origin", strings.Repeat("e", 100<<10))},
		{"mesh_origin_malformed", h("mesh_origin", "ea\xff\xfest")},
		{"mesh_origin_repeated", h("mesh_origin", "east", "mesh_origin", "east")},
		{"mesh_origin_unknown_site", h("mesh_origin", "mars")},
		{"mesh_path_malformed", append(h("mesh_origin", "east"), kgo.RecordHeader{Key: "mesh_path", Value: noise})},
		{"mesh_path_too_long", h("mesh_origin", "east", "mesh_path", "east"+strings.Repeat(",west", 129<<10/5))},
	}
	cl := kafkatest.Client(t, m["east"], kgo.DefaultProduceTopic(topic))
	rec := func(i int, hs []kgo.RecordHeader) *kgo.Record {
		return &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%5)), Value: []byte(fmt.Sprintf("n=%d", i)), Headers: hs}
	}
	for i := range 5 {
		kafkatest.Produce(t, cl, rec(i, nil)) // a plain client's: local to east
	}
	for i, b := range bad {
		kafkatest.Produce(t, cl, &kgo.Record{Key: []byte("bad"), Value: []byte(fmt.Sprint("bad ", i)), Headers: b.headers})
	}
	// West's own record, copied to east before: west skips it.
	kafkatest.Produce(t, cl, &kgo.Record{Key: []byte("back"), Value: []byte("from west"), Headers: h("mesh_origin", "west", "mesh_path", "west,east")})
	for i := 5; i < 20; i++ {
		kafkatest.Produce(t, cl, rec(i, h("mesh_origin", "east", "mesh_path", "east")))
	}

	for _, read := range []func(testing.TB, *kfake.Cluster, string, int) []*kgo.Record{readAll, readUncommitted} {
		got := read(t, m["west"], topic, 20)
		checkOnce(t, got, 20)
		for _, r := range got {
			if p, _ := header(r, "mesh_path"); p != "east,west" {
				t.Fatalf("copied with mesh_path %q", p)
			}
		}
	}
	letters := readAll(t, m["west"], dlq.Topic(topic), len(bad))
	if len(letters) != len(bad) {
		t.Fatalf("%d dead letters, want %d", len(letters), len(bad))
	}
	want := map[string]float64{}
	for _, b := range bad {
		want[b.reason]++
	}
	for _, r := range letters {
		l, err := dlq.Read(r)
		if err != nil {
			t.Fatal(err)
		}
		var i int
		if _, err := fmt.Sscanf(string(l.Record.Value), "bad %d", &i); err != nil || l.Source != "east" || !strings.Contains(l.Reason, "envelope: "+headerOf(bad[i].reason)+"=") {
			t.Fatalf("dead letter %q: %s (from %q)", l.Record.Value, l.Reason, l.Source)
		}
		// Kept as it was read: no hop appended, no header changed.
		if !slices.EqualFunc(l.Record.Headers, bad[i].headers, func(a, b kgo.RecordHeader) bool { return a.Key == b.Key && bytes.Equal(a.Value, b.Value) }) {
			t.Fatalf("dead letter %d does not keep the record's headers as they were", i)
		}
	}
	if got := refusedBy(t, reg); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("refused %v, want %v", got, want)
	}
	if n := gathered(t, reg, "meshwork_replicator_flow_restarts_total"); n != 0 {
		t.Fatalf("%v flow restarts", n)
	}
}

// logLines is a slog handler that keeps what it is given.
type logLines struct {
	mu    sync.Mutex
	lines []slog.Record
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, r)
	return nil
}
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logLines) WithGroup(string) slog.Handler      { return l }

func TestRefusalLogSaysOncePerTopicAndIntervalWithTheCountSuppressed(t *testing.T) {
	lines := &logLines{}
	now := time.Unix(1_800_000_000, 0)
	l := newRefusalLog(slog.New(lines))
	l.now = func() time.Time { return now }
	rf := func(topic string) refusal {
		return refusal{rec: &kgo.Record{Topic: topic}, reason: reasonTooLarge, err: fmt.Errorf("x")}
	}
	for range 5 {
		l.refused("east", rf("a"))
	}
	l.refused("east", rf("b")) // another topic has its own line
	l.refused("north", rf("a"))
	now = now.Add(refusalLogInterval)
	l.refused("east", rf("a"))
	if len(lines.lines) != 4 {
		t.Fatalf("%d lines, want 4", len(lines.lines))
	}
	var suppressed int64 = -1
	lines.lines[3].Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed" {
			suppressed = a.Value.Int64()
		}
		return true
	})
	if suppressed != 4 {
		t.Fatalf("the line after the interval says %d suppressed, want 4", suppressed)
	}
}

// headerOf is the header a refusal reason names.
func headerOf(reason string) string {
	if strings.HasPrefix(reason, "mesh_path") {
		return "mesh_path"
	}
	return "mesh_origin"
}

// A flow that keeps failing shows in flows_failing at once and makes the
// replicator not ready once it has failed longer than failing_after; one
// commit heals both.
func TestAFlowFailingTooLongMakesTheReplicatorNotReady(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Flow.FailingAfter = time.Minute
	reg := prometheus.NewRegistry()
	f := &running{heard: newHeard()}
	r := &Replicator{cfg: cfg, m: newMetrics(reg, "west"), flows: map[flowKey]*running{{Source: "east", Slot: 2}: f}}
	r.planned.Store(true)
	failing := r.m.failing.WithLabelValues("east")
	if !f.failed(fmt.Errorf("broker gone")) {
		t.Fatal("the first failure must start the failing period")
	}
	failing.Inc()
	if f.failed(fmt.Errorf("broker still gone")) {
		t.Fatal("a second failure must not start another")
	}
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("not ready after a short failure: %v", err)
	}
	f.failingSince.Store(time.Now().Add(-2 * time.Minute).UnixNano())
	err := r.Ready(context.Background())
	if err == nil || !strings.Contains(err.Error(), "east (slot 2)") || !strings.Contains(err.Error(), "broker still gone") {
		t.Fatalf("Ready = %v, want the failing flow and its last error", err)
	}
	if n := gathered(t, reg, "meshwork_replicator_flows_failing"); n != 1 {
		t.Fatalf("flows_failing = %v", n)
	}
	f.committed(failing)
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("still not ready after a commit: %v", err)
	}
	if n := gathered(t, reg, "meshwork_replicator_flows_failing"); n != 0 {
		t.Fatalf("flows_failing = %v after a commit", n)
	}
}

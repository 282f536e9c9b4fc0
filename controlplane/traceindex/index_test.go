package traceindex

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/trace"
)

const testWait = 15 * time.Second

func openIndex(t testing.TB, dir string) *Index {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Dir, cfg.CacheBytes, cfg.MemTableBytes = dir, 4<<20, 2<<20
	ix, err := Open(cfg, kafkatest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// path is the hops of one event from MQTT at east to a consumer at west,
// all within one millisecond but the last: ties are broken by the step.
func path(id, source string, at time.Time) []trace.Hop {
	tid := fmt.Sprintf("%032x", len(id)*7919+len(source))
	h := func(site, comp string, a trace.Action, p trace.Protocol, off int64, d time.Duration) trace.Hop {
		return trace.Hop{EventID: id, Source: source, TraceID: tid, Topic: "plant.temp", Site: site, Component: comp, Action: a,
			Protocol: p, Outcome: trace.OutcomeOK, Time: at.Add(d), Partition: -1, Offset: off}
	}
	return []trace.Hop{
		h("east", "mqtt-adapter/east", trace.ActionIngress, trace.ProtocolMQTT, -1, 0),
		h("east", "mqtt-adapter/east", trace.ActionProduced, trace.ProtocolKafka, 7, 0),
		h("west", "replicator/west", trace.ActionReplicated, trace.ProtocolKafka, 3, 0),
		h("west", "amqp-adapter/west", trace.ActionDelivered, trace.ProtocolAMQP, 3, 4*time.Millisecond),
	}
}

func TestEventHopsInCausalOrder(t *testing.T) {
	ix := openIndex(t, t.TempDir())
	defer ix.Close()
	at := time.Now().UTC().Truncate(time.Millisecond)
	want := path("e1", "mqtt://b/f/1", at)
	// Each hop in a record of its own, in reverse, with other events.
	var recs []Record
	for i := len(want) - 1; i >= 0; i-- {
		recs = append(recs, Record{Partition: int32(i % 2), Offset: int64(i), Hops: []trace.Hop{want[i], path("other", "s", at)[i]}})
	}
	if err := ix.Apply(recs, map[int32]int64{0: 4, 1: 4}); err != nil {
		t.Fatal(err)
	}
	got, err := ix.Event("e1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d hops, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Action != want[i].Action || got[i].Site != want[i].Site || !got[i].Time.Equal(want[i].Time) {
			t.Errorf("hop %d: %s@%s at %s, want %s@%s", i, got[i].Action, got[i].Site, got[i].Time, want[i].Action, want[i].Site)
		}
	}
	// Applying the same records again (read again after a crash) adds
	// nothing.
	if err := ix.Apply(recs, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := ix.Event("e1"); len(again) != len(want) {
		t.Fatalf("records read again doubled the hops: %d", len(again))
	}
	if ids, _ := ix.Trace(want[0].TraceID, 10); len(ids) != 1 || ids[0] != "e1" {
		t.Errorf("events of the trace: %v", ids)
	}
	if none, _ := ix.Event("e"); len(none) != 0 {
		t.Errorf("a prefix of an id found %d hops", len(none))
	}
	recent, err := ix.Recent("plant.temp", at.Add(-time.Minute), 10)
	if err != nil || len(recent) != 2 {
		t.Fatalf("recent: %v %v", recent, err)
	}
}

func TestSweepDropsOnlyExpiredBuckets(t *testing.T) {
	ix := openIndex(t, t.TempDir())
	defer ix.Close()
	now := time.Now()
	ix.now = func() time.Time { return now }
	old := path("old", "s", now.Add(-ix.cfg.Retention+time.Minute))
	fresh := path("fresh", "s", now)
	if err := ix.Apply([]Record{{Hops: old}, {Offset: 1, Hops: fresh}}, nil); err != nil {
		t.Fatal(err)
	}
	now = now.Add(ix.cfg.Bucket + 2*time.Minute) // "old" is now wholly expired
	if err := ix.Sweep(); err != nil {
		t.Fatal(err)
	}
	if hops, _ := ix.Event("old"); len(hops) != 0 {
		t.Errorf("%d hops of an expired event left", len(hops))
	}
	if hops, _ := ix.Event("fresh"); len(hops) != 4 {
		t.Errorf("%d hops of a fresh event left, want 4", len(hops))
	}
	if ids, _ := ix.Trace(old[0].TraceID, 10); len(ids) != 0 {
		t.Errorf("trace of an expired event left: %v", ids)
	}
	// Hops older than the retention are not indexed at all.
	if err := ix.Apply([]Record{{Offset: 2, Hops: path("ancient", "s", now.Add(-ix.cfg.Retention-time.Hour))}}, nil); err != nil {
		t.Fatal(err)
	}
	if hops, _ := ix.Event("ancient"); len(hops) != 0 {
		t.Errorf("an event older than the retention was indexed")
	}
}

func get(t *testing.T, h http.Handler, url string, code int, out any) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	if rec.Code != code {
		t.Fatalf("GET %s: %d %s, want %d", url, rec.Code, rec.Body, code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: content-type %q", url, ct)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatal(err)
		}
	}
	return rec.Body.String()
}

func TestHandler(t *testing.T) {
	ix := openIndex(t, t.TempDir())
	defer ix.Close()
	at := time.Now().UTC().Truncate(time.Millisecond)
	second := path("dup", "rest://b", at.Add(time.Second))
	second[3].Outcome, second[3].Action = trace.OutcomeDLQ, trace.ActionDeadLettered
	if err := ix.Apply([]Record{{Hops: path("dup", "mqtt://a", at)}, {Offset: 1, Hops: second}}, nil); err != nil {
		t.Fatal(err)
	}
	h := ix.Handler()

	var et EventTrace
	get(t, h, "/v1/events/dup/trace", 200, &et)
	if et.ID != "dup" || et.Source != "mqtt://a" || len(et.Hops) != 4 || len(et.Events) != 2 || et.Events[1].Source != "rest://b" {
		t.Fatalf("answer %+v", et)
	}
	et = EventTrace{}
	body := get(t, h, "/v1/events/dup/trace?source=rest://b", 200, &et)
	if et.Source != "rest://b" || len(et.Events) != 0 || et.Hops[3].Outcome != trace.OutcomeDLQ {
		t.Fatalf("answer for one source %+v", et)
	}
	for _, part := range []string{`"site": "east"`, `"component": "mqtt-adapter/east"`, `"protocol": "mqtt"`, `"topic": "plant.temp"`,
		`"partition": null`, `"offset": 7`, `"outcome": "dlq"`, `"trace_id": "`} {
		if !strings.Contains(body, part) {
			t.Errorf("answer lacks %s:\n%s", part, body)
		}
	}
	var e struct{ Error string }
	get(t, h, "/v1/events/nope/trace", 404, &e)
	if !strings.Contains(e.Error, `"nope"`) || !strings.Contains(e.Error, "sample_rate") {
		t.Errorf("404 says %q", e.Error)
	}
	get(t, h, "/v1/events/dup/trace?source=x", 404, &e)
	if !strings.Contains(e.Error, `"mqtt://a"`) {
		t.Errorf("unknown source: %q does not list the sources", e.Error)
	}

	var rt RecentTraces
	get(t, h, "/v1/traces?topic=plant.temp&since=1h", 200, &rt)
	if len(rt.Traces) != 1 || rt.Traces[0].ID != "dup" || rt.Traces[0].Hops != 8 || rt.Traces[0].Outcome != "dlq" ||
		strings.Join(rt.Traces[0].Sites, ",") != "east,west,east,west" {
		t.Fatalf("recent %+v", rt)
	}
	rt = RecentTraces{}
	get(t, h, "/v1/traces?topic=plant.temp&since="+at.Add(time.Minute).Format(time.RFC3339), 200, &rt)
	if len(rt.Traces) != 0 {
		t.Errorf("recent after the events: %+v", rt.Traces)
	}
	get(t, h, "/v1/traces", 400, &e)
	get(t, h, "/v1/traces?topic=x&since=yesterday", 400, &e)
	if !strings.Contains(e.Error, "RFC 3339") {
		t.Errorf("bad since says %q", e.Error)
	}
	get(t, h, "/v1/traces?topic=x&limit=0", 400, nil)
}

// The index follows _mesh.trace, resumes from its stored offsets after a
// restart, and is rebuilt from the topic when its directory is lost.
func TestFollowResumesAndRebuilds(t *testing.T) {
	c := kafkatest.Cluster(t, kfake.SeedTopics(2, trace.Topic))
	prod := kafkatest.Client(t, c)
	codec, _ := trace.NewCodec()
	at := time.Now().UTC().Truncate(time.Millisecond)
	write := func(ids ...string) {
		for _, id := range ids {
			rec, err := codec.Record("east", "mqtt-adapter/east", path(id, "s", at))
			if err != nil {
				t.Fatal(err)
			}
			rec.Partition = int32(rand.IntN(2))
			kafkatest.Produce(t, prod, rec)
		}
	}
	dir := filepath.Join(t.TempDir(), "index")
	follow := func(ids ...string) *Index {
		ix := openIndex(t, dir)
		opts, err := ix.FollowOptions()
		if err != nil {
			t.Fatal(err)
		}
		cl := kafkatest.Client(t, c, append(opts, kgo.FetchMaxWait(50*time.Millisecond))...)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); ix.Follow(ctx, cl) }()
		kafkatest.Wait(t, testWait, func() error {
			for _, id := range ids {
				if hops, _ := ix.Event(id); len(hops) != 4 {
					return fmt.Errorf("%s: %d hops", id, len(hops))
				}
			}
			return nil
		})
		cancel()
		<-done
		cl.Close()
		return ix
	}
	write("a", "b")
	ix := follow("a", "b")
	first, _ := ix.Offsets()
	ix.Close()
	write("c")
	ix = follow("a", "b", "c")
	if hops, _ := ix.Event("a"); len(hops) != 4 {
		t.Errorf("after a restart, %d hops of a", len(hops))
	}
	next, _ := ix.Offsets()
	if next[0]+next[1] != first[0]+first[1]+1 {
		t.Errorf("offsets %v after %v and one more record", next, first)
	}
	ix.Close()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	ix = follow("a", "b", "c") // rebuilt from the topic
	ix.Close()
}

func slogDiscard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

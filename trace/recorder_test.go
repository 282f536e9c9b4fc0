package trace

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestRecorderWritesBatchesToItsTopic(t *testing.T) {
	c := kafkatest.Cluster(t)
	cl := kafkatest.Client(t, c)
	cfg := DefaultConfig()
	cfg.SampleRate, cfg.MaxBatch, cfg.FlushInterval, cfg.Retention = 1, 2, 20*time.Millisecond, 48*time.Hour
	reg := prometheus.NewRegistry()
	r, err := NewRecorder(cl, "east", "mqtt-adapter/east", cfg, quiet, reg)
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	hops := sampleHops()
	for i := range hops {
		hops[i].Site, hops[i].Component = "", "" // the recorder's
	}
	r.Record(hops...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	recs := kafkatest.Read(t, c, Topic, 2, 10*time.Second)
	codec, _ := NewCodec()
	var got []Hop
	for _, rec := range recs {
		hs, err := codec.Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) > 2 {
			t.Errorf("a record carries %d hops, max_batch is 2", len(hs))
		}
		got = append(got, hs...)
	}
	if len(got) != len(hops) {
		t.Fatalf("%d hops written, want %d", len(got), len(hops))
	}
	for _, h := range got {
		if h.Site != "east" || h.Component != "mqtt-adapter/east" {
			t.Errorf("hop of %s/%s, want the recorder's", h.Site, h.Component)
		}
	}
	if n := testutil.ToFloat64(r.m.hops.WithLabelValues(ResultWritten)); n != 3 {
		t.Errorf("hops written counted %g, want 3", n)
	}
	// The topic was created with the configured retention.
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, Topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := rcs.On(Topic, nil)
	found := false
	for _, kv := range rc.Configs {
		if kv.Key == "retention.ms" && kv.Value != nil && *kv.Value == "172800000" {
			found = true
		}
	}
	if !found {
		t.Errorf("%s has no retention.ms=172800000: %v", Topic, rc.Configs)
	}
}

// A full queue drops hops, counted, and never blocks the caller: a stuck
// or missing _mesh.trace costs the data path nothing.
func TestRecorderNeverBlocks(t *testing.T) {
	// A client with nowhere to go: the topic is never created, so the
	// recorder never takes hops from its queue.
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cfg := DefaultConfig()
	cfg.QueueSize = 10
	r, err := NewRecorder(cl, "east", "c", cfg, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	start := time.Now()
	for range 1000 {
		r.Record(sampleHops()[0])
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("1000 hops took %s to record", d)
	}
	if n := testutil.ToFloat64(r.m.hops.WithLabelValues(ResultDropped)); n < 990 {
		t.Errorf("%g hops counted as dropped, want at least 990", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = r.Close(ctx) // bounded by ctx even with Kafka away
	if time.Since(start) > 5*time.Second {
		t.Fatal("Close did not return within its context")
	}
}

func TestNilRecorder(t *testing.T) {
	var r *Recorder
	if r.Sampled("", "x") {
		t.Error("a nil recorder samples")
	}
	r.Record(Hop{EventID: "x"})
	r.Start(t.Context())
	if err := r.Close(t.Context()); err != nil {
		t.Error(err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultConfig()
	bad.SampleRate, bad.QueueSize = 1.5, 0
	err := bad.Validate()
	if err == nil {
		t.Fatal("a rate of 1.5 and a queue of 0 passed")
	}
	for _, field := range []string{"sample_rate", "queue_size"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("%v does not name %s", err, field)
		}
	}
}

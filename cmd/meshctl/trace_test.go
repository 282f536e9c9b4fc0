package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/controlplane/traceindex"
	"github.com/meshwork/meshwork/trace"
)

// traceServer is a control plane serving the trace of one event: MQTT at
// east, Kafka at east, copied to west, delivered by AMQP at west.
func traceServer(t *testing.T) string {
	t.Helper()
	cfg := traceindex.DefaultConfig()
	cfg.Dir, cfg.CacheBytes, cfg.MemTableBytes = t.TempDir(), 1<<20, 1<<20
	ix, err := traceindex.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	at := time.Now().UTC().Truncate(time.Millisecond)
	hop := func(site, comp string, a trace.Action, p trace.Protocol, part int32, off int64, d time.Duration, o trace.Outcome) trace.Hop {
		return trace.Hop{EventID: "ev-1", Source: "mqtt://b/f/1", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Topic: "plant.temp",
			Site: site, Component: comp, Action: a, Protocol: p, Outcome: o, Time: at.Add(d), Partition: part, Offset: off}
	}
	hops := []trace.Hop{
		hop("east", "mqtt-adapter/east", trace.ActionIngress, trace.ProtocolMQTT, -1, -1, 0, trace.OutcomeOK),
		hop("east", "mqtt-adapter/east", trace.ActionProduced, trace.ProtocolKafka, 2, 41, 3*time.Millisecond, trace.OutcomeOK),
		hop("west", "replicator/west", trace.ActionReplicated, trace.ProtocolKafka, 2, 17, 40*time.Millisecond, trace.OutcomeOK),
		hop("west", "amqp-adapter/west", trace.ActionDelivered, trace.ProtocolAMQP, 2, 17, 52*time.Millisecond, trace.OutcomeOK),
	}
	if err := ix.Apply([]traceindex.Record{{Hops: hops}}, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ix.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func runTrace(t *testing.T, base, format string, args ...string) (string, error) {
	t.Helper()
	cmd := newTraceCmd(func() (string, error) { return base, nil }, func() string { return format }, func() (*http.Client, error) { return http.DefaultClient, nil })
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestTraceTable(t *testing.T) {
	base := traceServer(t)
	out, err := runTrace(t, base, "table", "ev-1")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || !strings.Contains(lines[0], "4 hops over 52ms") {
		t.Fatalf("table:\n%s", out)
	}
	for i, want := range [][]string{
		{"1 ", "east", "mqtt-adapter/east", "ingress", "mqtt", " - "},
		{"2 ", "+3ms", "produced", "kafka", "plant.temp", "41", "ok"},
		{"3 ", "+37ms", "west", "replicator/west", "replicated", "17"},
		{"4 ", "+12ms", "amqp-adapter/west", "delivered", "amqp"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+2], w) {
				t.Errorf("row %d lacks %q: %s", i+1, w, lines[i+2])
			}
		}
	}
	js, err := runTrace(t, base, "json", "ev-1")
	if err != nil || !strings.Contains(js, `"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"`) {
		t.Fatalf("json: %v\n%s", err, js)
	}
	ya, err := runTrace(t, base, "yaml", "ev-1")
	if err != nil || !strings.Contains(ya, "component: replicator/west") {
		t.Fatalf("yaml: %v\n%s", err, ya)
	}
}

func TestTraceUnknownEvent(t *testing.T) {
	base := traceServer(t)
	_, err := runTrace(t, base, "table", "nope")
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown event: %v", err)
	}
	if _, err := runTrace(t, base, "table"); err == nil {
		t.Fatal("no id accepted")
	}
	if _, err := runTrace(t, "http://127.0.0.1:1", "table", "ev-1"); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("no server: %v", err)
	}
}

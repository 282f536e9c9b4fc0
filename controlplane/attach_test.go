package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

// fakeIndex is an attached service, as the trace index is.
type fakeIndex struct {
	started, closed bool
	ready           error
}

func (f *fakeIndex) Start(context.Context) error { f.started = true; return nil }
func (f *fakeIndex) Ready(context.Context) error { return f.ready }
func (f *fakeIndex) Close(context.Context) error { f.closed = true; return nil }
func (f *fakeIndex) OpenAPI() (map[string]any, map[string]any) {
	return map[string]any{"/v1/traces": map[string]any{"get": map[string]any{"summary": "recent traces"}}},
		map[string]any{"Trace": map[string]any{"type": "object"}}
}
func (f *fakeIndex) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "trace of %s", r.URL.Path)
	})
}

// An attached service starts, is checked and closes with the control
// plane, and serves its routes on the control plane's API.
func TestAttach(t *testing.T) {
	c := kafkatest.Cluster(t)
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(path, []byte("sites:\n  - name: east\n    kafka: {brokers: ["+c.ListenAddrs()[0]+"]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Site, cfg.MeshFile, cfg.Kafka.Brokers, cfg.Timeout = "east", path, nil, 2*time.Second
	idx := &fakeIndex{}
	s, err := New(cfg, kafkatest.Logger(), prometheus.NewRegistry(), Attach(idx, "/v1/events/", "/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := kafkatest.Context(t, 30*time.Second)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !idx.started || s.Ready(ctx) != nil {
		t.Fatalf("started %v, ready %v", idx.started, s.Ready(ctx))
	}
	idx.ready = errors.New("index: rebuilding from _mesh.trace")
	if err := s.Ready(ctx); err == nil || !strings.Contains(err.Error(), "rebuilding") {
		t.Fatalf("ready: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, p := range []string{"/v1/events/abc/trace", "/v1/traces"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "trace of "+p {
			t.Fatalf("%s: %q", p, b)
		}
	}
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"recent traces"`) || !strings.Contains(string(b), `"/v1/topics/{topic}"`) || !strings.Contains(string(b), `"Trace"`) {
		t.Fatalf("/openapi.json lacks the attached paths or its own:\n%.400s", b)
	}
	if err := s.Close(ctx); err != nil || !idx.closed {
		t.Fatalf("close: %v, closed %v", err, idx.closed)
	}
}

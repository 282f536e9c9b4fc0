package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestEndpoints(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "meshwork_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	s := NewServer(reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	kafkaDown := errors.New("kafka: dial 127.0.0.1:9092: connection refused")
	var failing = true
	s.AddCheck("kafka", func(ctx context.Context) error {
		if failing {
			return kafkaDown
		}
		return nil
	})
	s.AddCheck("slow", func(ctx context.Context) error { return nil })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	body := get(t, srv.URL+"/metrics", http.StatusOK)
	if !strings.Contains(body, "meshwork_test_total 3") || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("metrics missing:\n%s", body)
	}
	get(t, srv.URL+"/healthz", http.StatusOK)

	var r readiness
	if err := json.Unmarshal([]byte(get(t, srv.URL+"/readyz", http.StatusServiceUnavailable)), &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "not ready" || r.Checks["kafka"] != kafkaDown.Error() || r.Checks["slow"] != "ok" {
		t.Fatalf("unexpected readiness %+v", r)
	}
	failing = false
	get(t, srv.URL+"/readyz", http.StatusOK)
}

func get(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, want, b)
	}
	return string(b)
}

func TestServeShutsDownOnCancel(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(ln.Addr().String()); err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("a taken port must be reported with its address, got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := NewServer(NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	get(t, "http://"+ln.Addr().String()+"/healthz", http.StatusOK)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewLogger(&buf, LogConfig{Level: "warn", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "site", "east")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), `"site":"east"`) {
		t.Fatalf("unexpected log %q", buf.String())
	}
	if _, err := NewLogger(&buf, LogConfig{Level: "loud"}); err == nil || !strings.Contains(err.Error(), `unknown log level "loud"`) {
		t.Fatalf("got %v", err)
	}
}

package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

// env is one adapter on a kfake cluster, served by httptest.
type env struct {
	t     testing.TB
	kafka *kfake.Cluster
	a     *Adapter
	srv   *httptest.Server
	reg   *prometheus.Registry
}

func quietLog() *slog.Logger {
	if os.Getenv("REST_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newEnv starts an adapter configured by cfg (whose Kafka is set to the
// cluster) with the given topics (3 partitions each).
func newEnv(t testing.TB, cluster *kfake.Cluster, mod func(*Config)) *env {
	t.Helper()
	return newEnvWith(t, cluster, mod)
}

// newEnvWith is newEnv with options for New.
func newEnvWith(t testing.TB, cluster *kfake.Cluster, mod func(*Config), opts ...Option) *env {
	t.Helper()
	if cluster == nil {
		cluster = kafkatest.Cluster(t, kfake.SeedTopics(3, "orders", "plain"))
	}
	cfg := DefaultConfig()
	cfg.Site = "east"
	cfg.Kafka = kafkatest.Config(cluster)
	cfg.Kafka.Producer.Linger = 0
	if mod != nil {
		mod(&cfg)
	}
	reg := prometheus.NewRegistry()
	a, err := New(cfg, quietLog(), reg, append([]Option{WithKafkaOptions(kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h := a.Handler()
	auth, err := cfg.Authenticator(quietLog(), reg)
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil { // as service.Run does
		t.Cleanup(auth.Close)
		h = auth.Middleware(h, "/healthz", "/readyz")
	}
	srv := httptest.NewServer(h)
	e := &env{t: t, kafka: cluster, a: a, srv: srv, reg: reg}
	t.Cleanup(func() {
		srv.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.Close(cctx); err != nil {
			t.Logf("close: %v", err)
		}
	})
	return e
}

// do sends a request and returns the status, headers and body.
func (e *env) do(method, path, contentType string, body []byte, hdr ...string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// errorCode reads the proxy's error_code from a body.
func errorCode(t testing.TB, body []byte) int {
	t.Helper()
	var e struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an error body: %s", body)
	}
	if e.Message == "" {
		t.Fatalf("error without a message: %s", body)
	}
	return e.Code
}

// ends returns the sum of topic's end offsets: what was written.
func (e *env) ends(topic string) int64 {
	e.t.Helper()
	cl := kafkatest.Client(e.t, e.kafka)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	var n int64
	offs.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

type kfakeOpt = kfake.Opt

func seedTopics(n int32, topics ...string) kfake.Opt { return kfake.SeedTopics(n, topics...) }

package traceindex

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/trace"
)

// The service answers 503 until started, then what _mesh.trace holds,
// documents its two paths, and closes.
func TestService(t *testing.T) {
	c := kafkatest.Cluster(t, kfake.SeedTopics(1, trace.Topic))
	cfg := DefaultConfig()
	cfg.Dir, cfg.CacheBytes, cfg.MemTableBytes = t.TempDir(), 1<<20, 1<<20
	s, err := NewService(cfg, kafkatest.Config(c), "west", kafkatest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/events/x/trace", nil))
	if rec.Code != http.StatusServiceUnavailable || s.Ready(t.Context()) == nil {
		t.Fatalf("before Start: %d, ready %v", rec.Code, s.Ready(t.Context()))
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	codec, _ := trace.NewCodec()
	r, _ := codec.Record("east", "mqtt-adapter/east", path("ev", "s", time.Now().UTC()))
	kafkatest.Produce(t, kafkatest.Client(t, c), r)
	kafkatest.Wait(t, testWait, func() error {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/events/ev/trace", nil))
		if rec.Code != http.StatusOK {
			return fmt.Errorf("%d %s", rec.Code, rec.Body)
		}
		return nil
	})
	paths, schemas := s.OpenAPI()
	if len(paths) != 2 || schemas["TraceHop"] == nil {
		t.Errorf("OpenAPI: %d paths, schemas %v", len(paths), schemas)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Index() != nil {
		t.Error("index still open after Close")
	}
}

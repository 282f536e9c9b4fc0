package replicator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A source that answers nothing for longer than silent_after makes the
// replicator not ready, naming the site; one answer heals it; a flow with
// nothing to read is never silent.
func TestASilentSourceMakesTheReplicatorNotReady(t *testing.T) {
	cfg := DefaultConfig()
	f := &running{heard: newHeard(), units: map[unit]route{{Source: "east", Topic: "orders", Partition: 0}: {}}}
	r := &Replicator{cfg: cfg, m: newMetrics(prometheus.NewRegistry(), "west"), flows: map[flowKey]*running{{Source: "east", Slot: 3}: f}}
	r.planned.Store(true)
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("not ready at once: %v", err)
	}
	f.heard.at.Store(time.Now().Add(-cfg.Flow.SilentAfter - time.Second).UnixNano())
	err := r.Ready(context.Background())
	if err == nil || !strings.Contains(err.Error(), "site east has not answered the flow of slot 3") {
		t.Fatalf("Ready = %v, want the silent site named", err)
	}
	f.heard.OnBrokerRead(kgo.BrokerMetadata{}, 1, 100, 0, 0, errors.New("connection reset"))
	if r.Ready(context.Background()) == nil {
		t.Fatal("a failed read is no answer")
	}
	f.heard.OnBrokerRead(kgo.BrokerMetadata{}, 1, 100, 0, 0, nil)
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("still not ready after an answer: %v", err)
	}
	f.heard.at.Store(time.Now().Add(-time.Hour).UnixNano())
	f.replan(map[unit]route{})
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("a flow with nothing to read is not waiting on its source: %v", err)
	}
}

func TestSilentAfterMustExceedTheFetchWait(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Site = "west"
	cfg.Flow.SilentAfter = cfg.Flow.FetchMaxWait
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "flow.silent_after") {
		t.Fatalf("Validate = %v, want flow.silent_after refused", err)
	}
}

package replicator

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

// Close leaves nothing of the replicator running, however far it got: never
// started, refused to start, closed while a flow starts, or while flows
// copy. Goroutines that ran before it was built are not its own.
func TestCloseLeavesNothingRunning(t *testing.T) {
	for _, c := range []struct {
		name       string
		start      bool
		startFails bool // the site has a checkpoint topic that does not compact
		// before Close; the clients it makes are closed when it returns
		before func(t *testing.T, m mesh, r *Replicator)
	}{
		{name: "never started"},
		{name: "start failed", start: true, startFails: true},
		{name: "started", start: true},
		{name: "while a flow starts", start: true, before: func(t *testing.T, _ mesh, r *Replicator) {
			kafkatest.Wait(t, testWait, func() error {
				if !r.copying("shop.order.created") {
					return errors.New("no flow started")
				}
				return nil
			})
		}},
		{name: "while copying", start: true, before: func(t *testing.T, m mesh, _ *Replicator) {
			produce(t, m["east"], "shop.order.created", 0, 10)
			readAll(t, m["west"], "shop.order.created", 10)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := mesh{"east": newCluster(t, "shop.order.created"), "west": newCluster(t)}
			if c.startFails {
				t.Run("checkpoint topic set to delete", func(t *testing.T) {
					adm := kadm.NewClient(kafkatest.Client(t, m["west"]))
					if _, err := adm.CreateTopic(context.Background(), 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, CheckpointTopic); err != nil {
						t.Fatal(err)
					}
				})
			}
			cfg := m.config("west")
			cfg.Interest.Declared = []Declared{{Topic: "shop.order.created"}}
			cfg.Interest.Discover = true // its publisher renews from the start
			before := goroutines()
			r, err := New(cfg, kafkatest.Logger(), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testWait)
			defer cancel()
			if c.start {
				if err := r.Start(ctx); (err != nil) != c.startFails {
					t.Fatalf("start: %v", err)
				}
			}
			if c.before != nil {
				t.Run("before close", func(t *testing.T) { c.before(t, m, r) })
			}
			if err := r.Close(ctx); err != nil {
				t.Fatal(err)
			}
			kafkatest.Wait(t, 10*time.Second, func() error {
				var left []string
				for id, stack := range goroutines() {
					if _, ok := before[id]; !ok && ofReplicator(stack) {
						left = append(left, stack)
					}
				}
				if len(left) > 0 {
					return errors.New("still running:\n\n" + strings.Join(left, "\n\n"))
				}
				return nil
			})
		})
	}
}

// goroutines returns the stack of every goroutine, keyed by "goroutine N"
// (ids are never reused).
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		id, _, _ := strings.Cut(g, " [")
		out[id] = g
	}
	return out
}

// ofReplicator reports whether a goroutine runs code of the replicator, of
// its interest or of a Kafka client.
func ofReplicator(stack string) bool {
	for _, mark := range []string{"meshwork/replicator.(*", "meshwork/replicator/demand.", "meshwork/interest.", "franz-go/pkg/kgo."} {
		if strings.Contains(stack, mark) {
			return true
		}
	}
	return false
}

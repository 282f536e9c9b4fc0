package replicator

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// SlotsTopic has one partition per slot. The site's replicator replicas
// share a consumer group on it, not to read it (it stays empty) but so that
// Kafka's group protocol deals the slots out among them: a replica copies
// the units of the slots it is assigned. The cooperative-sticky balancer
// moves only the slots that must move when a replica comes or goes, so the
// others' flows never stop (no stop-the-world rebalance).
const SlotsTopic = "_mesh.replicator.slots"

// slotGroup is this replica's membership in the site's slot group.
type slotGroup struct {
	r  *Replicator
	cl *kgo.Client

	mu       sync.Mutex
	owned    map[int]bool
	assigned bool // an assignment arrived at least once
}

func (r *Replicator) groupID() string { return "meshwork-replicator-" + r.cfg.Site }

func newSlotGroup(r *Replicator) (*slotGroup, error) {
	g := &slotGroup{r: r, owned: map[int]bool{}}
	cl, err := r.clients.new(r.local.Kafka,
		kgo.ConsumerGroup(r.groupID()),
		kgo.ConsumeTopics(SlotsTopic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(10*time.Second),
		kgo.HeartbeatInterval(time.Second),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.change(m[SlotsTopic], true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.change(m[SlotsTopic], false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.change(m[SlotsTopic], false) }),
	)
	if err != nil {
		return nil, err
	}
	g.cl = cl
	return g, nil
}

// change records slots assigned or taken away. Flows of slots taken away
// are stopped before the callback returns, so the next owner starts after
// this replica let go (its transactional id would fence a straggler anyway).
func (g *slotGroup) change(slots []int32, assigned bool) {
	g.mu.Lock()
	for _, s := range slots {
		if assigned {
			g.owned[int(s)] = true
		} else {
			delete(g.owned, int(s))
		}
	}
	g.assigned = true
	g.mu.Unlock()
	if !assigned {
		g.r.stopSlots(slots)
	}
	g.r.log.Info("replicator: slots of this replica changed", "assigned", assigned, "slots", slots, "owned", g.ownedList())
	select {
	case g.r.kick <- struct{}{}:
	default:
	}
}

func (g *slotGroup) owns(slot int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.owned[slot]
}

func (g *slotGroup) ready() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.assigned
}

func (g *slotGroup) ownedList() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []int
	for s := range g.owned {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// run takes part in the group until ctx ends. The slot topic is never read:
// fetching is paused, and polling only keeps the membership going. Closing
// the client (Replicator.close) leaves the group, which hands the slots to
// the other replicas at once.
func (g *slotGroup) run(ctx context.Context) {
	g.cl.PauseFetchTopics(SlotsTopic)
	for {
		fs := g.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			break
		}
		fs.EachError(func(_ string, _ int32, err error) {
			g.r.log.Warn("replicator: slot group", "error", err)
		})
	}
}

// ensureSlotsTopic creates the slot topic, or checks that its partition
// count matches flow.slots: replicas that disagree on the slots would place
// a unit in different slots.
func (r *Replicator) ensureSlotsTopic(ctx context.Context) error {
	_, err := kafkaclient.EnsureTopic(ctx, r.localCl, kafkaclient.Topic{
		Name: SlotsTopic, Partitions: int32(r.cfg.Flow.Slots), ReplicationFactor: r.cfg.ReplicationFactor,
		Partitioning: kafkaclient.ExactPartitions,
	})
	if err != nil {
		return fmt.Errorf("replicator at %s: %w (every replica of a site needs the same flow.slots)", r.cfg.Site, err)
	}
	return nil
}

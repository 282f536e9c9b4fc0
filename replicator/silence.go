package replicator

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// heard records when a flow's source last answered one of its requests.
// A source that went silent (a network partition, its cluster down) makes
// no flow fail: the flow's client waits and retries, which is what heals a
// short cut. So silence is watched on its own, and shows in /readyz once
// it lasts longer than flow.silent_after.
//
// It is a franz-go hook on the flow's consumer of the source, which fetches
// at least every flow.fetch_max_wait while it has partitions to read.
type heard struct{ at atomic.Int64 } // Unix nanoseconds

// newHeard starts counting silence from now: a flow whose source never
// answers is silent from its start.
func newHeard() *heard {
	h := new(heard)
	h.at.Store(time.Now().UnixNano())
	return h
}

// OnBrokerRead implements kgo.HookBrokerRead: a response read whole is an
// answer.
func (h *heard) OnBrokerRead(_ kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	if err == nil {
		h.at.Store(time.Now().UnixNano())
	}
}

// OnBrokerConnect implements kgo.HookBrokerConnect: a failed connection is
// no answer, but a new one is not yet one either.
func (h *heard) OnBrokerConnect(kgo.BrokerMetadata, time.Duration, net.Conn, error) {}

// silence is how long the source has not answered.
func (h *heard) silence() time.Duration { return time.Since(time.Unix(0, h.at.Load())) }

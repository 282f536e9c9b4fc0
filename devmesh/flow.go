package devmesh

import (
	"bytes"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// errSlowSubscriber is why a subscriber was disconnected.
var errSlowSubscriber = errors.New("subscriber too slow: its session queue is full")

// flowHook is the embedded broker's flow control: what it does when a
// session holds as many unacknowledged QoS 1 and 2 messages as it may
// (limit).
//
//   - The bridge session (the site's MQTT adapter, which carries every
//     message into Kafka): the publisher is held before mochi acknowledges
//     its message (OnPublish runs before the PUBACK or PUBREC is written)
//     until the adapter has acknowledged enough to make room. While held,
//     the publisher's connection is not read, so TCP carries the
//     back-pressure to the client. Nothing is acknowledged that could be
//     dropped, whatever the burst, and whether the adapter is connected or
//     away (its session keeps the messages, on disk).
//   - Any other subscriber is disconnected, counted and logged, so that it
//     cannot hold the site's publishers; its session keeps what it holds.
//     While it is away, messages beyond the bound are not queued for it
//     (OnACLCheck refuses them), as Mosquitto and EMQX drop for a full
//     queue.
//
// mochi's own flow control for MQTT 5 clients (messages beyond a client's
// Receive Maximum wait in its store until an acknowledgement frees a
// slot) is switched off for every session whose Receive Maximum is not
// below the bound (and for the bridge's, whatever it is): its
// NextImmediate takes the store's read lock twice, and deadlocks the
// session and every publisher writing to it when a writer comes between
// (seen under a burst into the adapter's session). The bound of such a
// session is min(limit, its Receive Maximum), so the client never gets more
// than it announced.
//
// A publisher's own session can be taken over too: a held publisher does
// not get its PINGRESP, so its client library reconnects, and mochi copies
// the old connection's session to the new one, receipts included. A
// receipt (the PUBACK or PUBREC stored before it is written) copied while
// the old connection is between storing and writing it would be sent on
// the new connection although its message never reached a subscriber (the
// write fails on the closed connection, and mochi fans out only after a
// successful write): the publisher would take the message as delivered.
// So a take-over waits (OnSessionEstablish) until the old connection has
// processed the message it let through (OnPacketProcessed), and a message
// still held when the take-over begins is let go unacknowledged: the
// publisher sends it again on its new connection.
//
// A session that a subscriber's new connection takes over loses what the
// old connection is handed once mochi has copied its store: mochi marks
// the old client taken over, copies its messages, and clears them, while
// fan-outs still find the old client under the id. So from the take-over's
// first hook (OnSessionEstablish) until it is established, publishers to
// that session wait (mustHold), and the take-over itself waits until every
// message already let through has been handed to its subscribers
// (OnPacketProcessed); a publisher that looked before the take-over began
// and had not yet been let through looks again (the generation check in
// pass).
//
// A publisher never waits for its own session (it could not read the
// acknowledgements that would free it), and a held publisher is let go
// without an acknowledgement when its connection or the broker closes: it
// sends the message again when it reconnects.
//
// The hook also lets every client connect, subscribe and publish, as mochi's
// auth.AllowHook would (a broker with no ACL hook refuses all); in a secure
// dev mesh (auth set), only the users auth knows, as the policy allows.
type flowHook struct {
	mochi.HookBase
	srv    *mochi.Server
	store  sessionStore // told of receipts forgotten
	limit  int
	bridge string    // client id of the site's MQTT adapter
	auth   *mqttAuth // nil: every client is let in
	log    *slog.Logger

	mu      sync.Mutex
	wake    chan struct{} // closed, and replaced, when a session's store shrinks
	waiting atomic.Int32  // held publishers; no wake-ups when none
	done    chan struct{}
	once    sync.Once

	// passing holds, for each connection, a channel closed once the QoS 1
	// or 2 message it let through is processed; leaving marks connections
	// whose session a new connection is taking over. Both under passMu.
	passMu  sync.Mutex
	passing map[*mochi.Client]chan struct{}
	leaving map[*mochi.Client]bool
	// gen counts take-overs begun; taking holds, per client id, the new
	// connection taking the session over and since when. Both under passMu.
	gen    uint64
	taking map[string]takeover
	nTake  atomic.Int32 // len(taking), read without the lock on every publish

	bounds sync.Map // client id -> int: a session's bound when below limit
	cut    sync.Map // *mochi.Client -> struct{}: disconnected as slow (counted once)
	full   sync.Map // client id -> struct{}: logged as full while away

	highWater      atomic.Int64
	held           atomic.Int64
	heldNanos      atomic.Int64
	slow           atomic.Int64
	offlineDropped atomic.Int64
}

func newFlowHook(srv *mochi.Server, store sessionStore, limit int, bridge string, auth *mqttAuth, logger *slog.Logger) *flowHook {
	return &flowHook{srv: srv, store: store, limit: limit, bridge: bridge, auth: auth, log: logger, wake: make(chan struct{}), done: make(chan struct{}),
		passing: map[*mochi.Client]chan struct{}{}, leaving: map[*mochi.Client]bool{}, taking: map[string]takeover{}}
}

func (h *flowHook) ID() string { return "meshwork-flow" }

func (h *flowHook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mochi.OnConnectAuthenticate,
		mochi.OnACLCheck,
		mochi.OnPublish,
		mochi.OnQosPublish,
		mochi.OnQosComplete,
		mochi.OnQosDropped,
		mochi.OnSessionEstablish,
		mochi.OnSessionEstablished,
		mochi.OnDisconnect,
		mochi.OnPacketProcessed,
		mochi.OnSubscribe,
		mochi.OnUnsubscribe,
	}, []byte{b})
}

// OnConnectAuthenticate lets every client in, or in a secure dev mesh
// those whose user name and password auth knows.
func (h *flowHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	return h.auth == nil || h.auth.authenticate(cl.ID, pk.Connect.Username, pk.Connect.Password)
}

// OnACLCheck lets every client publish (in a secure dev mesh, those the
// policy lets produce), and refuses a message for a subscriber that is
// away with a full session (counted, logged once until it returns) or, in
// a secure dev mesh, that the policy does not let consume.
func (h *flowHook) OnACLCheck(cl *mochi.Client, _ string, write bool) bool {
	if h.auth != nil && !h.auth.allowed(cl.Properties.Username, write) {
		return false
	}
	if write || cl.ID == h.bridge || !cl.Closed() || cl.State.Inflight.Len() < h.bound(cl.ID) {
		return true
	}
	h.offlineDropped.Add(1)
	if _, logged := h.full.LoadOrStore(cl.ID, struct{}{}); !logged {
		h.log.Warn("mqtt: a disconnected subscriber's session is full; it misses messages until it returns",
			"client", cl.ID, "session_queue", h.limit)
	}
	return false
}

// OnPublish holds a QoS 1 or 2 publish while the bridge session it goes to
// is full, and disconnects other subscribers that are.
func (h *flowHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Qos == 0 {
		return pk, nil
	}
	var since time.Time
	for {
		h.mu.Lock()
		wake := h.wake
		h.mu.Unlock()
		gen := h.generation()
		if !h.mustHold(cl, pk.TopicName) {
			if cl.Closed() { // its acknowledgement would fail (see OnPacketProcessed)
				return pk, packets.ErrRejectPacket
			}
			if passed, err := h.pass(cl, pk, gen); passed || err != nil {
				if !since.IsZero() {
					h.heldNanos.Add(int64(time.Since(since)))
				}
				return pk, err
			}
			continue // a take-over began since mustHold looked
		}
		if since.IsZero() {
			since = time.Now()
			h.held.Add(1)
			h.waiting.Add(1)
			defer h.waiting.Add(-1)
		}
		select {
		case <-wake:
		case <-time.After(100 * time.Millisecond): // a session ended with no hook call
		case <-h.done:
			return pk, packets.ErrRejectPacket
		}
		if cl.Closed() || h.isLeaving(cl) {
			return pk, packets.ErrRejectPacket
		}
	}
}

func (h *flowHook) isLeaving(cl *mochi.Client) bool {
	h.passMu.Lock()
	defer h.passMu.Unlock()
	return h.leaving[cl]
}

// takeover is a new connection taking a session over, and since when.
type takeover struct {
	cl    *mochi.Client
	since time.Time
}

func (h *flowHook) generation() uint64 {
	h.passMu.Lock()
	defer h.passMu.Unlock()
	return h.gen
}

// pass lets a QoS 1 or 2 message of cl through, unless a new connection
// is taking cl's session over (an error: the message is refused), or a
// take-over began since generation gen (not passed: the caller looks
// again). A take-over waits until the messages let through are processed
// (see OnSessionEstablish).
func (h *flowHook) pass(cl *mochi.Client, pk packets.Packet, gen uint64) (bool, error) {
	h.passMu.Lock()
	defer h.passMu.Unlock()
	if h.leaving[cl] {
		return false, packets.ErrRejectPacket
	}
	if h.gen != gen {
		return false, nil
	}
	h.passing[cl] = make(chan struct{})
	return true, nil
}

// passed is told that cl has processed the message it let through.
func (h *flowHook) passed(cl *mochi.Client) {
	h.passMu.Lock()
	defer h.passMu.Unlock()
	if ch, ok := h.passing[cl]; ok {
		close(ch)
		delete(h.passing, cl)
	}
}

// takeoverWait bounds how long a take-over waits for the old connection's
// message: its processing is a write and a fan-out, which the flow hook
// never holds.
const takeoverWait = 10 * time.Second

// OnSessionEstablish runs on a new connection before it takes over the
// session of its client id: the old connection lets no more messages
// through, and the one it let through is processed first, so that the
// session copied holds no receipt of a message that no subscriber got.
//
// Publishers to the session wait from here until the take-over is
// established (mustHold), and the take-over waits until every message let
// through before is handed to its subscribers: mochi copies the old
// client's messages and clears them, and a fan-out that still found the
// old client meanwhile would be lost with it.
func (h *flowHook) OnSessionEstablish(cl *mochi.Client, _ packets.Packet) {
	old, ok := h.srv.Clients.Get(cl.ID)
	if !ok || old == cl {
		return
	}
	h.passMu.Lock()
	h.leaving[old] = true
	h.gen++
	if _, ok := h.taking[cl.ID]; !ok {
		h.nTake.Add(1)
	}
	h.taking[cl.ID] = takeover{cl: cl, since: time.Now()}
	passing := make([]chan struct{}, 0, len(h.passing))
	for _, ch := range h.passing {
		passing = append(passing, ch)
	}
	h.passMu.Unlock()
	h.notify() // a held publish of the old connection lets go
	deadline := time.NewTimer(takeoverWait)
	defer deadline.Stop()
	for _, ch := range passing {
		select {
		case <-ch:
		case <-deadline.C:
			h.log.Warn("mqtt: a session was taken over while messages let through were still being processed", "client", cl.ID)
			return
		case <-h.done:
			return
		}
	}
}

// takenOver reports whether a new connection is taking the session of
// client id over. A take-over that never completed (its connection failed
// without a hook call) stops counting after twice takeoverWait.
func (h *flowHook) takenOver(id string) bool {
	if h.nTake.Load() == 0 {
		return false
	}
	h.passMu.Lock()
	defer h.passMu.Unlock()
	t, ok := h.taking[id]
	return ok && time.Since(t.since) < 2*takeoverWait
}

// tookOver is told that cl's take-over ended, established or not.
func (h *flowHook) tookOver(cl *mochi.Client) {
	h.passMu.Lock()
	if t, ok := h.taking[cl.ID]; ok && t.cl == cl {
		delete(h.taking, cl.ID)
		h.nTake.Add(-1)
	}
	h.passMu.Unlock()
	h.notify()
}

// mustHold reports whether a message to topic would go to a full bridge
// session; it disconnects other connected subscribers that are full.
func (h *flowHook) mustHold(from *mochi.Client, topic string) bool {
	subs := h.srv.Topics.Subscribers(topic)
	hold := false
	check := func(id string, sub packets.Subscription) {
		if sub.Qos == 0 || id == from.ID {
			return
		}
		cl, ok := h.srv.Clients.Get(id)
		if !ok {
			return
		}
		if cl.IsTakenOver() || h.takenOver(id) {
			// A new connection is taking the session over: mochi has
			// copied this client's store to it and is about to clear it
			// and put the new client in its place. A message given to
			// this client now would be lost; wait for the new one.
			hold = true
			return
		}
		if cl.State.Inflight.Len() < h.bound(id) {
			return
		}
		if id == h.bridge {
			hold = true
		} else if !cl.Closed() {
			h.disconnectSlow(cl, "session queue full")
		}
	}
	for id, sub := range subs.Subscriptions {
		check(id, sub)
	}
	for _, group := range subs.Shared {
		for id, sub := range group {
			check(id, sub)
		}
	}
	return hold
}

// disconnectSlow closes cl's connection without writing to it (a write
// would wait behind the stalled one); mochi then ends the connection as if
// the client had gone, keeping a persistent session.
func (h *flowHook) disconnectSlow(cl *mochi.Client, why string) {
	if _, done := h.cut.LoadOrStore(cl, struct{}{}); done {
		return
	}
	h.slow.Add(1)
	h.log.Warn("mqtt: disconnected a subscriber too slow to take its messages; its session keeps those it holds",
		"client", cl.ID, "remote", cl.Net.Remote, "reason", why, "unacknowledged", cl.State.Inflight.Len(), "session_queue", h.limit)
	cl.Stop(errSlowSubscriber)
}

// stalled is told by the listener that it closed the connection from
// remote because the client read nothing for the write timeout.
func (h *flowHook) stalled(remote string) {
	for _, cl := range h.srv.Clients.GetAll() {
		if cl.Net.Remote == remote {
			h.disconnectSlow(cl, "read nothing for the write timeout")
			return
		}
	}
}

// OnQosPublish keeps the high-water mark of messages held by one session.
func (h *flowHook) OnQosPublish(cl *mochi.Client, _ packets.Packet, _ int64, _ int) {
	n := int64(cl.State.Inflight.Len())
	for {
		hw := h.highWater.Load()
		if n <= hw || h.highWater.CompareAndSwap(hw, n) {
			return
		}
	}
}

func (h *flowHook) OnQosComplete(*mochi.Client, packets.Packet) { h.notify() }
func (h *flowHook) OnQosDropped(*mochi.Client, packets.Packet)  { h.notify() }

// bound is how many messages client id's session may hold.
func (h *flowHook) bound(id string) int {
	if b, ok := h.bounds.Load(id); ok {
		return b.(int)
	}
	return h.limit
}

// OnSessionEstablished runs once the session is taken over and its store
// resent: it switches mochi's Receive Maximum queueing off (see flowHook).
func (h *flowHook) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	defer h.tookOver(cl)
	h.full.Delete(cl.ID)
	rm := int(cl.Properties.Props.ReceiveMaximum)
	switch {
	case rm == 0 || rm >= h.limit: // none announced (MQTT 3.1.1 has none), or above the bound
		cl.State.Inflight.ResetSendQuota(0)
		h.bounds.Delete(cl.ID)
	case cl.ID == h.bridge:
		cl.State.Inflight.ResetSendQuota(0)
		h.bounds.Store(cl.ID, rm)
	}
	h.notify()
}

func (h *flowHook) OnDisconnect(cl *mochi.Client, _ error, _ bool) {
	h.cut.Delete(cl)
	h.passMu.Lock()
	delete(h.leaving, cl)
	h.passMu.Unlock()
	h.tookOver(cl) // notifies
}

// OnPacketProcessed forgets the receipt of a QoS 1 or 2 PUBLISH whose
// acknowledgement could not be written (the publisher's connection closed).
// mochi stores the PUBACK or PUBREC in the publisher's session before
// writing it and hands the message to the subscribers only after the
// write succeeded; when the write fails the receipt stays, and mochi sends
// it on the publisher's next connection (or after a restart, from disk):
// the publisher then takes as delivered a message no subscriber got, and
// does not send it again.
func (h *flowHook) OnPacketProcessed(cl *mochi.Client, pk packets.Packet, err error) {
	if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos == 0 {
		return
	}
	defer h.passed(cl) // after the receipt is forgotten
	if err == nil {
		return
	}
	forget := func(c *mochi.Client) {
		r, ok := c.State.Inflight.Get(pk.PacketID)
		if !ok || (r.FixedHeader.Type != packets.Puback && r.FixedHeader.Type != packets.Pubrec) {
			return
		}
		if c.State.Inflight.Delete(pk.PacketID) {
			atomic.AddInt64(&h.srv.Info.Inflight, -1)
			h.store.OnQosDropped(c, r)
		}
	}
	forget(cl)
	// A new connection may already have taken the session over.
	if now, ok := h.srv.Clients.Get(cl.ID); ok && now != cl {
		forget(now)
	}
}

// OnSubscribe and OnUnsubscribe free the packet id the client chose when
// the broker uses it for a message it sends. Packet ids are the client's
// and the server's each (MQTT 2.2.1), but mochi keeps both in one store
// and refuses a SUBSCRIBE whose id its own messages use ("packet
// identifier in use"): the adapter, whose session holds messages when it
// connects (after a restart, or having been away), could never subscribe
// again. The message moves to a free id and is sent again under it; the
// client's acknowledgement of the old id is ignored, so it may take the
// message twice (QoS 1 allows that).
func (h *flowHook) OnSubscribe(cl *mochi.Client, pk packets.Packet) packets.Packet {
	h.freeID(cl, pk.PacketID)
	return pk
}

func (h *flowHook) OnUnsubscribe(cl *mochi.Client, pk packets.Packet) packets.Packet {
	h.freeID(cl, pk.PacketID)
	return pk
}

func (h *flowHook) freeID(cl *mochi.Client, id uint16) {
	m, ok := cl.State.Inflight.Get(id)
	if !ok || m.FixedHeader.Type != packets.Publish {
		return
	}
	next, err := cl.NextPacketID()
	if err != nil {
		return // mochi refuses the SUBSCRIBE; the client tries again
	}
	if !cl.State.Inflight.Delete(id) {
		return
	}
	h.store.OnQosDropped(cl, m)
	m.PacketID = uint16(next)
	m.FixedHeader.Dup = true
	cl.State.Inflight.Set(m)
	h.store.OnQosPublish(cl, m, m.Created, 0)
	_ = cl.WritePacket(m) // on failure, the next connection sends it
}

// notify wakes the held publishers to look again.
func (h *flowHook) notify() {
	if h.waiting.Load() == 0 {
		return
	}
	h.mu.Lock()
	close(h.wake)
	h.wake = make(chan struct{})
	h.mu.Unlock()
}

// close lets every held publisher go, unacknowledged.
func (h *flowHook) close() { h.once.Do(func() { close(h.done) }) }

package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/retry"
	"github.com/meshwork/meshwork/trace"
)

// webhooks runs the webhook subscriptions: those of the configuration and
// those made through the API, which are kept in the subscriptions topic and
// followed from it, so every replica runs the same set. Each subscription
// is a consumer group of its own (meshwork-rest-<site>-<id>, shared by the
// replicas) delivering through the adapter core's egress: offsets commit
// only past records the receiver took or that went to the dead-letter
// topic, and a slow receiver holds only its own subscription. Each
// subscription's topic is leased as interest of the site, so the
// replicator brings the topic's events from the other sites.
type webhooks struct {
	a     *Adapter
	log   *slog.Logger
	allow *allowlist

	mu      sync.Mutex
	subs    map[string]subscription
	running map[string]*runningSub
	stats   map[string]*subStats
	changed chan struct{} // the set changed: leases to publish

	work     context.Context
	wg       *sync.WaitGroup
	follower *kgo.Client
	started  bool
}

type runningSub struct {
	sub      subscription
	egress   *adapters.Egress
	stopPoll context.CancelFunc
	stopWork context.CancelFunc
	done     chan struct{}
}

func newWebhooks(a *Adapter) (*webhooks, error) {
	h := &webhooks{a: a, log: a.log, allow: newAllowlist(a.cfg.Webhooks.AllowTargets),
		subs: map[string]subscription{}, running: map[string]*runningSub{}, stats: map[string]*subStats{},
		changed: make(chan struct{}, 1)}
	for i, c := range a.cfg.Webhooks.Subscriptions {
		s, err := fromConfig(c, i)
		if err != nil {
			return nil, fmt.Errorf("rest adapter: %w", err)
		}
		if err := s.validate(h.allow, a.cfg.Webhooks); err != nil {
			return nil, fmt.Errorf("rest adapter: webhooks.subscriptions[%d]: %v", i, err)
		}
		h.subs[s.ID] = s
	}
	return h, nil
}

// topic is where the API's subscriptions are kept.
func (h *webhooks) topic() string { return h.a.cfg.Webhooks.SubscriptionsTopic }

func (h *webhooks) group(id string) string { return "meshwork-rest-" + h.a.cfg.Site + "-" + id }

// start loads the API's subscriptions, starts every subscription's
// delivery, and follows the subscriptions topic and the leases in the
// background until work ends.
func (h *webhooks) start(ctx, work context.Context, wg *sync.WaitGroup) error {
	h.work, h.wg = work, wg
	if _, err := kafkaclient.EnsureTopic(ctx, h.a.sys, kafkaclient.Topic{Name: h.topic(), Partitions: 1,
		Configs: map[string]string{"cleanup.policy": "compact"}, Compacted: true}); err != nil {
		return fmt.Errorf("webhooks: %s: %w", h.topic(), err)
	}
	var err error
	if h.follower, err = kafkaclient.New(h.a.cfg.Kafka, "rest", h.a.cfg.Site, append(kafkaclient.FollowOptions(h.topic()), h.a.extra...)...); err != nil {
		return err
	}
	if err := kafkaclient.ReadToEnd(ctx, h.follower, h.topic(), h.apply); err != nil {
		h.follower.Close()
		return fmt.Errorf("webhooks: reading %s: %w", h.topic(), err)
	}
	h.mu.Lock()
	h.started = true
	h.reconcileLocked()
	h.mu.Unlock()
	wg.Go(func() {
		kafkaclient.Follow(work, h.follower, h.topic(), h.log, func(recs []*kgo.Record) {
			h.apply(recs)
			h.mu.Lock()
			h.reconcileLocked()
			h.mu.Unlock()
		}, func() {})
	})
	wg.Go(func() { h.leaseLoop(work) })
	return nil
}

// apply takes records of the subscriptions topic into the set.
func (h *webhooks) apply(recs []*kgo.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range recs {
		id := string(r.Key)
		if prev, ok := h.subs[id]; ok && prev.Origin == originConfig {
			continue // the configuration file's subscriptions win
		}
		if r.Value == nil {
			delete(h.subs, id)
			continue
		}
		var s subscription
		if err := json.Unmarshal(r.Value, &s); err != nil || s.ID != id {
			h.log.Warn("webhooks: unreadable subscription record skipped", "id", id, "offset", r.Offset, "error", err)
			continue
		}
		s.Origin = originAPI
		h.subs[id] = s
	}
}

// reconcileLocked starts, restarts and stops deliveries so that they match
// the set.
func (h *webhooks) reconcileLocked() {
	if !h.started || h.work.Err() != nil {
		return
	}
	for id, run := range h.running {
		if s, ok := h.subs[id]; !ok || !s.same(run.sub) {
			h.stopLocked(id, run)
		}
	}
	for id, s := range h.subs {
		if _, ok := h.running[id]; ok {
			continue
		}
		if err := h.runLocked(s); err != nil {
			h.log.Error("webhooks: subscription not started", "id", id, "error", err)
		}
	}
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

func (h *webhooks) runLocked(s subscription) error {
	cfg := h.a.cfg
	opts := adapters.GroupOptions(h.group(s.ID), s.Topic)
	if s.Pattern {
		opts = append(opts, kgo.ConsumeRegex())
	}
	reset := kgo.NewOffset().AtEnd()
	if !s.Created.IsZero() {
		// A new subscription delivers what was produced since it was
		// made: its group starts at the beginning and the sender skips
		// what is stamped before (see hookSender.wants). Not AfterMilli:
		// on a partition with no record after the time yet, the client
		// asks for the end in a second request, and records written in
		// between were never delivered (seen in about 1 of 15 runs).
		reset = kgo.NewOffset().AtStart()
	}
	// A replica killed without leaving its groups holds its partitions
	// until its session expires: 10 s rather than franz-go's 45.
	opts = append(opts, kgo.ConsumeResetOffset(reset), kgo.FetchMaxWait(250*time.Millisecond), kgo.SessionTimeout(10*time.Second))
	cl, err := kafkaclient.New(cfg.Kafka, "rest", cfg.Site, append(opts, h.a.extra...)...)
	if err != nil {
		return err
	}
	stat := h.stats[s.ID]
	if stat == nil {
		stat = &subStats{}
		h.stats[s.ID] = stat
	}
	sender := newHookSender(s, cfg.Webhooks, h.allow, cfg.Site, stat, h.a.m)
	// A confirmation waits for every attempt and pause of a record.
	timeout := time.Duration(sender.attempts) * (cfg.Webhooks.Timeout + cfg.Webhooks.MaxBackoff)
	e := adapters.NewEgress(adapters.EgressConfig{Rule: "webhook/" + s.ID, Client: cl, MaxInFlight: cfg.Webhooks.MaxInFlight,
		Timeout: timeout, Sender: sender, DeadLetters: h.a.dead, Metrics: h.a.core, Log: h.log, NotReadyAfter: cfg.NotReadyAfter,
		Trace: h.a.trace, Protocol: trace.ProtocolHTTP})
	poll, stopPoll := context.WithCancel(h.work)
	work, stopWork := context.WithCancel(h.work)
	run := &runningSub{sub: s, egress: e, stopPoll: stopPoll, stopWork: stopWork, done: make(chan struct{})}
	h.running[s.ID] = run
	h.wg.Go(func() {
		defer close(run.done)
		e.Run(poll, work)
	})
	return nil
}

// stopLocked stops a delivery: polling ends, deliveries in progress get a
// moment to finish, offsets of what was delivered are committed.
func (h *webhooks) stopLocked(id string, run *runningSub) {
	delete(h.running, id)
	run.stopPoll()
	h.wg.Go(func() {
		select {
		case <-run.done:
		case <-time.After(h.a.cfg.Webhooks.Timeout):
			run.stopWork()
			<-run.done
		}
		run.stopWork()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := run.egress.Close(ctx); err != nil {
			h.log.Warn("webhooks: closing a stopped subscription", "id", id, "error", err)
		}
	})
}

// leaseLoop keeps the subscriptions' topics leased as the site's interest.
func (h *webhooks) leaseLoop(ctx context.Context) {
	p, err := interest.NewPublisher(h.a.sys, h.a.cfg.Site, interest.Logger(h.log))
	if err != nil {
		h.log.Error("webhooks: no interest leases", "error", err)
		return
	}
	for {
		select {
		case <-h.changed:
		case <-ctx.Done():
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = p.Close(cctx)
			cancel()
			return
		}
		h.mu.Lock()
		var leases []interest.Lease
		for _, s := range h.subs {
			leases = append(leases, interest.Lease{Topic: s.Topic, Pattern: s.Pattern, Kind: interest.KindWebhook, SourceID: "rest/" + h.a.cfg.Site + "/" + s.ID})
		}
		h.mu.Unlock()
		_ = retry.Until(ctx, 10*time.Second, func() error { return p.Set(ctx, leases) }, func(err error, attempt int, wait time.Duration) {
			h.log.Warn("webhooks: publishing interest failed; trying again", "attempt", attempt, "in", wait, "error", err)
		})
	}
}

// persist writes a subscription (nil: its deletion) to the topic, with
// acks=all, and applies it at once.
func (h *webhooks) persist(ctx context.Context, id string, s *subscription) error {
	rec := &kgo.Record{Topic: h.topic(), Key: []byte(id)}
	if s != nil {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		rec.Value = b
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := h.a.sys.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return kafkaUnavailable(err)
	}
	h.apply([]*kgo.Record{rec})
	h.mu.Lock()
	h.reconcileLocked()
	h.mu.Unlock()
	return nil
}

func (h *webhooks) get(id string) (subscription, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.subs[id]
	return s, ok
}

func (h *webhooks) list() []subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]subscription, 0, len(h.subs))
	for _, s := range h.subs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// status is a subscription's delivery status; with lag, also the lag of
// its consumer group (one request to Kafka, so not for lists).
func (h *webhooks) status(ctx context.Context, id string, lag bool) *deliveryStatus {
	h.mu.Lock()
	stat := h.stats[id]
	_, running := h.running[id]
	h.mu.Unlock()
	st := &deliveryStatus{}
	if stat != nil {
		st = stat.status()
	}
	st.ConsumerGrp, st.Running = h.group(id), running
	if lag {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		lags, err := kadm.NewClient(h.a.sys).Lag(ctx, h.group(id))
		if err == nil {
			l := lags[h.group(id)]
			err = l.Error()
			if err == nil {
				n := l.Lag.Total()
				st.Lag = &n
			}
		}
		if err != nil {
			st.LagError = err.Error()
		}
	}
	return st
}

// ready reports a subscription whose deliveries have kept failing.
func (h *webhooks) ready() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, run := range h.running {
		errs = append(errs, run.egress.Ready())
	}
	return errors.Join(errs...)
}

// close stops every delivery, committing what was delivered.
func (h *webhooks) close(ctx context.Context) error {
	h.mu.Lock()
	h.started = false
	runs := h.running
	h.running = map[string]*runningSub{}
	h.mu.Unlock()
	for _, run := range runs {
		run.stopPoll()
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for id, run := range runs {
		wg.Go(func() {
			select {
			case <-run.done:
			case <-ctx.Done():
				run.stopWork()
				<-run.done
			}
			run.stopWork()
			if err := run.egress.Close(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("webhook %s: %w", id, err))
				mu.Unlock()
			}
		})
	}
	if err := waitGroup(ctx, &wg); err != nil {
		h.log.Warn("webhooks: a consumer group leave did not finish by the shutdown deadline; the member expires with its session", "error", err)
	}
	if h.follower != nil {
		h.follower.Close()
	}
	return errors.Join(errs...)
}

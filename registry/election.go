package registry

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/retry"
)

// election makes one instance of the primary site the writer. The
// instances join a consumer group on the schema log, which has a single
// partition, so exactly one member is assigned it: that member is the
// leader. On assignment it takes the transactional writer, whose
// initialization fences any previous leader still trying to write, and
// announces itself in the log; followers forward writes to the announced
// URL.
//
// franz-go calls the assignment callbacks from its group management, which
// must not wait for leadership work (creating a producer, a write that
// waits for its apply): the callbacks only record the verdict in elected
// and poke notify, a one-slot channel, without ever blocking. The leader
// loop reads elected after each poke, so it always acts on the latest
// verdict, and a burst of changes while it is busy comes down to one.
//
// The election owns two goroutines, the poller and the leader loop; stop
// waits for both.
type election struct {
	cfg        *Config
	logger     *slog.Logger
	store      *store
	metrics    *metrics
	writerOpts []kgo.Opt
	member     *kgo.Client

	elected atomic.Bool
	notify  chan struct{} // capacity 1

	stopLead context.CancelFunc // ends the leader loop
	stopPoll context.CancelFunc // ends the poller
	wg       sync.WaitGroup
}

// newElection builds the group member, which joins the group at once.
func newElection(cfg *Config, logger *slog.Logger, st *store, m *metrics, memberOpts, writerOpts []kgo.Opt) (*election, error) {
	e := &election{cfg: cfg, logger: logger, store: st, metrics: m, writerOpts: writerOpts, notify: make(chan struct{}, 1)}
	ours := func(m map[string][]int32) bool { return len(m[cfg.Topic]) > 0 }
	opts := append(append([]kgo.Opt(nil), memberOpts...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if ours(m) {
				e.set(true)
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if ours(m) {
				e.set(false)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if ours(m) {
				e.set(false)
			}
		}),
	)
	member, err := newClient("registry-election", opts)
	if err != nil {
		return nil, err
	}
	// Membership is all the election needs: nothing is read through it.
	member.PauseFetchTopics(cfg.Topic)
	e.member = member
	return e, nil
}

// set records the group's verdict and wakes the leader loop; it never
// blocks.
func (e *election) set(elected bool) {
	e.elected.Store(elected)
	select {
	case e.notify <- struct{}{}:
	default: // a wake-up is already pending; the loop will read the latest verdict
	}
}

// start runs the poller and the leader loop until stop.
func (e *election) start(ctx context.Context) {
	leadCtx, stopLead := context.WithCancel(ctx)
	pollCtx, stopPoll := context.WithCancel(ctx)
	e.stopLead, e.stopPoll = stopLead, stopPoll
	e.wg.Go(func() {
		// Group membership progresses in the background, but a client that
		// is never polled never learns of assignments; poll with the topic
		// paused, which returns no records.
		for pollCtx.Err() == nil {
			e.member.PollFetches(pollCtx)
		}
	})
	e.wg.Go(func() { e.leadWhileElected(leadCtx) })
}

// stopLeading ends the leader loop's work: it takes no leadership from
// now on. The loop itself is waited for by stop.
func (e *election) stopLeading() {
	if e.stopLead != nil {
		e.stopLead()
	}
}

// stop leaves the group, at most until ctx ends, so that another instance
// is assigned the log at once rather than after the session timeout, then
// waits for the election's goroutines and closes the member. Give up the
// writer first (store.close), so that the next leader is not kept waiting
// behind a write of this one.
func (e *election) stop(ctx context.Context) error {
	e.stopLeading()
	if e.stopPoll != nil {
		e.stopPoll()
	}
	var err error
	if lerr := e.member.LeaveGroupContext(ctx); lerr != nil {
		err = fmt.Errorf("registry: leave election group %s: %w", e.cfg.Group, lerr)
	}
	e.wg.Wait()
	e.member.Close()
	return err
}

func (e *election) leadWhileElected(ctx context.Context) {
	// Taking the lead can fail while the instance stays elected (a write
	// of the announcement that Kafka aborted, say); it is tried again with
	// backoff, or the site would stay without a writer until the group
	// changes.
	bo := retry.Backoff(5 * time.Second)
	var again <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.notify:
		case <-again:
		}
		again = nil
		if ctx.Err() != nil {
			return
		}
		if !e.elected.Load() {
			if e.store.isWriter() {
				e.logger.Info("registry leadership lost")
			}
			e.metrics.leader.Set(0)
			if err := e.store.stepDown(ctx); err != nil && ctx.Err() == nil {
				e.logger.Error("could not give up registry leadership", "err", err)
			}
			continue
		}
		if err := e.lead(ctx); err != nil {
			e.metrics.leader.Set(0)
			if ctx.Err() == nil {
				wait := bo.NextBackOff()
				e.logger.Error("could not take registry leadership; trying again", "in", wait, "err", err)
				again = time.After(wait)
			}
			continue
		}
		bo.Reset()
	}
}

// lead takes the writer and announces this instance as leader.
func (e *election) lead(ctx context.Context) error {
	w, err := newClient("registry-writer", e.writerOpts)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, e.cfg.WriteTimeout)
	defer cancel()
	// Writing the announcement also waits until this instance has applied
	// everything before it, so it decides from complete state.
	announce := logRecord{key: leaderKey(), value: leaderValue{URL: e.cfg.advertised(), Instance: w.OptValue(kgo.ClientID).(string)}}
	if err := e.store.lead(wctx, w, announce); err != nil {
		return fmt.Errorf("announce leadership: %w", err)
	}
	e.metrics.leader.Set(1)
	e.logger.Info("registry leader", "url", e.cfg.advertised())
	return nil
}

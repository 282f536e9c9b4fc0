package demand

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/kafkaclient"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Watcher follows Topic of one cluster from its beginning into a Table. It
// reads the partitions directly (no consumer group), read_committed, and
// keeps control records so it knows when it reached the end even when the
// topic's last offset is a transaction marker.
type Watcher struct {
	cl    *kgo.Client
	table *Table
	cfg   cfg

	life context.Context // ends with Close
	end  context.CancelFunc

	changes   chan struct{}
	ready     chan struct{}
	readyOnce sync.Once
	poke      chan struct{} // tells the expiry loop the table changed
}

// NewWatcher returns a watcher reading with a client built from clientOpts
// (seed brokers, TLS, SASL: see internal/kafkaclient) plus the consuming
// options it needs. Call Run to read, and Close when done.
func NewWatcher(clientOpts []kgo.Opt, opts ...WatcherOpt) (*Watcher, error) {
	c := defaultCfg()
	for _, o := range opts {
		o.apply(&c)
	}
	codec, err := interest.NewCodec()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(slices.Clone(clientOpts), kafkaclient.FollowOptions(interest.Topic)...)...)
	if err != nil {
		return nil, fmt.Errorf("interest: client to read %s: %w", interest.Topic, err)
	}
	life, end := context.WithCancel(context.Background())
	return &Watcher{
		life:    life,
		end:     end,
		cl:      cl,
		table:   NewTable(codec, c.log),
		cfg:     c,
		changes: make(chan struct{}, 1),
		ready:   make(chan struct{}),
		poke:    make(chan struct{}, 1),
	}, nil
}

// Table returns the table the watcher fills.
func (w *Watcher) Table() *Table { return w.table }

// Ready is closed once the watcher has read everything committed to the
// topic when Run started (at once if the topic does not exist). Until then
// the table may lack leases that are in force: do not stop flows for want
// of interest before Ready.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Changes receives a value, coalesced, after the active interest changed:
// a lease appeared, disappeared, changed or expired; and once when Ready
// closes. Renewals alone are not changes.
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Close ends Run and closes the watcher's client.
func (w *Watcher) Close() {
	w.end()
	w.cl.Close()
}

// Run reads the topic until ctx ends or the watcher is closed. Errors are
// logged and retried.
func (w *Watcher) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(w.life, cancel)()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { w.expiryLoop(ctx) })
	kafkaclient.Follow(ctx, w.cl, interest.Topic, w.cfg.log, w.apply, w.caughtUp)
}

// apply takes in the records of one poll.
func (w *Watcher) apply(recs []*kgo.Record) {
	before := w.table.Invalid()
	changed := false
	for _, r := range recs {
		if w.table.Apply(r) {
			changed = true
		}
	}
	w.cfg.metrics.addInvalid(w.table.Invalid() - before)
	w.signal(w.poke)
	if changed {
		w.notify()
	}
}

// caughtUp closes Ready once the first read reached the end.
func (w *Watcher) caughtUp() {
	w.readyOnce.Do(func() {
		w.cfg.log.Info("interest: leases loaded", "topic", interest.Topic,
			"leases", len(w.table.Leases()), "active", len(w.table.Active(time.Now())))
		w.notify() // before Ready closes, so a reader that waited for Ready sees only later changes
		close(w.ready)
	})
}

// expiryLoop notifies when a lease expires: it sleeps until the next expiry
// the table knows of, waking early when the table changed.
func (w *Watcher) expiryLoop(ctx context.Context) {
	last := time.Now()
	for {
		var (
			timer *time.Timer
			fire  <-chan time.Time
		)
		if next, ok := w.table.nextExpiry(last); ok {
			timer = time.NewTimer(time.Until(next))
			fire = timer.C
		}
		stop := func() {
			if timer != nil {
				timer.Stop()
			}
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case <-w.poke:
			stop()
			continue
		case <-fire:
		}
		now := time.Now()
		if w.table.expiredBetween(last, now) {
			w.notify()
		}
		last = now
	}
}

func (w *Watcher) notify() {
	w.cfg.metrics.setLeases(w.table.Active(time.Now()))
	w.signal(w.changes)
}

func (w *Watcher) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

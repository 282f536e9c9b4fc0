package adapters

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultNotReadyAfter is how long deliveries may keep failing before
// Ready says so, unless a pipeline is configured otherwise.
const DefaultNotReadyAfter = 10 * time.Second

// trouble follows a run of failed deliveries, so that a pipeline that
// keeps retrying shows in /readyz while it keeps its messages.
type trouble struct {
	after   time.Duration // how long a run lasts before err reports it
	failing atomic.Bool   // the fields below say since when and why
	mu      sync.Mutex
	since   time.Time
	last    error
}

func (t *trouble) failed(err error) {
	t.failing.Store(true)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.since.IsZero() {
		t.since = time.Now()
	}
	t.last = err
}

// succeeded ends the run; it takes no lock in the common case, as it is on
// every message's path.
func (t *trouble) succeeded() {
	if !t.failing.Load() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failing.Store(false)
	t.since, t.last = time.Time{}, nil
}

// err describes a run of failures longer than t.after, as what.
func (t *trouble) err(what string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.since.IsZero() || time.Since(t.since) <= t.after {
		return nil
	}
	return fmt.Errorf("%s failing for %s: %w", what, time.Since(t.since).Truncate(time.Second), t.last)
}

// rateLog lets a pipeline log what it dead-letters at most once a second
// per reason: a flood of poison messages must not become a flood of log
// lines, and the lines it leaves out are counted in the next.
type rateLog struct {
	mu      sync.Mutex
	last    map[string]time.Time
	skipped map[string]int
}

// allow reports whether a line for key may be logged now, and how many
// were left out since the last one.
func (r *rateLog) allow(key string) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last, r.skipped = map[string]time.Time{}, map[string]int{}
	}
	if time.Since(r.last[key]) < time.Second {
		r.skipped[key]++
		return false, 0
	}
	n := r.skipped[key]
	r.last[key], r.skipped[key] = time.Now(), 0
	return true, n
}

// Trouble follows a run of transient failures for an adapter's own
// pipelines (the REST adapter's produces, say), with the same rule as the
// core's: a run longer than its threshold shows in /readyz.
type Trouble struct{ t trouble }

// NewTrouble reports runs of failures that last longer than after (0:
// DefaultNotReadyAfter).
func NewTrouble(after time.Duration) *Trouble {
	if after <= 0 {
		after = DefaultNotReadyAfter
	}
	return &Trouble{t: trouble{after: after}}
}

// Failed records a transient failure; Succeeded ends the run.
func (t *Trouble) Failed(err error) { t.t.failed(err) }

// Succeeded ends a run of failures; it takes no lock in the common case.
func (t *Trouble) Succeeded() { t.t.succeeded() }

// Err describes a run of failures longer than the threshold, as what.
func (t *Trouble) Err(what string) error { return t.t.err(what) }

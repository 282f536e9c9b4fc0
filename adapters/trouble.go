package adapters

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// notReadyAfter is how long deliveries may keep failing before Ready says
// so.
const notReadyAfter = 10 * time.Second

// trouble follows a run of failed deliveries, so that a pipeline that
// keeps retrying shows in /readyz while it keeps its messages.
type trouble struct {
	failing atomic.Bool // the fields below say since when and why
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

// err describes a run of failures longer than notReadyAfter, as what.
func (t *trouble) err(what string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.since.IsZero() || time.Since(t.since) <= notReadyAfter {
		return nil
	}
	return fmt.Errorf("%s failing for %s: %w", what, time.Since(t.since).Truncate(time.Second), t.last)
}

package serde

import (
	"context"
	"errors"
	"sync"
)

// bounded is a concurrency-safe map holding at most max entries. When full,
// an arbitrary entry (the first one map iteration yields) makes room. Its keys
// are schema ids, subjects and schema texts, which a deployment has few of,
// so eviction is a safety net against unbounded growth rather than a
// policy worth tuning.
type bounded[K comparable, V any] struct {
	mu  sync.RWMutex
	max int
	m   map[K]V
}

func newBounded[K comparable, V any](max int) *bounded[K, V] {
	return &bounded[K, V]{max: max, m: make(map[K]V)}
}

func (b *bounded[K, V]) get(k K) (V, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	v, ok := b.m[k]
	return v, ok
}

func (b *bounded[K, V]) put(k K, v V) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.m[k]; !ok && len(b.m) >= b.max {
		for old := range b.m {
			delete(b.m, old)
			break
		}
	}
	b.m[k] = v
}

func (b *bounded[K, V]) remove(k K) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, k)
}

func (b *bounded[K, V]) len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.m)
}

// flight runs one load per key at a time: callers asking for a key that is
// being loaded wait for that load instead of sending their own request, so a
// burst of records with a new schema id costs the registry one request.
type flight[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*call[V]
}

type call[V any] struct {
	done chan struct{}
	v    V
	err  error
}

// do returns load's result for k, running load only if no other caller is
// already running it. A waiter whose context ends stops waiting. load runs
// with the context of the caller that started it; if that caller's context
// ends, waiters whose own context is still live try again.
func (f *flight[K, V]) do(ctx context.Context, k K, load func(context.Context) (V, error)) (V, error) {
	for {
		f.mu.Lock()
		if f.calls == nil {
			f.calls = make(map[K]*call[V])
		}
		if c, ok := f.calls[k]; ok {
			f.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				var zero V
				return zero, ctx.Err()
			}
			if c.err != nil && isContextErr(c.err) && ctx.Err() == nil {
				continue // the loading caller gave up; try ourselves
			}
			return c.v, c.err
		}
		c := &call[V]{done: make(chan struct{})}
		f.calls[k] = c
		f.mu.Unlock()

		func() {
			defer func() {
				f.mu.Lock()
				delete(f.calls, k)
				f.mu.Unlock()
				close(c.done)
			}()
			c.err = errLoadPanicked // replaced unless load panics
			c.v, c.err = load(ctx)
		}()
		return c.v, c.err
	}
}

var errLoadPanicked = errors.New("serde: schema load panicked")

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

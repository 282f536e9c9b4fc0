package policy

import (
	"sync"
	"sync/atomic"
)

// defaultCacheEntries bounds the decisions a policy remembers: enough for
// every principal, action and resource a busy site asks about, small
// enough (a few MiB) that a client cycling through names cannot grow it.
const defaultCacheEntries = 1 << 16

// cacheFromRules is the size of a policy (rules and deny rules) from which
// decisions are cached: below it, matching the rules costs less than a
// lookup (BenchmarkDecide measures both).
const cacheFromRules = 16

type cacheKey struct{ principal, action, resource string }

// cache remembers decisions. Reads take no lock (sync.Map), so requests
// on every core look up at once; a full cache is emptied and fills again
// with what is asked now: decisions are cheap to take again, and a
// bounded cache is what matters. A policy's cache dies with it, so a
// reloaded policy starts empty.
type cache struct {
	max int64
	n   atomic.Int64
	m   sync.Map // cacheKey -> Decision
}

func newCache(entries int) *cache { return &cache{max: int64(max(1, entries))} }

func (c *cache) get(k cacheKey) (Decision, bool) {
	v, ok := c.m.Load(k)
	if !ok {
		return Decision{}, false
	}
	return v.(Decision), true
}

func (c *cache) put(k cacheKey, d Decision) {
	if c.n.Add(1) > c.max {
		c.m.Clear()
		c.n.Store(1)
	}
	if _, loaded := c.m.LoadOrStore(k, d); loaded {
		c.n.Add(-1)
	}
}

// len counts the decisions remembered (for tests).
func (c *cache) len() int {
	n := 0
	c.m.Range(func(_, _ any) bool { n++; return true })
	return n
}

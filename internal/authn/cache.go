package authn

import (
	"sync"
	"time"
)

// Defaults of the verification cache.
const (
	DefaultCacheTTL  = 5 * time.Minute
	DefaultCacheSize = 4096
)

// cache remembers successful basic verifications (bcrypt costs tens of
// milliseconds by design) under a keyed digest of the user and password,
// for ttl, at most size of them. Failures are never stored, so a flood of
// wrong passwords cannot fill it.
type cache struct {
	ttl  time.Duration
	size int
	now  func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]time.Time // digest -> expiry
}

func newCache(ttl time.Duration, size int, now func() time.Time) *cache {
	return &cache{ttl: ttl, size: size, now: now, entries: map[[32]byte]time.Time{}}
}

func (c *cache) hit(k [32]byte) bool {
	if c.size <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.entries[k]
	if ok && c.now().After(exp) {
		delete(c.entries, k)
		return false
	}
	return ok
}

func (c *cache) add(k [32]byte) {
	if c.size <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= c.size {
		for e, exp := range c.entries {
			if now.After(exp) {
				delete(c.entries, e)
			}
		}
	}
	for e := range c.entries { // still full: drop arbitrary entries (map order)
		if len(c.entries) < c.size {
			break
		}
		delete(c.entries, e)
	}
	c.entries[k] = now.Add(c.ttl)
}

func (c *cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

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

// cache remembers successful verifications that cost CPU (bcrypt takes
// tens of milliseconds by design, a JWT signature a fraction of one) under
// a keyed digest of the credentials, with the principal they proved, for
// ttl (a JWT no longer than its exp), at most size of them. Failures are
// never stored, so a flood of wrong credentials cannot fill it.
type cache struct {
	ttl  time.Duration
	size int
	now  func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]cached
}

type cached struct {
	name string
	exp  time.Time
}

func newCache(ttl time.Duration, size int, now func() time.Time) *cache {
	return &cache{ttl: ttl, size: size, now: now, entries: map[[32]byte]cached{}}
}

// hit returns the principal k proved, if remembered.
func (c *cache) hit(k [32]byte) (string, bool) {
	if c.size <= 0 {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if ok && c.now().After(e.exp) {
		delete(c.entries, k)
		return "", false
	}
	return e.name, ok
}

// add remembers that k proved name, for the TTL but not past until (zero:
// no such bound).
func (c *cache) add(k [32]byte, name string, until time.Time) {
	if c.size <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= c.size {
		for e, v := range c.entries {
			if now.After(v.exp) {
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
	exp := now.Add(c.ttl)
	if !until.IsZero() && until.Before(exp) {
		exp = until
	}
	c.entries[k] = cached{name: name, exp: exp}
}

func (c *cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

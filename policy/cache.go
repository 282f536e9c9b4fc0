package policy

import (
	"hash/maphash"
	"sync"
)

// defaultCacheEntries bounds the decisions a policy remembers: enough for
// every principal, action and resource a busy site asks about, small
// enough (a few MiB) that a client cycling through names cannot grow it.
const defaultCacheEntries = 1 << 16

const cacheShards = 16

type cacheKey struct{ principal, action, resource string }

// cache remembers decisions, in shards so that concurrent requests seldom
// wait on one lock. A full shard forgets an arbitrary entry for each new
// one: decisions are cheap to take again, and a bounded cache is what
// matters. A policy's cache dies with it, so a reloaded policy starts
// empty.
type cache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]struct {
		mu sync.RWMutex
		m  map[cacheKey]Decision
	}
}

func newCache(entries int) *cache {
	c := &cache{seed: maphash.MakeSeed(), perShard: max(1, entries/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[cacheKey]Decision)
	}
	return c
}

func (c *cache) shard(k cacheKey) int {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(k.principal)
	h.WriteByte(0)
	h.WriteString(k.action)
	h.WriteByte(0)
	h.WriteString(k.resource)
	return int(h.Sum64() % cacheShards)
}

func (c *cache) get(k cacheKey) (Decision, bool) {
	s := &c.shards[c.shard(k)]
	s.mu.RLock()
	d, ok := s.m[k]
	s.mu.RUnlock()
	return d, ok
}

func (c *cache) put(k cacheKey, d Decision) {
	s := &c.shards[c.shard(k)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.perShard {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[k] = d
}

// len counts the decisions remembered (for tests).
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].m)
		c.shards[i].mu.RUnlock()
	}
	return n
}

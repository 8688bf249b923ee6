package phone

import (
	"hash/maphash"
	"strings"
	"sync"
)

// Cache bounds: shards * shardSize entries in each of two generations, so at
// most 2 * 32 * 2048 = 131,072 entries (roughly 20-30 MB at worst).
const (
	defaultCacheShards    = 32
	defaultCacheShardSize = 2048
)

// cacheEntry is a parse result: a valid number, or the reason the input was
// rejected.
type cacheEntry struct {
	num    Number
	reason string
}

// cache is a bounded, concurrency-safe map from raw input to parse result.
// Each shard keeps two generations: when the current one is full it becomes
// the previous one and the old previous one is dropped; a hit in the
// previous generation moves the entry to the current one. Entries in use stay
// cached, no clean-out empties the cache at once, and a shard never holds
// more than twice its size.
type cache struct {
	seed   maphash.Seed
	mask   uint64
	size   int
	shards []cacheShard
}

type cacheShard struct {
	mu   sync.Mutex
	cur  map[string]cacheEntry
	prev map[string]cacheEntry
	_    [40]byte // keep shards on separate cache lines
}

// newCache returns a cache of shards (rounded up to a power of two) shards of
// size entries per generation, or nil if either is not positive.
func newCache(shards, size int) *cache {
	if shards <= 0 || size <= 0 {
		return nil
	}
	n := 1
	for n < shards {
		n <<= 1
	}
	c := &cache{
		seed:   maphash.MakeSeed(),
		mask:   uint64(n - 1),
		size:   size,
		shards: make([]cacheShard, n),
	}
	for i := range c.shards {
		c.shards[i].cur = make(map[string]cacheEntry)
	}
	return c
}

func (c *cache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)&c.mask]
}

func (c *cache) get(key string) (cacheEntry, bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.cur[key]; ok {
		return e, true
	}
	if e, ok := s.prev[key]; ok {
		delete(s.prev, key)
		s.add(key, e, c.size)
		return e, true
	}
	return cacheEntry{}, false
}

func (c *cache) put(key string, e cacheEntry) {
	key = strings.Clone(key) // the caller's string may share memory with a larger buffer
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(key, e, c.size)
}

// add stores e under key in the current generation, first retiring it if it
// is full. The caller holds s.mu.
func (s *cacheShard) add(key string, e cacheEntry, size int) {
	if _, ok := s.cur[key]; !ok && len(s.cur) >= size {
		s.prev = s.cur
		s.cur = make(map[string]cacheEntry, size)
	}
	s.cur[key] = e
}

// len returns the number of entries held, for tests.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.cur) + len(s.prev)
		s.mu.Unlock()
	}
	return n
}

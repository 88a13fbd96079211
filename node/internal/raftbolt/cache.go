package raftbolt

import (
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// Cache keeps the most recent entries of a raft log in memory, in front of a
// LogStore, so that the leader replicates and the FSM applies them without reading
// the file back. Unlike raft.LogCache it holds only entries whose data is at most
// maxData bytes: the log carries object bodies in chunks of up to 1 MiB, which a
// ring of recent entries would keep on the heap long after they are durable
// (docs/benchmarks.md, "Why the member is tuned as it is"). Larger entries are read
// from the store, which for this package is a copy out of bbolt's memory map. The
// cache holds at most entries x maxData bytes of entry data, plus the newest entry
// whatever its size (tail): the leader reads the entry before the next one to send
// (its term) every CommitTimeout for every follower, even when nothing is new, and
// after an upload that entry is a 1 MiB chunk.
type Cache struct {
	store   raft.LogStore
	maxData int

	mu   sync.RWMutex
	ring []*raft.Log // slot index % len(ring); nil or an entry of that slot
	tail *raft.Log   // the newest entry stored, nil after a DeleteRange reaching it
}

// NewCache returns a cache of the last entries entries of store that hold at most
// maxData bytes of data each.
func NewCache(store raft.LogStore, entries, maxData int) (*Cache, error) {
	if entries <= 0 || maxData < 0 {
		return nil, fmt.Errorf("raftbolt: cache of %d entries of up to %d bytes", entries, maxData)
	}
	return &Cache{store: store, maxData: maxData, ring: make([]*raft.Log, entries)}, nil
}

// IsMonotonic reports whether the store underneath is monotonic (raft checks it to
// know whether it may leave gaps after a snapshot restore).
func (c *Cache) IsMonotonic() bool {
	m, ok := c.store.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// GetLog returns the entry from the cache when it holds it, else from the store.
// Like raft.LogCache, a cached entry's Data is shared: raft does not modify it.
func (c *Cache) GetLog(index uint64, log *raft.Log) error {
	c.mu.RLock()
	l := c.ring[index%uint64(len(c.ring))]
	if t := c.tail; (l == nil || l.Index != index) && t != nil && t.Index == index {
		l = t
	}
	c.mu.RUnlock()
	if l != nil && l.Index == index {
		*log = *l
		return nil
	}
	return c.store.GetLog(index, log)
}

// StoreLog stores one entry.
func (c *Cache) StoreLog(log *raft.Log) error { return c.StoreLogs([]*raft.Log{log}) }

// StoreLogs stores the entries, then caches the small ones. A large entry empties
// its slot, so the ring never keeps an older entry alive in its place.
func (c *Cache) StoreLogs(logs []*raft.Log) error {
	if err := c.store.StoreLogs(logs); err != nil {
		return err
	}
	c.mu.Lock()
	for _, l := range logs {
		slot := l.Index % uint64(len(c.ring))
		if len(l.Data) <= c.maxData {
			c.ring[slot] = l
		} else {
			c.ring[slot] = nil
		}
	}
	if n := len(logs); n > 0 {
		c.tail = logs[n-1]
	}
	c.mu.Unlock()
	return nil
}

// FirstIndex returns the store's first index.
func (c *Cache) FirstIndex() (uint64, error) { return c.store.FirstIndex() }

// LastIndex returns the store's last index.
func (c *Cache) LastIndex() (uint64, error) { return c.store.LastIndex() }

// DeleteRange forgets the cached entries in [min, max], then deletes them from the
// store. Entries outside the range stay cached: compaction after a snapshot deletes
// old entries while the newest ones are still being replicated and applied.
func (c *Cache) DeleteRange(min, max uint64) error {
	c.mu.Lock()
	for i, l := range c.ring {
		if l != nil && l.Index >= min && l.Index <= max {
			c.ring[i] = nil
		}
	}
	if t := c.tail; t != nil && t.Index >= min && t.Index <= max {
		c.tail = nil
	}
	c.mu.Unlock()
	return c.store.DeleteRange(min, max)
}

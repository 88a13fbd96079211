package raftbolt

import (
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// Cache keeps the most recent entries of a raft log in memory, in front of a
// LogStore, so that the leader replicates and the FSM applies them without reading
// the file back. Unlike raft.LogCache it bounds the bytes it keeps, not only the
// entries: the log carries object bodies in chunks of up to 1 MiB, and a ring of
// 512 recent entries kept ~512 MiB on the heap long after they were durable
// (docs/benchmarks.md, "Why the member is tuned as it is"). Entries of at most
// maxData bytes of data are kept in the ring; larger ones (body chunks) too, but
// only the newest of them that fit in maxBig bytes in all: those are the ones a
// leader is still sending to its followers and a follower is about to apply, each
// of which would otherwise read it back from the file, a copy of 1 MiB each time.
// Older large entries are read from the store (a copy out of bbolt's map). The
// cache holds at most entries x maxData + maxBig bytes of entry data.
type Cache struct {
	store   raft.LogStore
	maxData int
	maxBig  int

	mu   sync.RWMutex
	ring []*raft.Log // slot index % len(ring); nil or an entry of that slot
	// big lists the large entries in the ring, oldest first, and bigBytes their
	// data's size.
	big      []*raft.Log
	bigBytes int
}

// NewCache returns a cache of the last entries entries of store that hold at most
// maxData bytes of data each, and of the newest larger ones up to maxBig bytes in
// all (0: none).
func NewCache(store raft.LogStore, entries, maxData, maxBig int) (*Cache, error) {
	if entries <= 0 || maxData < 0 || maxBig < 0 {
		return nil, fmt.Errorf("raftbolt: cache of %d entries of up to %d bytes, %d bytes of large ones", entries, maxData, maxBig)
	}
	return &Cache{store: store, maxData: maxData, maxBig: maxBig, ring: make([]*raft.Log, entries)}, nil
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
	c.mu.RUnlock()
	if l != nil && l.Index == index {
		*log = *l
		return nil
	}
	return c.store.GetLog(index, log)
}

// StoreLog stores one entry.
func (c *Cache) StoreLog(log *raft.Log) error { return c.StoreLogs([]*raft.Log{log}) }

// StoreLogs stores the entries, then caches them (large ones while they fit in
// maxBig, evicting older large ones). An entry not cached empties its slot, so the
// ring never keeps an older entry alive in its place.
func (c *Cache) StoreLogs(logs []*raft.Log) error {
	if err := c.store.StoreLogs(logs); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range logs {
		slot := l.Index % uint64(len(c.ring))
		c.forget(slot)
		if len(l.Data) <= c.maxData {
			c.ring[slot] = l
			continue
		}
		if len(l.Data) > c.maxBig {
			continue
		}
		for c.bigBytes+len(l.Data) > c.maxBig {
			old := c.big[0]
			if s := old.Index % uint64(len(c.ring)); c.ring[s] == old {
				c.forget(s)
			} else { // not in its slot any more (cannot happen: forget lists it off)
				c.big, c.bigBytes = c.big[1:], c.bigBytes-len(old.Data)
			}
		}
		c.ring[slot] = l
		c.big = append(c.big, l)
		c.bigBytes += len(l.Data)
	}
	return nil
}

// forget empties slot, and takes its entry off the large ones if it is one. The
// caller holds mu.
func (c *Cache) forget(slot uint64) {
	l := c.ring[slot]
	if l == nil {
		return
	}
	c.ring[slot] = nil
	if len(l.Data) <= c.maxData {
		return
	}
	for i, b := range c.big {
		if b == l {
			c.big = append(c.big[:i], c.big[i+1:]...)
			c.bigBytes -= len(l.Data)
			return
		}
	}
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
			c.forget(uint64(i))
		}
	}
	c.mu.Unlock()
	return c.store.DeleteRange(min, max)
}

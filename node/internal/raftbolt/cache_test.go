package raftbolt

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

// countingStore counts the reads that reach the store under a Cache.
type countingStore struct {
	*Store
	reads    int
	failNext bool
}

func (s *countingStore) GetLog(index uint64, log *raft.Log) error {
	s.reads++
	return s.Store.GetLog(index, log)
}

func (s *countingStore) StoreLogs(logs []*raft.Log) error {
	if s.failNext {
		s.failNext = false
		return errors.New("disk full")
	}
	return s.Store.StoreLogs(logs)
}

func entry(index uint64, size int) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(index)}, size)}
}

func TestCache_KeepsOnlySmallRecentEntries(t *testing.T) {
	st := &countingStore{Store: openTest(t, filepath.Join(t.TempDir(), "raft.db"))}
	c, err := NewCache(st, 4, 100)
	if err != nil {
		t.Fatal(err)
	}
	// 1..4 small, then 5 large: slot 1 (5 % 4) must not keep entry 1 alive.
	logs := []*raft.Log{entry(1, 10), entry(2, 100), entry(3, 0), entry(4, 50), entry(5, 101)}
	if err := c.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	get := func(i uint64) (raft.Log, int) {
		t.Helper()
		before := st.reads
		var l raft.Log
		if err := c.GetLog(i, &l); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		return l, st.reads - before
	}
	for _, want := range logs {
		got, reads := get(want.Index)
		if got.Index != want.Index || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("entry %d: got index %d, %d bytes", want.Index, got.Index, len(got.Data))
		}
		// 1 was evicted by 5; 5 is too large for the ring but the newest (tail).
		cached := want.Index >= 2 && want.Index <= 5
		if (reads == 0) != cached {
			t.Errorf("entry %d (%d bytes): %d store reads, cached should be %v", want.Index, len(want.Data), reads, cached)
		}
	}
	for i, l := range c.ring {
		if l != nil && len(l.Data) > c.maxData {
			t.Errorf("slot %d holds %d bytes of data, over %d", i, len(l.Data), c.maxData)
		}
	}

	// A newer large entry takes the tail: 5 is read from the store again.
	if err := c.StoreLogs([]*raft.Log{entry(6, 500)}); err != nil {
		t.Fatal(err)
	}
	if _, reads := get(5); reads != 1 {
		t.Errorf("entry 5 after 6: %d store reads, want 1 (only the newest large entry is kept)", reads)
	}
	if got, reads := get(6); reads != 0 || len(got.Data) != 500 {
		t.Errorf("entry 6, the tail: %d store reads, %d bytes", reads, len(got.Data))
	}

	// A range delete forgets exactly the deleted entries, the tail included.
	if err := c.DeleteRange(6, 6); err != nil {
		t.Fatal(err)
	}
	var l6 raft.Log
	if err := c.GetLog(6, &l6); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog of the deleted tail: %v, want ErrLogNotFound", err)
	}
	if err := c.DeleteRange(1, 2); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := c.GetLog(2, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog of a deleted entry: %v, want ErrLogNotFound", err)
	}
	if _, reads := get(3); reads != 0 {
		t.Errorf("entry 3 outside the deleted range: %d store reads, want it cached", reads)
	}

	// A failed store caches nothing.
	st.failNext = true
	if err := c.StoreLogs([]*raft.Log{entry(6, 1)}); err == nil {
		t.Fatal("StoreLogs: no error from a failing store")
	}
	if err := c.GetLog(6, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog of an entry the store refused: %v, want ErrLogNotFound", err)
	}
	if last, _ := c.LastIndex(); last != 5 {
		t.Fatalf("LastIndex %d, want 5", last)
	}
}

func TestCache_RefusesNoCapacity(t *testing.T) {
	st := openTest(t, filepath.Join(t.TempDir(), "raft.db"))
	if _, err := NewCache(st, 0, 10); err == nil {
		t.Fatal("NewCache with no entries: no error")
	}
}

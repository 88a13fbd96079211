package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"go.etcd.io/bbolt"
)

// This file holds what a replicated log needs from the store: applying a batch of
// log entries together with the index of the last one (so a restart knows which
// entries are already in the database and a replay never applies one twice), the
// greatest HLC timestamp ever applied (so a new leader mints IDs above every existing
// one), and a consistent, quickly taken view to stream as a snapshot. The store still
// knows nothing about raft: an index is just a number that only grows.

// ErrAlreadyApplied is returned (wrapped) by ApplyIndexed for an index that is not
// above the last applied one. Nothing was applied.
var ErrAlreadyApplied = errors.New("storage: log index already applied")

// ErrPendingLost is returned (wrapped, with the original failure) by ApplyDeferred and
// Flush once a failure has rolled back entries applied since the last Flush: no later
// entry may be committed above them. Reopen the store and replay the log.
var ErrPendingLost = errors.New("storage: entries applied since the last flush were lost; reopen the store and replay the log")

// Keys of the meta bucket written by Apply and ApplyIndexed. Values: recordV1 | u64.
var (
	keyApplied = []byte("applied") // last log index applied by ApplyIndexed
	keyMaxHLC  = []byte("maxhlc")  // greatest VersionID.Time of any applied command
)

// ApplyIndexed is Apply for entries of a replicated log: it applies cmds in one
// transaction and records index as the last applied log index in that same
// transaction, so the database and its applied index never disagree, even across a
// crash. cmds may be empty: the index is recorded all the same (log entries without
// commands still advance it).
//
// It is ApplyDeferred then Flush (which also commits anything ApplyDeferred left
// pending). A non-nil error means nothing of cmds was written: an I/O error, or an
// index not above AppliedIndex (ErrAlreadyApplied). Otherwise there is one Result
// per command, with business errors in Result.Err as Apply reports them.
func (s *Store) ApplyIndexed(index uint64, cmds []Command) ([]Result, error) {
	results, err := s.ApplyDeferred(index, cmds)
	if err != nil {
		return results, err
	}
	if _, err := s.Flush(); err != nil {
		return make([]Result, len(cmds)), err
	}
	return results, nil
}

// AppliedIndex returns the last log index recorded by ApplyIndexed (0 if none, or
// for a store only ever written with Apply).
func (s *Store) AppliedIndex() (uint64, error) {
	var v uint64
	err := s.view(func(tx *bbolt.Tx) error {
		v = readMetaU64(tx, keyApplied)
		return nil
	})
	return v, err
}

// MaxHLC returns the greatest HLC timestamp of every version ID (versions and delete
// markers) ever applied to this store, 0 if none. A clock that Observes it before
// minting will never mint an ID below an existing one, whatever the wall clock says.
func (s *Store) MaxHLC() (uint64, error) {
	var v uint64
	err := s.view(func(tx *bbolt.Tx) error {
		v = readMetaU64(tx, keyMaxHLC)
		return nil
	})
	return v, err
}

func readMetaU64(tx *bbolt.Tx, key []byte) uint64 {
	v := tx.Bucket(bktMeta).Get(key)
	if len(v) != 9 || v[0] != recordV1 {
		return 0
	}
	return binary.BigEndian.Uint64(v[1:])
}

func writeMetaU64(tx *bbolt.Tx, key []byte, v uint64) error {
	var b [9]byte
	b[0] = recordV1
	binary.BigEndian.PutUint64(b[1:], v)
	return tx.Bucket(bktMeta).Put(key, b[:])
}

// checkIndex refuses an index that was already applied.
func checkIndex(tx *bbolt.Tx, index uint64) error {
	if last := readMetaU64(tx, keyApplied); index <= last {
		return fmt.Errorf("%w: index %d, last applied %d", ErrAlreadyApplied, index, last)
	}
	return nil
}

// recordProgress runs at the end of every apply transaction: it raises maxhlc to the
// greatest version ID time among cmds (rejected ones included: the value only has to
// bound every ID minted, and taking all of them keeps it a pure function of the
// commands) and, for ApplyIndexed, records the index.
func recordProgress(tx *bbolt.Tx, cmds []Command, index uint64, indexed bool) error {
	var hlc uint64
	for _, c := range cmds {
		if v, ok := c.(versioned); ok {
			hlc = max(hlc, v.versionTime())
		}
	}
	if hlc > readMetaU64(tx, keyMaxHLC) {
		if err := writeMetaU64(tx, keyMaxHLC, hlc); err != nil {
			return err
		}
	}
	if indexed {
		return writeMetaU64(tx, keyApplied, index)
	}
	return nil
}

// SnapshotView is a consistent, read-only view of the whole store, taken at once and
// streamed later: writes go on meanwhile. Release it when done; Restore and Close
// wait for views to be released.
type SnapshotView struct {
	s       *Store
	tx      *bbolt.Tx
	applied uint64
	once    sync.Once
}

// BeginSnapshot opens a view of the current state. It is cheap (a bbolt read
// transaction): the copy happens in WriteTo.
func (s *Store) BeginSnapshot() (*SnapshotView, error) {
	s.mu.RLock()
	if s.db == nil {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		s.mu.RUnlock()
		return nil, fmt.Errorf("storage: begin snapshot: %w", err)
	}
	return &SnapshotView{s: s, tx: tx, applied: readMetaU64(tx, keyApplied)}, nil
}

// AppliedIndex is the last log index applied in the state the view holds.
func (v *SnapshotView) AppliedIndex() uint64 { return v.applied }

// Size is the exact number of bytes WriteTo writes.
func (v *SnapshotView) Size() int64 { return v.tx.Size() }

// WriteTo streams the view as a bbolt database file, which Restore and Open accept.
func (v *SnapshotView) WriteTo(w io.Writer) (int64, error) {
	n, err := v.tx.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("storage: snapshot: %w", err)
	}
	return n, nil
}

// Release ends the view. It is safe to call more than once.
func (v *SnapshotView) Release() {
	v.once.Do(func() {
		v.tx.Rollback()
		v.s.mu.RUnlock()
	})
}

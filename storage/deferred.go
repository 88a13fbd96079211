package storage

import (
	"errors"
	"fmt"
)

// ApplyDeferred is ApplyIndexed without the commit, for a replicated log whose
// entries are durable elsewhere (the raft log): the commands are applied inside the
// store's pending write transaction, which later calls join, and Flush commits all
// of them at once (one fsync instead of one per call). Reads, snapshots and
// AppliedIndex see them only after Flush. The results are final: a crash before
// Flush loses the pending entries, and replaying them from the log yields the same
// state and results, since apply is deterministic.
//
// A non-nil error means the pending transaction was rolled back: every entry applied
// since the last Flush is gone, and the caller must replay them (in practice, stop
// and restart from the log). From then on ApplyDeferred and Flush refuse with
// ErrPendingLost until the store is reopened: committing later entries would record
// an applied index above the lost ones (or above this one), which a replay would then
// skip. The one exception is ErrAlreadyApplied with nothing else pending: the entry
// was applied before and nothing is lost.
//
// The pending transaction is bbolt's one write transaction: Apply and Restore wait
// until Flush (or Close) ends it. A caller uses either Apply or ApplyDeferred, and
// never calls Apply while holding entries pending.
func (s *Store) ApplyDeferred(index uint64, cmds []Command) ([]Result, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return make([]Result, len(cmds)), fmt.Errorf("storage: apply: %w", ErrClosed)
	}
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	if s.pendErr != nil {
		return make([]Result, len(cmds)), fmt.Errorf("storage: apply entry %d: %w", index, s.pendErr)
	}
	if s.pend == nil {
		tx, err := s.db.Begin(true)
		if err != nil {
			return make([]Result, len(cmds)), fmt.Errorf("storage: apply: %w", err)
		}
		s.pend = tx
	}
	results, err := applyInTx(s.pend, cmds, index, true)
	if err != nil {
		// A replayed index alone loses nothing: it was applied already. Any other
		// failure, or one that rolls back earlier entries, does.
		lost := s.pendIndex != 0 || !errors.Is(err, ErrAlreadyApplied)
		s.pend.Rollback()
		s.pend, s.pendIndex = nil, 0
		err = fmt.Errorf("storage: apply: %w", err)
		if lost {
			s.pendErr = fmt.Errorf("%w: %w", ErrPendingLost, err)
		}
		return results, err
	}
	s.pendIndex = index
	return results, nil
}

// Flush commits the pending transaction of ApplyDeferred and returns the applied
// index it made durable and visible; 0 if nothing was pending. A failed commit loses
// the pending entries, as a failed ApplyDeferred does (see there).
func (s *Store) Flush() (uint64, error) {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	return s.flushLocked()
}

func (s *Store) flushLocked() (uint64, error) {
	if s.pendErr != nil {
		return 0, fmt.Errorf("storage: flush: %w", s.pendErr)
	}
	if s.pend == nil {
		return 0, nil
	}
	tx, idx := s.pend, s.pendIndex
	s.pend, s.pendIndex = nil, 0
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("storage: commit applied entries up to %d: %w", idx, err)
		s.pendErr = fmt.Errorf("%w: %w", ErrPendingLost, err)
		return 0, err
	}
	return idx, nil
}

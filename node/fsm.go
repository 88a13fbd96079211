package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/pangea-s3/pangea/storage"
)

// fsm is the raft state machine: a thin wrapper that decodes log entries and hands
// them to storage, which is the deterministic applier. It implements
// raft.BatchingFSM so that every entry raft commits together is applied in one
// storage transaction: group commit across all writers of the region.
//
// With a flusher (flusher.go), batches are applied into the store's pending
// transaction (storage.ApplyDeferred) and their results returned at once; the
// flusher commits whatever accumulated a moment later, one fsync for several
// batches. The raft log already holds every applied entry durably on a majority, so
// an answer given before the commit is final: a crash loses only the store's copy,
// which the replay of the log rebuilds with the same results. Readers wait for the
// commit (applied counts committed entries only).
//
// The store records the index of the last applied entry in the same transaction as
// the entry's effects. Entries at or below it are skipped, so the log replay after a
// restart (raft is configured not to restore its snapshot over a store that is
// already ahead) never applies anything twice.
type fsm struct {
	store  *storage.Store
	logger *slog.Logger
	// fatal is called when the store fails to apply a batch: this replica can no
	// longer follow the log and must stop serving.
	fatal func(error)

	// applied is the last log index committed to the store: what reads see.
	applied atomic.Uint64
	// staged is the last log index applied, committed or pending. Only raft's FSM
	// goroutine (ApplyBatch, Snapshot, Restore) touches it.
	staged uint64
	// flusher commits pending batches (ApplyBatch schedules it, a reader waiting in
	// waitApplied rushes it); nil: every batch is committed at once. Set before
	// raft starts applying.
	flusher *flusher
	// waiters counts the readers in waitApplied. Each rushes the flusher, but its
	// rush may be spent on a commit that runs before its entry is applied (the
	// flusher had a kick queued from an earlier batch); so while readers wait,
	// ApplyBatch rushes the commit of every batch it stages.
	waiters atomic.Int32
	// restores counts snapshots installed into the store.
	restores atomic.Uint64
	mu       sync.Mutex
	advance  chan struct{} // closed and replaced whenever applied grows

	// beforeApply, if set, runs before each batch (tests hold batches with it).
	beforeApply func([]*raft.Log)
}

var _ raft.BatchingFSM = (*fsm)(nil)

func newFSM(st *storage.Store, logger *slog.Logger, fatal func(error)) (*fsm, error) {
	idx, err := st.AppliedIndex()
	if err != nil {
		return nil, err
	}
	f := &fsm{store: st, logger: logger, fatal: fatal, advance: make(chan struct{}), staged: idx}
	f.applied.Store(idx)
	return f, nil
}

// failed reports a store failure and stops the member. The applies and flushes that
// follow a failure fail with storage.ErrPendingLost, which says nothing new: Debug. A
// closed store is no failure (the member is closing).
func (f *fsm) failed(msg string, err error) {
	switch {
	case errors.Is(err, storage.ErrClosed):
	case errors.Is(err, storage.ErrPendingLost):
		f.logger.Debug(msg, "err", err)
		f.fatal(err) // a no-op after the first failure
	default:
		f.logger.Error(msg, "err", err)
		f.fatal(err)
	}
}

// flush commits the store's pending transaction and publishes its index.
func (f *fsm) flush() error {
	idx, err := f.store.Flush()
	if err != nil {
		f.failed("store failed to commit applied entries; this member stops", err)
		return err
	}
	if idx > 0 {
		f.setApplied(idx)
	}
	return nil
}

// setApplied publishes a new applied index and wakes the readers waiting for it.
func (f *fsm) setApplied(idx uint64) {
	f.mu.Lock()
	f.applied.Store(idx)
	close(f.advance)
	f.advance = make(chan struct{})
	f.mu.Unlock()
}

// waitApplied returns once the store reflects every entry up to idx.
func (f *fsm) waitApplied(ctx context.Context, idx uint64) error {
	if f.applied.Load() >= idx {
		return nil
	}
	f.waiters.Add(1)
	defer f.waiters.Add(-1)
	for {
		f.mu.Lock()
		cur, ch := f.applied.Load(), f.advance
		f.mu.Unlock()
		if cur >= idx {
			return nil
		}
		if f.flusher != nil {
			f.flusher.rush()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Apply is for raft's non-batching path; it is never used while ApplyBatch exists.
func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies the command entries of logs in one storage transaction. The
// response for a command entry is its []storage.Result, or an error if the entry
// could not be decoded (the same on every replica: it applies nothing anywhere) or
// the store failed (an unknown-outcome error: other replicas may have applied it).
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	if f.beforeApply != nil {
		f.beforeApply(logs)
	}
	resp := make([]any, len(logs))
	type span struct{ entry, off, n int }
	var (
		cmds  []storage.Command
		spans []span
		last  uint64
	)
	for i, l := range logs {
		if l.Index <= f.staged {
			continue // replayed after a restart: already in the store
		}
		last = l.Index
		if l.Type != raft.LogCommand {
			continue // configuration entries only advance the index
		}
		sub, err := decodeSubmission(l.Data)
		if err != nil {
			f.logger.Error("undecodable log entry skipped", "index", l.Index, "err", err)
			resp[i] = fmt.Errorf("log entry %d: %w", l.Index, err)
			continue
		}
		spans = append(spans, span{entry: i, off: len(cmds), n: len(sub)})
		cmds = append(cmds, sub...)
	}
	if last == 0 {
		return resp
	}
	results, err := f.store.ApplyDeferred(last, cmds)
	if err != nil {
		// Entries applied earlier but not committed are rolled back with this batch;
		// the member stops and rebuilds them from the log on restart.
		err = fmt.Errorf("apply log entries up to %d: %w", last, err)
		f.failed("store failed to apply committed entries; this member stops", err)
		for _, s := range spans {
			resp[s.entry] = unknownOutcome(err)
		}
		return resp
	}
	for _, s := range spans {
		resp[s.entry] = results[s.off : s.off+s.n : s.off+s.n]
	}
	f.staged = last
	if f.flusher == nil {
		if err := f.flush(); err != nil {
			for _, s := range spans {
				resp[s.entry] = unknownOutcome(err)
			}
		}
		return resp
	}
	f.flusher.schedule()
	if f.waiters.Load() > 0 {
		f.flusher.rush() // a reader waits, maybe for this batch (see waiters)
	}
	return resp
}

// Snapshot returns a live snapshot (see liveSnapshots). raft calls it between
// batches; committing what is pending first makes the store durable at or beyond
// the index the snapshot records, so nothing needs copying.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.flush(); err != nil {
		return nil, err
	}
	return markerSnapshot{}, nil
}

// Restore replaces the whole store with a snapshot. The applied index comes with
// it (it is inside the database).
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.store.Restore(rc); err != nil {
		return err
	}
	idx, err := f.store.AppliedIndex()
	if err != nil {
		return err
	}
	f.staged = idx
	f.setApplied(idx)
	f.restores.Add(1)
	f.logger.Info("store restored from a raft snapshot", "applied_index", idx)
	return nil
}

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
	// fatal is called when the store fails to apply a batch, or an entry cannot be
	// read: this replica can no longer follow the log and must stop serving.
	fatal func(error)
	// known is the newest region format this member may apply; format is the
	// region's format as applied (storage.Format).
	known  storage.Format
	format atomic.Uint32
	// unreadable is set, on raft's FSM goroutine, at the first committed entry this
	// member cannot read: nothing at or after it is applied, ever, by this process.
	unreadable error

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
	// replayTo is the last index of the raft log when the member opened, if the
	// store was behind it (0 otherwise, and once the replay is done): the entries up
	// to it come from this member's own log. replayEntries and replayCmds count the
	// command entries among them applied so far. Only raft's FSM goroutine touches
	// them.
	replayTo                  uint64
	replayEntries, replayCmds uint64
	// restores counts snapshots installed into the store.
	restores atomic.Uint64
	mu       sync.Mutex
	advance  chan struct{} // closed and replaced whenever applied grows
	// catalog wakes the watchers of the catalog (catalog.go).
	catalog catalogWatch

	// beforeApply, if set, runs before each batch (tests hold batches with it).
	beforeApply func([]*raft.Log)
}

var _ raft.BatchingFSM = (*fsm)(nil)

// span locates the commands of one log entry in a batch: logs[entry] holds
// cmds[off:off+n].
type span struct{ entry, off, n int }

func newFSM(st *storage.Store, logger *slog.Logger, fatal func(error), known storage.Format) (*fsm, error) {
	idx, err := st.AppliedIndex()
	if err != nil {
		return nil, err
	}
	f := &fsm{store: st, logger: logger, fatal: fatal, known: known, advance: make(chan struct{}), staged: idx}
	f.applied.Store(idx)
	if err := f.loadFormat(); err != nil {
		return nil, err
	}
	return f, nil
}

// loadFormat reads the region's format from the store, and refuses a store whose
// region has moved past what this member may apply.
func (f *fsm) loadFormat() error {
	rf, err := f.store.RegionFormat()
	if err != nil {
		return err
	}
	if rf > f.known {
		return fmt.Errorf("%w: the store is at region format %d, this binary applies formats up to %d; upgrade it", ErrUnreadableEntry, rf, f.known)
	}
	f.format.Store(uint32(rf))
	return nil
}

func (f *fsm) regionFormat() storage.Format { return storage.Format(f.format.Load()) }

// decode reads a command entry and checks that this member may apply every
// command in it.
func (f *fsm) decode(l *raft.Log) ([]storage.Command, error) {
	cmds, err := decodeSubmission(l.Data)
	if err != nil {
		return nil, err
	}
	for _, c := range cmds {
		if need := storage.FormatOf(c); need > f.known {
			return nil, fmt.Errorf("%w: %v needs region format %d, this member applies up to %d", storage.ErrUnknownOp, c.Op(), need, f.known)
		}
	}
	return cmds, nil
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

// flush commits the store's pending transaction and publishes its index. The
// catalog's watchers are told after the commit: the dirty mark is taken before it,
// so a catalog command it covers is never signalled before reads can see it, and
// one applied meanwhile keeps the mark for the next flush (which ApplyBatch has
// scheduled).
func (f *fsm) flush() error {
	catalog := f.catalog.dirty.Swap(false)
	idx, err := f.store.Flush()
	if err != nil {
		f.failed("store failed to commit applied entries; this member stops", err)
		return err
	}
	if idx > 0 {
		f.setApplied(idx)
	}
	if catalog {
		f.catalog.signal()
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
// response for a command entry is its []storage.Result, or an unknown-outcome error
// if the store failed or the entry cannot be read.
//
// An entry that cannot be read (an operation this binary does not know, or not
// bytes it can decode) is never skipped: skipping it would drop a committed write
// on this replica alone. The entries before it are applied; it and every later
// entry are not, the applied index stays below it, and the member stops (fatal) so
// that an upgraded binary can replay the log from there.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	if f.beforeApply != nil {
		f.beforeApply(logs)
	}
	resp := make([]any, len(logs))
	var (
		cmds  []storage.Command
		spans []span
		last  uint64
	)
	stopped := f.unreadable != nil
	for i, l := range logs {
		if f.unreadable != nil {
			resp[i] = unknownOutcome(f.unreadable)
			continue
		}
		if l.Index <= f.staged {
			continue // replayed after a restart: already in the store
		}
		if l.Type == raft.LogCommand {
			sub, err := f.decode(l)
			if err != nil {
				f.unreadable = fmt.Errorf("%w: index %d: %w", ErrUnreadableEntry, l.Index, err)
				resp[i] = unknownOutcome(f.unreadable)
				continue
			}
			spans = append(spans, span{entry: i, off: len(cmds), n: len(sub)})
			cmds = append(cmds, sub...)
		}
		last = l.Index // configuration entries only advance the index
	}
	if !stopped && f.unreadable != nil {
		f.logger.Error("committed log entry cannot be read by this binary; applying nothing from it on", "err", f.unreadable)
		defer f.fatal(f.unreadable) // after applying what precedes the entry
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
		for j, c := range cmds[s.off : s.off+s.n] {
			if rf, ok := c.(storage.SetRegionFormatCmd); ok && results[s.off+j].Err == nil {
				f.format.Store(uint32(rf.Format))
			}
			if storage.ChangesCatalog(c) && results[s.off+j].Err == nil {
				f.catalog.dirty.Store(true)
			}
		}
	}
	f.staged = last
	if f.replayTo > 0 {
		f.countReplay(logs, spans, last)
	}
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

// countReplay counts the command entries of a batch that came from the member's
// own log, and says once the replay is over how many there were: entries that were
// committed, and answered, before the store had them.
func (f *fsm) countReplay(logs []*raft.Log, spans []span, last uint64) {
	for _, s := range spans {
		if logs[s.entry].Index <= f.replayTo && s.n > 0 {
			f.replayEntries++
			f.replayCmds += uint64(s.n)
		}
	}
	if last >= f.replayTo {
		f.logger.Info("replayed raft log entries into the store", "entries", f.replayEntries, "commands", f.replayCmds, "up_to", f.replayTo)
		f.replayTo = 0
	}
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
	if err := f.loadFormat(); err != nil {
		// A snapshot of a region that moved past this binary: as an unreadable
		// entry, the member stops instead of following a log it cannot apply.
		f.unreadable = err
		f.fatal(err)
		return err
	}
	f.staged = idx
	f.setApplied(idx)
	f.catalog.signal() // the snapshot may hold another catalog
	f.restores.Add(1)
	f.logger.Info("store restored from a raft snapshot", "applied_index", idx)
	return nil
}

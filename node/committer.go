package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/pangea-s3/pangea/storage"
)

// ErrClosed is returned by writes submitted after Close. Nothing was applied.
var ErrClosed = errors.New("node: closed")

// Committer makes prepared commands durable and returns one Result per command, in
// order. Commands MUST be fully decided (IDs, times, blob IDs, encoded chunks) before
// Commit is called, so that applying them is a pure function of state and commands.
//
// A nil error means every command was applied (each Result.Err still carries its
// business outcome). A non-nil error means either nothing was applied (ErrClosed, or
// the context ended before the commands were handed over), or the outcome is
// unknown, in which case the error implements UnknownOutcome() bool reporting true.
// Commit never reports success for commands that were not applied.
//
// The local implementation batches commands from concurrent callers into one
// storage transaction; the raft-backed one (Member.Commit) proposes them to the log.
type Committer interface {
	Commit(ctx context.Context, cmds ...storage.Command) ([]storage.Result, error)
}

// Applier is the part of storage.Store the batching committer needs.
type Applier interface {
	Apply(cmds []storage.Command) []storage.Result
}

// BatchOptions bounds one group-commit batch. Zero values take the defaults.
type BatchOptions struct {
	MaxCommands int // default 256
	MaxBytes    int // approximate payload bytes (chunk data, inline bodies); default 8 MiB
	QueueLength int // submissions waiting for the committer; default 1024
}

func (o BatchOptions) withDefaults() BatchOptions {
	if o.MaxCommands <= 0 {
		o.MaxCommands = 256
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 8 << 20
	}
	if o.QueueLength <= 0 {
		o.QueueLength = 1024
	}
	return o
}

// BatchCommitter is the local Committer: one goroutine takes every submission
// waiting in its queue (up to the batch bounds) and applies them in one call to
// Applier.Apply, which for storage.Store is one bbolt transaction and one fsync.
// While a batch is being applied the next one accumulates, so the batch size grows
// with the load and the fsync cost is shared by all concurrent writers.
type BatchCommitter struct {
	apply  Applier
	opts   BatchOptions
	logger *slog.Logger

	queue chan *submission

	// mu guards closed and makes "check closed, then enqueue" atomic with respect to
	// Close, so no submission is left in the queue after the loop has drained it.
	mu      sync.RWMutex
	closed  bool
	stopped chan struct{} // closed when the loop has exited

	batches  atomic.Uint64
	commands atomic.Uint64
	maxBatch atomic.Uint64
}

type submission struct {
	cmds    []storage.Command
	size    int
	results []storage.Result
	done    chan struct{}
}

// NewBatchCommitter starts the committer goroutine. Stop it with Close.
func NewBatchCommitter(a Applier, opts BatchOptions, logger *slog.Logger) *BatchCommitter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	c := &BatchCommitter{
		apply:   a,
		opts:    opts,
		logger:  logger,
		queue:   make(chan *submission, opts.QueueLength),
		stopped: make(chan struct{}),
	}
	go c.loop()
	return c
}

// Commit implements Committer. Once the commands are in the queue the caller waits
// for their outcome even if ctx ends: a local apply finishes in bounded time, and
// waiting gives a true answer where returning early could only say "unknown".
func (c *BatchCommitter) Commit(ctx context.Context, cmds ...storage.Command) ([]storage.Result, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	s := &submission{cmds: cmds, size: payloadSize(cmds), done: make(chan struct{})}

	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case c.queue <- s:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		// Not handed over: nothing will be applied.
		return nil, fmt.Errorf("commit: %w", ctx.Err())
	}
	<-s.done
	return s.results, nil
}

// Close applies everything already submitted, stops the goroutine and makes later
// Commit calls fail with ErrClosed. It is safe to call more than once.
func (c *BatchCommitter) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.queue)
	}
	c.mu.Unlock()
	<-c.stopped
	return nil
}

// CommitStats counts the committer's work since it started.
type CommitStats struct {
	Batches  uint64 // calls to Apply
	Commands uint64 // commands applied
	MaxBatch uint64 // largest batch, in commands
}

// Stats returns the counters. Tests use it to see that concurrent writes share batches.
func (c *BatchCommitter) Stats() CommitStats {
	return CommitStats{
		Batches:  c.batches.Load(),
		Commands: c.commands.Load(),
		MaxBatch: c.maxBatch.Load(),
	}
}

func (c *BatchCommitter) loop() {
	defer close(c.stopped)
	var (
		batch   []*submission
		cmds    []storage.Command
		pending *submission // taken from the queue but did not fit the last batch
	)
	for {
		batch = batch[:0]
		n, size := 0, 0
		if pending != nil {
			batch = append(batch, pending)
			n, size = len(pending.cmds), pending.size
			pending = nil
		} else {
			s, ok := <-c.queue
			if !ok {
				return
			}
			batch = append(batch, s)
			n, size = len(s.cmds), s.size
		}
	fill:
		for n < c.opts.MaxCommands && size < c.opts.MaxBytes {
			select {
			case s, ok := <-c.queue:
				if !ok {
					break fill
				}
				if n+len(s.cmds) > c.opts.MaxCommands || size+s.size > c.opts.MaxBytes {
					pending = s
					break fill
				}
				batch = append(batch, s)
				n += len(s.cmds)
				size += s.size
			default:
				break fill
			}
		}

		cmds = cmds[:0]
		for _, s := range batch {
			cmds = append(cmds, s.cmds...)
		}
		results := c.apply.Apply(cmds)
		if len(results) != len(cmds) {
			// A broken Applier must not turn into false successes.
			err := fmt.Errorf("commit: applier returned %d results for %d commands", len(results), len(cmds))
			c.logger.Error("group commit failed", "err", err)
			results = make([]storage.Result, len(cmds))
			for i := range results {
				results[i].Err = err
			}
		}
		c.batches.Add(1)
		c.commands.Add(uint64(len(cmds)))
		if m := uint64(len(cmds)); m > c.maxBatch.Load() {
			c.maxBatch.Store(m) // only this goroutine writes it
		}
		off := 0
		for _, s := range batch {
			s.results = results[off : off+len(s.cmds) : off+len(s.cmds)]
			off += len(s.cmds)
			close(s.done)
		}
		// Drop references so applied chunk data can be collected while we wait.
		clear(cmds)
		clear(batch)
	}
}

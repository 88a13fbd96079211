package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/pangea-s3/pangea/proto/regionpb"
	"github.com/pangea-s3/pangea/storage"
)

// Commit implements Committer for the member: on the leader it proposes the
// commands to the raft log, elsewhere it forwards them to the leader. It waits up
// to LeaderWait for a leader to exist and answer: a forwarded submission still
// unanswered then, or when this member sees another leader, has an unknown
// outcome (see forward).
//
// Errors: a RetryableError wrapping ErrNoLeader or ErrClosed (nothing applied), or
// wrapping ErrUnknownOutcome (the entry may or may not commit); a context error if
// ctx ended before anything was sent. Submissions made only of idempotent commands
// (storage.IsIdempotent: PutChunk, DiscardBlob) are retried through unknown outcomes too.
func (m *Member) Commit(ctx context.Context, cmds ...storage.Command) ([]storage.Result, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	idempotent := true
	for _, c := range cmds {
		if !storage.IsIdempotent(c) {
			idempotent = false
		}
	}
	wctx, cancel := context.WithTimeout(ctx, m.cfg.LeaderWait)
	defer cancel()
	backoff := 5 * time.Millisecond
	for {
		if m.closed.Load() {
			return nil, unavailable(ErrClosed, nil)
		}
		res, err := m.commitOnce(wctx, cmds)
		if err == nil {
			return res, nil
		}
		var re *RetryableError
		retry := errors.Is(err, errNotLeader) || errors.Is(err, ErrNoLeader) ||
			(idempotent && errors.As(err, &re) && re.Unknown)
		if !retry {
			return nil, err
		}
		if perr := pause(wctx, backoff); perr != nil {
			if errors.As(err, &re) && re.Unknown {
				return nil, err
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("commit: %w", ctx.Err())
			}
			if errors.Is(err, errNotLeader) {
				err = fmt.Errorf("leader changed repeatedly: %w", err)
			}
			return nil, unavailable(ErrNoLeader, err)
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

// commitOnce makes one attempt on the leader or through it.
func (m *Member) commitOnce(ctx context.Context, cmds []storage.Command) ([]storage.Result, error) {
	if m.IsLeader() {
		return m.propose(ctx, cmds)
	}
	id, addr := m.Leader()
	if addr == "" || id == m.cfg.ID {
		return nil, unavailable(ErrNoLeader, nil)
	}
	return m.forward(ctx, addr, cmds)
}

// propose stamps the commands with the leader's clock and appends them to the log
// as one entry, then waits for the entry to be applied on this (leader) replica.
func (m *Member) propose(ctx context.Context, cmds []storage.Command) ([]storage.Result, error) {
	if err := m.waitReady(ctx); err != nil {
		return nil, err
	}
	if err := m.checkFormat(cmds); err != nil {
		return nil, err
	}
	// Stamp copies: a proposal that fails before reaching the log leaves cmds
	// unstamped, for the next leader to stamp with its own clock.
	entry, err := encodeSubmission(storage.Stamp(cmds, m.stamper))
	if err != nil {
		return nil, fmt.Errorf("encode submission: %w", err)
	}
	// From here on the entry holds the commands: nothing below may keep cmds
	// alive, so that the bytes of a forwarded submission (which its commands
	// share) can go while the entry is in flight, instead of doubling what a
	// leader holds of every chunk forwarded to it.
	want := len(cmds)
	f := m.raft.Apply(entry, m.cfg.ApplyTimeout)
	// Once enqueued, the future resolves within the leader lease even if a quorum is
	// gone (the leader steps down: ErrLeadershipLost), so waiting here is bounded
	// and gives a true answer whenever one exists; only the member's stop ends the
	// wait early, with an unknown outcome.
	if err := m.futureErr(f); err != nil {
		return nil, applyError(err)
	}
	switch r := f.Response().(type) {
	case []storage.Result:
		if len(r) != want {
			return nil, unknownOutcome(fmt.Errorf("log entry answered %d results for %d commands", len(r), want))
		}
		return r, nil
	case error:
		return nil, r
	default:
		return nil, unknownOutcome(fmt.Errorf("unexpected FSM response %T", r))
	}
}

// futureErr waits for f's outcome, or for the member to stop (Close, or a storage
// failure): raft answers no future still queued for its leader loop or its FSM when
// it shuts down, and a request waiting on one kept a halted member's HTTP server
// from shutting down for its whole timeout. A future that never resolves keeps its
// waiting goroutine, which ends with the process.
func (m *Member) futureErr(f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-m.stopCtx.Done():
		select {
		case err := <-done: // answered meanwhile: the true outcome wins
			return err
		default:
			return raft.ErrRaftShutdown
		}
	}
}

// applyError classifies a failed raft.Apply. ErrNotLeader and ErrEnqueueTimeout
// come before the entry is in the log: nothing happened, the caller may retry.
// Anything later (ErrLeadershipLost, ErrRaftShutdown while in flight) leaves the
// entry's fate to the next leader: the outcome is unknown.
func applyError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return errNotLeader
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return unavailable(ErrNoLeader, err)
	default:
		return unknownOutcome(err)
	}
}

// forward sends the commands to the leader at addr. The wait for its answer ends
// with ctx (Commit bounds it by LeaderWait) or as soon as this member sees another
// leader (leaderCall): a leader that stops answering without closing its
// connections (a stopped process, dropped packets) must not hold the request
// until it resumes. Either way the request may have reached the leader and been
// applied: the outcome is unknown.
func (m *Member) forward(ctx context.Context, addr string, cmds []storage.Command) ([]storage.Result, error) {
	ctx, done := m.leaderCall(ctx, addr)
	defer done()
	pc, err := m.peers.ready(ctx, addr, m.cfg.Raft.Heartbeat*2)
	if err == nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		// Nothing was sent: the leader we know of is unreachable (dead or cut off),
		// replaced already, or the wait is over.
		if leaderChanged(ctx) {
			return nil, errNotLeader
		}
		return nil, unavailable(ErrNoLeader, err)
	}
	enc, err := marshalCommands(cmds)
	if err != nil {
		return nil, fmt.Errorf("encode submission: %w", err)
	}
	resp, err := pc.rpc.Commit(ctx, &regionpb.Submission{Commands: enc})
	if err != nil {
		// The request may have reached the leader and been applied.
		switch {
		case leaderChanged(ctx):
			err = fmt.Errorf("no answer before another leader was seen: %w", err)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("no answer in time (LeaderWait %v): %w", m.cfg.LeaderWait, err)
		}
		return nil, unknownOutcome(fmt.Errorf("forward to leader %s: %w", addr, err))
	}
	if e := resp.GetError(); e != nil {
		err := errorFromPB(e)
		if errors.Is(err, errNotLeader) {
			return nil, errNotLeader
		}
		return nil, err
	}
	if len(resp.GetResults()) != len(cmds) {
		return nil, unknownOutcome(fmt.Errorf("leader answered %d results for %d commands", len(resp.GetResults()), len(cmds)))
	}
	return resultsFromPB(resp.GetResults()), nil
}

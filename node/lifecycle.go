package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// fatal stops a member whose store can no longer apply the log.
func (m *Member) fatal(err error) {
	if m.closed.Swap(true) {
		return
	}
	if errors.Is(err, ErrUnreadableEntry) {
		m.logger.Error("member stopping: the region's log holds an entry this binary cannot apply; upgrade this member's binary, then restart it: it replays its raft log from that entry", "err", err)
	} else {
		m.logger.Error("member stopping after a storage failure; fix the disk (space, permissions, errors in the system log), then restart the member: it replays its raft log and catches up", "err", err)
	}
	m.halt(err)
}

// removed stops the member after its removal from the region.
func (m *Member) removed() {
	if m.closed.Swap(true) {
		return
	}
	m.logger.Warn("member stopping: the region's configuration no longer lists it; stop this process, or clear its data and add it again (start it with --join, then pangea ctl add)")
	m.halt(ErrRemoved)
}

// halt stops the member by itself (closed already set): Halted closes, HaltErr
// returns err, requests get retryable errors until Close.
func (m *Member) halt(err error) {
	m.haltErr = err
	close(m.halted)
	m.stopFunc() // ends raft's dials and read rounds, so that Shutdown returns soon
	// raft may apply (and fail) before NewRaft has returned: then OpenMember, which
	// checks halted after publishing raftRef, shuts it down.
	if r := m.raftRef.Load(); r != nil {
		go r.Shutdown()
	}
}

// Halted is closed when the member has stopped by itself, after a storage failure
// or its removal from the region (HaltErr says which: ErrRemoved). It keeps
// answering 503 until closed. A process running one member should exit: after a
// storage failure so that its supervisor restarts it once the disk is fixed.
func (m *Member) Halted() <-chan struct{} { return m.halted }

// HaltErr returns why the member stopped by itself (a storage failure, or
// ErrRemoved), or nil.
func (m *Member) HaltErr() error {
	select {
	case <-m.halted:
		return m.haltErr
	default:
		return nil
	}
}

// watchRemoval stops the member once the region no longer lists it. raft shuts a
// removed member down only when that member applies its own removal, which needs
// a commit index it is seldom sent: the leader stops replicating to it as soon as
// the change commits. It would otherwise stay a follower of no leader, forwarding
// writes and failing reads after LeaderWait. A removal that is not committed yet
// can still be undone by a new leader, which then keeps sending to this member:
// so the member stops only when its latest configuration leaves it out and no
// leader has been heard from over two checks in a row. A removed leader commits its
// own removal and raft shuts it down; its configuration stays readable, and the
// same check stops the member (TestHarness_RemovedLeaderStops).
func (m *Member) watchRemoval() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.Raft.Heartbeat)
	defer t.Stop()
	strikes := 0
	for {
		select {
		case <-m.stopCtx.Done():
			return
		case <-t.C:
		}
		f := m.raft.GetConfiguration()
		if f.Error() != nil {
			continue
		}
		servers := f.Configuration().Servers
		listed := slices.ContainsFunc(servers, func(s raft.Server) bool { return s.ID == raft.ServerID(m.cfg.ID) })
		if leader, _ := m.raft.LeaderWithID(); len(servers) == 0 || listed || leader != "" {
			strikes = 0
			continue
		}
		if strikes++; strikes >= 2 {
			m.removed()
			return
		}
	}
}

// readyWait bounds a readiness check: one read-index round and the apply it waits for.
// It is long enough that a member busy under a heavy upload load stays ready, short
// enough that a member without a leader, cut off or catching up fails it (figures:
// docs/benchmarks.md, "Why the member is tuned as it is").
const readyWait = 2 * time.Second

// Liveness reports why the member can no longer serve at all (stopped after a
// storage failure, removed from the region, or closed), or nil. Only a restart (or,
// once removed, being added again) helps a member that is not live.
func (m *Member) Liveness() error {
	if err := m.HaltErr(); err != nil {
		if errors.Is(err, ErrRemoved) {
			return fmt.Errorf("%w: stop it, or clear its data and add it again", err)
		}
		if errors.Is(err, ErrUnreadableEntry) {
			return fmt.Errorf("stopped at a log entry its binary cannot apply (upgrade it, then restart it): %w", err)
		}
		return fmt.Errorf("stopped after a storage failure (fix the disk, then restart it): %w", err)
	}
	if m.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Readiness reports nil when the member serves reads and writes without waiting: it
// is live, a leader confirmed the region's commit index within readyWait, and this
// member has applied up to it. Otherwise it says which of these failed (no leader,
// cut off from the leader, catching up). Concurrent checks share read-index rounds
// with reads, so a flood of (unauthenticated) checks costs one round at a time.
func (m *Member) Readiness(ctx context.Context) error {
	if err := m.Liveness(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	idx, err := m.reads.index(ctx)
	if err != nil {
		leader, _ := m.Leader()
		if leader == "" {
			leader = "none known"
		}
		return fmt.Errorf("no leader confirmed the region's commit index within %s (leader: %s): %w", readyWait, leader, err)
	}
	if err := m.fsm.waitApplied(ctx, idx); err != nil {
		return fmt.Errorf("catching up: applied index %d of %d: %w", m.fsm.applied.Load(), idx, err)
	}
	return nil
}

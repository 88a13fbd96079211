package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/pangea-s3/pangea/proto/regionpb"
)

// readBarrier makes the next local read linearizable: it learns a commit index
// that covers every write acknowledged before the read began (from the leader,
// which confirms with a quorum that it still leads) and waits until the local store
// has applied it. Concurrent reads share one confirmation round.
func (m *Member) readBarrier(ctx context.Context) error {
	if m.closed.Load() {
		return unavailable(ErrClosed, nil)
	}
	wctx, cancel := context.WithTimeout(ctx, m.cfg.LeaderWait)
	defer cancel()
	idx, err := m.reads.index(wctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return unavailable(ErrNoLeader, fmt.Errorf("read barrier: %w", err))
	}
	if err := m.fsm.waitApplied(wctx, idx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return unavailable(ErrNoLeader, fmt.Errorf("read barrier: waiting to apply index %d (at %d): %w", idx, m.fsm.applied.Load(), err))
	}
	return nil
}

// fetchReadIndex runs one read-index round: locally on the leader, by RPC
// elsewhere, retrying through elections until ctx ends.
func (m *Member) fetchReadIndex(ctx context.Context) (uint64, error) {
	var last error = ErrNoLeader
	for {
		if m.closed.Load() {
			return 0, ErrClosed
		}
		if m.IsLeader() {
			idx, err := m.leaderReadIndex(ctx)
			if err == nil {
				return idx, nil
			}
			last = err
		} else if id, addr := m.Leader(); addr != "" && id != m.cfg.ID {
			idx, err := m.remoteReadIndex(ctx, addr)
			if err == nil {
				return idx, nil
			}
			last = err
		}
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			return 0, fmt.Errorf("%w (last: %v)", err, last)
		}
	}
}

// leaderReadIndex is the read index on the leader: the commit index, then a
// heartbeat round proving that no other leader could have committed more.
func (m *Member) leaderReadIndex(ctx context.Context) (uint64, error) {
	if err := m.waitReady(ctx); err != nil {
		return 0, err
	}
	idx := m.raft.CommitIndex()
	if err := m.raft.VerifyLeader().Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return 0, errNotLeader
		}
		return 0, err
	}
	return idx, nil
}

// remoteReadIndex asks the leader at addr for the read index. The round's context
// bounds it (LeaderWait), and it ends as soon as this member sees another leader
// (leaderCall): the round then asks that one, rather than wait for a leader that
// stopped answering without closing its connections.
func (m *Member) remoteReadIndex(ctx context.Context, addr string) (uint64, error) {
	ctx, done := m.leaderCall(ctx, addr)
	defer done()
	pc, err := m.peers.ready(ctx, addr, m.cfg.Raft.Heartbeat*2)
	var resp *regionpb.ReadIndexResponse
	if err == nil {
		resp, err = pc.rpc.ReadIndex(ctx, &regionpb.ReadIndexRequest{})
	}
	if err != nil {
		if leaderChanged(ctx) {
			return 0, fmt.Errorf("read index from %s: %w", addr, errLeaderChanged)
		}
		return 0, err
	}
	if e := resp.GetError(); e != nil {
		return 0, errorFromPB(e)
	}
	return resp.GetIndex(), nil
}

// readIndexer coalesces read-index rounds: a read joins the next round to start
// (never one already running, whose index may predate a write acknowledged just
// before the read began), and one round serves every read waiting for it.
type readIndexer struct {
	fetch   func(context.Context) (uint64, error)
	base    context.Context
	timeout time.Duration

	mu      sync.Mutex
	next    *readRound
	running bool
}

type readRound struct {
	done  chan struct{}
	index uint64
	err   error
}

func (r *readIndexer) index(ctx context.Context) (uint64, error) {
	r.mu.Lock()
	rd := r.next
	if rd == nil {
		rd = &readRound{done: make(chan struct{})}
		r.next = rd
	}
	if !r.running {
		r.running = true
		go r.loop()
	}
	r.mu.Unlock()
	select {
	case <-rd.done:
		return rd.index, rd.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (r *readIndexer) loop() {
	for {
		r.mu.Lock()
		rd := r.next
		r.next = nil
		if rd == nil {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(r.base, r.timeout)
		rd.index, rd.err = r.fetch(ctx)
		cancel()
		close(rd.done)
	}
}

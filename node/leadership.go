package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// LeadershipEvent is what MemberConfig.OnLeadership is told: this member became
// the ready leader of Term (Leader true), or that leadership ended (Leader false,
// the same Term). See MemberConfig.OnLeadership for the contract.
type LeadershipEvent struct {
	Leader bool
	Term   uint64
}

// watchLeadership follows raft's leadership notifications. On winning an election
// the member is not ready at once: prepareLeadership first makes sure every entry of
// earlier terms is applied and the HLC is past every ID they carry, then reports
// the generation ready on readyCh. This goroutine alone calls OnLeadership, which
// keeps its calls serialized and in order.
func (m *Member) watchLeadership() {
	defer m.wg.Done()
	var (
		won uint64 // term of the latest leadership won
		// The leadership announced to OnLeadership and not yet ended (cancel nil: none).
		held struct {
			term   uint64
			ctx    context.Context
			cancel context.CancelFunc
		}
	)
	end := func() {
		if held.cancel == nil {
			return
		}
		held.cancel()
		if m.cfg.OnLeadership != nil {
			m.cfg.OnLeadership(held.ctx, LeadershipEvent{Leader: false, Term: held.term})
		}
		held.cancel = nil
	}
	defer end() // the member stops: its leadership ends with it
	for {
		select {
		case <-m.stopCtx.Done():
			return
		case leader := <-m.notifyCh:
			m.leadMu.Lock()
			m.leaderGen++
			gen := m.leaderGen
			m.ready.Store(false)
			m.leadMu.Unlock()
			end()
			if leader {
				won = m.raft.CurrentTerm()
				m.logger.Info("won leadership", "term", won)
				m.wg.Add(1)
				go m.prepareLeadership(gen)
			} else {
				m.logger.Info("lost leadership")
			}
		case gen := <-m.readyCh:
			if !m.sameGen(gen) {
				continue // lost (or lost and won again) since: not this leadership's event
			}
			ctx, cancel := context.WithCancel(m.stopCtx)
			held.term, held.ctx, held.cancel = won, ctx, cancel
			if m.cfg.Replication != nil {
				m.wg.Add(1)
				go m.runReplication(ctx, won)
			}
			if m.cfg.OnLeadership != nil {
				m.cfg.OnLeadership(ctx, LeadershipEvent{Leader: true, Term: won})
			}
		}
	}
}

// prepareLeadership commits an empty entry in the new term. When it is applied,
// so is every entry before it (raft commits earlier terms' entries only through
// one of the current term), and the store's MaxHLC bounds every version ID ever
// minted: the clock observes it, so the new leader's IDs exceed the old leader's
// even if this machine's clock is behind. The empty entry also gives the read
// barrier an applied index to reach in the new term (raft's own no-op entry never
// reaches the FSM).
func (m *Member) prepareLeadership(gen uint64) {
	defer m.wg.Done()
	entry, _ := encodeSubmission(nil)
	for {
		if m.stopCtx.Err() != nil || !m.sameGen(gen) {
			return
		}
		f := m.raft.Apply(entry, m.cfg.ApplyTimeout)
		err := m.futureErr(f)
		if err == nil {
			// The store must hold every entry up to this one, committed, before its
			// MaxHLC is read.
			if err := m.fsm.waitApplied(m.stopCtx, f.Index()); err != nil {
				return
			}
			break
		}
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrRaftShutdown) {
			return
		}
		m.logger.Warn("leader barrier entry failed; retrying", "err", err)
		select {
		case <-m.stopCtx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	maxHLC, err := m.store.MaxHLC()
	if err != nil {
		m.logger.Error("read max HLC", "err", err)
		return
	}
	m.stamper.hlc.Observe(maxHLC)
	m.leadMu.Lock()
	ready := m.leaderGen == gen
	if ready {
		m.ready.Store(true)
		m.logger.Info("leader ready", "term", m.raft.CurrentTerm(), "applied_index", m.fsm.applied.Load())
		m.wg.Add(1)
		go m.raiseFormat(gen)
	}
	m.leadMu.Unlock()
	if ready && (m.cfg.OnLeadership != nil || m.cfg.Replication != nil) {
		select {
		case m.readyCh <- gen: // watchLeadership announces it
		case <-m.stopCtx.Done():
		}
	}
}

func (m *Member) sameGen(gen uint64) bool {
	m.leadMu.Lock()
	defer m.leadMu.Unlock()
	return m.leaderGen == gen
}

// waitReady waits until this member is a ready leader. errNotLeader: it is not (or
// no longer) the leader.
func (m *Member) waitReady(ctx context.Context) error {
	for {
		if !m.IsLeader() {
			return errNotLeader
		}
		if m.ready.Load() {
			return nil
		}
		select {
		case <-ctx.Done():
			return unavailable(ErrNoLeader, fmt.Errorf("new leader not ready: %w", ctx.Err()))
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// TransferLeadership hands leadership to another voter if this one leads and has
// one (a graceful stop does it first, so writes pause for one round trip instead of an
// election timeout).
func (m *Member) TransferLeadership() error {
	if !m.IsLeader() {
		return nil
	}
	voters := 0
	for _, s := range m.raft.GetConfiguration().Configuration().Servers {
		if s.Suffrage == raft.Voter && string(s.ID) != m.cfg.ID {
			voters++
		}
	}
	if voters == 0 {
		return nil // a region of one: nobody to hand over to
	}
	return m.raft.LeadershipTransfer().Error()
}

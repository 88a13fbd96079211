package node

import (
	"context"
	"errors"
	"sync"

	"github.com/hashicorp/raft"
)

// errLeaderChanged ends a call to a leader once this member sees another one.
var errLeaderChanged = errors.New("this member sees another leader now")

// leaderWatch tells of leader changes as this member sees them: the channel that
// changed returns is closed at the next one. One raft observer feeds it for the
// whole member (watchLeader), so a call pays for no registration of its own.
type leaderWatch struct {
	mu sync.Mutex
	ch chan struct{}
}

func (w *leaderWatch) changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

func (w *leaderWatch) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// watchLeader turns raft's leader observations into leaderWatch changes until the
// member stops. raft updates its leader before it sends the observation, so a look
// after a change sees it. An observation dropped because the channel is full comes
// after one still in it, whose change makes every watcher look again.
func (m *Member) watchLeader() {
	defer m.wg.Done()
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	m.raft.RegisterObserver(obs)
	defer m.raft.DeregisterObserver(obs)
	for {
		select {
		case <-ch:
			m.leaders.fire()
		case <-m.stopCtx.Done():
			return
		}
	}
}

// leaderCall returns the context of one call to addr, the leader as this member
// sees it: ctx (which the caller bounds by LeaderWait), ended early, with the cause
// errLeaderChanged, as soon as this member sees another leader (itself
// included). A leader that stops answering without closing its connections (a
// stopped process, a link dropping packets) would otherwise hold the call for the
// whole wait, although the others elect a new one within an election timeout.
//
// A leader that has been replaced can no longer commit anything new, but an
// answer of its last moments may still be on the way: ending the call early can
// turn it into an unknown outcome, never a false one. The caller checks
// leaderChanged before sending, so that nothing is sent to a leader already
// replaced. done releases the watch; call it when the call has returned.
func (m *Member) leaderCall(ctx context.Context, addr string) (cctx context.Context, done func()) {
	cctx, cancel := context.WithCancelCause(ctx)
	done = func() { cancel(context.Canceled) }
	moved := func() bool {
		_, a := m.Leader()
		return a != "" && a != addr
	}
	changed := m.leaders.changed() // taken before the first look: no change falls in between
	if moved() {
		cancel(errLeaderChanged)
		return cctx, done
	}
	go func() {
		for {
			select {
			case <-changed:
				changed = m.leaders.changed()
				if moved() {
					cancel(errLeaderChanged)
					return
				}
			case <-cctx.Done():
				return
			}
		}
	}()
	return cctx, done
}

// leaderChanged reports whether a context of leaderCall ended because another
// leader was seen.
func leaderChanged(cctx context.Context) bool {
	return errors.Is(context.Cause(cctx), errLeaderChanged)
}

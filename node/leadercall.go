package node

import (
	"context"
	"errors"

	"github.com/hashicorp/raft"
)

// errLeaderChanged ends a call to a leader once this member sees another one.
var errLeaderChanged = errors.New("this member sees another leader now")

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
	ch := make(chan raft.Observation, 1)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	// Registered before the first look, so that no change falls in between. A
	// change dropped because ch is full comes after the one in it: the look that
	// follows receiving that one sees it.
	m.raft.RegisterObserver(obs)
	if moved() {
		m.raft.DeregisterObserver(obs)
		cancel(errLeaderChanged)
		return cctx, done
	}
	go func() {
		defer m.raft.DeregisterObserver(obs)
		for {
			select {
			case <-ch:
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

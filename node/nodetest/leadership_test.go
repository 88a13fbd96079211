package nodetest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/node/nodetest"
)

// leadershipLog records the OnLeadership events of every member of a region, by
// member ID, across restarts.
type leadershipLog struct {
	t  *testing.T
	mu sync.Mutex
	by map[string][]node.LeadershipEvent
}

func newLeadershipLog(t *testing.T) *leadershipLog {
	return &leadershipLog{t: t, by: make(map[string][]node.LeadershipEvent)}
}

// hook is the OnLeadership callback of member id. It also checks the context
// part of the contract: live on "became leader", ended on "lost".
func (l *leadershipLog) hook(id string) func(context.Context, node.LeadershipEvent) {
	return func(ctx context.Context, ev node.LeadershipEvent) {
		if ev.Leader == (ctx.Err() != nil) {
			l.t.Errorf("%s: event %+v with context error %v", id, ev, ctx.Err())
		}
		l.mu.Lock()
		l.by[id] = append(l.by[id], ev)
		l.mu.Unlock()
	}
}

func (l *leadershipLog) events(id string) []node.LeadershipEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.by[id])
}

func (l *leadershipLog) all() map[string][]node.LeadershipEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]node.LeadershipEvent, len(l.by))
	for id, evs := range l.by {
		out[id] = slices.Clone(evs)
	}
	return out
}

// last is the latest event of id (zero, false if none).
func (l *leadershipLog) last(id string) (node.LeadershipEvent, bool) {
	evs := l.events(id)
	if len(evs) == 0 {
		return node.LeadershipEvent{}, false
	}
	return evs[len(evs)-1], true
}

// check verifies the contract over every member's whole history: "became leader"
// and "lost" alternate, starting with "became" and each "lost" carrying the term
// of the "became" before it; a member's terms never decrease; and no two members
// announced leadership of the same term (raft elects one leader per term).
func (l *leadershipLog) check() {
	l.mu.Lock()
	defer l.mu.Unlock()
	leaderOf := map[uint64]string{}
	for id, evs := range l.by {
		var term uint64
		for i, ev := range evs {
			if ev.Leader != (i%2 == 0) {
				l.t.Errorf("%s: event %d is %+v: became and lost do not alternate (%+v)", id, i, ev, evs)
				continue
			}
			if ev.Leader {
				if ev.Term < term {
					l.t.Errorf("%s: became leader at term %d after term %d (%+v)", id, ev.Term, term, evs)
				}
				if other, ok := leaderOf[ev.Term]; ok && other != id {
					l.t.Errorf("term %d announced by %s and %s", ev.Term, other, id)
				}
				leaderOf[ev.Term] = id
			} else if ev.Term != term {
				l.t.Errorf("%s: lost term %d after becoming leader at term %d (%+v)", id, ev.Term, term, evs)
			}
			term = ev.Term
		}
	}
}

// TestRegion_OnLeadershipFollowsTransferKillAndCrash: in a 3-member region the leader
// is told it became leader at the current raft term; after a leadership transfer
// the old leader is told it lost that term and the new one that it leads at a
// higher term; after the leader is killed (Close) or crashed (Crash), it was told
// it lost (both return after the call) and its successor leads at a higher term.
func TestRegion_OnLeadershipFollowsTransferKillAndCrash(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	log := newLeadershipLog(t)
	c := nodetest.Start(t, nodetest.Options{NoSync: true, EditMember: func(n *nodetest.Node, cfg *node.MemberConfig) {
		cfg.OnLeadership = log.hook(n.ID)
	}})

	// waitLeads polls until a member other than not is the ready leader and was
	// told so with its current term, above after; it returns the member and term.
	waitLeads := func(what string, not *nodetest.Node, after uint64) (*nodetest.Node, uint64) {
		t.Helper()
		var (
			leader *nodetest.Node
			term   uint64
		)
		err := testkit.Poll(ctx, func() error {
			lctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			l, err := c.Leader(lctx, testRegion)
			if err != nil || l == not {
				return fmt.Errorf("leader %v: %v", l, err)
			}
			ev, ok := log.last(l.ID)
			st := l.Member.Status()
			if !ok || !ev.Leader || ev.Term != st.Term || !st.Ready {
				return fmt.Errorf("%s: last event %+v, status term %d ready %v", l.ID, ev, st.Term, st.Ready)
			}
			leader, term = l, ev.Term
			return nil
		})
		if err != nil {
			t.Fatalf("%s: no leader told it leads: %v; events %+v", what, err, log.all())
		}
		if term <= after {
			t.Fatalf("%s: %s leads at term %d, want above %d", what, leader.ID, term, after)
		}
		t.Logf("%s: %s became leader at term %d", what, leader.ID, term)
		return leader, term
	}
	// waitLost polls until n's latest event is the loss of term.
	waitLost := func(what string, n *nodetest.Node, term uint64) {
		t.Helper()
		want := node.LeadershipEvent{Leader: false, Term: term}
		err := testkit.Poll(ctx, func() error {
			if ev, _ := log.last(n.ID); ev != want {
				return fmt.Errorf("last event %+v", ev)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %s's events %+v, want the last to be %+v", what, n.ID, log.events(n.ID), want)
		}
	}

	l1, t1 := waitLeads("start", nil, 0)

	if err := l1.Member.TransferLeadership(); err != nil {
		t.Fatalf("transfer leadership: %v", err)
	}
	l2, t2 := waitLeads("after the transfer", l1, t1)
	waitLost("after the transfer", l1, t1)

	c.Kill(l2)
	if ev, _ := log.last(l2.ID); ev != (node.LeadershipEvent{Leader: false, Term: t2}) {
		t.Errorf("killed leader %s: last event %+v, want the loss of term %d", l2.ID, ev, t2)
	}
	l3, t3 := waitLeads("after the kill", l2, t2)

	c.Crash(l3)
	if ev, _ := log.last(l3.ID); ev != (node.LeadershipEvent{Leader: false, Term: t3}) {
		t.Errorf("crashed leader %s: last event %+v, want the loss of term %d", l3.ID, ev, t3)
	}
	if err := c.Restart(l2); err != nil { // two of three again: a quorum
		t.Fatal(err)
	}
	waitLeads("after the crash", l3, t3)

	log.check()
}

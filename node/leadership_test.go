package node

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestMember_OnLeadershipSingleMember: a one-member region announces its
// leadership once it is ready, with the raft term, and its end when the member
// stops by itself (here a storage failure); the context of the leadership ends
// with it, and Close announces nothing more.
func TestMember_OnLeadershipSingleMember(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var (
		mu      sync.Mutex
		events  []LeadershipEvent
		leadCtx context.Context
	)
	m, err := OpenMember(MemberConfig{
		Dir: t.TempDir(), Region: "us-east-1", ID: "n1", Logger: testLogger(t), NoSync: true,
		Raft: RaftTimeouts{Heartbeat: 100 * time.Millisecond, Election: 100 * time.Millisecond, LeaderLease: 100 * time.Millisecond},
		OnLeadership: func(c context.Context, ev LeadershipEvent) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev)
			if ev.Leader {
				leadCtx = c
			} else if c.Err() == nil {
				t.Errorf("lost event with a live context")
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	snapshot := func() []LeadershipEvent {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(events)
	}
	poll := func(what string, cond func([]LeadershipEvent) bool) []LeadershipEvent {
		t.Helper()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if evs := snapshot(); cond(evs) {
				return evs
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: events %+v", what, snapshot())
			case <-tick.C:
			}
		}
	}

	evs := poll("became leader", func(evs []LeadershipEvent) bool { return len(evs) > 0 })
	if !evs[0].Leader || evs[0].Term != m.Status().Term || evs[0].Term == 0 {
		t.Fatalf("first event %+v, want became leader at term %d", evs[0], m.Status().Term)
	}
	if !m.Ready() {
		t.Errorf("announced leader is not Ready")
	}
	mu.Lock()
	lc := leadCtx
	mu.Unlock()
	if lc.Err() != nil {
		t.Fatalf("leadership context ended while leading: %v", lc.Err())
	}

	m.fatal(errors.New("injected storage failure"))
	evs = poll("lost leadership on halt", func(evs []LeadershipEvent) bool { return len(evs) > 1 })
	if want := (LeadershipEvent{Leader: false, Term: evs[0].Term}); evs[1] != want {
		t.Fatalf("second event %+v, want %+v", evs[1], want)
	}
	if lc.Err() == nil {
		t.Errorf("leadership context still live after the loss")
	}
	m.Close()
	if evs := snapshot(); len(evs) != 2 {
		t.Errorf("events after Close %+v, want exactly the two", evs)
	}
}

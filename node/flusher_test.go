package node

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestFlusher_CommitsAfterDelayRushAndStop: a schedule is committed delay later;
// rush commits without waiting for the delay; stop commits once more and returns
// after the goroutine is gone.
func TestFlusher_CommitsAfterDelayRushAndStop(t *testing.T) {
	var commits atomic.Int32
	var last atomic.Int64 // when the latest commit ran (UnixNano)
	fl := startFlusher(50*time.Millisecond, func() error {
		commits.Add(1)
		last.Store(time.Now().UnixNano())
		return nil
	})
	waitCommits := func(n int32, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for commits.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d commits after %v, want %d", commits.Load(), within, n)
			}
			time.Sleep(time.Millisecond) // polling interval, not a wait for an outcome
		}
	}

	start := time.Now()
	fl.schedule()
	waitCommits(1, 10*time.Second)
	if d := time.Duration(last.Load() - start.UnixNano()); d < 50*time.Millisecond {
		t.Errorf("first commit %v after the schedule, want the delay (50ms) at least", d)
	}

	fl.stop()
	if n := commits.Load(); n != 2 {
		t.Errorf("%d commits after stop, want 2 (stop commits what is pending)", n)
	}
	fl.stop() // a second stop only waits

	// With an hour's delay, only rush (a waiting reader) commits before stop.
	commits.Store(0)
	fl = startFlusher(time.Hour, func() error { commits.Add(1); return nil })
	fl.schedule()
	fl.rush()
	waitCommits(1, 10*time.Second)
	fl.stop()
	if n := commits.Load(); n != 2 {
		t.Errorf("%d commits after rush and stop, want 2", n)
	}
}

// TestFlusher_HaltCommitsNothing: halt (Member.Crash) leaves what is pending
// uncommitted, whether a commit was scheduled or not, and a later stop only waits.
func TestFlusher_HaltCommitsNothing(t *testing.T) {
	for _, scheduled := range []bool{false, true} {
		var commits atomic.Int32
		fl := startFlusher(time.Hour, func() error { commits.Add(1); return nil })
		if scheduled {
			fl.schedule()
		}
		fl.halt()
		fl.stop()
		if n := commits.Load(); n != 0 {
			t.Errorf("scheduled %v: %d commits after halt, want 0", scheduled, n)
		}
	}
}

package node

import (
	"sync"
	"time"
)

// flusher commits the fsm's pending store transaction in time, so that the batches
// raft applies within one window share one commit (one fsync). The fsm applies a
// batch into the pending transaction and calls schedule; the flusher commits delay
// after the first schedule that found no commit coming, or at once when rush is
// called (a reader waits for what is pending: reads never wait for the delay).
// stop commits what is pending and returns once the goroutine is gone; halt
// returns the same way without committing (Member.Crash).
//
// commit is the fsm's flush: it commits and publishes the applied index, and
// reports a failure itself (the member stops), so the flusher ignores its error.
type flusher struct {
	delay  time.Duration
	commit func() error

	kick  chan struct{} // a batch is pending: commit within delay
	hurry chan struct{} // a reader waits: commit now
	quit  chan struct{} // closed by stop and halt
	done  chan struct{} // closed when the goroutine returns

	once    sync.Once
	discard bool // halt, not stop: leave what is pending; written before quit closes
}

// startFlusher starts a flusher that calls commit delay after each first schedule.
func startFlusher(delay time.Duration, commit func() error) *flusher {
	fl := &flusher{
		delay:  delay,
		commit: commit,
		kick:   make(chan struct{}, 1),
		hurry:  make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go fl.run()
	return fl
}

// schedule tells the flusher that a batch is pending. It never blocks.
func (fl *flusher) schedule() {
	select {
	case fl.kick <- struct{}{}:
	default: // a commit is scheduled already
	}
}

// rush asks for the pending batches to be committed now. It never blocks.
func (fl *flusher) rush() {
	select {
	case fl.hurry <- struct{}{}:
	default:
	}
}

// stop commits what is pending and returns once the flusher is gone. Call it after
// raft has stopped applying and before the store closes. Later calls (of stop or
// halt) only wait.
func (fl *flusher) stop() { fl.end(false) }

// halt is stop without the last commit: what is pending stays pending, for the
// store to drop as a crash would (storage.Store.Abandon). A commit under way when
// it is called completes.
func (fl *flusher) halt() { fl.end(true) }

func (fl *flusher) end(discard bool) {
	fl.once.Do(func() {
		fl.discard = discard
		close(fl.quit)
	})
	<-fl.done
}

func (fl *flusher) run() {
	defer close(fl.done)
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-fl.kick:
		case <-fl.quit:
			if !fl.discard {
				fl.commit()
			}
			return
		}
		t.Reset(fl.delay)
		select {
		case <-t.C:
		case <-fl.hurry: // a reader waits for what is pending
			t.Stop()
		case <-fl.quit:
			t.Stop()
			if fl.discard {
				return
			}
		}
		fl.commit()
	}
}

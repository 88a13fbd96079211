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
// stop commits what is pending and returns once the goroutine is gone.
//
// commit is the fsm's flush: it commits and publishes the applied index, and
// reports a failure itself (the member stops), so the flusher ignores its error.
type flusher struct {
	delay  time.Duration
	commit func() error

	kick  chan struct{} // a batch is pending: commit within delay
	hurry chan struct{} // a reader waits: commit now
	quit  chan struct{} // closed by stop
	done  chan struct{} // closed when the goroutine returns

	once sync.Once
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
// raft has stopped applying and before the store closes. Later calls only wait.
func (fl *flusher) stop() {
	fl.once.Do(func() { close(fl.quit) })
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
			fl.commit()
			return
		}
		t.Reset(fl.delay)
		select {
		case <-t.C:
		case <-fl.hurry: // a reader waits for what is pending
			t.Stop()
		case <-fl.quit:
			t.Stop()
		}
		fl.commit()
	}
}

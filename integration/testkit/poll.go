package testkit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// The pause between two calls of a condition starts at firstPause and doubles up
// to maxPause: a condition that holds within a few milliseconds is seen at once,
// and one that takes seconds (an election, a process start) is not hammered.
const (
	firstPause = time.Millisecond
	maxPause   = 50 * time.Millisecond
)

// Eventually calls cond until it returns nil. If it has not within timeout, the
// test fails (t.Fatalf) with a message naming what it waited for and the error
// cond returned last. cond is called at once, then after short pauses. It gives up
// early by returning an error made by Stop (the test fails with that error) or by
// calling t.Fatal itself.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	stopped := false
	err := Poll(ctx, func() error {
		last = cond()
		var s stopError
		stopped = errors.As(last, &s)
		return last
	})
	switch {
	case err == nil:
	case stopped:
		t.Fatalf("gave up waiting for %s: %v", what, err)
	default:
		t.Fatalf("timed out after %v waiting for %s; last error: %v", timeout, what, last)
	}
}

// Poll calls cond until it returns nil, and returns nil then. It is Eventually for
// code that must not fail the test itself (a goroutine other than the test's, a
// helper that returns errors) or that waits within a deadline it shares with
// other work.
//
// If cond returns an error made by Stop, Poll returns the error Stop was given at
// once, without calling cond again. If ctx ends first, Poll returns an error that
// wraps ctx's error (errors.Is finds context.DeadlineExceeded) and the error cond
// returned last. cond is always called at least once, even if ctx has ended.
func Poll(ctx context.Context, cond func() error) error {
	pause := firstPause
	t := time.NewTimer(pause)
	t.Stop()
	defer t.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		var s stopError
		if errors.As(err, &s) {
			return s.err
		}
		t.Reset(pause)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last error: %w", ctx.Err(), err)
		case <-t.C:
		}
		pause = min(2*pause, maxPause)
	}
}

// Stop wraps err so that Poll (and Eventually) stop trying and return err itself:
// how a condition says that waiting longer cannot help (the process under test
// exited, the server gave a final answer). Stop(nil) is nil.
func Stop(err error) error {
	if err == nil {
		return nil
	}
	return stopError{err}
}

type stopError struct{ err error }

func (s stopError) Error() string { return s.err.Error() }
func (s stopError) Unwrap() error { return s.err }

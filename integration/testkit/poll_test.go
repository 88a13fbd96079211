package testkit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeTB records what Eventually reports instead of ending the test. Only the
// methods Eventually calls are implemented; any other would panic (nil TB).
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func TestEventually_ReportsWhatAndTheLastErrorOnTimeout(t *testing.T) {
	var ft fakeTB
	calls := 0
	start := time.Now()
	Eventually(&ft, 100*time.Millisecond, "the answer", func() error {
		calls++
		return fmt.Errorf("attempt %d: not yet", calls)
	})
	if elapsed := time.Since(start); elapsed < 100*time.Millisecond {
		t.Errorf("gave up after %v, before the 100ms timeout", elapsed)
	}
	if calls < 2 {
		t.Errorf("cond called %d times in 100ms, want it polled", calls)
	}
	for _, want := range []string{"timed out after 100ms", "waiting for the answer", fmt.Sprintf("attempt %d: not yet", calls)} {
		if !strings.Contains(ft.fatal, want) {
			t.Errorf("failure %q does not say %q", ft.fatal, want)
		}
	}
	if calls > 1 && strings.Contains(ft.fatal, fmt.Sprintf("attempt %d:", calls-1)) {
		t.Errorf("failure %q names an earlier error, not the last", ft.fatal)
	}
}

func TestEventually_ReturnsOnceTheConditionHolds(t *testing.T) {
	var ft fakeTB
	calls := 0
	Eventually(&ft, 10*time.Second, "three calls", func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if ft.fatal != "" || calls != 3 {
		t.Errorf("after %d calls: failed with %q, want success on the third call", calls, ft.fatal)
	}
}

func TestEventually_StopGivesUpAtOnce(t *testing.T) {
	var ft fakeTB
	calls := 0
	exited := errors.New("process exited with status 1")
	start := time.Now()
	Eventually(&ft, 10*time.Second, "the process", func() error {
		calls++
		return Stop(exited)
	})
	if calls != 1 || time.Since(start) > 5*time.Second {
		t.Errorf("cond called %d times over %v after Stop, want once", calls, time.Since(start))
	}
	if !strings.Contains(ft.fatal, "gave up waiting for the process") || !strings.Contains(ft.fatal, exited.Error()) {
		t.Errorf("failure %q does not name the condition and the stopping error", ft.fatal)
	}
}

func TestPoll_DeadlineWrapsContextAndLastError(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	errs := []error{errors.New("first"), errors.New("second")}
	calls := 0
	err := Poll(ctx, func() error {
		calls++
		return errs[min(calls, 2)-1]
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Poll after the deadline: %v, want it to wrap context.DeadlineExceeded", err)
	}
	if calls >= 2 && !errors.Is(err, errs[1]) || calls == 1 && !errors.Is(err, errs[0]) {
		t.Errorf("Poll after %d calls: %v, want it to wrap the last error", calls, err)
	}
}

func TestPoll_CallsOnceEvenWhenContextHasEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := 0
	if err := Poll(ctx, func() error { calls++; return nil }); err != nil || calls != 1 {
		t.Errorf("Poll with an ended context and a true condition: %v after %d calls, want nil after 1", err, calls)
	}
	stopped := errors.New("final")
	if err := Poll(ctx, func() error { return Stop(fmt.Errorf("wrapped: %w", stopped)) }); !errors.Is(err, stopped) || errors.Is(err, context.Canceled) {
		t.Errorf("Poll stopped by its condition: %v, want the condition's error alone", err)
	}
	if Stop(nil) != nil {
		t.Errorf("Stop(nil) is not nil")
	}
}

// TestPoll_BacksOff checks that Poll neither spins nor waits long between calls: in
// 300ms, pauses growing from 1ms to 50ms allow about a dozen calls.
func TestPoll_BacksOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	calls := 0
	_ = Poll(ctx, func() error { calls++; return errors.New("never") })
	if calls < 4 || calls > 40 {
		t.Errorf("%d calls in 300ms, want about a dozen (pauses from 1ms doubling to 50ms)", calls)
	}
}

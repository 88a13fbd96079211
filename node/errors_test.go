package node

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

// TestRetryableError_UnknownOutcomeTellsTheTruth: every RetryableError is Retryable
// (s3api answers it 503), but only one wrapping ErrUnknownOutcome reports an unknown
// outcome; one saying nothing happened (ErrNoLeader, ErrClosed) reports false.
func TestRetryableError_UnknownOutcomeTellsTheTruth(t *testing.T) {
	cases := []struct {
		err     error
		unknown bool
	}{
		{unknownOutcome(raft.ErrLeadershipLost), true},
		{unavailable(ErrNoLeader, nil), false},
		{unavailable(ErrNoLeader, errors.New("dial: refused")), false},
		{unavailable(ErrClosed, nil), false},
		{&RetryableError{Err: ErrNoLeader}, false},
	}
	for _, tc := range cases {
		var re *RetryableError
		if !errors.As(tc.err, &re) {
			t.Fatalf("%v: not a RetryableError", tc.err)
		}
		if !re.Retryable() {
			t.Errorf("%v: Retryable() false", tc.err)
		}
		if re.UnknownOutcome() != tc.unknown || errors.Is(tc.err, ErrUnknownOutcome) != tc.unknown {
			t.Errorf("%v: UnknownOutcome() %v, wraps ErrUnknownOutcome %v, want %v",
				tc.err, re.UnknownOutcome(), errors.Is(tc.err, ErrUnknownOutcome), tc.unknown)
		}
		// What s3api and other callers see through interfaces says the same.
		var r interface{ Retryable() bool }
		var uo interface{ UnknownOutcome() bool }
		if !errors.As(tc.err, &r) || !r.Retryable() || !errors.As(tc.err, &uo) || uo.UnknownOutcome() != tc.unknown {
			t.Errorf("%v: interfaces disagree", tc.err)
		}
	}
}

package node

import (
	"errors"
	"fmt"
)

// Errors of a region member. Every one of them means the request can be retried;
// they differ in what is known about the write.
var (
	// ErrUnknownOutcome: the write was handed to the raft log but whether it was
	// committed is unknown (leadership lost, the leader unreachable after the
	// request left, the apply failed on this replica). It may or may not be visible
	// later.
	ErrUnknownOutcome = errors.New("node: outcome of the write is unknown")
	// ErrNoLeader: no leader could be reached in time. Nothing was applied.
	ErrNoLeader = errors.New("node: no raft leader reachable")

	// ErrRemoved: the region's configuration no longer lists this member; it has
	// stopped (HaltErr) and answers every request with a retryable error.
	ErrRemoved = errors.New("node: this member was removed from its region")

	// errNotLeader: this member (or the one asked) is not the leader. Nothing was
	// applied; the caller retries with the current leader. Never leaves a Member.
	errNotLeader = errors.New("node: not the leader")
)

// RetryableError is returned by a Member for writes and reads that must be retried:
// Err wraps ErrUnknownOutcome (Unknown set: the write may have happened), or
// ErrNoLeader or ErrClosed (Unknown false: nothing happened).
//
// Retryable() reports true for every RetryableError: it is the interface s3api uses
// to answer 503 ServiceUnavailable instead of a success or failure that could be
// false; S3 clients retry 503 on their own. UnknownOutcome() reports Unknown, for
// callers that must tell a write that may have happened from one that did not.
type RetryableError struct {
	Err     error
	Unknown bool
}

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable reports true: the request failed without a known outcome or without
// happening at all, and the client should retry it.
func (e *RetryableError) Retryable() bool { return true }

// UnknownOutcome reports whether the write may have happened (Err wraps
// ErrUnknownOutcome); false when nothing was applied (ErrNoLeader, ErrClosed).
func (e *RetryableError) UnknownOutcome() bool { return e.Unknown }

func unknownOutcome(cause error) error {
	return &RetryableError{Err: fmt.Errorf("%w: %w", ErrUnknownOutcome, cause), Unknown: true}
}

func unavailable(sentinel, cause error) error {
	if cause == nil {
		return &RetryableError{Err: sentinel}
	}
	return &RetryableError{Err: fmt.Errorf("%w: %w", sentinel, cause)}
}

package storage

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// TestApplyDeferred: entries applied with ApplyDeferred share one pending
// transaction that reads do not see until Flush, which reports the index it made
// durable; Close commits what is pending; a failed apply rolls back everything
// pending since the last Flush, and then nothing more is committed until a reopen.
func TestApplyDeferred(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	h := &harness{t: t, s: openTestStore(t, path)}
	mustDefer := func(index uint64, cmds ...Command) {
		t.Helper()
		res, err := h.s.ApplyDeferred(index, cmds)
		if err != nil {
			t.Fatalf("ApplyDeferred(%d): %v", index, err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("ApplyDeferred(%d) command %d: %v", index, i, r.Err)
			}
		}
	}
	applied := func() uint64 {
		t.Helper()
		idx, err := h.s.AppliedIndex()
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}

	mustDefer(1, CreateBucketCmd{Name: "b", Region: "us-east-1", Owner: "pangea", Time: h.now()})
	mustDefer(2, h.putCmd("b", "k1", []byte("one"))) // sees the pending bucket
	if got := applied(); got != 0 {
		t.Errorf("AppliedIndex before Flush = %d, want 0", got)
	}
	if _, err := h.s.Bucket(ctx, "b"); !errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("Bucket before Flush: %v, want ErrNoSuchBucket (not visible yet)", err)
	}
	if idx, err := h.s.Flush(); err != nil || idx != 2 {
		t.Fatalf("Flush = %d, %v; want 2", idx, err)
	}
	if _, err := h.s.Object(ctx, "b", "k1", ""); err != nil {
		t.Errorf("k1 after Flush: %v", err)
	}
	if idx, err := h.s.Flush(); err != nil || idx != 0 {
		t.Errorf("Flush with nothing pending = %d, %v; want 0", idx, err)
	}

	// A replay of a committed index alone loses nothing: the store goes on.
	if _, err := h.s.ApplyDeferred(2, nil); !errors.Is(err, ErrAlreadyApplied) || errors.Is(err, ErrPendingLost) {
		t.Fatalf("ApplyDeferred(2) again: %v, want ErrAlreadyApplied alone", err)
	}

	// A failure with entries pending takes entry 3 with it, and nothing later may be
	// committed above it: the store refuses until reopened.
	mustDefer(3, h.putCmd("b", "k2", []byte("two")))
	if _, err := h.s.ApplyDeferred(3, nil); !errors.Is(err, ErrAlreadyApplied) {
		t.Fatalf("ApplyDeferred(3) again: %v, want ErrAlreadyApplied", err)
	}
	if _, err := h.s.ApplyDeferred(4, []Command{h.putCmd("b", "k3", []byte("three"))}); !errors.Is(err, ErrPendingLost) {
		t.Fatalf("ApplyDeferred(4) after the loss: %v, want ErrPendingLost", err)
	}
	if idx, err := h.s.Flush(); idx != 0 || !errors.Is(err, ErrPendingLost) {
		t.Errorf("Flush after the loss = %d, %v; want nothing committed and ErrPendingLost", idx, err)
	}
	if _, err := h.s.Object(ctx, "b", "k2", ""); !errors.Is(err, ErrNoSuchKey) {
		t.Errorf("k2 after the rolled-back batch: %v, want ErrNoSuchKey", err)
	}
	if err := h.s.Close(); err != nil { // commits nothing
		t.Fatal(err)
	}
	h.s = openTestStore(t, path)
	if got := applied(); got != 2 {
		t.Errorf("AppliedIndex after the loss and a reopen = %d, want 2 (entries 3 and 4 to replay)", got)
	}

	// Reopened, the replay goes on from 3; Close commits what is pending.
	mustDefer(3, h.putCmd("b", "k2", []byte("two")))
	mustDefer(4, h.putCmd("b", "k3", []byte("three")))
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	h.s = openTestStore(t, path)
	if got := applied(); got != 4 {
		t.Errorf("AppliedIndex after Close and reopen = %d, want 4", got)
	}
	for _, k := range []string{"k2", "k3"} {
		if _, err := h.s.Object(ctx, "b", k, ""); err != nil {
			t.Errorf("%s after Close and reopen: %v", k, err)
		}
	}
}

// TestAbandon: Abandon drops what ApplyDeferred left pending, as a crash would,
// and keeps what Flush committed: the reopened store is at the flushed index and
// the replay of the lost entries applies them again.
func TestAbandon(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	h := &harness{t: t, s: openTestStore(t, path)}
	if _, err := h.s.ApplyDeferred(1, []Command{CreateBucketCmd{Name: "b", Region: "us-east-1", Owner: "pangea", Time: h.now()}}); err != nil {
		t.Fatal(err)
	}
	if idx, err := h.s.Flush(); err != nil || idx != 1 {
		t.Fatalf("Flush = %d, %v; want 1", idx, err)
	}
	put := h.putCmd("b", "k", []byte("pending"))
	if _, err := h.s.ApplyDeferred(2, []Command{put}); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Abandon(); err != nil {
		t.Fatalf("Abandon: %v", err)
	}
	if err := h.s.Abandon(); err != nil {
		t.Fatalf("second Abandon: %v", err)
	}
	if _, err := h.s.Bucket(ctx, "b"); !errors.Is(err, ErrClosed) {
		t.Errorf("Bucket after Abandon: %v, want ErrClosed", err)
	}

	h.s = openTestStore(t, path)
	if idx, err := h.s.AppliedIndex(); err != nil || idx != 1 {
		t.Fatalf("AppliedIndex after Abandon and reopen = %d, %v; want 1 (entry 2 lost)", idx, err)
	}
	if _, err := h.s.Bucket(ctx, "b"); err != nil {
		t.Errorf("flushed bucket after Abandon: %v", err)
	}
	if _, err := h.s.Object(ctx, "b", "k", ""); !errors.Is(err, ErrNoSuchKey) {
		t.Errorf("pending object after Abandon: %v, want ErrNoSuchKey", err)
	}
	res, err := h.s.ApplyDeferred(2, []Command{put}) // the replay
	if err != nil || res[0].Err != nil {
		t.Fatalf("replay of entry 2: %v, %+v", err, res)
	}
	if idx, err := h.s.Flush(); err != nil || idx != 2 {
		t.Fatalf("Flush after the replay = %d, %v; want 2", idx, err)
	}
	if _, err := h.s.Object(ctx, "b", "k", ""); err != nil {
		t.Errorf("replayed object: %v", err)
	}
}

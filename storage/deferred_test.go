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
// pending since the last Flush.
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

	mustDefer(1, Command{Op: OpCreateBucket, CreateBucket: &CreateBucketCmd{Name: "b", Region: "us-east-1", Owner: "pangea", Time: h.now()}})
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

	// A replayed index fails and takes the pending entry 3 with it.
	mustDefer(3, h.putCmd("b", "k2", []byte("two")))
	if _, err := h.s.ApplyDeferred(3, nil); !errors.Is(err, ErrAlreadyApplied) {
		t.Fatalf("ApplyDeferred(3) again: %v, want ErrAlreadyApplied", err)
	}
	if idx, _ := h.s.Flush(); idx != 0 {
		t.Errorf("Flush after the failure committed up to %d, want nothing", idx)
	}
	if _, err := h.s.Object(ctx, "b", "k2", ""); !errors.Is(err, ErrNoSuchKey) {
		t.Errorf("k2 after the rolled-back batch: %v, want ErrNoSuchKey", err)
	}

	// Close commits what is pending.
	mustDefer(3, h.putCmd("b", "k3", []byte("three")))
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	h.s = openTestStore(t, path)
	if got := applied(); got != 3 {
		t.Errorf("AppliedIndex after Close and reopen = %d, want 3", got)
	}
	if _, err := h.s.Object(ctx, "b", "k3", ""); err != nil {
		t.Errorf("k3 after Close and reopen: %v", err)
	}
}

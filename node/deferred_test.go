package node

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// TestFSM_FlusherAnswersBeforeCommit: with a flusher, ApplyBatch answers at once
// while readers (applied, the store) still see the old state; a reader waiting,
// a snapshot or stopping the flusher commits and publishes what is pending (the
// delay here is an hour), and the log replay after a restart skips it.
func TestFSM_FlusherAnswersBeforeCommit(t *testing.T) {
	logs := testLog(t)
	path := filepath.Join(t.TempDir(), "a.db")
	st := openStore(t, path)
	f, err := newFSM(st, testLogger(t), func(err error) { t.Errorf("fatal: %v", err) }, storage.LatestFormat)
	if err != nil {
		t.Fatal(err)
	}
	f.flusher = startFlusher(time.Hour, f.flush) // only stop, a reader or a snapshot commits
	stop := f.flusher.stop

	resp := f.ApplyBatch(logs[:3]) // up to index 4: bucket, versioning, config, put a
	if res, ok := resp[2].([]storage.Result); !ok || res[0].Err != nil || res[0].Version.ETag != "e1" {
		t.Fatalf("answer for index 4: %#v, want the version of a", resp[2])
	}
	if got := f.applied.Load(); got != 0 {
		t.Errorf("applied = %d before any commit, want 0", got)
	}
	if _, err := st.Bucket(context.Background(), "bkt"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("bucket visible before the commit: %v", err)
	}
	// A reader waiting for index 4 has it committed at once, not an hour later.
	waitCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := f.waitApplied(waitCtx, 4); err != nil {
		t.Fatalf("waitApplied(4): %v", err)
	}
	cancel()
	if _, err := st.Bucket(context.Background(), "bkt"); err != nil {
		t.Errorf("bucket after waitApplied: %v", err)
	}

	// A snapshot commits first: the store is durable at the snapshot's index.
	f.ApplyBatch(logs[3:4]) // 5
	if got := f.applied.Load(); got != 4 {
		t.Errorf("applied = %d with 5 pending, want 4", got)
	}
	if _, err := f.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if got := f.applied.Load(); got != 5 {
		t.Errorf("applied = %d after Snapshot, want 5", got)
	}

	f.ApplyBatch(logs[4:]) // 6..7
	stop()
	if got := f.applied.Load(); got != 7 {
		t.Errorf("applied = %d after stop, want 7", got)
	}
	want := versionsOf(t, st, "bkt")
	if len(want) != 3 {
		t.Fatalf("versions %v, want a, its marker and b", want)
	}
	st.Close()
	st2 := openStore(t, path)
	f2, err := newFSM(st2, testLogger(t), func(err error) { t.Errorf("fatal: %v", err) }, storage.LatestFormat)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range f2.ApplyBatch(logs) {
		if r != nil {
			t.Errorf("replayed entry %d answered %v, want nothing", i, r)
		}
	}
	if got := versionsOf(t, st2, "bkt"); !slices.Equal(got, want) {
		t.Errorf("after replay %v, want %v", got, want)
	}
}

// TestBackend_RequestSessions counts read barriers: without a session every read
// passes one; a read request passes one for all its reads; a write request reads
// its bucket and configurations locally, and passes a barrier only to look again for
// a bucket it does not have, or for its other reads.
func TestBackend_RequestSessions(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	var barriers atomic.Int64
	be := newBackend("r", testLogger(t), st, stampingCommitter{s: newStamper("r", time.Now), c: applyCommitter{st}},
		func(context.Context) error { barriers.Add(1); return nil })
	ctx := context.Background()
	if err := be.CreateBucket(ctx, "bkt", "", "o"); err != nil {
		t.Fatal(err)
	}
	if _, err := be.PutObject(ctx, storage.PutObjectInput{Bucket: "bkt", Key: "k", Owner: "o"}); err != nil {
		t.Fatal(err)
	}
	reads := func(ctx context.Context, bucket string) {
		be.Bucket(ctx, bucket)
		be.BucketConfig(ctx, bucket, storage.ConfigPolicy)
		be.Object(ctx, bucket, "k", "")
	}
	for _, c := range []struct {
		name    string
		ctx     context.Context
		bucket  string
		objects bool
		want    int64
	}{
		{"no session", ctx, "bkt", true, 3},
		{"read request", be.BeginRequest(ctx, false), "bkt", true, 1},
		{"write request, bucket and configuration", be.BeginRequest(ctx, true), "bkt", false, 0},
		{"write request, bucket not here", be.BeginRequest(ctx, true), "nope", false, 1},
		{"write request with an object read", be.BeginRequest(ctx, true), "bkt", true, 1},
	} {
		barriers.Store(0)
		if c.objects {
			reads(c.ctx, c.bucket)
		} else {
			be.Bucket(c.ctx, c.bucket)
			be.BucketConfig(c.ctx, c.bucket, storage.ConfigPolicy)
		}
		if got := barriers.Load(); got != c.want {
			t.Errorf("%s: %d barriers, want %d", c.name, got, c.want)
		}
	}
}

// applyCommitter commits straight into a store.
type applyCommitter struct{ st *storage.Store }

func (a applyCommitter) Commit(_ context.Context, cmds ...storage.Command) ([]storage.Result, error) {
	return a.st.Apply(cmds), nil
}

// TestFSM_ReaderNotStrandedBySpentRush: a reader's rush can be spent on a commit
// that runs before the entry it waits for is applied (the flusher had a second
// kick queued, so it committed again with nothing new). The entry applied next
// must still be committed at once for that reader, not after the commit delay
// (an hour here).
func TestFSM_ReaderNotStrandedBySpentRush(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	logs := testLog(t)
	st := openStore(t, filepath.Join(t.TempDir(), "a.db"))
	f, err := newFSM(st, testLogger(t), func(err error) { t.Errorf("fatal: %v", err) }, storage.LatestFormat)
	if err != nil {
		t.Fatal(err)
	}
	f.flusher = startFlusher(time.Hour, f.flush)
	defer f.flusher.stop()
	poll := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("%s: %v", what, ctx.Err())
			}
			time.Sleep(time.Millisecond) // polling interval
		}
	}

	// Two batches, the second one's kick queued while the flusher waits on the first.
	f.ApplyBatch(logs[0:1]) // 2
	poll("flusher took the first kick", func() bool { return len(f.flusher.kick) == 0 })
	f.ApplyBatch(logs[1:2]) // 3
	if len(f.flusher.kick) != 1 {
		t.Fatalf("second kick not queued")
	}
	// A reader of 3 has both committed; the queued kick starts another wait.
	if err := f.waitApplied(ctx, 3); err != nil {
		t.Fatal(err)
	}
	poll("flusher took the queued kick", func() bool { return len(f.flusher.kick) == 0 })

	// A reader of 4 rushes a commit that has nothing new to commit...
	done := make(chan error, 1)
	go func() { done <- f.waitApplied(ctx, 4) }()
	poll("the reader's rush is spent", func() bool {
		return f.applied.Load() == 3 && len(f.flusher.hurry) == 0 && len(f.flusher.kick) == 0 && f.waiters.Load() == 1
	})
	// ...then 4 is applied: the reader gets it without waiting for the delay.
	f.ApplyBatch(logs[2:3]) // 4
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("waitApplied(4): %v", err)
		}
	case <-ctx.Done():
		t.Fatalf("reader of 4 stranded: applied %d", f.applied.Load())
	}
}

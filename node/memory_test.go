package node

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/storage"
)

// liveHeap is the heap in use after two collections (the second empties what the
// first moved to sync.Pool's victim cache): what is really held.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// parkUploads starts one PutObject per body and waits until want of them have
// reached their second read (they hold a share and a buffer) and the rest wait in
// the budget's queue (waiting of them). It returns a func that releases every body
// and checks that all uploads succeeded with their bytes.
func parkUploads(t *testing.T, l *Local, bucket string, bodies []*gatedBody, size int, inProgress, waiting int) func() {
	t.Helper()
	ctx := context.Background()
	errs := make(chan error, len(bodies))
	for i, g := range bodies {
		go func() {
			v, err := l.PutObject(ctx, storage.PutObjectInput{Bucket: bucket, Key: fmt.Sprint("k", i),
				BodyInput: storage.BodyInput{Body: g, Size: int64(size)}})
			if err == nil {
				if got := readAll(t, l, v); !bytes.Equal(got, g.data) {
					err = fmt.Errorf("%s: %d bytes back of %d", v.Key, len(got), size)
				}
			}
			errs <- err
		}()
	}
	testkit.Eventually(t, 20*time.Second, "uploads parked", func() error {
		reached := 0
		for _, g := range bodies {
			select {
			case <-g.reached:
				reached++
			default:
			}
		}
		if _, w := l.body.state(); reached != inProgress || w != waiting {
			return fmt.Errorf("%d past their first byte (want %d), %d waiting for a share (want %d)", reached, inProgress, w, waiting)
		}
		return nil
	})
	return func() {
		t.Helper()
		for _, g := range bodies {
			close(g.release)
		}
		for range bodies {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	}
}

// TestBackend_UploadsWaitingForTheBudgetHoldNoBuffer: with a budget of two chunks,
// 40 uploads of one chunk each whose first byte has arrived: two read on with a
// share, 38 wait for one. Those that wait hold no chunk buffer, so the heap holds
// about two chunks, not 40 (before: each took its 1 MiB buffer before its turn, and
// 200 concurrent 1 MiB PUTs held 189 MiB while they waited).
func TestBackend_UploadsWaitingForTheBudgetHoldNoBuffer(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	l.body = newBodyBudget(2 * storage.ChunkSize)
	l.reserveWait = time.Hour // parked bodies keep their shares
	mustBucket(t, l, "mem")
	const uploads, size = 40, storage.ChunkSize
	bodies := make([]*gatedBody, uploads)
	for i := range bodies {
		bodies[i] = newGatedBody(size)
	}
	base := liveHeap() // the bodies' own bytes (the client's side) are in it already
	finish := parkUploads(t, l, "mem", bodies, size, 2, uploads-2)
	held := liveHeap() - base
	finish()
	t.Logf("%d uploads parked (2 with a share): the server side holds %d KiB", uploads, held>>10)
	if limit := int64(6 * storage.ChunkSize); held > limit {
		t.Fatalf("%d uploads parked behind a budget of 2 chunks hold %d MiB, over %d MiB", uploads, held>>20, limit>>20)
	}
}

// TestBackend_SmallBodiesTakeSmallBuffers: 64 uploads of 3 KiB each, all in
// progress at once (the budget has room for them), hold buffers of their size, not
// 64 chunk buffers of 1 MiB.
func TestBackend_SmallBodiesTakeSmallBuffers(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	l.body = newBodyBudget(64 * storage.ChunkSize)
	l.reserveWait = time.Hour
	mustBucket(t, l, "small")
	const uploads, size = 64, 3 << 10
	bodies := make([]*gatedBody, uploads)
	for i := range bodies {
		bodies[i] = newGatedBody(size)
	}
	base := liveHeap()
	finish := parkUploads(t, l, "small", bodies, size, uploads, 0)
	held := liveHeap() - base
	finish()
	t.Logf("%d uploads of %d bytes in progress hold %d KiB", uploads, size, held>>10)
	if limit := int64(4 << 20); held > limit {
		t.Fatalf("%d uploads of %d bytes in progress hold %d KiB, over %d KiB", uploads, size, held>>10, limit>>10)
	}
}

func TestBufClass(t *testing.T) {
	for _, c := range []struct{ n, size int }{
		{0, 4 << 10}, {1, 4 << 10}, {4 << 10, 4 << 10}, {4<<10 + 1, 8 << 10},
		{storage.ChunkSize - 1, storage.ChunkSize}, {storage.ChunkSize, storage.ChunkSize}, {storage.ChunkSize + 1, storage.ChunkSize},
	} {
		if got := 1 << (minBufShift + bufClass(c.n)); got != c.size {
			t.Errorf("bufClass(%d): %d bytes, want %d", c.n, got, c.size)
		}
	}
	if maxBufShift != 20 || 1<<maxBufShift != storage.ChunkSize {
		t.Fatalf("largest buffer class is %d bytes, the chunk size %d", 1<<maxBufShift, storage.ChunkSize)
	}
}

package nodetest

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pangea-s3/pangea/integration/testkit"
)

// repeatedBody is a seekable body of size bytes: block repeated. Its blocks are
// random, so chunks do not compress, and the test holds one block, not the body.
type repeatedBody struct {
	block []byte
	size  int64
}

func (b repeatedBody) ReadAt(p []byte, off int64) (int, error) {
	if off >= b.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off < b.size {
		i := int(off % int64(len(b.block)))
		c := copy(p[n:], b.block[i:min(len(b.block), i+int(b.size-off))])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (b repeatedBody) reader() *io.SectionReader { return io.NewSectionReader(b, 0, b.size) }

// heapPeak samples the heap every few milliseconds until stop is called and
// returns the largest HeapAlloc seen.
func heapPeak() (stop func() uint64) {
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		peak = max(peak, ms.HeapAlloc)
		mu.Unlock()
	}
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		sample()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestRegion_LargeUploadMemoryIsBounded uploads a body many times larger than a
// member's body budget through a follower (which forwards it to the leader, which
// replicates it to both followers) and checks that the three members together
// never hold more than a bounded part of it in memory, and keep none of it once
// the upload is done. Then a member that was down during a second upload catches
// up through the log, again within a bound that does not depend on the backlog.
func TestRegion_LargeUploadMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 192 MiB")
	}
	const (
		size           = 192 << 20
		maxUploadHeap  = 96 << 20  // half the body, for three members
		maxKeptHeap    = 32 << 20  // a few chunk buffers and caches of small entries
		maxCatchUpHeap = 400 << 20 // bounded by the batches in flight, not by the backlog
	)
	// Collect often, so that the heap's size follows what is live rather than the
	// garbage of the chunks already passed on.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	ctx := testCtx(t, 120*time.Second)
	c := Start(t, Options{NoSync: true})
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	fs := followers(c, leader)
	f := sdk(c, fs[0])
	if _, err := f.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("mem")}); err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 1<<20+12345) // not a multiple of the chunk size
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range block {
		block[i] = byte(rng.Uint32())
	}
	body := repeatedBody{block: block, size: size}

	base := heapAfterGC()
	stop := heapPeak()
	if _, err := f.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("mem"), Key: aws.String("big"),
		Body: body.reader(), ContentLength: aws.Int64(size)}); err != nil {
		stop()
		t.Fatalf("PUT %d MiB via a follower: %v", size>>20, err)
	}
	peak := stop()
	after := heapAfterGC()
	t.Logf("heap: base %d MiB, peak %+d MiB, after the upload %+d MiB",
		base>>20, (int64(peak)-int64(base))>>20, (int64(after)-int64(base))>>20)
	// Measured (3 members in this process): peak +37-39 MiB, +2-7 MiB after. With
	// raft's LogCache of 512 entries, every member kept the chunks it had logged:
	// peak +721 MiB, +589 MiB after.
	if grew := int64(peak) - int64(base); grew > maxUploadHeap {
		t.Errorf("the heap grew by %d MiB during a %d MiB upload, over %d MiB", grew>>20, size>>20, maxUploadHeap>>20)
	}
	if kept := int64(after) - int64(base); kept > maxKeptHeap {
		t.Errorf("the heap kept %d MiB after a %d MiB upload, over %d MiB", kept>>20, size>>20, maxKeptHeap>>20)
	}

	// A member that was down during the upload catches up through the log: the
	// leader sends it the chunks in batches of entries.
	c.Kill(fs[1])
	if _, err := f.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("mem"), Key: aws.String("big2"),
		Body: body.reader(), ContentLength: aws.Int64(size)}); err != nil {
		t.Fatalf("PUT %d MiB with a follower down: %v", size>>20, err)
	}
	base = heapAfterGC()
	stop = heapPeak()
	if err := c.Restart(fs[1]); err != nil {
		stop()
		t.Fatal(err)
	}
	want := leader.Member.AppliedIndex()
	if err := testkit.Poll(ctx, func() error {
		if got := fs[1].Member.AppliedIndex(); got < want {
			return fmt.Errorf("applied %d", got)
		}
		return nil
	}); err != nil {
		stop()
		t.Fatalf("restarted member applied %d of %d: %v", fs[1].Member.AppliedIndex(), want, err)
	}
	peak = stop()
	t.Logf("catch-up heap: base %d MiB, peak %+d MiB", base>>20, (int64(peak)-int64(base))>>20)
	// Measured: peak +150-290 MiB with 16 or 32 entries per append RPC (the most
	// on a busy machine), +704 MiB with 128 (the leader reads a batch of chunks per
	// RPC, two RPCs in flight, and the follower decodes, logs and applies one).
	if grew := int64(peak) - int64(base); grew > maxCatchUpHeap {
		t.Errorf("the heap grew by %d MiB while a member caught up on %d MiB, over %d MiB", grew>>20, size>>20, maxCatchUpHeap>>20)
	}

	// Every member has the whole body and its bytes are right.
	sum := md5.New()
	if _, err := io.Copy(sum, body.reader()); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes(region) {
		out, err := sdk(c, n).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mem"), Key: aws.String("big2")})
		if err != nil {
			t.Fatalf("GET via %s: %v", n.ID, err)
		}
		got := md5.New()
		nr, err := io.Copy(got, out.Body)
		out.Body.Close()
		if err != nil || nr != size || !bytes.Equal(got.Sum(nil), sum.Sum(nil)) {
			t.Fatalf("GET via %s: %d bytes, err %v; body differs: %v", n.ID, nr, err, !bytes.Equal(got.Sum(nil), sum.Sum(nil)))
		}
	}
}

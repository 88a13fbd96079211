package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/storage"
)

// gateApplier records batches and can hold Apply until released, so tests control
// exactly what queues up behind a batch in progress.
type gateApplier struct {
	mu      sync.Mutex
	batches [][]storage.Command
	entered chan struct{} // receives once per Apply call, before waiting on gate
	gate    chan struct{} // Apply waits for a value (or close) when holding
	hold    bool
}

func newGateApplier(hold bool) *gateApplier {
	return &gateApplier{entered: make(chan struct{}, 1024), gate: make(chan struct{}), hold: hold}
}

func (g *gateApplier) Apply(cmds []storage.Command) []storage.Result {
	g.entered <- struct{}{}
	if g.hold {
		<-g.gate
	}
	g.mu.Lock()
	g.batches = append(g.batches, append([]storage.Command(nil), cmds...))
	g.mu.Unlock()
	res := make([]storage.Result, len(cmds))
	for i, c := range cmds {
		switch c := c.(type) {
		case storage.DeleteBucketCmd:
			if c.Name == "fail" {
				res[i].Err = storage.ErrBucketNotEmpty
			}
		case storage.CreateBucketCmd:
			res[i].Upload.UploadID = c.Name // echo, to check result routing
		}
	}
	return res
}

func (g *gateApplier) sizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []int
	for _, b := range g.batches {
		out = append(out, len(b))
	}
	return out
}

// queued is the condition that exactly n submissions wait in c's queue.
func queued(c *BatchCommitter, n int) func() error {
	return func() error {
		if got := len(c.queue); got != n {
			return fmt.Errorf("%d queued, want %d", got, n)
		}
		return nil
	}
}

func bucketCmd(name string) storage.Command {
	return cmdCreateBucket(name, "us-east-1", "o", time.Unix(0, 0))
}

func TestBatchCommitter_QueuedSubmissionsShareOneBatch(t *testing.T) {
	g := newGateApplier(true)
	c := NewBatchCommitter(g, BatchOptions{}, nil)
	defer c.Close()
	ctx := context.Background()

	first := make(chan error, 1)
	go func() { _, err := c.Commit(ctx, bucketCmd("first")); first <- err }()
	<-g.entered // the first batch is being applied and held

	const n = 20
	var wg sync.WaitGroup
	results := make([]string, n)
	for i := range n {
		wg.Go(func() {
			res, err := c.Commit(ctx, bucketCmd(string(rune('a'+i))))
			if err != nil {
				t.Errorf("commit %d: %v", i, err)
				return
			}
			results[i] = res[0].Upload.UploadID
		})
	}
	testkit.Eventually(t, 5*time.Second, "20 queued submissions", queued(c, n))
	close(g.gate)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := g.sizes(); len(got) != 2 || got[0] != 1 || got[1] != n {
		t.Fatalf("batch sizes %v, want [1 %d]", got, n)
	}
	for i, r := range results {
		if r != string(rune('a'+i)) {
			t.Errorf("submission %d got result of %q", i, r)
		}
	}
	if s := c.Stats(); s.Batches != 2 || s.Commands != n+1 || s.MaxBatch != n {
		t.Errorf("stats %+v", s)
	}
}

func TestBatchCommitter_RespectsCommandAndByteBounds(t *testing.T) {
	g := newGateApplier(true)
	c := NewBatchCommitter(g, BatchOptions{MaxCommands: 4, MaxBytes: 3 << 20}, nil)
	defer c.Close()
	ctx := context.Background()
	go c.Commit(ctx, bucketCmd("block"))
	<-g.entered

	var wg sync.WaitGroup
	for range 10 { // 10 small commands: batches of at most 4
		wg.Go(func() { c.Commit(ctx, bucketCmd("x")) })
	}
	testkit.Eventually(t, 5*time.Second, "10 queued", queued(c, 10))
	close(g.gate)
	wg.Wait()
	for i, n := range g.sizes() {
		if n > 4 {
			t.Errorf("batch %d has %d commands, bound is 4", i, n)
		}
	}

	// Three 1 MiB chunks: with the fixed per-command overhead they exceed 3 MiB,
	// so they cannot all share a batch.
	g2 := newGateApplier(true)
	c2 := NewBatchCommitter(g2, BatchOptions{MaxBytes: 3 << 20}, nil)
	defer c2.Close()
	go c2.Commit(ctx, bucketCmd("block"))
	<-g2.entered
	data := make([]byte, 1<<20)
	for i := range 3 {
		wg.Go(func() {
			c2.Commit(ctx, cmdPutChunk(storage.BlobID{1}, uint32(i), storage.ChunkRaw, len(data), data, time.Unix(0, 0)))
		})
	}
	testkit.Eventually(t, 5*time.Second, "3 queued chunks", queued(c2, 3))
	close(g2.gate)
	wg.Wait()
	if got := g2.sizes(); len(got) < 3 || got[1] > 2 {
		t.Errorf("chunk batch sizes %v: the byte bound was not applied", got)
	}
}

func TestBatchCommitter_BusinessErrorsArePerCommand(t *testing.T) {
	c := NewBatchCommitter(newGateApplier(false), BatchOptions{}, nil)
	defer c.Close()
	res, err := c.Commit(context.Background(), cmdDeleteBucket("ok"), cmdDeleteBucket("fail"))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || !errors.Is(res[1].Err, storage.ErrBucketNotEmpty) {
		t.Fatalf("results %+v", res)
	}
}

func TestBatchCommitter_CancelBeforeHandOverAppliesNothing(t *testing.T) {
	g := newGateApplier(true)
	c := NewBatchCommitter(g, BatchOptions{QueueLength: 1}, nil)
	defer c.Close()
	go c.Commit(context.Background(), bucketCmd("held"))
	<-g.entered
	go c.Commit(context.Background(), bucketCmd("queued")) // fills the queue
	testkit.Eventually(t, 5*time.Second, "queue full", queued(c, 1))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Commit(ctx, bucketCmd("cancelled")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	close(g.gate)
	c.Close()
	for _, b := range g.batches {
		for _, cmd := range b {
			if cmd.(storage.CreateBucketCmd).Name == "cancelled" {
				t.Fatal("a submission reported as cancelled was applied")
			}
		}
	}
}

func TestBatchCommitter_CancelAfterHandOverWaitsForOutcome(t *testing.T) {
	g := newGateApplier(true)
	c := NewBatchCommitter(g, BatchOptions{}, nil)
	defer c.Close()
	go c.Commit(context.Background(), bucketCmd("held"))
	<-g.entered

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Commit(ctx, bucketCmd("mine")); done <- err }()
	testkit.Eventually(t, 5*time.Second, "queued", queued(c, 1))
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Commit returned %v before its queued command was applied", err)
	default:
	}
	close(g.gate)
	if err := <-done; err != nil {
		t.Fatalf("applied command reported %v", err)
	}
	if got := g.sizes(); len(got) != 2 {
		t.Fatalf("batches %v", got)
	}
}

func TestBatchCommitter_CloseDrainsThenRefuses(t *testing.T) {
	g := newGateApplier(true)
	c := NewBatchCommitter(g, BatchOptions{}, nil)
	go c.Commit(context.Background(), bucketCmd("held"))
	<-g.entered
	done := make(chan error, 1)
	go func() { _, err := c.Commit(context.Background(), bucketCmd("queued")); done <- err }()
	testkit.Eventually(t, 5*time.Second, "queued", queued(c, 1))
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	close(g.gate)
	<-closed
	if err := <-done; err != nil {
		t.Fatalf("queued before Close: %v", err)
	}
	if _, err := c.Commit(context.Background(), bucketCmd("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
	if got := g.sizes(); len(got) != 2 {
		t.Fatalf("batches %v: queued work was not drained", got)
	}
}

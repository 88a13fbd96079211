package nodetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/storage"
)

// slowUpload is a presigned PUT whose body the test feeds by hand, as a slow
// client would; done receives the request's outcome.
type slowUpload struct {
	w    *io.PipeWriter
	body []byte
	done chan error
}

func startSlowUpload(ctx context.Context, t *testing.T, c *Cluster, n *Node, bucket, key string, size int) *slowUpload {
	t.Helper()
	p, err := s3.NewPresignClient(sdk(c, n)).PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.URL, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(size)
	u := &slowUpload{w: pw, body: randomBody(size), done: make(chan error, 1)}
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("PUT %s: %s: %s", key, resp.Status, b)
			}
		}
		pr.CloseWithError(err) // unblocks a writer if the server gave up early
		u.done <- err
	}()
	return u
}

// staged is the number of staged (uncommitted) blobs in n's store, whatever their
// age (members' clocks may run ahead of the test's).
func staged(ctx context.Context, t *testing.T, n *Node) int {
	t.Helper()
	ids, err := n.Member.Store().StagedBlobs(ctx, time.Now().AddDate(100, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

// TestRegion_AbandonedUploadsAreCollected: the chunks of an upload that never
// commits (its member cut off mid-stream, so it could not discard them) survive
// collections while younger than the grace period and are discarded by the leader
// once older, on every replica; an upload older than the grace that is still
// streaming on a live member is spared and completes; committed objects are never
// touched. The members' clock is the real one plus an offset the test moves past
// the grace, so age is decided by the clock, not by how fast the machine is.
func TestRegion_AbandonedUploadsAreCollected(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	const grace = time.Hour
	var skew atomic.Int64 // added to every member's clock
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	c := Start(t, Options{NoSync: true, GCGrace: grace, GCInterval: 100 * time.Millisecond, LeaderWait: time.Second, Now: now})
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	fs := followers(c, leader)
	cut, slow := fs[0], fs[1]
	const bucket = "gc-test"
	lc := sdk(c, leader)
	if _, err := lc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	kept := map[string][]byte{"small": []byte("committed"), "big": randomBody(3*storage.ChunkSize + 7)}
	for k, b := range kept {
		put(ctx, t, sdk(c, cut), bucket, k, b)
	}

	// Two uploads each stop after 2.5 chunks: their first chunks are committed and
	// staged (the newest chunk is held back until the next one is read).
	const size = 4 * storage.ChunkSize
	first := 5 * storage.ChunkSize / 2
	live := startSlowUpload(ctx, t, c, slow, bucket, "slow", size)
	if _, err := live.w.Write(live.body[:first]); err != nil {
		t.Fatal(err)
	}
	gone := startSlowUpload(ctx, t, c, cut, bucket, "abandoned", size)
	if _, err := gone.w.Write(gone.body[:first]); err != nil {
		t.Fatal(err)
	}
	if err := testkit.Poll(ctx, func() error {
		if got := staged(ctx, t, leader); got != 2 {
			return fmt.Errorf("%d staged", got)
		}
		return nil
	}); err != nil {
		t.Fatalf("two uploads staged: %v (%d staged)", err, staged(ctx, t, leader))
	}

	// Cut the abandoned upload's member off and end its client: it cannot discard
	// its chunks (no leader), and nobody else will claim them.
	c.Partition([]*Node{cut}, []*Node{leader, slow})
	gone.w.CloseWithError(errors.New("client gone"))
	if err := <-gone.done; err == nil {
		t.Fatal("the abandoned upload succeeded")
	}

	// Younger than the grace, nobody streaming it: a collection on the ready leader
	// (the periodic one runs too) must keep it.
	if !leader.Member.Ready() {
		t.Fatalf("%s no longer leads", leader.ID)
	}
	if n, err := leader.Member.CollectGarbage(ctx); err != nil || n != 0 {
		t.Fatalf("collection before the grace: %d discarded, %v; want 0", n, err)
	}
	if n := staged(ctx, t, leader); n != 2 || !leader.Member.Ready() {
		t.Fatalf("%d staged blobs after a collection before the grace (leader ready: %v), want 2", n, leader.Member.Ready())
	}

	// Past the grace, the leader collects it; the slow upload, as old, is spared.
	skew.Store(int64(grace + time.Minute))
	if err := testkit.Poll(ctx, func() error {
		if got := staged(ctx, t, leader); got >= 2 {
			return fmt.Errorf("%d staged", got)
		}
		return nil
	}); err != nil {
		t.Fatalf("abandoned blob not collected past the grace: %v", err)
	}
	if n := staged(ctx, t, leader); n != 1 {
		t.Fatalf("%d staged blobs left after collection, want 1: the live upload's blob went too", n)
	}
	// Committed objects, as old as the grace too, are untouched, at once.
	for k, want := range kept {
		if got, err := get(ctx, lc, bucket, k); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("committed %s after the collection: %d bytes, %v; want %d bytes", k, len(got), err, len(want))
		}
	}
	if _, err := live.w.Write(live.body[first:]); err != nil {
		t.Fatalf("the spared upload's member stopped reading: %v", err)
	}
	live.w.Close()
	if err := <-live.done; err != nil {
		t.Fatalf("the spared upload failed: %v", err)
	}
	kept["slow"] = live.body

	// Healed, the cut member catches up: the discard reached it through the log.
	c.Heal()
	for _, n := range c.Nodes(region) {
		cl := sdk(c, n)
		for k, want := range kept {
			var got []byte
			err := testkit.Poll(ctx, func() error {
				var err error
				if got, err = get(ctx, cl, bucket, k); err != nil {
					return err
				}
				if !bytes.Equal(got, want) {
					return fmt.Errorf("%d bytes, want %d", len(got), len(want))
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s via %s: %v", k, n.ID, err)
			}
		}
		if _, err := get(ctx, cl, bucket, "abandoned"); errorCode(err) != "NoSuchKey" {
			t.Fatalf("abandoned via %s: %v, want NoSuchKey", n.ID, err)
		}
		if err := testkit.Poll(ctx, func() error {
			if got := staged(ctx, t, n); got != 0 {
				return fmt.Errorf("%d staged", got)
			}
			return nil
		}); err != nil {
			t.Fatalf("%s still has %d staged blobs", n.ID, staged(ctx, t, n))
		}
	}
}

package nodetest_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/node/nodetest"
)

// catchUpBody derives an object's content from the seed and its key, so any member's
// copy can be checked without keeping the bodies.
func catchUpBody(seed uint64, key string) []byte {
	h := fnv.New64a()
	_, _ = io.WriteString(h, key)
	r := rand.New(rand.NewPCG(seed, h.Sum64()))
	b := fmt.Appendf(nil, "%d:%s:", seed, key)
	for range 8 + r.IntN(120) {
		b = append(b, byte('a'+r.IntN(26)))
	}
	return b
}

// forEach runs f on every item with n workers, stopping early when ctx ends.
func forEach(ctx context.Context, n int, items []string, f func(ctx context.Context, item string)) {
	work := make(chan string)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for it := range work {
				f(ctx, it)
			}
		})
	}
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}

// TestCatchUpThroughSnapshot stops a member, writes 10,000 objects while the leader
// snapshots and compacts its log past everything the stopped member has, restarts the
// member and checks that it caught up through a snapshot and serves every object with
// identical bytes. Then a new member joins and catches up through a snapshot too.
func TestCatchUpThroughSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 writes")
	}
	seed := testSeed(t)
	ctx, cancel := context.WithTimeout(t.Context(), 80*time.Second)
	defer cancel()

	c := nodetest.Start(t, nodetest.Options{NoSync: true, SnapshotThreshold: 512, TrailingLogs: 64})
	leader, err := c.Leader(ctx, testRegion)
	if err != nil {
		t.Fatalf("no leader: %v", err)
	}
	const bucket = "catchup"
	if err := createBucket(ctx, newS3Client(leader.S3URL, c.AccessKey, c.SecretKey), bucket, false); err != nil {
		t.Fatalf("create bucket: %v", err)
	}

	var victim *nodetest.Node
	var live []*nodetest.Node
	for _, n := range c.Nodes(testRegion) {
		if victim == nil && n != leader {
			victim = n
		} else {
			live = append(live, n)
		}
	}
	// The bucket must be on the victim before it stops, so that what it lacks later is
	// exactly the objects.
	if err := testkit.Poll(ctx, func() error {
		if got, want := victim.Member.AppliedIndex(), leader.Member.AppliedIndex(); got < want {
			return fmt.Errorf("applied %d of %d", got, want)
		}
		return nil
	}); err != nil {
		t.Fatalf("victim %s never applied the bucket: %v", victim.ID, err)
	}
	// Nothing is being written now, so the victim's log ends here when it stops.
	victimLast := victim.Member.Status().LastLogIndex
	c.Kill(victim)
	t.Logf("killed %s with its log ending at %d; writing through %s and %s", victim.ID, victimLast, live[0].ID, live[1].ID)

	const objects = 10000
	keys := make([]string, objects)
	for i := range keys {
		keys[i] = fmt.Sprintf("obj-%05d", i)
	}
	clients := []*s3.Client{newS3Client(live[0].S3URL, c.AccessKey, c.SecretKey), newS3Client(live[1].S3URL, c.AccessKey, c.SecretKey)}
	var next, failures atomic.Int64
	writeCtx, cancelWrites := context.WithTimeout(ctx, 60*time.Second)
	defer cancelWrites()
	forEach(writeCtx, 32, keys, func(ctx context.Context, key string) {
		cl := clients[next.Add(1)%2]
		body := catchUpBody(seed, key)
		// With both remaining members up there should be no failure; a retry of the same
		// content on an unversioned bucket is harmless if one happens anyway.
		for attempt := 0; ; attempt++ {
			_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
			if err == nil {
				return
			}
			failures.Add(1)
			if ctx.Err() != nil || attempt == 5 {
				t.Errorf("PUT %s: %v", key, err)
				cancelWrites()
				return
			}
			pause(ctx, 50*time.Millisecond)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d objects written (%d failed attempts retried)", objects, failures.Load())

	// The victim can only catch up through a snapshot if the leader no longer holds
	// the log entries right after the victim's last one.
	leader, err = c.Leader(ctx, testRegion)
	if err != nil {
		t.Fatalf("no leader after the writes: %v", err)
	}
	waitCtx, cancelWait := context.WithTimeout(ctx, 20*time.Second)
	defer cancelWait()
	if err := testkit.Poll(waitCtx, func() error {
		if first := leader.Member.FirstLogIndex(); first <= victimLast+1 {
			return fmt.Errorf("log starts at %d", first)
		}
		return nil
	}); err != nil {
		t.Fatalf("leader %s log starts at %d, not past the victim's last entry %d: no compaction, the test cannot prove a snapshot install",
			leader.ID, leader.Member.FirstLogIndex(), victimLast)
	}
	t.Logf("leader %s compacted its log: first index %d, applied %d", leader.ID, leader.Member.FirstLogIndex(), leader.Member.AppliedIndex())

	if err := c.Restart(victim); err != nil {
		t.Fatalf("restart %s: %v", victim.ID, err)
	}
	target := leader.Member.AppliedIndex()
	waitCtx, cancelWait = context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	if err := testkit.Poll(waitCtx, func() error {
		if got := victim.Member.AppliedIndex(); got < target {
			return fmt.Errorf("applied %d", got)
		}
		return nil
	}); err != nil {
		t.Fatalf("%s did not catch up to index %d (at %d): %v", victim.ID, target, victim.Member.AppliedIndex(), err)
	}
	// Member is the restarted instance: its counter starts at zero on open.
	if got := victim.Member.SnapshotRestores(); got == 0 {
		t.Errorf("%s caught up to %d without installing a snapshot", victim.ID, target)
	}
	t.Logf("%s caught up to %d through %d snapshot install(s)", victim.ID, victim.Member.AppliedIndex(), victim.Member.SnapshotRestores())

	// Every object, read through the restarted member's own endpoint, with identical bytes.
	vc := newS3Client(victim.S3URL, c.AccessKey, c.SecretKey)
	var bad atomic.Int64
	forEach(ctx, 32, keys, func(ctx context.Context, key string) {
		want := catchUpBody(seed, key)
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, err := vc.GetObject(gctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		var got []byte
		if err == nil {
			got, err = io.ReadAll(out.Body)
			out.Body.Close()
		}
		if err != nil || !bytes.Equal(got, want) {
			if bad.Add(1) <= 10 {
				t.Errorf("%s: GET %s: %q, want %q (err %v)", victim.ID, key, got, want, err)
			}
		}
	})
	if n := bad.Load(); n > 0 {
		t.Fatalf("%d of %d objects wrong on the restarted member (seed %d)", n, objects, seed)
	}
	// And the listing there holds exactly them.
	var listed int
	p := s3.NewListObjectsV2Paginator(vc, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list via %s: %v", victim.ID, err)
		}
		for _, o := range out.Contents {
			if listed >= objects || aws.ToString(o.Key) != keys[listed] {
				t.Fatalf("listing via %s: key %d is %s, not the next written key", victim.ID, listed, aws.ToString(o.Key))
			}
			listed++
		}
	}
	if listed != objects {
		t.Errorf("listing via %s has %d keys, want %d", victim.ID, listed, objects)
	}

	// A new member, added now, starts from nothing: the log it would need is gone, so
	// it too must be sent a snapshot.
	fresh, err := c.AddNode(testRegion)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Member.AddMember(ctx, fresh.ID, fresh.ClusterAddr); err != nil {
		t.Fatalf("add %s: %v", fresh.ID, err)
	}
	target = leader.Member.AppliedIndex()
	waitCtx, cancelWait = context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	if err := testkit.Poll(waitCtx, func() error {
		if got := fresh.Member.AppliedIndex(); got < target {
			return fmt.Errorf("applied %d", got)
		}
		return nil
	}); err != nil {
		t.Fatalf("new member %s did not catch up to index %d (at %d): %v", fresh.ID, target, fresh.Member.AppliedIndex(), err)
	}
	if fresh.Member.SnapshotRestores() == 0 {
		t.Errorf("new member %s caught up to %d without installing a snapshot", fresh.ID, target)
	}
	fc := newS3Client(fresh.S3URL, c.AccessKey, c.SecretKey)
	for i := 0; i < objects; i += 97 {
		want := catchUpBody(seed, keys[i])
		out, err := fc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[i])})
		var got []byte
		if err == nil {
			got, err = io.ReadAll(out.Body)
			out.Body.Close()
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("new member %s: GET %s: %q, want %q (err %v, seed %d)", fresh.ID, keys[i], got, want, err, seed)
		}
	}
}

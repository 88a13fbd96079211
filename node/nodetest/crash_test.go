package nodetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pangea-s3/pangea/node"
)

// TestHarness_CrashRestartLosesNothingAcknowledged crashes every member of a
// region at once after a series of acknowledged writes. Their stores commit only
// when a reader waits (CommitDelay is an hour here), so each crash leaves its
// store behind its raft log: the test checks that on disk, then restarts the
// members, which replay their logs, and reads every acknowledged write back
// through every member, whose stores then hold their whole logs again.
func TestHarness_CrashRestartLosesNothingAcknowledged(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	c := Start(t, Options{NoSync: true, EditMember: func(_ *Node, cfg *node.MemberConfig) {
		cfg.CommitDelay = time.Hour
	}})
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	nodes := c.Nodes(region)
	if _, err := sdk(c, leader).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("crash")}); err != nil {
		t.Fatal(err)
	}
	// Writes through every member: small (inline) bodies and one of several chunks.
	acked := map[string][]byte{}
	for i := range 30 {
		k := fmt.Sprintf("k%02d", i)
		b := []byte(k + " acknowledged before the crash")
		if i == 7 {
			b = randomBody(2*1024*1024 + 99)
		}
		put(ctx, t, sdk(c, nodes[i%len(nodes)]), "crash", k, b)
		acked[k] = b
	}

	for _, n := range nodes {
		c.Crash(n)
	}
	lastAtCrash := map[*Node]uint64{}
	for _, n := range nodes {
		ds, err := c.DiskState(n)
		if err != nil {
			t.Fatalf("disk state of %s: %v", n.ID, err)
		}
		lastAtCrash[n] = ds.LogLast
		t.Logf("%s after the crash: store at index %d, raft log %d-%d: %d entries to replay",
			n.ID, ds.StoreApplied, ds.LogFirst, ds.LogLast, ds.LogLast-ds.StoreApplied)
		if ds.StoreApplied >= ds.LogLast {
			t.Errorf("%s: store at %d, log at %d: the crash lost nothing the store had applied, so no replay is tested",
				n.ID, ds.StoreApplied, ds.LogLast)
		}
	}

	for _, n := range nodes {
		if err := c.Restart(n); err != nil {
			t.Fatalf("restart %s: %v", n.ID, err)
		}
	}
	if _, err := c.Leader(ctx, region); err != nil {
		t.Fatal(err)
	}
	// Every acknowledged write is back, through every member. The reads also have
	// each member commit what it replayed (its store commits only for a reader).
	for _, n := range nodes {
		cl := sdk(c, n)
		for k, want := range acked {
			got, err := get(ctx, cl, "crash", k)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("GET %s via %s after the crash: %d bytes, err %v; want %d bytes", k, n.ID, len(got), err, len(want))
			}
		}
	}
	// Each member's store holds its whole log again (and more: the new leader's
	// barrier entry), rebuilt by replaying the log, not by installing a snapshot.
	for _, n := range nodes {
		if got := n.Member.AppliedIndex(); got < lastAtCrash[n] {
			t.Errorf("%s: applied index %d after the restart and the reads, want %d (its log at the crash)", n.ID, got, lastAtCrash[n])
		}
		if r := n.Member.SnapshotRestores(); r != 0 {
			t.Errorf("%s installed %d snapshots; want a replay of its own log", n.ID, r)
		}
	}
}

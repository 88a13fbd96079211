package nodetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/storage"
)

// TestRegion_FormatGate plays a rolling upgrade: n3 runs a binary that applies
// only Format1. The leader holds the region's format back, so an operation of
// Format2 gets a retryable ErrFormatNotReady and changes nothing, until n3 runs the
// new binary; then the format is raised and the operation is accepted. Afterwards
// an old binary can neither restart on a member of the region nor be added to it.
func TestRegion_FormatGate(t *testing.T) {
	ctx := context.Background()
	c := Start(t, Options{EditMember: func(_ *Node, cfg *node.MemberConfig) {
		cfg.FormatCheck = 50 * time.Millisecond
		if cfg.ID == "n3" {
			cfg.Format = storage.Format1
		}
	}})
	nodes := c.Nodes("us-east-1")
	old := nodes[2]
	if old.ID != "n3" {
		t.Fatalf("nodes are %s %s %s", nodes[0].ID, nodes[1].ID, nodes[2].ID)
	}
	// A leader running the old binary has nothing to raise: hand leadership to a
	// new one, and let it ask the voters a few times: the answer must stay "no".
	testkit.Eventually(t, 15*time.Second, "a new-binary leader asked the voters three times", func() error {
		l, err := c.Leader(ctx, "us-east-1")
		switch {
		case err != nil:
			return err
		case l == old:
			l.Member.TransferLeadership()
			return errors.New("the old binary leads")
		case l.Member.FormatChecks() < 3:
			return fmt.Errorf("%s asked %d times", l.ID, l.Member.FormatChecks())
		}
		return nil
	})
	for _, n := range nodes {
		if got := n.Member.RegionFormat(); got != storage.Format1 {
			t.Fatalf("%s: region format %d while %s applies only format 1", n.ID, got, old.ID)
		}
		_, err := n.Member.Commit(ctx, storage.NoopCmd{})
		var re *node.RetryableError
		if !errors.Is(err, node.ErrFormatNotReady) || !errors.As(err, &re) || re.Unknown {
			t.Fatalf("Noop through %s before the upgrade: %v, want a retryable ErrFormatNotReady", n.ID, err)
		}
	}
	leader, err := c.Leader(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if st := leader.Member.Status(); st.Format != storage.LatestFormat || st.RegionFormat != storage.Format1 {
		t.Fatalf("leader status: format %d, region format %d", st.Format, st.RegionFormat)
	}

	// Upgrade n3: same data, the new binary.
	c.Kill(old)
	if err := c.RestartWith(old, func(cfg *node.MemberConfig) { cfg.Format = storage.LatestFormat }); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "every member applied the raised format", func() error {
		for _, n := range nodes {
			if f := n.Member.RegionFormat(); f != storage.LatestFormat {
				return fmt.Errorf("%s is at format %d", n.ID, f)
			}
		}
		return nil
	})
	for _, n := range nodes {
		if _, err := n.Member.Commit(ctx, storage.NoopCmd{}); err != nil {
			t.Fatalf("Noop through %s after the upgrade: %v", n.ID, err)
		}
	}

	// Rolling back n3's binary is refused at start: its store is at format 2.
	c.Kill(old)
	err = c.RestartWith(old, func(cfg *node.MemberConfig) { cfg.Format = storage.Format1 })
	if !errors.Is(err, node.ErrUnreadableEntry) {
		t.Fatalf("an old binary on an upgraded member started: %v", err)
	}
	if err := c.RestartWith(old, func(cfg *node.MemberConfig) { cfg.Format = storage.LatestFormat }); err != nil {
		t.Fatal(err)
	}

	// A new member running the old binary is not added.
	n4, err := c.AddNode("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(n4)
	if err := c.RestartWith(n4, func(cfg *node.MemberConfig) { cfg.Format = storage.Format1 }); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Member.AddMember(ctx, n4.ID, n4.ClusterAddr); err == nil {
		t.Fatal("a member that applies only format 1 was added to a format 2 region")
	}
}

// TestRegion_OldBinaryHaltsAtANewEntry: n3 applied the region's format raise and
// the writes after it, but its store had not committed them when it crashed. It
// comes back with a binary that knows only format 1, so its replay of the log meets
// the raise: it stops there, having applied nothing from it on, instead of skipping
// the entry and diverging. The rest of the region goes on. With the new binary
// again it replays the log and serves every write.
func TestRegion_OldBinaryHaltsAtANewEntry(t *testing.T) {
	ctx := context.Background()
	c := Start(t, Options{EditMember: func(n *Node, cfg *node.MemberConfig) {
		cfg.FormatCheck = 50 * time.Millisecond
		if n.ID == "n3" {
			// Its store commits only for a reader or a snapshot: a crash loses
			// everything it applied since it started.
			cfg.CommitDelay = time.Hour
		}
	}})
	nodes := c.Nodes("us-east-1")
	n3 := nodes[2]
	testkit.Eventually(t, 15*time.Second, "n3 led by another member, with the format raised everywhere", func() error {
		l, err := c.Leader(ctx, "us-east-1")
		if err != nil {
			return err
		}
		if l == n3 {
			l.Member.TransferLeadership()
			return errors.New("n3 leads")
		}
		for _, n := range nodes {
			if f := n.Member.RegionFormat(); f != storage.LatestFormat {
				return fmt.Errorf("%s is at format %d", n.ID, f)
			}
		}
		return nil
	})
	leader, err := c.Leader(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Member.Commit(ctx, storage.CreateBucketCmd{Name: "after-raise", Region: "us-east-1", Owner: "o"}); err != nil {
		t.Fatal(err)
	}
	last := leader.Member.AppliedIndex()
	testkit.Eventually(t, 10*time.Second, "n3 applied the writes", func() error {
		if st := n3.Member.Status(); st.CommitIndex < last {
			return fmt.Errorf("n3 knows commit index %d of %d", st.CommitIndex, last)
		}
		if _, err := n3.Member.Commit(ctx, storage.NoopCmd{}); err != nil {
			return err
		}
		return nil
	})
	c.Crash(n3)
	ds, err := c.DiskState(n3)
	if err != nil {
		t.Fatal(err)
	}
	if ds.StoreApplied >= last {
		t.Fatalf("n3's store committed up to %d, past the raise: the crash left nothing to replay", ds.StoreApplied)
	}

	if err := c.RestartWith(n3, func(cfg *node.MemberConfig) { cfg.Format = storage.Format1 }); err != nil {
		t.Fatalf("the old binary refused to start on a store at format 1: %v", err)
	}
	select {
	case <-n3.Member.Halted():
	case <-time.After(30 * time.Second):
		t.Fatal("the old binary did not stop at the format 2 entry")
	}
	if err := n3.Member.HaltErr(); !errors.Is(err, node.ErrUnreadableEntry) {
		t.Fatalf("n3 stopped with %v, want ErrUnreadableEntry", err)
	}
	if n3.Member.Liveness() == nil {
		t.Fatal("a stopped n3 says it is live")
	}
	if applied := n3.Member.AppliedIndex(); applied >= last {
		t.Fatalf("n3 applied up to %d, past the entry it cannot read", applied)
	}
	if _, err := n3.Member.Store().Bucket(ctx, "after-raise"); err == nil {
		t.Fatal("n3 applied a write that follows the entry it cannot read")
	}
	// The region goes on with two members.
	if _, err := leader.Member.Commit(ctx, storage.NoopCmd{}); err != nil {
		t.Fatalf("the region without n3: %v", err)
	}

	c.Kill(n3)
	if err := c.RestartWith(n3, func(cfg *node.MemberConfig) { cfg.Format = storage.LatestFormat }); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "n3, upgraded, replays the log and has every write", func() error {
		if n3.Member.RegionFormat() != storage.LatestFormat {
			return errors.New("format not raised yet")
		}
		_, err := n3.Member.Bucket(ctx, "after-raise")
		return err
	})
}

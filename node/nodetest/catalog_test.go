package nodetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/routing"
	"github.com/pangea-s3/pangea/storage"
)

var _ routing.CatalogStore = (*node.Member)(nil)

// catalogRegion starts a 3-member control region and waits until its format
// allows the catalog's operations on every member.
func catalogRegion(t *testing.T) (*Cluster, *Node) {
	t.Helper()
	c := Start(t, Options{EditMember: func(_ *Node, cfg *node.MemberConfig) {
		cfg.FormatCheck = 50 * time.Millisecond
	}})
	testkit.Eventually(t, 15*time.Second, "the region's format covers the catalog everywhere", func() error {
		for _, n := range c.Nodes("us-east-1") {
			if f := n.Member.RegionFormat(); f < storage.Format3 {
				return fmt.Errorf("%s is at format %d", n.ID, f)
			}
		}
		return nil
	})
	leader, err := c.Leader(testCtx(t, 15*time.Second), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return c, leader
}

// TestCatalog_ReserveReleaseWatch: a follower reserves a name (forwarded to the
// leader), a second region's reservation of it conflicts, a retry succeeds
// unchanged; every member's watch wakes on each change; a release frees the name.
func TestCatalog_ReserveReleaseWatch(t *testing.T) {
	c, leader := catalogRegion(t)
	ctx := testCtx(t, 60*time.Second)
	fol := followers(c, leader)

	// Every member watches from version 0 before anything is reserved.
	type watched struct {
		id   string
		snap storage.CatalogSnapshot
		err  error
	}
	watches := make(chan watched, 3)
	for _, n := range c.Nodes("us-east-1") {
		go func() {
			snap, err := n.Member.WatchCatalog(ctx, 0)
			watches <- watched{n.ID, snap, err}
		}()
	}

	e, err := fol[0].Member.ReserveBucket(ctx, "photos", "eu-west-1", "alice")
	if err != nil {
		t.Fatalf("reserve through follower %s: %v", fol[0].ID, err)
	}
	if e.Bucket != "photos" || e.Region != "eu-west-1" || e.Owner != "alice" || e.Created.IsZero() {
		t.Fatalf("reserved entry %+v", e)
	}
	for range 3 {
		w := <-watches
		if w.err != nil {
			t.Fatalf("watch on %s: %v", w.id, w.err)
		}
		if got, ok := w.snap.Lookup("photos"); !ok || got != e || w.snap.Version != 1 {
			t.Fatalf("watch on %s woke with %+v", w.id, w.snap)
		}
	}

	// A retry by the same region and owner returns the first entry.
	again, err := fol[1].Member.ReserveBucket(ctx, "photos", "eu-west-1", "alice")
	if err != nil || again != e {
		t.Fatalf("retried reservation: %+v, %v; want %+v", again, err, e)
	}
	// Another region (or owner) gets a conflict, through any member.
	for _, n := range c.Nodes("us-east-1") {
		_, err := n.Member.ReserveBucket(ctx, "photos", "us-east-1", "bob")
		if !errors.Is(err, storage.ErrBucketAlreadyExists) {
			t.Fatalf("conflicting reservation through %s: %v, want ErrBucketAlreadyExists", n.ID, err)
		}
	}
	snap, err := fol[1].Member.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version != 1 || len(snap.Entries) != 1 {
		t.Fatalf("catalog after the retry and conflicts: %+v", snap)
	}

	// A watch from the current version waits until the release.
	woke := make(chan watched, 1)
	go func() {
		snap, err := fol[0].Member.WatchCatalog(ctx, snap.Version)
		woke <- watched{fol[0].ID, snap, err}
	}()
	// A release by another region, or of an entry not older than CreatedBefore,
	// changes nothing (and wakes nobody).
	if err := leader.Member.ReleaseBucket(ctx, "photos", "us-east-1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := leader.Member.ReleaseBucket(ctx, "photos", "eu-west-1", e.Created); err != nil {
		t.Fatal(err)
	}
	select {
	case w := <-woke:
		t.Fatalf("watch woke without a change: %+v %v", w.snap, w.err)
	default:
	}
	if err := fol[1].Member.ReleaseBucket(ctx, "photos", "eu-west-1", e.Created.Add(time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	w := <-woke
	if w.err != nil || w.snap.Version != 2 || len(w.snap.Entries) != 0 {
		t.Fatalf("watch after the release: %+v %v", w.snap, w.err)
	}
	// The name is free: the other region takes it.
	if _, err := fol[0].Member.ReserveBucket(ctx, "photos", "us-east-1", "bob"); err != nil {
		t.Fatal(err)
	}

	// A watch ends with its context.
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := leader.Member.WatchCatalog(wctx, 1000); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("watch past every version: %v, want the context's deadline", err)
	}
}

// TestCatalog_SurvivesRestart: after every member restarts, the catalog is there,
// and a member that was down while it changed catches up.
func TestCatalog_SurvivesRestart(t *testing.T) {
	c, leader := catalogRegion(t)
	ctx := testCtx(t, 90*time.Second)
	if _, err := leader.Member.ReserveBucket(ctx, "kept", "eu-west-1", "alice"); err != nil {
		t.Fatal(err)
	}
	down := followers(c, leader)[0]
	c.Kill(down)
	if _, err := leader.Member.ReserveBucket(ctx, "while-down", "ap-south-1", "carol"); err != nil {
		t.Fatal(err)
	}
	want, err := leader.Member.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(down); err != nil {
		t.Fatal(err)
	}
	// The restarted member catches up: its watch wakes at the latest version.
	snap, err := down.Member.WatchCatalog(ctx, want.Version-1)
	if err != nil || snap.Version != want.Version || len(snap.Entries) != 2 {
		t.Fatalf("restarted member's catalog: %+v %v, want %+v", snap, err, want)
	}

	for _, n := range c.Nodes("us-east-1") {
		c.Kill(n)
	}
	for _, n := range c.Nodes("us-east-1") {
		if err := c.Restart(n); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes("us-east-1") {
		got, err := n.Member.Catalog(ctx)
		if err != nil {
			t.Fatalf("catalog through %s after restart: %v", n.ID, err)
		}
		if got.Version != want.Version || len(got.Entries) != len(want.Entries) {
			t.Fatalf("catalog through %s after restart: %+v, want %+v", n.ID, got, want)
		}
		for _, e := range want.Entries {
			if g, ok := got.Lookup(e.Bucket); !ok || !g.Created.Equal(e.Created) || g.Region != e.Region {
				t.Fatalf("%s: entry %q is %+v, want %+v", n.ID, e.Bucket, g, e)
			}
		}
	}
	if _, err := leader.Member.ReserveBucket(ctx, "kept", "us-east-1", "bob"); !errors.Is(err, storage.ErrBucketAlreadyExists) {
		t.Fatalf("reserving a kept name after restart: %v", err)
	}
}

// controlDirectory lists the control region's members as the gossip pool would,
// each at the address of its own catalog handler.
type controlDirectory struct{ peers []routing.Peer }

func (d controlDirectory) Self() routing.Peer               { return routing.Peer{Name: "edge", Self: true} }
func (d controlDirectory) Peers() []routing.Peer            { return d.peers }
func (d controlDirectory) Changes() <-chan struct{}         { return make(chan struct{}) }
func (d controlDirectory) RTT(string) (time.Duration, bool) { return 0, false }
func (d controlDirectory) Peer(name string) (routing.Peer, bool) {
	for _, p := range d.peers {
		if p.Name == name {
			return p, true
		}
	}
	return routing.Peer{}, false
}

// TestCatalog_ThroughRoutingClient: routing's client and cache over the real
// members' catalog handlers: a reservation from one region conflicts with
// another's across the HTTP hop, and a second process's cache follows through
// the watch.
func TestCatalog_ThroughRoutingClient(t *testing.T) {
	c, _ := catalogRegion(t)
	ctx := testCtx(t, 60*time.Second)
	var dir controlDirectory
	for _, n := range c.Nodes("us-east-1") {
		srv := httptest.NewServer(routing.CatalogHandler(n.Member, nil))
		t.Cleanup(srv.Close)
		dir.peers = append(dir.peers, routing.Peer{
			Name: n.ID, Health: routing.HealthAlive,
			Meta: routing.Meta{Region: "us-east-1", Role: routing.RoleMember, InternalAddr: strings.TrimPrefix(srv.URL, "http://")},
		})
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	newCat := func() *routing.Catalog {
		cat := routing.NewCatalog(routing.CatalogConfig{
			Directory: dir, ControlRegion: "us-east-1", Transport: tr, WatchWait: time.Second,
		})
		t.Cleanup(cat.Close)
		return cat
	}
	eu, ap := newCat(), newCat()
	ap.Start(ctx)

	e, err := eu.Reserve(ctx, "shared-name", "eu-west-1", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ap.Reserve(ctx, "shared-name", "ap-south-1", "bob"); !errors.Is(err, storage.ErrBucketAlreadyExists) {
		t.Fatalf("second region's reservation: %v, want ErrBucketAlreadyExists", err)
	}
	testkit.Eventually(t, 10*time.Second, "the watching cache has the entry", func() error {
		if got, ok := ap.Lookup("shared-name"); !ok || got.Region != "eu-west-1" || !got.Created.Equal(e.Created) {
			return fmt.Errorf("lookup: %+v %v", got, ok)
		}
		return nil
	})
	if err := eu.Release(ctx, "shared-name", "eu-west-1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the watching cache drops the released entry", func() error {
		if _, ok := ap.Lookup("shared-name"); ok {
			return errors.New("still there")
		}
		return nil
	})
	if _, ok, err := eu.Resolve(ctx, "shared-name"); err != nil || ok {
		t.Fatalf("Resolve after the release: %v %v", ok, err)
	}
}

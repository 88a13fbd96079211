package nodetest

import (
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
	"github.com/pangea-s3/pangea/s3api"
	"github.com/pangea-s3/pangea/storage"
)

var (
	_ routing.MRAPStore    = (*node.Member)(nil)
	_ s3api.MRAPControl    = (*routing.Catalog)(nil)
	_ routing.CatalogStore = (*node.Member)(nil)
)

// TestMRAP_ThroughRaft: MRAP commands go through a 3-member control region's
// raft (a follower forwards them), their errors still match the storage
// sentinels, CompleteMRAPOperations completes them on the leader, and a
// routing client and a watching cache see the result.
func TestMRAP_ThroughRaft(t *testing.T) {
	c := Start(t, Options{EditMember: func(_ *Node, cfg *node.MemberConfig) {
		cfg.FormatCheck = 50 * time.Millisecond
	}})
	testkit.Eventually(t, 15*time.Second, "the region's format covers MRAPs everywhere", func() error {
		for _, n := range c.Nodes("us-east-1") {
			if f := n.Member.RegionFormat(); f < storage.Format6 {
				return fmt.Errorf("%s is at format %d", n.ID, f)
			}
		}
		return nil
	})
	ctx := testCtx(t, 60*time.Second)
	leader, err := c.Leader(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	fol := followers(c, leader)
	for _, b := range [][2]string{{"b-use1", "us-east-1"}, {"b-euw1", "eu-west-1"}} {
		if _, err := leader.Member.ReserveBucket(ctx, b[0], b[1], "o"); err != nil {
			t.Fatal(err)
		}
	}

	// Straight on a follower: forwarded to the leader, read back.
	const account = "123456789012"
	m := storage.MRAP{Account: account, Name: "direct", Alias: "maaaaaaaaaaaa.mrap",
		Regions: []storage.MRAPRegion{{Region: "us-east-1", Bucket: "b-use1", TrafficDial: 100}}}
	op, err := fol[0].Member.CreateMRAP(ctx, "arn:t1", "tok-1", m)
	if err != nil || op.TokenARN != "arn:t1" || op.Status != storage.MRAPRequestInProgress || op.Created.IsZero() {
		t.Fatalf("create through a follower: %+v, %v", op, err)
	}
	m.Name = "other"
	if _, err := fol[1].Member.CreateMRAP(ctx, "arn:t2", "tok-2", m); !errors.Is(err, storage.ErrMRAPAliasTaken) {
		t.Fatalf("alias reused through a follower: %v", err)
	}
	if _, err := fol[1].Member.DeleteMRAP(ctx, account, "nope", "arn:t3", "tok-3"); !errors.Is(err, storage.ErrNoSuchMRAP) {
		t.Fatalf("delete unknown through a follower: %v", err)
	}
	if err := fol[0].Member.SubmitMRAPRoutes(ctx, account, m.Alias, []storage.MRAPRoute{{Bucket: "b-use1", TrafficDial: 0}}); !errors.Is(err, storage.ErrInvalidMRAP) {
		t.Fatalf("all passive through a follower: %v", err)
	}

	// Through the routing client, as s3api calls it.
	var dir controlDirectory
	for _, n := range c.Nodes("us-east-1") {
		srv := httptest.NewServer(routing.CatalogHandler(n.Member, nil))
		t.Cleanup(srv.Close)
		dir.peers = append(dir.peers, routing.Peer{
			Name: n.ID, Health: routing.HealthAlive,
			Meta: routing.Meta{Region: "us-east-1", Role: routing.RoleMember, InternalAddr: strings.TrimPrefix(srv.URL, "http://"), Leader: n == leader},
		})
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	newCat := func() *routing.Catalog {
		cat := routing.NewCatalog(routing.CatalogConfig{Directory: dir, ControlRegion: "us-east-1", Transport: tr, WatchWait: time.Second})
		t.Cleanup(cat.Close)
		return cat
	}
	cat, edge := newCat(), newCat()
	edge.Start(ctx)
	cop, err := cat.CreateMRAP(ctx, account, "tok-4", storage.MRAP{Name: "global", Regions: []storage.MRAPRegion{{Bucket: "b-use1"}, {Bucket: "b-euw1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.CreateMRAP(ctx, account, "tok-5", storage.MRAP{Name: "global", Regions: []storage.MRAPRegion{{Bucket: "b-use1"}}}); !errors.Is(err, storage.ErrMRAPAlreadyExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	n, err := routing.CompleteMRAPOperations(ctx, leader.Member, 0, time.Now().Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("completed %d, %v; want 2", n, err)
	}
	if o, err := cat.MRAPOperation(ctx, account, cop.TokenARN); err != nil || o.Status != storage.MRAPRequestSucceeded {
		t.Fatalf("describe: %+v, %v", o, err)
	}
	g, err := cat.MRAP(ctx, account, "global")
	if err != nil || g.Status != storage.MRAPReady || len(g.Regions) != 2 {
		t.Fatalf("get: %+v, %v", g, err)
	}
	testkit.Eventually(t, 10*time.Second, "the edge caches the MRAP", func() error {
		if got, ok := edge.MRAPByAlias(g.Alias); !ok || got.Status != storage.MRAPReady {
			return fmt.Errorf("by alias: %+v %v", got, ok)
		}
		return nil
	})
}

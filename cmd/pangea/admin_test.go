package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/adminapi"
	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/routing"
	"github.com/pangea-s3/pangea/routing/topology"
)

// twoLoners is a planet of two one-member regions 20 ms apart.
const twoLoners = `
locations: [loc-a, loc-b]
links:
  - between: [loc-a, loc-b]
    rtt: 20ms
regions:
  - {name: ra, location: loc-a, members: 1}
  - {name: rb, location: loc-b, members: 1}
edges: []
`

// TestAdmin_Chaos drives the admin API of an in-process planet of two one-member
// regions: requests without or with a wrong signature are refused, bad ones get
// 400; a partition makes each pool see the other dead and a heal alive again;
// region-down stops the region (the other's pool sees it dead or left, its S3
// endpoint refuses) and region-up brings it back with its data; pangea ctl prints
// the status.
func TestAdmin_Chaos(t *testing.T) {
	topo, err := topology.Parse([]byte(twoLoners))
	if err != nil {
		t.Fatal(err)
	}
	pl := startTestPlanet(t, topo)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	admin, err := startAdmin("127.0.0.1:0", pl, pl.cfg.ClusterSecret, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.close) // before the planet stops
	cl := &adminapi.Client{Base: admin.URL(), Secret: pl.cfg.ClusterSecret}
	a, b := pl.regions[0].members[0], pl.regions[1].members[0]
	poolA, poolB := a.pool, b.pool

	// Authentication and input checks.
	resp, err := http.Post(admin.URL()+"/partition", "application/json", strings.NewReader(`{"a":"loc-a","b":"loc-b"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned request: %d, want 401", resp.StatusCode)
	}
	wrong := &adminapi.Client{Base: admin.URL(), Secret: "not-the-secret"}
	var ae *adminapi.APIError
	if err := wrong.Do(t.Context(), "POST", "/partition", adminapi.PairRequest{A: "loc-a", B: "loc-b"}, nil); !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("wrong secret: %v, want 403", err)
	}
	if err := cl.Do(t.Context(), "POST", "/partition", map[string]string{"a": "loc-a"}, nil); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Fatalf("half a pair: %v, want 400", err)
	}
	if err := cl.Do(t.Context(), "POST", "/partition", adminapi.PairRequest{A: "loc-a", B: "loc-z"}, nil); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("unknown location: %v, want 404", err)
	}

	sees := func(from *routing.Pool, name string, want ...routing.Health) error {
		p, ok := from.Peer(name)
		if !ok {
			return fmt.Errorf("%s does not know %s", from.Self().Name, name)
		}
		for _, h := range want {
			if p.Health == h {
				return nil
			}
		}
		return fmt.Errorf("%s sees %s %v, want %v", from.Self().Name, name, p.Health, want)
	}
	both := func(want ...routing.Health) func() error {
		return func() error {
			return errors.Join(sees(poolA, "rb/n1", want...), sees(poolB, "ra/n1", want...))
		}
	}
	testkit.Eventually(t, 15*time.Second, "both pools to see each other alive", both(routing.HealthAlive))

	// Data in rb, to find again after its restart.
	lf := labfile0(pl)
	s3b := regionS3(lf, b.url, "rb")
	if _, err := s3b.CreateBucket(t.Context(), &s3.CreateBucketInput{
		Bucket:                    aws.String("kept"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "rb"},
	}); err != nil {
		t.Fatal(err)
	}
	body := randomBody(t, 4<<10)
	s3Put(t, s3b, "kept", "k", body)

	// Partition, then heal.
	if err := cl.Do(t.Context(), "POST", "/partition", adminapi.PairRequest{A: "loc-a", B: "loc-b"}, nil); err != nil {
		t.Fatal(err)
	}
	if l, _ := pl.net.Link("loc-a", "loc-b"); !l.Cut {
		t.Fatal("the link is not cut after /partition returned")
	}
	testkit.Eventually(t, 15*time.Second, "each pool to see the other dead across the partition", both(routing.HealthDead))
	if err := cl.Do(t.Context(), "POST", "/heal", adminapi.PairRequest{A: "loc-b", B: "loc-a"}, nil); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "each pool to see the other alive after the heal", both(routing.HealthAlive))

	// A link change, read back in the status.
	if err := cl.Do(t.Context(), "POST", "/links", adminapi.LinkRequest{A: "loc-a", B: "loc-b", RTT: ptr(adminapi.Duration(40 * time.Millisecond)), Loss: 0.01}, nil); err != nil {
		t.Fatal(err)
	}
	if l, _ := pl.net.Link("loc-a", "loc-b"); l.Latency != 20*time.Millisecond || l.Loss != 0.01 {
		t.Fatalf("link after /links: %+v", l)
	}

	// Region down: its endpoint refuses at once, the other pool sees it go.
	if err := cl.Do(t.Context(), "POST", "/regions/rb/down", nil, nil); err != nil {
		t.Fatal(err)
	}
	if r, err := http.Get(b.url + "/"); err == nil {
		r.Body.Close()
		t.Fatalf("rb's S3 endpoint answered %d after region-down", r.StatusCode)
	}
	testkit.Eventually(t, 15*time.Second, "ra's pool to see rb/n1 dead or left", func() error {
		return sees(poolA, "rb/n1", routing.HealthDead, routing.HealthLeft)
	})
	var st adminapi.Status
	if err := cl.Do(t.Context(), "GET", "/status", nil, &st); err != nil {
		t.Fatal(err)
	}
	if !st.Regions[1].Down || st.Regions[0].Down || st.Regions[1].Members[0].Running || st.Catalog == "" {
		t.Fatalf("status after region-down: %+v", st)
	}

	// Region up: it serves again, with its data, and gossip sees it alive.
	if err := cl.Do(t.Context(), "POST", "/regions/rb/up", nil, nil); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "rb to serve its object again", func() error {
		out, err := s3b.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("kept"), Key: aws.String("k")})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(out.Body); err != nil {
			return err
		}
		if !bytes.Equal(buf.Bytes(), body) {
			return testkit.Stop(errors.New("rb serves other bytes for k after its restart"))
		}
		return nil
	})
	testkit.Eventually(t, 15*time.Second, "ra's pool to see rb/n1 alive again", func() error {
		return sees(poolA, "rb/n1", routing.HealthAlive)
	})

	// pangea ctl --admin: the status, readable.
	c, out, errb := testCLI(map[string]string{"PANGEA_CLUSTER_SECRET": pl.cfg.ClusterSecret})
	if code := c.run(t.Context(), []string{"ctl", "--admin", admin.URL(), "status"}); code != 0 {
		t.Fatalf("ctl status: exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"catalog: 1 buckets, version 1", "LEADER", "rb", "loc-b", "alive", "(20ms)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("ctl status lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("pangea ctl status:\n%s", out.String())
	c, out, errb = testCLI(map[string]string{"PANGEA_CLUSTER_SECRET": pl.cfg.ClusterSecret})
	if code := c.run(t.Context(), []string{"ctl", "--admin", admin.URL(), "member-stop", "rb", "n9"}); code != 1 || !strings.Contains(errb.String(), "n9") {
		t.Fatalf("ctl member-stop of an unknown member: exit %d: %s%s", code, out.String(), errb.String())
	}
}

func ptr[T any](v T) *T { return &v }

// TestCtl_LabArgErrors: the lab commands' usage errors exit 2 and say what to do,
// before any connection.
func TestCtl_LabArgErrors(t *testing.T) {
	admin := []string{"ctl", "--admin", "http://127.0.0.1:1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ctl", "partition", "a", "b"}, "--lab DIR"},
		{append(admin, "partition", "a"), "usage: partition"},
		{append(admin, "heal", "a", "b", "c"), "usage: heal"},
		{append(admin, "latency", "a", "b"), "usage: latency"},
		{append(admin, "latency", "a", "b", "fast"), "not a duration"},
		{append(admin, "latency", "a", "b", "10ms", "--loss", "1.5"), "--loss"},
		{append(admin, "region-down"), "usage: region-down"},
		{append(admin, "region-up", "a/b"), "usage: region-up"},
		{append(admin, "member-stop", "r"), "usage: member-stop"},
		{append(admin, "member-start", "r", "n1", "x"), "usage: member-start"},
		{append(admin, "status", "extra"), "no arguments"},
		{append(admin, "explode"), "unknown lab command"},
		{append(admin, "status"), "cluster secret is required"},
		{[]string{"ctl", "--admin", "http://", "status"}, "--admin"},
	} {
		c, _, errb := testCLI(nil)
		if code := c.run(t.Context(), tc.args); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q: %s", tc.args, code, tc.want, errb.String())
		}
	}
	c, _, errb := testCLI(nil)
	if code := c.run(t.Context(), []string{"ctl", "--lab", t.TempDir(), "status"}); code != 1 || !strings.Contains(errb.String(), "is pangea lab running") {
		t.Errorf("--lab without lab.json: exit %d: %s", code, errb.String())
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/labfile"
	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/routing"
	"github.com/pangea-s3/pangea/routing/topology"
)

// twoRegions is a planet of two locations 70 ms apart: region east of one member,
// region west of two (so that one pair shares a location).
const twoRegions = `
locations: [loc-east, loc-west]
links:
  - between: [loc-east, loc-west]
    rtt: 70ms
regions:
  - {name: east, location: loc-east, members: 1}
  - {name: west, location: loc-west, members: 2}
edges: []
`

// startTestPlanet starts the lab's planet of topo in-process, serving S3, and
// stops it at the end of the test.
func startTestPlanet(t *testing.T, topo *topology.Topology) *planet {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Addr, cfg.NoFsync = t.TempDir(), "127.0.0.1:0", true
	cfg.ClusterSecret = "planet-test-secret"
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	pl, err := startPlanet(t.Context(), cfg, topo, logger)
	if err != nil {
		t.Fatalf("start planet: %v", err)
	}
	t.Cleanup(pl.stop)
	return pl
}

// TestPlanet_GossipAndRTT checks the lab's per-member wiring on a two-region planet:
// every member's pool sees every other member alive with its region, location and
// leader flag, and the RTT memberlist measures across the emulated link is the
// topology's (while inside a location it stays small); each region serves S3.
func TestPlanet_GossipAndRTT(t *testing.T) {
	topo, err := topology.Parse([]byte(twoRegions))
	if err != nil {
		t.Fatal(err)
	}
	pl := startTestPlanet(t, topo)
	all := pl.members()
	if len(all) != 3 {
		t.Fatalf("planet has %d members, want 3", len(all))
	}

	want := map[string][2]string{} // pool name -> region, location
	for _, r := range pl.regions {
		for _, m := range r.members {
			want[r.Name+"/"+m.id] = [2]string{r.Name, r.Location}
		}
	}
	leaders := func() map[string]bool { // pool name -> leads its region now
		l := map[string]bool{}
		for _, r := range pl.regions {
			for _, m := range r.members {
				l[r.Name+"/"+m.id] = m.member.Ready()
			}
		}
		return l
	}
	testkit.Eventually(t, 15*time.Second, "every pool to see every member alive, placed and with its leader flag", func() error {
		lead := leaders()
		for _, m := range all {
			peers := m.pool.Peers()
			if len(peers) != len(want) {
				return fmt.Errorf("%s sees %d processes, want %d", m.pool.Self().Name, len(peers), len(want))
			}
			for _, p := range peers {
				w, ok := want[p.Name]
				switch {
				case !ok:
					return fmt.Errorf("%s sees unknown %s", m.pool.Self().Name, p.Name)
				case p.Health != routing.HealthAlive:
					return fmt.Errorf("%s sees %s %v", m.pool.Self().Name, p.Name, p.Health)
				case p.Region != w[0] || p.Location != w[1] || p.Role != routing.RoleMember:
					return fmt.Errorf("%s sees %s in %s at %s (role %v), want %s at %s", m.pool.Self().Name, p.Name, p.Region, p.Location, p.Role, w[0], w[1])
				case p.Leader != lead[p.Name]:
					return fmt.Errorf("%s sees %s leader=%v, raft says %v", m.pool.Self().Name, p.Name, p.Leader, lead[p.Name])
				case p.S3Endpoint == "" || p.InternalAddr == "":
					return fmt.Errorf("%s sees %s without addresses: %+v", m.pool.Self().Name, p.Name, p.Meta)
				}
			}
			for _, r := range routing.Regions(m.pool) {
				if !r.HasLeader {
					return fmt.Errorf("%s sees no leader in %s", m.pool.Self().Name, r.Name)
				}
			}
		}
		return nil
	})

	// memberlist probes one peer a second, round robin; the smoothed RTT settles
	// within a few probes of each.
	east, west1, west2 := pl.regions[0].members[0].pool, pl.regions[1].members[0].pool, pl.regions[1].members[1].pool
	link := topo.RTT("loc-east", "loc-west")
	var far, farBack, near time.Duration
	testkit.Eventually(t, 20*time.Second, "measured RTTs to match the topology", func() error {
		var ok1, ok2, ok3 bool
		far, ok1 = east.RTT("west/n1")
		farBack, ok2 = west2.RTT("east/n1")
		near, ok3 = west1.RTT("west/n2")
		if !ok1 || !ok2 || !ok3 {
			return errors.New("not every pair probed yet")
		}
		for _, d := range []time.Duration{far, farBack} {
			if d < link*9/10 || d > link*11/10 {
				return fmt.Errorf("far RTTs %v and %v, want %v ± 10%%", far, farBack, link)
			}
		}
		if near > 10*time.Millisecond {
			return fmt.Errorf("same-location RTT %v, want < 10ms", near)
		}
		return nil
	})
	t.Logf("topology RTT %v; measured east->west %v, west->east %v, inside west %v", link, far, farBack, near)

	// Each region serves S3 on its own: a bucket is its region's alone.
	for _, r := range pl.regions {
		bucket := "bucket-" + r.Name
		first, last := r.members[0], r.members[len(r.members)-1]
		lf := labfile0(pl)
		if _, err := regionS3(lf, last.url, r.Name).CreateBucket(t.Context(), &s3.CreateBucketInput{
			Bucket:                    aws.String(bucket),
			CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r.Name)},
		}); err != nil {
			t.Fatalf("CreateBucket through %s/%s: %v", r.Name, last.id, err)
		}
		body := randomBody(t, 64<<10)
		s3Put(t, regionS3(lf, last.url, r.Name), bucket, "obj", body)
		mustEqualBody(t, "GET in "+r.Name, s3Get(t, regionS3(lf, first.url, r.Name), bucket, "obj"), body)
	}
	lf := labfile0(pl)
	out, err := regionS3(lf, pl.regions[0].members[0].url, "east").ListBuckets(t.Context(), &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	// One namespace: every region's buckets, each with its region.
	var got []string
	for _, b := range out.Buckets {
		got = append(got, aws.ToString(b.Name)+"@"+aws.ToString(b.BucketRegion))
	}
	if strings.Join(got, " ") != "bucket-east@east bucket-west@west" {
		t.Errorf("east lists %v, want both regions' buckets", got)
	}
}

// regionS3 is memberS3 signing for region.
func regionS3(lf labfile.File, endpoint, region string) *s3.Client {
	return s3.New(memberS3(lf, endpoint).Options(), func(o *s3.Options) { o.Region = region })
}

// labfile0 is the lab.json of pl with the default credentials, which
// startTestPlanet keeps.
func labfile0(pl *planet) labfile.File {
	return pl.labFile(DefaultConfig())
}

// TestLab_TopologyFlags runs `pangea lab --topology FILE` and checks lab.json
// lists the file's regions, then how --topology, --regions and --nodes-per-region
// combine: a size flag beside a topology file is refused naming both, an
// unreadable file and an out-of-range size are usage errors.
func TestLab_TopologyFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "planet.yaml")
	if err := os.WriteFile(file, []byte(twoRegions), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, out, _ := testCLI(map[string]string{"PANGEA_NO_FSYNC": "true"})
	lf, stop := startServe(t, c, dir, "lab", "--topology", file, "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "error")
	if len(lf.Endpoints.Regions["east"]) != 1 || len(lf.Endpoints.Regions["west"]) != 2 || len(lf.Endpoints.Regions) != 2 {
		t.Errorf("lab.json endpoints %v, want east 1 and west 2", lf.Endpoints.Regions)
	}
	if len(lf.GossipAddrs["west"]) != 2 || len(lf.ClusterAddrs["west"]) != 2 || lf.ControlRegion != "east" ||
		lf.Endpoints.Global != lf.Endpoints.Regions["east"][0] {
		t.Errorf("lab.json: %+v", lf)
	}
	testkit.Eventually(t, 5*time.Second, "the banner", func() error {
		for _, want := range []string{"region west (at loc-west)", "loc-east", "70ms", "control region"} {
			if !strings.Contains(out.String(), want) {
				return fmt.Errorf("banner lacks %q:\n%s", want, out.String())
			}
		}
		return nil
	})
	if code := stop(); code != 0 {
		t.Fatalf("lab exit %d", code)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--topology", file, "--regions", "2"}, "--regions cannot be combined with --topology"},
		{[]string{"--nodes-per-region", "1", "--topology", file}, "--nodes-per-region cannot be combined with --topology"},
		{[]string{"--topology", file + ".missing"}, "--topology"},
		{[]string{"--regions", "9"}, "--regions"},
		{[]string{"--regions", "0"}, "--regions"},
	} {
		c, _, errb := testCLI(nil)
		args := append([]string{"lab", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, tc.args...)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		code := c.run(ctx, args)
		cancel()
		if code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q: %s", tc.args, code, tc.want, errb.String())
		}
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/adminapi"
	"github.com/pangea-s3/pangea/cmd/pangea/internal/labfile"
	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/routing/wan"
)

func TestNodePlanet_FlagErrors(t *testing.T) {
	secret := map[string]string{"PANGEA_CLUSTER_SECRET": "s"}
	seeds := []string{"--seeds", "10.0.0.1:7946"}
	node := func(extra ...string) []string { return append([]string{"node", "--data", t.TempDir()}, extra...) }
	cases := []struct {
		args     []string
		env      map[string]string
		code     int
		inStderr string
	}{
		{args: node("--location", "us-east-1"), env: secret, code: 2, inStderr: "--location join a planet: give --seeds"},
		{args: node("--topology", "t.yaml", "--advertise-s3", "http://a:9000"), env: secret, code: 2, inStderr: "--topology, --advertise-s3 join a planet"},
		{args: node(), env: map[string]string{"PANGEA_LOCATION": "eu-west-1"}, code: 2, inStderr: "give --seeds"},
		{args: node(seeds...), code: 2, inStderr: "PANGEA_CLUSTER_SECRET"},
		{args: node("--seeds", "10.0.0.1"), env: secret, code: 2, inStderr: `seed "10.0.0.1": want host:port`},
		{args: node("--seeds", "a:1,b:x"), env: secret, code: 2, inStderr: "port must be a number"},
		{args: node(), env: map[string]string{"PANGEA_SEEDS": ":7946"}, code: 2, inStderr: "PANGEA_SEEDS"},
		{args: node(append(seeds, "--region", "mars-1")...), env: secret, code: 2, inStderr: `region "mars-1" is not in the topology (built-in default): its regions are us-east-1, eu-west-1, ap-southeast-2`},
		{args: node(append(seeds, "--location", "atlantis")...), env: secret, code: 2, inStderr: `location "atlantis" is not in the topology`},
		{args: node(append(seeds, "--standalone")...), env: secret, code: 2, inStderr: "--standalone cannot join a planet"},
		{args: node(append(seeds, "--gossip-addr", "nope")...), env: secret, code: 2, inStderr: `gossip address "nope"`},
		{args: node(append(seeds, "--gossip-addr", "h:70000")...), env: secret, code: 2, inStderr: "port must be a number 0-65535"},
		{args: node(append(seeds, "--advertise-s3", "ftp://a:9000")...), env: secret, code: 2, inStderr: "advertised S3 endpoint"},
		{args: node(append(seeds, "--topology", "/nonexistent/planet.yaml")...), env: secret, code: 2, inStderr: "--topology: "},
		{args: []string{"edge", "--location", "us-east-1"}, env: secret, code: 2, inStderr: "an edge joins a planet: give --seeds"},
		{args: []string{"edge", "--seeds", "a:7946"}, env: secret, code: 2, inStderr: "give --location"},
		{args: []string{"edge", "--seeds", "a:7946", "--location", "moon"}, env: secret, code: 2, inStderr: `location "moon" is not in the topology`},
		{args: []string{"edge", "--seeds", "a:7946", "--location", "us-east-1"}, code: 2, inStderr: "PANGEA_CLUSTER_SECRET"},
		{args: []string{"edge", "--seeds", "a:7946", "--location", "us-east-1", "--addr", "x"}, env: secret, code: 2, inStderr: "listen address"},
		{args: []string{"edge", "-h"}, code: 0, inStderr: "PANGEA_ADVERTISE_S3"},
		{args: []string{"help", "node"}, code: 0, inStderr: "PANGEA_SEEDS"},
		// Every flag parses; the run then fails on the gossip host, which does not resolve.
		{args: []string{"edge", "--seeds", "a:7946,b:7946", "--location", "eu-west-1", "--addr", "127.0.0.1:0", "--gossip-addr", "no-such-host.invalid:7946",
			"--advertise-s3", "http://edge-eu:9000"}, env: secret, code: 1, inStderr: `resolve "no-such-host.invalid"`},
	}
	for _, tc := range cases {
		c, _, errb := testCLI(tc.env)
		if got := c.run(t.Context(), tc.args); got != tc.code {
			t.Errorf("%v: exit %d, want %d\nstderr: %s", tc.args, got, tc.code, errb.String())
		}
		if !strings.Contains(errb.String(), tc.inStderr) {
			t.Errorf("%v: stderr lacks %q:\n%s", tc.args, tc.inStderr, errb.String())
		}
	}
}

func TestNodePlanet_ParseSeeds(t *testing.T) {
	got, err := parseSeeds(" a:7946, 10.0.0.2:7000 ,a:7946")
	if err != nil || strings.Join(got, ",") != "a:7946,10.0.0.2:7000" {
		t.Fatalf("parseSeeds: %v %v, want a:7946,10.0.0.2:7000 (trimmed, duplicates dropped)", got, err)
	}
	if got, err := parseSeeds(""); err != nil || got != nil {
		t.Fatalf("parseSeeds(\"\"): %v %v, want none", got, err)
	}
	for _, bad := range []string{"a", "a:", ":7946", "a:0", "a:1,,b:2"} {
		if _, err := parseSeeds(bad); err == nil {
			t.Errorf("parseSeeds(%q) accepted", bad)
		}
	}
}

// twoPlanetRegions is a planet of two locations 60 ms apart, one single-member
// region at each.
const twoPlanetRegions = `
locations: [loc-east, loc-west]
links:
  - between: [loc-east, loc-west]
    rtt: 60ms
regions:
  - {name: east, location: loc-east, members: 1}
  - {name: west, location: loc-west, members: 1}
edges: []
`

// TestNodePlanet_TwoNodesOfTwoRegions starts two `pangea node` processes' worth
// of planet members in-process, of different regions: each joins the other's
// gossip through --seeds, both lead their region, the pool sees both alive, and
// the RTT gossip measures between them is the topology's (their gossip crosses
// the emulated WAN of their locations). Each serves S3 and its signed status.
func TestNodePlanet_TwoNodesOfTwoRegions(t *testing.T) {
	topoFile := filepath.Join(t.TempDir(), "planet.yaml")
	if err := os.WriteFile(topoFile, []byte(twoPlanetRegions), 0o644); err != nil {
		t.Fatal(err)
	}
	const secret = "planet-node-secret"
	env := map[string]string{"PANGEA_CLUSTER_SECRET": secret, "PANGEA_NO_FSYNC": "true", "PANGEA_TOPOLOGY": topoFile}
	ports := testkit.NewPorts(t)
	gossip := ports.Reserve(2) // memberlist binds UDP and TCP on the port
	east, west := t.TempDir(), t.TempDir()

	ce, outEast, _ := testCLI(env)
	ports.Release(gossip[0])
	lfEast, _ := startServe(t, ce, east, "node", "--data", east, "--addr", "127.0.0.1:0", "--region", "east",
		"--gossip-addr", gossip[0], "--seeds", gossip[0], "--log-level", "warn") // its own address: the first process
	cw, _, _ := testCLI(env)
	ports.Release(gossip[1])
	lfWest, _ := startServe(t, cw, west, "node", "--data", west, "--addr", "127.0.0.1:0", "--region", "west",
		"--gossip-addr", gossip[1], "--seeds", gossip[0], "--log-level", "warn")
	if line := outEast.String(); !strings.Contains(line, "planet member east/n1 at location loc-east: gossip "+gossip[0]) {
		t.Errorf("the node does not say where it gossips:\n%s", line)
	}

	link := 60 * time.Millisecond
	statusOf := func(ep labfile.Endpoints) (adminapi.Status, error) {
		var st adminapi.Status
		cl := &adminapi.Client{Base: ep.Global + planetStatusPrefix, Secret: secret}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		err := cl.Do(ctx, http.MethodGet, "/status", nil, &st)
		return st, err
	}
	for _, v := range []struct {
		name, self string
		lf         labfile.Endpoints
	}{{"east", "east/n1", lfEast.Endpoints}, {"west", "west/n1", lfWest.Endpoints}} {
		var measured time.Duration
		testkit.Eventually(t, 20*time.Second, v.name+"'s status to show both regions led, both members alive and the RTT of the link", func() error {
			st, err := statusOf(v.lf)
			if err != nil {
				return err
			}
			if st.Viewer != v.self || len(st.Regions) != 2 {
				return fmt.Errorf("viewer %q with %d regions, want %s with 2", st.Viewer, len(st.Regions), v.self)
			}
			for _, r := range st.Regions {
				if len(r.Members) != 1 || r.Members[0].Health != "alive" || r.Leader != "n1" || r.Down {
					return fmt.Errorf("region %s: %+v, want n1 alive and leading", r.Name, r)
				}
				if r.Members[0].S3 == "" || r.Members[0].Cluster == "" {
					return fmt.Errorf("region %s: member without addresses: %+v", r.Name, r.Members[0])
				}
			}
			for _, l := range st.Links {
				if l.A == l.B {
					continue
				}
				if time.Duration(l.ConfiguredRTT) != link || l.Samples == 0 {
					return fmt.Errorf("link %s-%s: configured %v, %d samples", l.A, l.B, time.Duration(l.ConfiguredRTT), l.Samples)
				}
				measured = time.Duration(l.Measured)
				if measured < link*9/10 || measured > link*13/10 {
					return fmt.Errorf("measured RTT %v, want %v (-10%%, +30%%)", measured, link)
				}
			}
			return nil
		})
		t.Logf("%s measures %v across a %v link", v.name, measured, link)
	}

	// The cluster port speaks the emulated WAN: a dial from the other location
	// completes its set-up after a round trip of the link, one from the same
	// location at once.
	topo, err := topology.Load(topoFile)
	if err != nil {
		t.Fatal(err)
	}
	wn := wan.New(topo, wan.Options{})
	for _, d := range []struct {
		from     string
		min, max time.Duration
	}{{"loc-east", link * 9 / 10, 10 * link}, {"loc-west", 0, link / 2}} {
		ep, err := wn.Endpoint(d.from)
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		conn, err := ep.DialTCP(t.Context(), lfWest.ClusterAddrs["west"][0])
		took := time.Since(began)
		if err != nil {
			t.Fatalf("WAN dial of west's cluster port from %s: %v", d.from, err)
		}
		conn.Close()
		if took < d.min || took > d.max {
			t.Errorf("WAN dial of west's cluster port from %s took %v, want %v to %v", d.from, took, d.min, d.max)
		}
	}

	// pangea ctl prints the node's view; the status needs the secret; the chaos
	// controls are the lab's alone; S3 is served as before.
	c, out, errb := testCLI(map[string]string{"PANGEA_CLUSTER_SECRET": secret})
	if code := c.run(t.Context(), []string{"ctl", "--admin", lfWest.Endpoints.Global + planetStatusPrefix, "status"}); code != 0 ||
		!strings.Contains(out.String(), "health as gossip at west/n1 sees it") || !strings.Contains(out.String(), "(60ms)") {
		t.Errorf("ctl status: exit %d\n%s%s", code, out.String(), errb.String())
	}
	resp, err := http.Get(lfWest.Endpoints.Global + planetStatusPrefix + "/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned status: %d, want 401", resp.StatusCode)
	}
	cl := &adminapi.Client{Base: lfWest.Endpoints.Global + planetStatusPrefix, Secret: secret}
	var ae *adminapi.APIError
	if err := cl.Do(t.Context(), http.MethodPost, "/partition", adminapi.PairRequest{A: "loc-east", B: "loc-west"}, nil); !errors.As(err, &ae) || ae.Status != http.StatusNotImplemented {
		t.Errorf("partition through a node: %v, want 501", err)
	}
	s3c := regionS3(lfWest, lfWest.Endpoints.Global, "west")
	if _, err := s3c.CreateBucket(t.Context(), &s3.CreateBucketInput{
		Bucket:                    aws.String("west-bucket"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "west"},
	}); err != nil {
		t.Fatalf("CreateBucket on west: %v", err)
	}
	body := randomBody(t, 4<<10)
	s3Put(t, s3c, "west-bucket", "obj", body)
	mustEqualBody(t, "GET on west", s3Get(t, s3c, "west-bucket", "obj"), body)

	// The east node serves west's bucket, forwarding; so does a `pangea edge`
	// at loc-east, which also creates a bucket in west.
	mustEqualBody(t, "GET of west's bucket through east", s3Get(t, regionS3(lfEast, lfEast.Endpoints.Global, "west"), "west-bucket", "obj"), body)
	edgeS3 := ports.Reserve(1)[0]
	edgeGossip := ports.Reserve(1)[0]
	ports.Release(edgeS3)
	ports.Release(edgeGossip)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	ced, edgeOut, edgeErr := testCLI(env)
	go func() {
		done <- ced.run(ctx, []string{"edge", "--location", "loc-east", "--addr", edgeS3, "--gossip-addr", edgeGossip, "--seeds", gossip[0], "--log-level", "warn"})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("pangea edge exited %d: %s", code, edgeErr.String())
		}
	})
	edgeURL := "http://" + edgeS3
	ec := regionS3(lfWest, edgeURL, "west")
	testkit.Eventually(t, 20*time.Second, "the edge to serve west's bucket", func() error {
		_, err := ec.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("west-bucket"), Key: aws.String("obj")})
		return err
	})
	if !strings.Contains(edgeOut.String(), "edge-loc-east at location loc-east") {
		t.Errorf("the edge does not say where it stands: %s", edgeOut.String())
	}
	if _, err := ec.CreateBucket(t.Context(), &s3.CreateBucketInput{
		Bucket:                    aws.String("via-edge"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "west"},
	}); err != nil {
		t.Fatalf("CreateBucket in west through the edge: %v", err)
	}
	s3Put(t, ec, "via-edge", "obj", body)
	mustEqualBody(t, "GET through west of the edge's bucket", s3Get(t, s3c, "via-edge", "obj"), body)
}

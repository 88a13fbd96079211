package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/labfile"
	"github.com/pangea-s3/pangea/integration/testkit"
)

func TestRun_LabStartsThreeMembersEachServingS3(t *testing.T) {
	dir := t.TempDir()
	c, out, _ := testCLI(map[string]string{"PANGEA_NO_FSYNC": "true"})
	lf, stop := startServe(t, c, dir, "lab", "--regions", "1", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn")

	urls := lf.Endpoints.Regions["us-east-1"]
	if len(urls) != 3 {
		t.Fatalf("lab.json lists %d endpoints for us-east-1, want 3: %v", len(urls), lf.Endpoints.Regions)
	}
	if len(lf.Edges) != 1 || lf.Endpoints.Global != lf.Edges[0].URL || lf.Edges[0].Location != "us-east-1" {
		t.Errorf("global endpoint %q, want the us-east-1 edge's of %+v", lf.Endpoints.Global, lf.Edges)
	}
	if lf.ClusterSecret == "" || len(lf.ClusterAddrs["us-east-1"]) != 3 {
		t.Errorf("lab.json lacks the cluster secret or addresses: %+v", lf)
	}
	// A bucket created through one member is listed by every member.
	createBucket(t, urls[1]+"/lab-bucket", lf.AccessKey, lf.SecretKey)
	for i, u := range urls {
		status, body := signedGet(t, u+"/", lf.AccessKey, lf.SecretKey)
		if status != http.StatusOK || !strings.Contains(body, "<Name>lab-bucket</Name>") {
			t.Fatalf("ListBuckets via member %d (%s): %d %s", i+1, u, status, body)
		}
	}
	// pangea ctl reaches the region with what lab.json says, flags before or after
	// the command.
	for _, args := range [][]string{
		{"ctl", "--cluster-addr", lf.ClusterAddrs["us-east-1"][2], "--cluster-secret", lf.ClusterSecret, "status"},
		{"ctl", "status", "--cluster-addr", lf.ClusterAddrs["us-east-1"][1], "--cluster-secret", lf.ClusterSecret},
	} {
		ctl, ctlOut, ctlErr := testCLI(nil)
		if code := ctl.run(t.Context(), args); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, ctlErr.String())
		}
		for _, want := range []string{"n1", "n2", "n3", "leader", "Voter"} {
			if !strings.Contains(ctlOut.String(), want) {
				t.Errorf("%v: status lacks %q:\n%s", args, want, ctlOut.String())
			}
		}
	}
	if strings.Contains(out.String(), lf.ClusterSecret) {
		t.Error("the lab printed its cluster secret")
	}
	if line, _, _ := strings.Cut(out.String(), "\n"); !strings.Contains(line, "nodes_per_region=3") || strings.Contains(line, "peers=") {
		t.Errorf("the lab's config line should show its own fields, not a node's: %s", line)
	}
	// pangea bench --spread drives every member; an object PUT through one member
	// is read back through the others.
	if !testing.Short() {
		b, bOut, bErr := testCLI(nil)
		args := []string{"bench", "--lab", dir, "--spread", "--duration", "200ms", "--concurrency", "3", "--size", "1KiB"}
		if code := b.run(t.Context(), args); code != 0 {
			t.Fatalf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, bOut.String(), bErr.String())
		}
		if !strings.Contains(bOut.String(), "over 3 endpoints") {
			t.Errorf("bench --spread output lacks %q:\n%s", "over 3 endpoints", bOut.String())
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestRun_NodeRegionFromStaticPeers(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	ports := testkit.NewPorts(t)
	addrs := ports.Reserve(len(dirs))
	peers := fmt.Sprintf("n1=%s,n2=%s,n3=%s", addrs[0], addrs[1], addrs[2])
	env := map[string]string{"PANGEA_CLUSTER_SECRET": "s3cr3t", "PANGEA_NO_FSYNC": "true"}
	var files []labfile.File
	for i, dir := range dirs {
		c, _, _ := testCLI(env)
		ports.Release(addrs[i]) // the member binds its address from --peers now
		lf, _ := startServe(t, c, dir, "node", "--data", dir, "--addr", "127.0.0.1:0", "--id", fmt.Sprintf("n%d", i+1),
			"--peers", peers, "--log-level", "warn")
		files = append(files, lf)
	}
	createBucket(t, files[2].Endpoints.Global+"/peers-bucket", files[2].AccessKey, files[2].SecretKey)
	if _, body := signedGet(t, files[0].Endpoints.Global+"/", files[0].AccessKey, files[0].SecretKey); !strings.Contains(body, "peers-bucket") {
		t.Fatalf("member n1 does not list the bucket created through n3: %s", body)
	}
	// The wrong secret gets nowhere.
	ctl, _, ctlErr := testCLI(nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if code := ctl.run(ctx, []string{"ctl", "--cluster-addr", addrs[0], "--cluster-secret", "wrong", "status"}); code != 1 ||
		!strings.Contains(ctlErr.String(), "handshake") {
		t.Fatalf("ctl with a wrong secret: exit %d, stderr %s", code, ctlErr.String())
	}
}

func TestConfig_PeersAndSecret(t *testing.T) {
	ps, err := parsePeers("n1=127.0.0.1:7000, n2=host:7001")
	if err != nil || len(ps) != 2 || ps[1].ID != "n2" || ps[1].Addr != "host:7001" {
		t.Fatalf("parsePeers: %+v %v", ps, err)
	}
	for _, bad := range []string{"n1", "n1=nohostport", "=a:1", "n1=a:1,n1=b:2", "n 1=a:1"} {
		if _, err := parsePeers(bad); err == nil {
			t.Errorf("parsePeers(%q) accepted", bad)
		}
	}
	cfg := DefaultConfig()
	cfg.Peers = ps
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("several peers without a secret: %v", err)
	}
	cfg.ClusterSecret = "s"
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid peers: %v", err)
	}
	cfg.ID = "n9"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "n9") {
		t.Errorf("peers without this member: %v", err)
	}
	cfg.Join = true
	if err := cfg.Validate(); err != nil {
		t.Errorf("joining member: %v", err)
	}
	if r := cfg.Redacted(); strings.Contains(r, "cluster_secret=s ") || !strings.Contains(r, "cluster_secret=<redacted>") {
		t.Errorf("Redacted: %s", r)
	}
}

// signRequest signs req (no body) with SigV4 for us-east-1.
func signRequest(t *testing.T, req *http.Request, access, secret string) {
	t.Helper()
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	creds := aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestRun_LabRestartOnNewPortsKeepsData restarts the lab on the same data: its
// members come back on new cluster ports and still find each other by ID.
func TestRun_LabRestartOnNewPortsKeepsData(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PANGEA_NO_FSYNC": "true"}
	c, _, _ := testCLI(env)
	lf, stop := startServe(t, c, dir, "lab", "--regions", "1", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "error")
	createBucket(t, lf.Endpoints.Global+"/kept-in-lab", lf.AccessKey, lf.SecretKey)
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	c2, _, errb := testCLI(env)
	lf2, _ := startServe(t, c2, dir, "lab", "--regions", "1", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "error")
	for _, u := range lf2.Endpoints.Regions["us-east-1"] {
		if status, body := signedGet(t, u+"/", lf2.AccessKey, lf2.SecretKey); status != http.StatusOK || !strings.Contains(body, "kept-in-lab") {
			t.Fatalf("after restart, %s: %d %s\nstderr: %s", u, status, body, errb.String())
		}
	}
}

// TestRun_HealthCommand checks `pangea health` against a one-member region: ready
// and live while it runs, a failure with a hint once nothing listens, and a failure
// against a server that is not Pangea.
func TestRun_HealthCommand(t *testing.T) {
	dir := t.TempDir()
	c, _, _ := testCLI(map[string]string{"PANGEA_CLUSTER_SECRET": "health-test-secret"})
	lf, stop := startServe(t, c, dir, "node", "--id", "n1", "--data", dir, "--addr", "127.0.0.1:0", "--cluster-addr", "127.0.0.1:0", "--log-level", "warn")
	url := lf.Endpoints.Global

	health := func(args ...string) (int, string, string) {
		hc, out, errb := testCLI(map[string]string{"PANGEA_ENDPOINT": url})
		code := hc.run(context.Background(), append([]string{"health"}, args...))
		return code, out.String(), errb.String()
	}
	// The member answers requests as soon as it listens, ready once it has elected itself.
	testkit.Eventually(t, 10*time.Second, "readiness", func() error {
		if code, out, errOut := health(); code != 0 {
			return fmt.Errorf("exit %d: %s%s", code, out, errOut)
		}
		return nil
	})
	if code, out, errOut := health("--live"); code != 0 || !strings.Contains(out, "/_pangea/health/live: ok") {
		t.Fatalf("live: exit %d, %q %q", code, out, errOut)
	}
	if code, out, _ := health("--endpoint", url+"/"); code != 0 || !strings.Contains(out, "/_pangea/health/ready: ok") {
		t.Fatalf("ready with a trailing slash: exit %d, %q", code, out)
	}
	if code, _, _ := health("extra"); code != 2 {
		t.Fatalf("extra argument: exit %d, want 2", code)
	}
	if code := stop(); code != 0 {
		t.Fatalf("node exit %d", code)
	}
	if code, _, errOut := health(); code != 1 || !strings.Contains(errOut, "is a Pangea node listening there?") {
		t.Fatalf("stopped node: exit %d, %q", code, errOut)
	}

	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	if code, _, errOut := health("--endpoint", other.URL); code != 1 || !strings.Contains(errOut, "without a health document") {
		t.Fatalf("not Pangea: exit %d, %q", code, errOut)
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/labfile"
	"github.com/pangea-s3/pangea/integration/testkit"
)

// memberS3 returns an aws-sdk-go-v2 client for one S3 endpoint of lab.json, with
// the SDK's default checksums and no retries, so that a failure is seen as such.
func memberS3(lf labfile.File, endpoint string) *s3.Client {
	cfg := aws.Config{
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(lf.AccessKey, lf.SecretKey, ""),
		HTTPClient:                 &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		RetryMaxAttempts:           1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(endpoint)
	})
}

// randomBody returns n random bytes.
func randomBody(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// s3Put PUTs body as bucket/key through c and fails the test on error.
func s3Put(t *testing.T, c *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("PutObject %s/%s: %v", bucket, key, err)
	}
}

// s3Get GETs bucket/key through c and fails the test on error.
func s3Get(t *testing.T, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject %s/%s: reading the body: %v", bucket, key, err)
	}
	return b
}

// mustEqualBody fails the test unless got is want, byte for byte.
func mustEqualBody(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes, want the %d bytes written (equal prefix %d)", what, len(got), len(want), commonPrefix(got, want))
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// runCtl runs `pangea ctl args...` with env and returns its exit code, stdout and stderr.
func runCtl(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	c, out, errb := testCLI(env)
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	code := c.run(ctx, append([]string{"ctl"}, args...))
	return code, out.String(), errb.String()
}

// statusServers parses the member table of `pangea ctl status` into ID -> suffrage.
func statusServers(t *testing.T, out string) map[string]string {
	t.Helper()
	servers := map[string]string{}
	table := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "ID" && f[1] == "ADDRESS" && f[2] == "SUFFRAGE":
			table = true
		case table && len(f) >= 3:
			servers[f[0]] = f[2]
		}
	}
	if !table {
		t.Fatalf("ctl status printed no member table:\n%s", out)
	}
	return servers
}

// waitStatus polls `pangea ctl status` through clusterAddr until ok accepts the
// member table, and returns the last output.
func waitStatus(t *testing.T, env map[string]string, clusterAddr, what string, ok func(map[string]string) bool) string {
	t.Helper()
	var last string
	testkit.Eventually(t, 20*time.Second, fmt.Sprintf("%s (ctl status through %s)", what, clusterAddr), func() error {
		code, out, errOut := runCtl(t, env, "--cluster-addr", clusterAddr, "status")
		if code == 0 && ok(statusServers(t, out)) {
			last = out
			return nil
		}
		return fmt.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	})
	return last
}

// TestCtl_JoinAddRemoveThroughCommands grows a 3-member region started from static
// --peers with a 4th member started with --join and added by `pangea ctl add`,
// checks that the new member serves the region's data, then shrinks it with
// `pangea ctl remove` and checks that the rest still takes writes.
func TestCtl_JoinAddRemoveThroughCommands(t *testing.T) {
	const secret = "membership-s3cr3t"
	env := map[string]string{"PANGEA_CLUSTER_SECRET": secret, "PANGEA_NO_FSYNC": "true"}
	ports := testkit.NewPorts(t)
	addrs := ports.Reserve(3)
	peers := fmt.Sprintf("n1=%s,n2=%s,n3=%s", addrs[0], addrs[1], addrs[2])
	var files []labfile.File
	var logs, outs []*syncBuffer
	var stops []func() int
	for i := range 3 {
		dir := t.TempDir()
		c, outb, errb := testCLI(env)
		ports.Release(addrs[i]) // the member binds its address from --peers now
		lf, stop := startServe(t, c, dir, "node", "--data", dir, "--addr", "127.0.0.1:0", "--id", fmt.Sprintf("n%d", i+1),
			"--peers", peers, "--log-level", "warn")
		files, logs, outs, stops = append(files, lf), append(logs, errb), append(outs, outb), append(stops, stop)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, l := range logs {
				t.Logf("n%d log:\n%s", i+1, l.String())
			}
		}
	})
	n1Cluster := addrs[0]
	waitStatus(t, env, n1Cluster, "a leader and three voters", func(s map[string]string) bool {
		return len(s) == 3 && s["n1"] == "Voter" && s["n2"] == "Voter" && s["n3"] == "Voter"
	})

	// Data written before n4 exists: n4 must catch up on it.
	const bucket = "membership"
	old := memberS3(files[0], files[0].Endpoints.Global)
	if _, err := old.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket through n1: %v", err)
	}
	before := randomBody(t, 300<<10)
	s3Put(t, old, bucket, "before-join", before)

	// n4 starts with --join on an ephemeral cluster port, which lab.json reports.
	dir4 := t.TempDir()
	c4, out4, errb4 := testCLI(env)
	lf4, _ := startServe(t, c4, dir4, "node", "--data", dir4, "--addr", "127.0.0.1:0", "--id", "n4", "--join",
		"--cluster-addr", "127.0.0.1:0", "--log-level", "warn")
	logs = append(logs, errb4)
	if !strings.Contains(out4.String(), "join=true") {
		t.Errorf("n4's config line does not say join=true:\n%s", out4.String())
	}
	n4Cluster := lf4.ClusterAddrs["us-east-1"]
	if len(n4Cluster) != 1 || strings.HasSuffix(n4Cluster[0], ":0") {
		t.Fatalf("n4's lab.json cluster addresses %v: want its one bound address", lf4.ClusterAddrs)
	}
	// Waiting to be added, n4 is not a member of anything yet.
	if code, out, _ := runCtl(t, env, "--cluster-addr", n1Cluster, "status"); code != 0 || statusServers(t, out)["n4"] != "" {
		t.Fatalf("before ctl add, status lists n4 (exit %d):\n%s", code, out)
	}

	// pangea ctl add through n2's cluster address, the secret from PANGEA_CLUSTER_SECRET.
	code, out, errOut := runCtl(t, env, "add", "n4", n4Cluster[0], "--cluster-addr", addrs[1])
	if code != 0 || !strings.Contains(out, "added n4 at "+n4Cluster[0]) {
		t.Fatalf("ctl add n4: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	waitStatus(t, env, n1Cluster, "n4 as a voter", func(s map[string]string) bool {
		return len(s) == 4 && s["n4"] == "Voter"
	})
	// n4 itself knows it is a voter of the region.
	waitStatus(t, env, n4Cluster[0], "n4's own view listing four voters", func(s map[string]string) bool {
		return len(s) == 4 && s["n1"] == "Voter" && s["n2"] == "Voter" && s["n3"] == "Voter" && s["n4"] == "Voter"
	})

	// Objects PUT through an old member read back through n4 with identical bytes:
	// one written before the join (catch-up), one after.
	n4 := memberS3(lf4, lf4.Endpoints.Global)
	after := randomBody(t, 1<<20+17)
	s3Put(t, memberS3(files[2], files[2].Endpoints.Global), bucket, "after-join", after)
	mustEqualBody(t, "GET before-join through n4", s3Get(t, n4, bucket, "before-join"), before)
	mustEqualBody(t, "GET after-join through n4", s3Get(t, n4, bucket, "after-join"), after)

	// pangea ctl remove n2, through n1 (the member queried), secret as a flag.
	flagOnly := map[string]string{"PANGEA_NO_FSYNC": "true"}
	code, out, errOut = runCtl(t, flagOnly, "--cluster-addr", n1Cluster, "--cluster-secret", secret, "remove", "n2")
	if code != 0 || !strings.Contains(out, "removed n2") {
		t.Fatalf("ctl remove n2: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	st := waitStatus(t, env, n1Cluster, "n2 gone", func(s map[string]string) bool {
		_, has := s["n2"]
		return !has
	})
	if s := statusServers(t, st); len(s) != 3 || s["n1"] != "Voter" || s["n3"] != "Voter" || s["n4"] != "Voter" {
		t.Fatalf("after ctl remove n2, status lists %v, want n1, n3 and n4 as voters:\n%s", s, st)
	}
	// The removed node notices and exits by itself, with status 0 and what to do.
	testkit.Eventually(t, 20*time.Second, "n2 to exit after its removal", func() error {
		if !strings.Contains(outs[1].String(), "n2 was removed from region us-east-1; exiting") {
			return fmt.Errorf("n2's stdout so far: %q", outs[1].String())
		}
		return nil
	})
	if code := stops[1](); code != 0 {
		t.Fatalf("removed n2 exited with %d, want 0\nstdout: %s", code, outs[1].String())
	}

	// The region of n1, n3 and n4 still takes writes (through the new member) and
	// serves them through the others. Removing the leader costs an election, so
	// the first write may wait for the new leader.
	still := randomBody(t, 64<<10)
	testkit.Eventually(t, 20*time.Second, "a PUT through n4 after removing n2", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := n4.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("after-remove"), Body: bytes.NewReader(still)})
		return err
	})
	mustEqualBody(t, "GET after-remove through n1", s3Get(t, old, bucket, "after-remove"), still)
	mustEqualBody(t, "GET after-remove through n3", s3Get(t, memberS3(files[2], files[2].Endpoints.Global), bucket, "after-remove"), still)
}

// TestCtl_WrongSecret checks that `pangea ctl` with a wrong cluster secret fails
// (status, add and remove alike), says how to fix it, and changes nothing.
func TestCtl_WrongSecret(t *testing.T) {
	const secret = "right-secret"
	env := map[string]string{"PANGEA_CLUSTER_SECRET": secret, "PANGEA_NO_FSYNC": "true"}
	dir := t.TempDir()
	c, _, _ := testCLI(env)
	lf, _ := startServe(t, c, dir, "node", "--data", dir, "--addr", "127.0.0.1:0", "--id", "n1",
		"--cluster-addr", "127.0.0.1:0", "--log-level", "error")
	addr := lf.ClusterAddrs["us-east-1"][0]
	waitStatus(t, env, addr, "the single member", func(s map[string]string) bool { return s["n1"] == "Voter" })

	wrong := map[string]string{"PANGEA_CLUSTER_SECRET": "wrong-secret"}
	calls := [][]string{{"status"}, {"add", "n9", "127.0.0.1:1"}, {"remove", "n1"}}
	stderrs := make([]string, len(calls))
	for i, args := range calls {
		code, out, errOut := runCtl(t, wrong, append([]string{"--cluster-addr", addr}, args...)...)
		stderrs[i] = errOut
		if code != 1 {
			t.Errorf("ctl %v with a wrong secret: exit %d, want 1\nstdout: %s\nstderr: %s", args, code, out, errOut)
		}
		if !strings.Contains(errOut, "cluster secret") {
			t.Errorf("ctl %v with a wrong secret: stderr does not name the cluster secret: %q", args, errOut)
		}
		if strings.Contains(out, "added") || strings.Contains(out, "removed") {
			t.Errorf("ctl %v with a wrong secret reported success: %s", args, out)
		}
	}
	t.Run("says what to do", func(t *testing.T) {
		for i, errOut := range stderrs {
			if !strings.Contains(errOut, "PANGEA_CLUSTER_SECRET") && !strings.Contains(errOut, "--cluster-secret") {
				t.Errorf("ctl %v with a wrong secret: stderr does not say where to set the region's secret (PANGEA_CLUSTER_SECRET or --cluster-secret): %q", calls[i], errOut)
			}
		}
	})
	st := waitStatus(t, env, addr, "the right secret to still work", func(map[string]string) bool { return true })
	if s := statusServers(t, st); len(s) != 1 || s["n1"] != "Voter" {
		t.Fatalf("membership changed by calls with a wrong secret: %v\n%s", s, st)
	}

	// No secret at all is a usage error that says where to set it.
	code, _, errOut := runCtl(t, nil, "--cluster-addr", addr, "status")
	if code != 2 || !strings.Contains(errOut, "PANGEA_CLUSTER_SECRET") {
		t.Errorf("ctl without a secret: exit %d, want 2 with a hint: %q", code, errOut)
	}
}

// TestLab_NodesPerRegion runs `pangea lab` with a non-default --nodes-per-region
// and checks lab.json, the region's membership and that every member serves reads
// of an object written through the first.
func TestLab_NodesPerRegion(t *testing.T) {
	for _, n := range []int{1, 5} {
		t.Run(fmt.Sprintf("%d", n), func(t *testing.T) {
			dir := t.TempDir()
			c, out, errb := testCLI(map[string]string{"PANGEA_NO_FSYNC": "true"})
			lf, stop := startServe(t, c, dir, "lab", "--regions", "1", "--nodes-per-region", fmt.Sprint(n), "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn")
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("lab log:\n%s", errb.String())
				}
			})
			urls := lf.Endpoints.Regions["us-east-1"]
			if len(lf.Endpoints.Regions) != 1 || len(urls) != n {
				t.Fatalf("lab.json lists %v, want %d endpoints for us-east-1 only", lf.Endpoints.Regions, n)
			}
			if len(lf.Edges) != 1 || lf.Endpoints.Global != lf.Edges[0].URL {
				t.Errorf("global endpoint %q, want the one edge's of %+v", lf.Endpoints.Global, lf.Edges)
			}
			if distinct := slices.Compact(slices.Sorted(slices.Values(urls))); len(distinct) != n {
				t.Errorf("lab.json endpoints are not distinct: %v", urls)
			}
			if got := len(lf.ClusterAddrs["us-east-1"]); got != n {
				t.Errorf("lab.json lists %d cluster addresses, want %d: %v", got, n, lf.ClusterAddrs)
			}
			if !strings.Contains(out.String(), fmt.Sprintf("nodes_per_region=%d", n)) ||
				!strings.Contains(out.String(), fmt.Sprintf("with %d members", n)) {
				t.Errorf("the lab's output does not say %d members:\n%s", n, out.String())
			}

			// The region's membership, as pangea ctl sees it through the last member.
			env := map[string]string{"PANGEA_CLUSTER_SECRET": lf.ClusterSecret}
			waitStatus(t, env, lf.ClusterAddrs["us-east-1"][n-1], fmt.Sprintf("%d voters", n), func(s map[string]string) bool {
				if len(s) != n {
					return false
				}
				for i := range n {
					if s[fmt.Sprintf("n%d", i+1)] != "Voter" {
						return false
					}
				}
				return true
			})

			first := memberS3(lf, urls[0])
			const bucket = "lab-members"
			if _, err := first.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatalf("CreateBucket through %s: %v", urls[0], err)
			}
			body := randomBody(t, 200<<10+3)
			s3Put(t, first, bucket, "obj", body)
			for i, u := range urls {
				mustEqualBody(t, fmt.Sprintf("GET through member %d (%s)", i+1, u), s3Get(t, memberS3(lf, u), bucket, "obj"), body)
			}
			if code := stop(); code != 0 {
				t.Fatalf("lab exit %d", code)
			}
		})
	}
	// Out-of-range sizes are refused with the flag's name.
	for _, bad := range []string{"0", "10"} {
		c, _, errb := testCLI(nil)
		if code := c.run(t.Context(), []string{"lab", "--nodes-per-region", bad, "--data", t.TempDir(), "--addr", "127.0.0.1:0"}); code != 2 ||
			!strings.Contains(errb.String(), "--nodes-per-region") {
			t.Errorf("lab --nodes-per-region %s: exit %d, want 2 naming the flag: %s", bad, code, errb.String())
		}
	}
}

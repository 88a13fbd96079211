package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/labfile"
	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/node"
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testCLI runs commands with a controlled environment, never the host's.
func testCLI(envv map[string]string) (*cli, *syncBuffer, *syncBuffer) {
	out, errb := &syncBuffer{}, &syncBuffer{}
	return &cli{stdout: out, stderr: errb, getenv: func(k string) string { return envv[k] }}, out, errb
}

// startServe runs `pangea <args>` in the background and returns lab.json once the
// server listens, and a stop function that cancels it and returns its exit code.
//
// A run that fails to bind an address already in use is started again until the
// deadline: an address from testkit.Ports, released just before this call, may be
// taken in between for a moment (an outgoing connection's local port).
func startServe(t *testing.T, c *cli, dir string, args ...string) (labfile.File, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := c.stderr.(*syncBuffer)
	var code chan int
	var runFrom int // where the current run's output starts in stderr
	start := func() {
		code, runFrom = make(chan int, 1), len(stderr.String())
		go func(code chan<- int) { code <- c.run(ctx, args) }(code)
	}
	start()
	var lf labfile.File
	testkit.Eventually(t, 10*time.Second, "lab.json", func() error {
		select {
		case n := <-code:
			if out := stderr.String()[runFrom:]; n != 0 && strings.Contains(out, "address already in use") {
				start()
				return fmt.Errorf("pangea %v exited with %d, started again: %s", args, n, out)
			}
			t.Fatalf("pangea %v exited with %d before listening; stderr:\n%s", args, n, stderr.String())
		default:
		}
		var err error
		lf, err = labfile.Read(dir)
		return err
	})
	stopped := false
	var result int
	stop := func() int {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-code:
			case <-time.After(30 * time.Second):
				t.Fatal("pangea did not stop within 30s of cancellation")
			}
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return lf, stop
}

func signedGet(t *testing.T, url, access, secret string) (int, string) {
	t.Helper()
	return signedDo(t, http.MethodGet, url, access, secret)
}

// createBucket creates a bucket through url (the endpoint plus "/name") and fails
// the test unless it answers 200.
func createBucket(t *testing.T, url, access, secret string) {
	t.Helper()
	if status, body := signedDo(t, http.MethodPut, url, access, secret); status != http.StatusOK {
		t.Fatalf("CreateBucket %s: %d %s", url, status, body)
	}
}

// signedDo sends a body-less request signed with SigV4 and returns status and body.
func signedDo(t *testing.T, method, url, access, secret string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	signRequest(t, req, access, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRun_NodeWritesLabJSONServesAndStops(t *testing.T) {
	dir := t.TempDir()
	c, out, _ := testCLI(nil)
	lf, stop := startServe(t, c, dir, "node", "--data", dir, "--addr", "127.0.0.1:0", "--no-fsync", "--log-level", "warn")

	url := lf.Endpoints.Global
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Fatalf("endpoint %q: want the real bound port", url)
	}
	if got := lf.Endpoints.Regions["us-east-1"]; len(got) != 1 || got[0] != url {
		t.Fatalf("regions %v", lf.Endpoints.Regions)
	}
	if lf.AccessKey != "pangea" || lf.SecretKey != "pangea-secret" {
		t.Fatalf("credentials %q/%q", lf.AccessKey, lf.SecretKey)
	}
	status, body := signedGet(t, url+"/", lf.AccessKey, lf.SecretKey)
	if status != http.StatusOK || !strings.Contains(body, "ListAllMyBucketsResult") {
		t.Fatalf("ListBuckets: %d %s", status, body)
	}
	if status, _ := signedGet(t, url+"/", lf.AccessKey, "wrong"); status != http.StatusForbidden {
		t.Fatalf("wrong secret: %d, want 403", status)
	}
	if strings.Contains(out.String(), "pangea-secret") {
		t.Errorf("node printed the secret key:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "secret_key=<redacted>") {
		t.Errorf("effective config not printed:\n%s", out.String())
	}

	if code := stop(); code != 0 {
		t.Fatalf("exit code %d after cancellation", code)
	}
	if _, err := os.Stat(labfile.Path(dir)); !os.IsNotExist(err) {
		t.Errorf("lab.json still present after a clean stop: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second); err == nil {
		conn.Close()
		t.Error("port still accepts connections after stop")
	}
}

func TestRun_NodeRestartKeepsBuckets(t *testing.T) {
	dir := t.TempDir()
	c, _, _ := testCLI(nil)
	lf, stop := startServe(t, c, dir, "node", "--data", dir, "--addr", "127.0.0.1:0")
	createBucket(t, lf.Endpoints.Global+"/kept", lf.AccessKey, lf.SecretKey)
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	c2, _, _ := testCLI(nil)
	lf2, _ := startServe(t, c2, dir, "node", "--data", dir, "--addr", "127.0.0.1:0")
	if _, body := signedGet(t, lf2.Endpoints.Global+"/", lf2.AccessKey, lf2.SecretKey); !strings.Contains(body, "<Name>kept</Name>") {
		t.Fatalf("bucket lost across restart: %s", body)
	}
}

// TestRun_StandaloneNode checks --standalone: node.Local behind the S3 endpoint, no
// raft files, data kept across a restart, and flags that need raft refused.
func TestRun_StandaloneNode(t *testing.T) {
	dir := t.TempDir()
	c, out, _ := testCLI(nil)
	lf, stop := startServe(t, c, dir, "node", "--standalone", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn")
	createBucket(t, lf.Endpoints.Global+"/solo", lf.AccessKey, lf.SecretKey)
	if len(lf.ClusterAddrs) != 0 {
		t.Errorf("standalone lab.json lists cluster addresses %v", lf.ClusterAddrs)
	}
	if !strings.Contains(out.String(), "standalone=true") {
		t.Errorf("start-up line does not say standalone:\n%s", out.String())
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); !os.IsNotExist(err) {
		t.Errorf("standalone node wrote a raft log: %v", err)
	}
	c2, _, _ := testCLI(nil)
	lf2, _ := startServe(t, c2, dir, "node", "--standalone", "--data", dir, "--addr", "127.0.0.1:0")
	if _, body := signedGet(t, lf2.Endpoints.Global+"/", lf2.AccessKey, lf2.SecretKey); !strings.Contains(body, "<Name>solo</Name>") {
		t.Fatalf("bucket lost across restart: %s", body)
	}

	c3, _, errOut := testCLI(nil)
	if code := c3.run(context.Background(), []string{"node", "--standalone", "--peers", "n1=127.0.0.1:7000", "--data", t.TempDir()}); code != 2 {
		t.Fatalf("--standalone with --peers: exit %d, want 2 (%s)", code, errOut.String())
	}
}

func TestRun_LabBannerAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	c, out, _ := testCLI(map[string]string{
		"PANGEA_DATA":       dir,
		"PANGEA_ADDR":       "127.0.0.1:0",
		"PANGEA_ACCESS_KEY": "labkey",
		"PANGEA_SECRET_KEY": "labsecret",
		"PANGEA_NO_FSYNC":   "true",
	})
	lf, stop := startServe(t, c, dir, "lab", "--regions", "1")
	if lf.AccessKey != "labkey" || lf.SecretKey != "labsecret" {
		t.Fatalf("env credentials not used: %+v", lf)
	}
	testkit.Eventually(t, 5*time.Second, "banner", func() error {
		if !strings.Contains(out.String(), "Ctrl-C") {
			return fmt.Errorf("stdout so far: %q", out.String())
		}
		return nil
	})
	readyURL := lf.Endpoints.Global + "/_pangea/health/ready"
	for _, want := range []string{lf.Endpoints.Global, "us-east-1", "labkey", "labsecret", labfile.Name, "aws --endpoint-url", readyURL} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	testkit.Eventually(t, 10*time.Second, "the banner's readiness check to answer 200", func() error {
		resp, err := http.Get(readyURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestRun_BenchAgainstNode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a short benchmark")
	}
	dir := t.TempDir()
	c, _, _ := testCLI(nil)
	startServe(t, c, dir, "node", "--data", dir, "--addr", "127.0.0.1:0", "--no-fsync", "--log-level", "error")

	b, out, errb := testCLI(nil)
	code := b.run(context.Background(), []string{"bench", "--lab", dir, "--duration", "300ms", "--concurrency", "2", "--size", "1KiB,20KiB"})
	if code != 0 {
		t.Fatalf("bench exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"ops/s", "1KiB", "20KiB", "put", "get", "p99"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRun_UsageAndErrors(t *testing.T) {
	cases := []struct {
		args     []string
		env      map[string]string
		code     int
		inStdout string
		inStderr string
	}{
		{args: nil, code: 2, inStderr: "Commands:"},
		{args: []string{"frobnicate"}, code: 2, inStderr: `unknown command "frobnicate"`},
		{args: []string{"help"}, code: 0, inStdout: "Commands:"},
		{args: []string{"--help"}, code: 0, inStdout: "Commands:"},
		{args: []string{"help", "node"}, code: 0, inStderr: "-region"},
		{args: []string{"node", "-h"}, code: 0, inStderr: "PANGEA_DATA"},
		{args: []string{"version"}, code: 0, inStdout: "go go1."},
		{args: []string{"node", "--bogus"}, code: 2, inStderr: "bogus"},
		{args: []string{"node", "extra"}, code: 2, inStderr: "unexpected arguments"},
		{args: []string{"node", "--addr", "nope"}, code: 2, inStderr: "HOST:PORT"},
		{args: []string{"node", "--addr", "127.0.0.1:99999"}, code: 2, inStderr: "port"},
		{args: []string{"node", "--region", "US_EAST"}, code: 2, inStderr: "region"},
		{args: []string{"node", "--region", ""}, code: 2, inStderr: "region"},
		{args: []string{"node", "--log-level", "loud"}, code: 2, inStderr: "log level"},
		{args: []string{"node", "--data", ""}, code: 2, inStderr: "data directory"},
		{args: []string{"node"}, env: map[string]string{"PANGEA_NO_FSYNC": "maybe"}, code: 2, inStderr: "PANGEA_NO_FSYNC"},
		{args: []string{"node"}, env: map[string]string{"PANGEA_UPLOAD_MIN_RATE": "fast"}, code: 2, inStderr: "PANGEA_UPLOAD_MIN_RATE"},
		{args: []string{"node"}, env: map[string]string{"PANGEA_UPLOAD_STALL": "20"}, code: 2, inStderr: "PANGEA_UPLOAD_STALL"},
		{args: []string{"node", "--upload-min-rate", "-1"}, code: 2, inStderr: "upload minimum rate"},
		{args: []string{"lab", "--upload-stall", "0s"}, code: 2, inStderr: "upload stall"},
		{args: []string{"node", "--gc-percent", "5"}, code: 2, inStderr: "gc percent"},
		{args: []string{"node", "--memory-limit", "8MiB"}, code: 2, inStderr: "under 16MiB"},
		{args: []string{"lab", "--memory-limit", "lots"}, code: 2, inStderr: "256MiB"},
		{args: []string{"node"}, env: map[string]string{"PANGEA_MEMORY_LIMIT": "huge"}, code: 2, inStderr: "PANGEA_MEMORY_LIMIT"},
		{args: []string{"node"}, env: map[string]string{"PANGEA_GC_PERCENT": "x"}, code: 2, inStderr: "PANGEA_GC_PERCENT"},
		{args: []string{"bench"}, code: 2, inStderr: "--endpoint"},
		{args: []string{"bench", "--endpoint", "http://x", "--size", "4XB"}, code: 2, inStderr: "unknown unit"},
		{args: []string{"bench", "--endpoint", "http://x", "--op", "delete"}, code: 2, inStderr: "unknown op"},
		{args: []string{"bench", "--lab", "/nonexistent/dir"}, code: 1, inStderr: "lab.json"},
	}
	for _, tc := range cases {
		c, out, errb := testCLI(tc.env)
		got := c.run(context.Background(), tc.args)
		if got != tc.code {
			t.Errorf("%v: exit %d, want %d\nstderr: %s", tc.args, got, tc.code, errb.String())
		}
		if tc.inStdout != "" && !strings.Contains(out.String(), tc.inStdout) {
			t.Errorf("%v: stdout lacks %q:\n%s", tc.args, tc.inStdout, out.String())
		}
		if tc.inStderr != "" && !strings.Contains(errb.String(), tc.inStderr) {
			t.Errorf("%v: stderr lacks %q:\n%s", tc.args, tc.inStderr, errb.String())
		}
	}
}

func TestConfig_Validate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	good := []func(*Config){
		func(c *Config) { c.Addr = ":9000" },
		func(c *Config) { c.Addr = "[::1]:0" },
		func(c *Config) { c.Addr = "localhost:9000" },
		func(c *Config) { c.Region = "lab-1" },
		func(c *Config) { c.BaseDomain = "s3.example.internal" },
		func(c *Config) { c.LogLevel = "DEBUG" },
		func(c *Config) { c.DebugAddr = "127.0.0.1:6060" },
		func(c *Config) { c.DebugAddr = "[::1]:0" },
		func(c *Config) { c.DebugAddr = "localhost:6060" },
	}
	for i, mut := range good {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("good %d: %v", i, err)
		}
	}
	bad := []func(*Config){
		func(c *Config) { c.DataDir = " " },
		func(c *Config) { c.Addr = "9000" },
		func(c *Config) { c.Addr = "127.0.0.1:http" },
		func(c *Config) { c.Addr = "bad host!:9000" },
		func(c *Config) { c.Region = "us-east-1-" },
		func(c *Config) { c.Region = "1abc" },
		func(c *Config) { c.BaseDomain = "" },
		func(c *Config) { c.BaseDomain = "a..b" },
		func(c *Config) { c.AccessKey = "" },
		func(c *Config) { c.AccessKey = "has space" },
		func(c *Config) { c.SecretKey = "" },
		// The profiler is unauthenticated: loopback only.
		func(c *Config) { c.DebugAddr = ":6060" },
		func(c *Config) { c.DebugAddr = "0.0.0.0:6060" },
		func(c *Config) { c.DebugAddr = "10.1.2.3:6060" },
		func(c *Config) { c.DebugAddr = "6060" },
	}
	for i, mut := range bad {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("bad %d accepted: %+v", i, c)
		}
	}
	if r := DefaultConfig().Redacted(); strings.Contains(r, "pangea-secret") {
		t.Errorf("Redacted leaks the secret: %s", r)
	}
}

// TestConfig_UploadPace: the minimum upload rate and stall come from the
// environment, flags win over it, and they reach the node's configuration (a
// member's, a standalone node's); a rate of 0 means no minimum.
func TestConfig_UploadPace(t *testing.T) {
	parse := func(envv map[string]string, args ...string) Config {
		t.Helper()
		c, _, errb := testCLI(envv)
		fs := c.newFlagSet("node", "")
		cfg, err := bindServeFlags(fs, c.getenv, false)
		if err != nil {
			t.Fatal(err)
		}
		if code, ok := parseFlags(fs, args); !ok {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return *cfg
	}
	cases := []struct {
		env  map[string]string
		args []string
		want node.UploadPace
	}{
		{nil, nil, node.UploadPace{MinRate: node.DefaultUploadMinRate, Stall: node.DefaultUploadStall}},
		{map[string]string{"PANGEA_UPLOAD_MIN_RATE": "4096", "PANGEA_UPLOAD_STALL": "5s"}, nil, node.UploadPace{MinRate: 4096, Stall: 5 * time.Second}},
		{map[string]string{"PANGEA_UPLOAD_MIN_RATE": "4096"}, []string{"--upload-min-rate", "100", "--upload-stall", "1m"}, node.UploadPace{MinRate: 100, Stall: time.Minute}},
		{nil, []string{"--upload-min-rate", "0"}, node.UploadPace{MinRate: -1, Stall: node.DefaultUploadStall}},
	}
	for _, tc := range cases {
		cfg := parse(tc.env, tc.args...)
		if got := memberConfig(cfg, nil).Upload; got != tc.want {
			t.Errorf("env %v, args %v: member's pace %+v, want %+v", tc.env, tc.args, got, tc.want)
		}
		if got := localConfig(cfg, nil).Upload; got != tc.want {
			t.Errorf("env %v, args %v: standalone pace %+v, want %+v", tc.env, tc.args, got, tc.want)
		}
	}
}

func TestLabProcs(t *testing.T) {
	for _, c := range []struct {
		env           string
		cpus, members int
		want          int
		ok            bool
	}{
		{"", 2, 3, 6, true},
		{"", 4, 1, 4, true},
		{"", 2, 0, 2, true},
		{"3", 2, 3, 0, false}, // the operator's GOMAXPROCS wins
	} {
		got, ok := labProcs(c.env, c.cpus, c.members)
		if got != c.want || ok != c.ok {
			t.Errorf("labProcs(%q, %d, %d) = %d, %v; want %d, %v", c.env, c.cpus, c.members, got, ok, c.want, c.ok)
		}
	}
}

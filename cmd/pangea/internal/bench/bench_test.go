package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/s3api"
	"github.com/pangea-s3/pangea/s3api/auth"
	"github.com/pangea-s3/pangea/storage"
)

func startServer(t *testing.T) (*httptest.Server, *node.Local) {
	t.Helper()
	local, err := node.OpenLocal(node.LocalConfig{Dir: t.TempDir(), Region: "us-east-1", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s3api.New(s3api.Config{
		Region:      "us-east-1",
		Credentials: auth.StaticCredentials{"pangea": "pangea-secret"},
	}, local))
	t.Cleanup(func() {
		srv.Close()
		local.Close()
	})
	return srv, local
}

// endpointCounts counts the requests one endpoint received, by kind.
type endpointCounts struct {
	bucketPuts, objectPuts, gets, other atomic.Int64
}

// startEndpoints serves one in-process store on n listeners, as the members of a
// region serve one namespace, and counts the requests each listener receives.
func startEndpoints(t *testing.T, n int) ([]string, []*endpointCounts) {
	t.Helper()
	local, err := node.OpenLocal(node.LocalConfig{Dir: t.TempDir(), Region: "us-east-1", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() }) // registered first: runs after the servers close
	h := s3api.New(s3api.Config{
		Region:      "us-east-1",
		Credentials: auth.StaticCredentials{"pangea": "pangea-secret"},
	}, local)
	urls := make([]string, n)
	counts := make([]*endpointCounts, n)
	for i := range n {
		c := &endpointCounts{}
		counts[i] = c
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch object := strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0; {
			case r.Method == http.MethodPut && object:
				c.objectPuts.Add(1)
			case r.Method == http.MethodPut:
				c.bucketPuts.Add(1)
			case r.Method == http.MethodGet && object:
				c.gets.Add(1)
			default:
				c.other.Add(1)
			}
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		urls[i] = srv.URL
	}
	return urls, counts
}

func TestRun_SpreadsWorkersOverEndpoints(t *testing.T) {
	urls, counts := startEndpoints(t, 3)
	cfg := DefaultConfig()
	cfg.Endpoints = urls
	cfg.Concurrency = 3
	cfg.Sizes = []int64{1 << 10}
	cfg.Duration = 300 * time.Millisecond

	results, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].Op != OpPut || results[1].Op != OpGet {
		t.Fatalf("results %+v", results)
	}
	var puts, gets int64
	for _, r := range results {
		if r.Ops == 0 || r.Errors != 0 || r.FirstError != "" {
			t.Errorf("%s: %d ops, %d errors (%s)", r.Op, r.Ops, r.Errors, r.FirstError)
		}
		if r.Endpoints != 3 {
			t.Errorf("%s: Endpoints %d, want 3", r.Op, r.Endpoints)
		}
	}
	for i, c := range counts {
		t.Logf("endpoint %d: bucket PUT %d, object PUT %d, GET %d, other %d",
			i, c.bucketPuts.Load(), c.objectPuts.Load(), c.gets.Load(), c.other.Load())
		if c.objectPuts.Load() == 0 || c.gets.Load() == 0 {
			t.Errorf("endpoint %d got %d PUTs and %d GETs, want some of each", i, c.objectPuts.Load(), c.gets.Load())
		}
		wantBucket := int64(0)
		if i == 0 {
			wantBucket = 1
		}
		if c.bucketPuts.Load() != wantBucket {
			t.Errorf("endpoint %d: %d bucket creations, want %d (the first endpoint creates the bucket)", i, c.bucketPuts.Load(), wantBucket)
		}
		puts += c.objectPuts.Load()
		gets += c.gets.Load()
	}
	// Requests in flight at the deadline are finished and counted, so the
	// endpoints saw exactly the requests the results report.
	if puts != results[0].Ops || gets != results[1].Ops {
		t.Errorf("endpoints saw %d PUTs and %d GETs, results report %d and %d", puts, gets, results[0].Ops, results[1].Ops)
	}

	var report bytes.Buffer
	WriteReport(&report, results)
	if !strings.Contains(report.String(), "over 3 endpoints") {
		t.Errorf("report does not say over how many endpoints:\n%s", report.String())
	}
}

func TestRun_GetOnlyOverEndpointsSeedsThroughTheFirst(t *testing.T) {
	urls, counts := startEndpoints(t, 2)
	cfg := DefaultConfig()
	cfg.Endpoints = urls
	cfg.Ops = []string{OpGet}
	cfg.Sizes = []int64{100}
	cfg.Concurrency = 2
	cfg.Duration = 200 * time.Millisecond
	results, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Ops == 0 || results[0].Errors != 0 || results[0].Endpoints != 2 {
		t.Fatalf("results %+v", results)
	}
	if counts[0].objectPuts.Load() == 0 || counts[1].objectPuts.Load() != 0 {
		t.Errorf("seed PUTs: %d on endpoint 0, %d on endpoint 1; want all on endpoint 0",
			counts[0].objectPuts.Load(), counts[1].objectPuts.Load())
	}
	for i, c := range counts {
		if c.gets.Load() == 0 {
			t.Errorf("endpoint %d got no GET", i)
		}
	}
}

func TestRun_PutThenGetAgainstInProcessServer(t *testing.T) {
	srv, local := startServer(t)
	cfg := DefaultConfig()
	cfg.Endpoint = srv.URL
	cfg.Concurrency = 4
	cfg.Duration = time.Second
	var progress bytes.Buffer
	cfg.Progress = &progress

	results, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].Op != OpPut || results[1].Op != OpGet {
		t.Fatalf("results %+v", results)
	}
	for _, r := range results {
		if r.Ops == 0 || r.Errors != 0 || r.FirstError != "" {
			t.Errorf("%s: %d ops, %d errors (%s)", r.Op, r.Ops, r.Errors, r.FirstError)
		}
		if r.P50 <= 0 || r.P50 > r.P90 || r.P90 > r.P99 {
			t.Errorf("%s: percentiles p50 %v p90 %v p99 %v", r.Op, r.P50, r.P90, r.P99)
		}
		if r.Size != 4096 || r.OpsPerSec() <= 0 || r.MiBPerSec() <= 0 {
			t.Errorf("%s: rates %+v", r.Op, r)
		}
	}
	if !strings.Contains(progress.String(), "ops/s") {
		t.Errorf("no progress line in %q", progress.String())
	}

	// Every successful PUT wrote a distinct key into the bucket, and nothing else
	// was written: requests in flight at the deadline are finished, not cut off.
	var listed int
	in := storage.ListObjectsInput{MaxKeys: 1000}
	for {
		res, err := local.ListObjects(context.Background(), cfg.Bucket, in)
		if err != nil {
			t.Fatal(err)
		}
		listed += len(res.Objects)
		if !res.IsTruncated {
			break
		}
		in.Marker = res.NextMarker
	}
	if int64(listed) != results[0].Ops {
		t.Errorf("bucket holds %d objects, PUT reported %d", listed, results[0].Ops)
	}

	var report bytes.Buffer
	WriteReport(&report, results)
	for _, want := range []string{"ops/s", "p99", "put", "get", "4KiB"} {
		if !strings.Contains(report.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, report.String())
		}
	}
}

func TestRun_GetOnlySeedsObjects(t *testing.T) {
	srv, _ := startServer(t)
	cfg := DefaultConfig()
	cfg.Endpoint = srv.URL
	cfg.Ops = []string{OpGet}
	cfg.Sizes = []int64{100}
	cfg.Concurrency = 2
	cfg.Duration = 300 * time.Millisecond
	results, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Ops == 0 || results[0].Errors != 0 {
		t.Fatalf("results %+v", results)
	}
}

func TestRun_WrongSecretFailsFast(t *testing.T) {
	srv, _ := startServer(t)
	cfg := DefaultConfig()
	cfg.Endpoint = srv.URL
	cfg.SecretKey = "wrong"
	cfg.Duration = time.Second
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("err %v, want SignatureDoesNotMatch", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := DefaultConfig()
	ok.Endpoint = "http://127.0.0.1:9000"
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	spread := ok
	spread.Endpoint = ""
	spread.Endpoints = []string{"http://127.0.0.1:9000", "http://127.0.0.1:9001/", "https://10.0.0.3:9000"}
	spread.Concurrency = 3
	if err := spread.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := spread.AllEndpoints(); len(got) != 3 {
		t.Errorf("AllEndpoints %v", got)
	}
	if got := ok.AllEndpoints(); len(got) != 1 || got[0] != ok.Endpoint {
		t.Errorf("AllEndpoints of a single endpoint: %v", got)
	}
	bad := map[string]func(*Config){
		"no endpoint":     func(c *Config) { c.Endpoint = "" },
		"not a URL":       func(c *Config) { c.Endpoint = "127.0.0.1:9000" },
		"ftp":             func(c *Config) { c.Endpoint = "ftp://x" },
		"no secret":       func(c *Config) { c.SecretKey = "" },
		"no region":       func(c *Config) { c.Region = "" },
		"no bucket":       func(c *Config) { c.Bucket = "" },
		"no sizes":        func(c *Config) { c.Sizes = nil },
		"unknown op":      func(c *Config) { c.Ops = []string{"delete"} },
		"zero conc":       func(c *Config) { c.Concurrency = 0 },
		"zero duration":   func(c *Config) { c.Duration = 0 },
		"negative size":   func(c *Config) { c.Sizes = []int64{-1} },
		"oversized size":  func(c *Config) { c.Sizes = []int64{6 << 30} },
		"no ops":          func(c *Config) { c.Ops = nil },
		"empty accesskey": func(c *Config) { c.AccessKey = "" },
		"both endpoint fields": func(c *Config) {
			c.Endpoints = []string{"http://127.0.0.1:9001", "http://127.0.0.1:9002"}
		},
		"bad one of several": func(c *Config) {
			c.Endpoint, c.Endpoints = "", []string{"http://127.0.0.1:9001", "127.0.0.1:9002"}
		},
		"empty one of several": func(c *Config) {
			c.Endpoint, c.Endpoints = "", []string{"http://127.0.0.1:9001", ""}
		},
		"duplicate endpoint": func(c *Config) {
			c.Endpoint, c.Endpoints = "", []string{"http://127.0.0.1:9001", "http://127.0.0.1:9001/"}
		},
		"fewer workers than endpoints": func(c *Config) {
			c.Endpoint, c.Endpoints, c.Concurrency = "", []string{"http://a:1", "http://b:1", "http://c:1"}, 2
		},
	}
	for name, mut := range bad {
		c := ok
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRun_WaitsForAServerStillElecting: a region answers 503 until it has a leader;
// the bucket creation is retried, so the bench can start with the servers.
func TestRun_WaitsForAServerStillElecting(t *testing.T) {
	srv, local := startServer(t)
	h := srv.Config.Handler
	var bucketPuts atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0 && bucketPuts.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	cfg := DefaultConfig()
	cfg.Endpoint = front.URL
	cfg.Duration = 200 * time.Millisecond
	cfg.Ops = []string{"put"}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := bucketPuts.Load(); n != 3 {
		t.Fatalf("%d bucket creations, want 3 (two 503s, then success)", n)
	}
	if _, err := local.Bucket(context.Background(), cfg.Bucket); err != nil {
		t.Fatalf("bucket not created: %v", err)
	}
}

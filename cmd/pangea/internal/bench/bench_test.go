package bench

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
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
	}
	for name, mut := range bad {
		c := ok
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

package s3api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/s3api/auth"
)

func healthOf(t *testing.T, r rawResponse) Health {
	t.Helper()
	var h Health
	if err := json.Unmarshal(r.body, &h); err != nil {
		t.Fatalf("health body %q: %v", r.body, err)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return h
}

func TestHealth_UnauthenticatedOkOverALocalBackend(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{HealthLivePath, HealthReadyPath} {
		r := e.do(http.MethodGet, path, nil, nil, "", "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		if h := healthOf(t, r); h.Status != "ok" || h.Reason != "" {
			t.Errorf("GET %s: %+v", path, h)
		}
		if r.header.Get("X-Amz-Request-Id") == "" {
			t.Errorf("GET %s: no request ID", path)
		}
		// Signed requests are answered the same (a probe may carry credentials).
		if r := e.ownerDo(http.MethodGet, path, nil, nil); r.status != http.StatusOK {
			t.Errorf("signed GET %s: %d %s", path, r.status, r.body)
		}
		if r := e.do(http.MethodHead, path, nil, nil, "", ""); r.status != http.StatusOK || len(r.body) != 0 {
			t.Errorf("HEAD %s: %d, %d body bytes", path, r.status, len(r.body))
		}
	}
}

// sickBackend reports the health it is told to.
type sickBackend struct {
	*node.Local
	live, ready error
}

func (b sickBackend) Liveness() error                   { return b.live }
func (b sickBackend) Readiness(_ context.Context) error { return b.ready }

func TestHealth_ReportsTheBackendsState(t *testing.T) {
	l := openLocal(t)
	b := &sickBackend{Local: l}
	srv := New(Config{Region: "us-east-1", Credentials: auth.StaticCredentials{ownerAK: ownerSK}, Logger: testLogger(t)}, b)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &testEnv{t: t, ts: ts, local: l}

	b.ready = errors.New("catching up: applied index 3 of 9")
	r := e.do(http.MethodGet, HealthReadyPath, nil, nil, "", "")
	if h := healthOf(t, r); r.status != http.StatusServiceUnavailable || h.Status != "unavailable" || h.Reason != b.ready.Error() {
		t.Fatalf("not ready: %d %+v", r.status, h)
	}
	if r := e.do(http.MethodHead, HealthReadyPath, nil, nil, "", ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("HEAD not ready: %d", r.status)
	}
	if r := e.do(http.MethodGet, HealthLivePath, nil, nil, "", ""); r.status != http.StatusOK {
		t.Fatalf("live while not ready: %d %s", r.status, r.body)
	}

	b.live = errors.New("stopped after a storage failure")
	r = e.do(http.MethodGet, HealthLivePath, nil, nil, "", "")
	if h := healthOf(t, r); r.status != http.StatusServiceUnavailable || h.Reason != b.live.Error() {
		t.Fatalf("not live: %d %+v", r.status, h)
	}

	b.live, b.ready = nil, nil
	if r := e.do(http.MethodGet, HealthReadyPath, nil, nil, "", ""); r.status != http.StatusOK {
		t.Fatalf("recovered: %d %s", r.status, r.body)
	}
}

// The health paths shadow no S3 request: "_pangea" is no valid bucket name, and in a
// virtual-host-style request the same path is an object key.
func TestHealth_ShadowsNoS3Request(t *testing.T) {
	e := newEnv(t)
	if r := e.do(http.MethodPut, HealthReadyPath, []byte("x"), nil, ownerAK, ownerSK); r.status != http.StatusMethodNotAllowed || r.code() != "MethodNotAllowed" {
		t.Errorf("PUT on the health path: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodGet, "/_pangea/health/other", nil, nil, ownerAK, ownerSK); r.status < 400 || r.code() == "" {
		t.Errorf("other _pangea path: %d %s, want an S3 error", r.status, r.body)
	}

	e.createBucket("bkt")
	e.put("bkt", "_pangea/health/ready", "an object, not a health check")
	if r := e.do(http.MethodGet, "/bkt/health/ready", nil, nil, ownerAK, ownerSK); r.status != http.StatusNotFound || r.code() != "NoSuchKey" {
		t.Errorf("path-style key health/ready in a bucket: %d %s, want NoSuchKey", r.status, r.body)
	}
	vhost := map[string]string{"Host": "bkt.localhost"}
	r := e.do(http.MethodGet, HealthReadyPath, nil, vhost, ownerAK, ownerSK)
	if r.status != http.StatusOK || string(r.body) != "an object, not a health check" {
		t.Errorf("virtual-host GET of the key: %d %q", r.status, r.body)
	}
	if r := e.do(http.MethodGet, HealthReadyPath, nil, vhost, "", ""); r.status != http.StatusForbidden || r.code() != "AccessDenied" {
		t.Errorf("anonymous virtual-host GET of the key: %d %s, want AccessDenied", r.status, r.body)
	}
}

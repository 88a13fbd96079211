package s3api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pangea-s3/pangea/s3api/auth"
	"github.com/pangea-s3/pangea/storage"
)

// fakeBackend embeds a nil Backend: only the methods a test overrides may be called.
type fakeBackend struct {
	Backend
	bucket func(name string) (storage.BucketInfo, error)
	object func() (storage.ObjectVersion, error)
}

func (f *fakeBackend) Bucket(_ context.Context, name string) (storage.BucketInfo, error) {
	return f.bucket(name)
}

func (f *fakeBackend) BucketConfig(context.Context, string, storage.ConfigKind) ([]byte, error) {
	return nil, storage.ErrNoSuchConfig
}

func (f *fakeBackend) Object(context.Context, string, string, string) (storage.ObjectVersion, error) {
	return f.object()
}

func fakeServer(t *testing.T, f *fakeBackend) *httptest.Server {
	srv := New(Config{Credentials: auth.StaticCredentials{ownerAK: ownerSK}, Logger: testLogger(t)}, f)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

func signedGet(t *testing.T, ts *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+path, nil)
	signReq(t, req, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	resp, err := ts.Client().Do(req)
	must(t, "get", err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

type leadershipLost struct{}

func (leadershipLost) Error() string   { return "raft: leadership lost while committing" }
func (leadershipLost) Retryable() bool { return true }

func TestServer_PanicAndInternalErrors(t *testing.T) {
	owned := func(string) (storage.BucketInfo, error) { return storage.BucketInfo{Name: "b", Owner: ownerAK}, nil }
	ts := fakeServer(t, &fakeBackend{bucket: owned, object: func() (storage.ObjectVersion, error) { panic("boom") }})
	resp, body := signedGet(t, ts, "/b/k")
	if resp.StatusCode != 500 || !strings.Contains(body, "<Code>InternalError</Code>") || resp.Header.Get("X-Amz-Request-Id") == "" {
		t.Errorf("panic: %d %s", resp.StatusCode, body)
	}
	// The server survives and keeps answering.
	resp, _ = signedGet(t, ts, "/b/k")
	if resp.StatusCode != 500 {
		t.Errorf("after panic: %d", resp.StatusCode)
	}

	ts = fakeServer(t, &fakeBackend{bucket: owned, object: func() (storage.ObjectVersion, error) {
		return storage.ObjectVersion{}, errors.New("disk on fire: /secret/path")
	}})
	resp, body = signedGet(t, ts, "/b/k")
	if resp.StatusCode != 500 || strings.Contains(body, "secret") {
		t.Errorf("internal error leaks detail or wrong status: %d %s", resp.StatusCode, body)
	}

	ts = fakeServer(t, &fakeBackend{bucket: owned, object: func() (storage.ObjectVersion, error) {
		return storage.ObjectVersion{}, fmt.Errorf("node: %w", leadershipLost{})
	}})
	resp, body = signedGet(t, ts, "/b/k")
	if resp.StatusCode != 503 || !strings.Contains(body, "<Code>ServiceUnavailable</Code>") {
		t.Errorf("unknown outcome: %d %s", resp.StatusCode, body)
	}
}

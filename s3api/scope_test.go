package s3api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/s3api/auth"
	"github.com/pangea-s3/pangea/storage"
)

type scopeKey struct{}

// scopedLocal is a Local that implements RequestScoper and records, for each
// request, the write flag it was given and whether its Bucket lookups carried the
// request's context.
type scopedLocal struct {
	*node.Local
	mu     sync.Mutex
	writes []bool
	scoped []bool
}

func (s *scopedLocal) BeginRequest(ctx context.Context, write bool) context.Context {
	s.mu.Lock()
	s.writes = append(s.writes, write)
	s.mu.Unlock()
	return context.WithValue(ctx, scopeKey{}, write)
}

func (s *scopedLocal) Bucket(ctx context.Context, name string) (storage.BucketInfo, error) {
	_, ok := ctx.Value(scopeKey{}).(bool)
	s.mu.Lock()
	s.scoped = append(s.scoped, ok)
	s.mu.Unlock()
	return s.Local.Bucket(ctx, name)
}

func (s *scopedLocal) reset() {
	s.mu.Lock()
	s.writes, s.scoped = nil, nil
	s.mu.Unlock()
}

// TestServer_BeginsOneScopePerRequest: a backend implementing RequestScoper is
// asked for one scope per request, write for every method but GET and HEAD, and
// the request's backend calls get the scoped context.
func TestServer_BeginsOneScopePerRequest(t *testing.T) {
	l := openLocal(t)
	be := &scopedLocal{Local: l}
	ts := httptest.NewServer(New(Config{Region: "us-east-1", Credentials: auth.StaticCredentials{ownerAK: ownerSK}, Logger: testLogger(t)}, be))
	t.Cleanup(ts.Close)

	const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	do := func(method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		hash := emptySHA
		if body != "" {
			req, _ = http.NewRequest(method, ts.URL+path, strings.NewReader(body))
			hash = "UNSIGNED-PAYLOAD"
		}
		signReq(t, req, hash)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do("PUT", "/scoped", ""); code != 200 {
		t.Fatalf("create bucket: %d", code)
	}
	for _, c := range []struct {
		method, path, body string
		write              bool
	}{
		{"PUT", "/scoped/k", "hello", true},
		{"GET", "/scoped/k", "", false},
		{"HEAD", "/scoped/k", "", false},
		{"GET", "/scoped?list-type=2", "", false},
		{"DELETE", "/scoped/k", "", true},
	} {
		be.reset()
		if code := do(c.method, c.path, c.body); code >= 300 {
			t.Fatalf("%s %s: %d", c.method, c.path, code)
		}
		be.mu.Lock()
		writes, scoped := be.writes, be.scoped
		be.mu.Unlock()
		if len(writes) != 1 || writes[0] != c.write {
			t.Errorf("%s %s: scopes %v, want exactly one with write=%v", c.method, c.path, writes, c.write)
		}
		if len(scoped) == 0 {
			t.Errorf("%s %s: no Bucket lookup seen", c.method, c.path)
		}
		for _, ok := range scoped {
			if !ok {
				t.Errorf("%s %s: a Bucket lookup without the request's scope", c.method, c.path)
			}
		}
	}
}

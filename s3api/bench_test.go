package s3api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/s3api/auth"
)

// benchServer is a Server over a node.Local, driven in-process (no sockets) so that
// the benchmark measures the front end and the store, not the HTTP stack.
func benchServer(b *testing.B) *Server {
	b.Helper()
	l, err := node.OpenLocal(node.LocalConfig{Dir: b.TempDir(), Region: "us-east-1", NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	return New(Config{Region: "us-east-1", Credentials: auth.StaticCredentials{ownerAK: ownerSK}}, l)
}

// signedRequest builds a signed request once; its headers are replayed per iteration
// (the signature stays valid for the skew window).
func signedRequest(b *testing.B, method, path string, body []byte) http.Header {
	b.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1:9000"+path, bytes.NewReader(body))
	sum := sha256.Sum256(body)
	if err := signWith(req, hex.EncodeToString(sum[:]), ownerAK, ownerSK); err != nil {
		b.Fatal(err)
	}
	return req.Header
}

func serve(srv *Server, method, path string, h http.Header, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://127.0.0.1:9000"+path, bytes.NewReader(body))
	req.Header = h
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, req)
	return w
}

func BenchmarkServer_GetObject4KiB(b *testing.B) {
	srv := benchServer(b)
	if w := serve(srv, "PUT", "/bench", signedRequest(b, "PUT", "/bench", nil), nil); w.Code != 200 {
		b.Fatalf("create bucket: %d %s", w.Code, w.Body)
	}
	body := bytes.Repeat([]byte("x"), 4096)
	if w := serve(srv, "PUT", "/bench/obj", signedRequest(b, "PUT", "/bench/obj", body), body); w.Code != 200 {
		b.Fatalf("put: %d %s", w.Code, w.Body)
	}
	h := signedRequest(b, "GET", "/bench/obj", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "http://127.0.0.1:9000/bench/obj", nil)
		req.Header = h
		w := discardWriter{h: http.Header{}}
		srv.ServeHTTP(&w, req)
		if w.code != 200 {
			b.Fatalf("get: %d", w.code)
		}
	}
}

func BenchmarkServer_PutObject4KiB(b *testing.B) {
	srv := benchServer(b)
	if w := serve(srv, "PUT", "/bench", signedRequest(b, "PUT", "/bench", nil), nil); w.Code != 200 {
		b.Fatalf("create bucket: %d %s", w.Code, w.Body)
	}
	body := bytes.Repeat([]byte("x"), 4096)
	h := signedRequest(b, "PUT", "/bench/obj", body)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("PUT", "http://127.0.0.1:9000/bench/obj", bytes.NewReader(body))
		req.Header = h
		w := discardWriter{h: http.Header{}}
		srv.ServeHTTP(&w, req)
		if w.code != 200 {
			b.Fatalf("put: %d", w.code)
		}
	}
}

// discardWriter is a minimal ResponseWriter that drops the body.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return io.Discard.Write(p)
}

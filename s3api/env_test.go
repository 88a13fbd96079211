package s3api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/s3api/auth"
)

// Test credentials: the owner of every bucket the tests create, and a second
// principal of the same account that owns nothing.
const (
	ownerAK, ownerSK = "pangea", "pangea-secret"
	otherAK, otherSK = "other", "other-secret"
)

// tWriter sends log lines to t.Log so they show only for failing tests.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testEnv is an s3api Server over a real node.Local behind an httptest server.
type testEnv struct {
	t     *testing.T
	ts    *httptest.Server
	local *node.Local
	modes sync.Map // x-amz-content-sha256 values seen
}

func newEnv(t *testing.T) *testEnv { return newEnvWith(t, false) }

// newTLSEnv serves over HTTPS, where the SDKs switch to aws-chunked bodies with
// checksum trailers (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
func newTLSEnv(t *testing.T) *testEnv { return newEnvWith(t, true) }

// openLocal opens a node.Local in a temporary folder, closed when the test ends.
func openLocal(t *testing.T) *node.Local { return openLocalWith(t, nil) }

// openLocalWith is openLocal with the configuration changed by mut.
func openLocalWith(t *testing.T, mut func(*node.LocalConfig)) *node.Local {
	t.Helper()
	cfg := node.LocalConfig{Dir: t.TempDir(), Region: "us-east-1", NoSync: true, Logger: testLogger(t)}
	if mut != nil {
		mut(&cfg)
	}
	l, err := node.OpenLocal(cfg)
	if err != nil {
		t.Fatalf("open local: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func newEnvWith(t *testing.T, tls bool) *testEnv { return newEnvLogging(t, tls, testLogger(t)) }

// newEnvLogging is newEnvWith with the server's logger chosen by the test.
func newEnvLogging(t *testing.T, tls bool, log *slog.Logger) *testEnv {
	t.Helper()
	return newEnvOver(t, tls, log, openLocal(t))
}

// newEnvOver is an environment over the given Local.
func newEnvOver(t *testing.T, tls bool, log *slog.Logger, l *node.Local) *testEnv {
	t.Helper()
	srv := New(Config{
		Region:      "us-east-1",
		Credentials: auth.StaticCredentials{ownerAK: ownerSK, otherAK: otherSK},
		Logger:      log,
	}, l)
	env := &testEnv{t: t, local: l}
	// Record the payload modes clients used, so tests can assert which path ran.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := r.Header.Get("X-Amz-Content-Sha256"); m != "" {
			env.modes.Store(m, true)
		}
		srv.ServeHTTP(w, r)
	})
	if tls {
		env.ts = httptest.NewTLSServer(h)
	} else {
		env.ts = httptest.NewServer(h)
	}
	t.Cleanup(env.ts.Close)
	return env
}

// client returns an SDK client; ak "" makes an anonymous client.
func (e *testEnv) client(ak, sk string) *s3.Client {
	var creds aws.CredentialsProvider = aws.AnonymousCredentials{}
	if ak != "" {
		creds = credentials.NewStaticCredentialsProvider(ak, sk, "")
	}
	return s3.New(s3.Options{
		Region:       "us-east-1",
		Credentials:  creds,
		BaseEndpoint: aws.String(e.ts.URL),
		UsePathStyle: true,
		HTTPClient:   e.ts.Client(),
		Retryer:      aws.NopRetryer{},
	})
}

func (e *testEnv) owner() *s3.Client { return e.client(ownerAK, ownerSK) }

// createBucket creates a bucket as the owner.
func (e *testEnv) createBucket(name string) {
	e.t.Helper()
	if _, err := e.owner().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		e.t.Fatalf("create bucket %s: %v", name, err)
	}
}

func (e *testEnv) put(bucket, key, body string) *s3.PutObjectOutput {
	e.t.Helper()
	out, err := e.owner().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body),
	})
	if err != nil {
		e.t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return out
}

// rawResponse is a response read in full.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r rawResponse) code() string {
	var eb errorBody
	if xml.Unmarshal(r.body, &eb) != nil {
		return ""
	}
	return eb.Code
}

// do sends a request signed with SigV4 (ak "" sends it unsigned).
func (e *testEnv) do(method, path string, body []byte, header map[string]string, ak, sk string) rawResponse {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	req.ContentLength = int64(len(body))
	for k, v := range header {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if ak != "" {
		sum := sha256.Sum256(body)
		ph := hex.EncodeToString(sum[:])
		if err := signWith(req, ph, ak, sk); err != nil {
			e.t.Fatal(err)
		}
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// signWith signs req with SigV4 for payloadHash. Like the SDK's S3 client it
// signs the path as sent, not escaped once more (S3 does not double-encode).
func signWith(req *http.Request, payloadHash, ak, sk string) error {
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk},
		req, payloadHash, "s3", "us-east-1", time.Now())
}

func (e *testEnv) ownerDo(method, path string, body []byte, header map[string]string) rawResponse {
	e.t.Helper()
	return e.do(method, path, body, header, ownerAK, ownerSK)
}

// apiCode extracts the S3 error code from an SDK error.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want %s", what, code)
	}
	if got := apiCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want %s", what, err, got, code)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func readAll(t *testing.T, rc io.ReadCloser) string {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

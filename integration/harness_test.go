package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/s3api"
	"github.com/pangea-s3/pangea/s3api/auth"
)

const (
	testRegion   = "us-east-1"
	ownerKey     = "pangea"
	ownerSecret  = "pangea-secret"
	otherKey     = "other"
	otherSecret  = "other-secret"
	emptySHA256  = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	unsignedBody = "UNSIGNED-PAYLOAD"
)

// env is one Pangea S3 endpoint served in-process: a node.Local behind s3api, reachable
// over TLS (what the SDK needs to send aws-chunked trailers) and over plain HTTP (what
// minio-go needs to send signed streaming chunks). Both listeners share one handler.
type env struct {
	tls   *httptest.Server
	plain *httptest.Server
	wire  *wireLog

	s3    *s3.Client // owner ("pangea") over TLS, default checksum behaviour
	other *s3.Client // second principal ("other") over TLS
}

// wireLog records what real clients put on the wire, so a test can prove that the
// streaming code paths it means to exercise were really taken.
type wireLog struct {
	mu            sync.Mutex
	contentSHA256 map[string]int
	trailers      map[string]int
}

func (w *wireLog) record(r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch v := r.Header.Get("X-Amz-Content-Sha256"); {
	case strings.HasPrefix(v, "STREAMING-") || v == unsignedBody:
		w.contentSHA256[v]++
	case len(v) == 64 && v != emptySHA256 && r.ContentLength != 0:
		w.contentSHA256["signed"]++ // a body whose SHA-256 the signature covers
	}
	if v := r.Header.Get("X-Amz-Trailer"); v != "" {
		w.trailers[strings.ToLower(v)]++
	}
}

func (w *wireLog) count(contentSHA256 string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.contentSHA256[contentSHA256]
}

func (w *wireLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("x-amz-content-sha256=%v x-amz-trailer=%v", w.contentSHA256, w.trailers)
}

// lockedBuffer collects the server's log; it is printed only when a test fails, so
// passing runs stay quiet and late log lines never touch a finished *testing.T.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > n {
		s = "...\n" + s[len(s)-n:]
	}
	return s
}

type envOption func(*s3api.Config)

// newEnv starts a fresh single-node endpoint on a temporary data directory.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	local, err := node.OpenLocal(node.LocalConfig{
		Dir:    t.TempDir(),
		Region: testRegion,
		Logger: logger,
		NoSync: true,
	})
	if err != nil {
		t.Fatalf("node.OpenLocal: %v", err)
	}
	cfg := s3api.Config{
		Region:      testRegion,
		Credentials: auth.StaticCredentials{ownerKey: ownerSecret, otherKey: otherSecret},
		Logger:      logger,
	}
	for _, o := range opts {
		o(&cfg)
	}
	api := s3api.New(cfg, local)

	e := &env{wire: &wireLog{contentSHA256: map[string]int{}, trailers: map[string]int{}}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.wire.record(r)
		api.ServeHTTP(w, r)
	})
	e.tls = httptest.NewTLSServer(h)
	e.plain = httptest.NewServer(h)
	t.Cleanup(func() {
		// Close the listeners first: httptest waits for handlers, so nothing uses
		// the backend once it is closed.
		e.tls.Close()
		e.plain.Close()
		if err := local.Close(); err != nil {
			t.Errorf("node.Local.Close: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.tail(16<<10))
			t.Logf("wire: %s", e.wire)
		}
	})
	e.s3 = e.client(ownerKey, ownerSecret)
	e.other = e.client(otherKey, otherSecret)
	return e
}

// client is an aws-sdk-go-v2 S3 client for the TLS listener with the SDK's default
// checksum behaviour. Retries are off so every error a test sees is the server's first
// answer, not the last of several attempts.
func (e *env) client(access, secret string, opts ...func(*s3.Options)) *s3.Client {
	return newSDKClient(e.tls.URL, e.tls.Client(), access, secret, opts...)
}

func newSDKClient(endpoint string, hc *http.Client, access, secret string, opts ...func(*s3.Options)) *s3.Client {
	cfg := aws.Config{
		Region:           testRegion,
		Credentials:      credentials.NewStaticCredentialsProvider(access, secret, ""),
		HTTPClient:       hc,
		RetryMaxAttempts: 1,
		// config.LoadDefaultConfig resolves these to WhenSupported, and that is what
		// real programs run with; a hand-built aws.Config would leave them unset
		// and the SDK would then skip its default CRC32 checksums.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(endpoint)
	}}, opts...)...)
}

// minio is a minio-go client for the plain-HTTP listener; over plain HTTP minio-go
// signs every chunk of a PUT body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]).
func (e *env) minio(t *testing.T) *minio.Client {
	t.Helper()
	u, err := url.Parse(e.plain.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        mcreds.NewStaticV4(ownerKey, ownerSecret, ""),
		Secure:       false,
		Region:       testRegion,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		t.Fatalf("minio.New: %v", err)
	}
	return c
}

// mustServe proves the server still answers an authenticated request; called after
// every deliberately bad request.
func (e *env) mustServe(t *testing.T) {
	t.Helper()
	if _, err := e.s3.ListBuckets(ctx(t), &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("server stopped serving: ListBuckets: %v", err)
	}
}

// mkBucket creates a bucket owned by "pangea" and returns its name.
func (e *env) mkBucket(t *testing.T, name string) string {
	t.Helper()
	if _, err := e.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", name, err)
	}
	return name
}

func (e *env) put(t *testing.T, bucket, key string, body []byte) *s3.PutObjectOutput {
	t.Helper()
	out, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("PutObject %s/%s: %v", bucket, key, err)
	}
	return out
}

func (e *env) get(t *testing.T, c *s3.Client, in *s3.GetObjectInput) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	out, err := c.GetObject(ctx(t), in)
	if err != nil {
		t.Fatalf("GetObject %s/%s: %v", aws.ToString(in.Bucket), aws.ToString(in.Key), err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject %s/%s: reading body: %v", aws.ToString(in.Bucket), aws.ToString(in.Key), err)
	}
	return b, out
}

// ctx is a per-call deadline so a hung server fails a test instead of the whole run.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantAPIError asserts err is an S3 error with the given code (skipped when "", as for
// HEAD responses, which have no body) and HTTP status, and that it carries a request ID.
// It returns the HTTP response error for header checks.
func wantAPIError(t *testing.T, err error, code string, status int) *awshttp.ResponseError {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %s (%d), got success", code, status)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want error %s (%d), got a non-HTTP error: %v", code, status, err)
	}
	if got := re.HTTPStatusCode(); got != status {
		t.Errorf("want HTTP %d (%s), got %d: %v", status, code, got, err)
	}
	if code != "" {
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("want error code %s, got no API error: %v", code, err)
		}
		if ae.ErrorCode() != code {
			t.Errorf("want error code %s, got %s (%s)", code, ae.ErrorCode(), ae.ErrorMessage())
		}
	}
	if re.ServiceRequestID() == "" {
		t.Errorf("error %s has no x-amz-request-id", code)
	}
	return re
}

// asResponseError returns the HTTP response error inside err, or nil.
func asResponseError(err error) *awshttp.ResponseError {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// s3Error is the body of an S3 error response.
type s3Error struct {
	Code      string
	Message   string
	RequestID string `xml:"RequestId"`
}

// rawResponse is a response to a request built by hand.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r rawResponse) err() s3Error {
	var e s3Error
	_ = xml.Unmarshal(r.Body, &e)
	return e
}

// wantCode asserts a hand-made request failed with an S3 error code and status.
func (r rawResponse) wantCode(t *testing.T, code string, status int) {
	t.Helper()
	e := r.err()
	if r.Status != status || e.Code != code {
		t.Errorf("want %d %s, got %d %q (body %.300q)", status, code, r.Status, e.Code, r.Body)
	}
	if r.Header.Get("X-Amz-Request-Id") == "" && e.RequestID == "" {
		t.Errorf("error %s carries no request ID", code)
	}
}

// rawRequest describes a request signed with the SDK's SigV4 signer but otherwise
// built by hand, for inputs the SDK refuses to produce (bad XML, bad names, old clocks).
type rawRequest struct {
	Method   string
	Path     string // already escaped, starts with "/"
	Query    string // already encoded, without "?"
	Body     []byte
	Header   http.Header
	Access   string // "" signs as the owner; "-" sends the request unsigned
	Secret   string
	SignedAt time.Time // zero: now
}

func (e *env) do(t *testing.T, rr rawRequest) rawResponse {
	t.Helper()
	return doRaw(t, e.tls.URL, e.tls.Client(), rr)
}

func doRaw(t *testing.T, endpoint string, hc *http.Client, rr rawRequest) rawResponse {
	t.Helper()
	u := endpoint + rr.Path
	if rr.Query != "" {
		u += "?" + rr.Query
	}
	req, err := http.NewRequestWithContext(ctx(t), rr.Method, u, bytes.NewReader(rr.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(rr.Body))
	for k, vs := range rr.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if rr.Access != "-" {
		access, secret := rr.Access, rr.Secret
		if access == "" {
			access, secret = ownerKey, ownerSecret
		}
		sum := sha256.Sum256(rr.Body)
		payload := hex.EncodeToString(sum[:])
		req.Header.Set("X-Amz-Content-Sha256", payload)
		at := rr.SignedAt
		if at.IsZero() {
			at = time.Now()
		}
		creds := aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}
		if err := s3Signer().SignHTTP(req.Context(), creds, req, payload, "s3", testRegion, at); err != nil {
			t.Fatalf("signing: %v", err)
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", rr.Method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", rr.Method, u, err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// s3Signer is the SDK's SigV4 signer configured as the S3 client configures it: S3
// signs the path as sent, without the second round of escaping other services use.
func s3Signer() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

// randomBytes returns n bytes from a generator seeded by seed and name, so the same
// content can be derived again to check it.
func randomBytes(seed uint64, name string, n int) []byte {
	b := make([]byte, n)
	_, _ = contentReader(seed, name).Read(b)
	return b
}

// contentReader is an endless deterministic byte stream for (seed, name).
func contentReader(seed uint64, name string) io.Reader {
	h := fnv.New64a()
	_, _ = io.WriteString(h, name)
	var key [32]byte
	for i := range 4 {
		v := seed ^ h.Sum64()*uint64(i+1)
		for j := range 8 {
			key[i*8+j] = byte(v >> (8 * j))
		}
	}
	return rand.NewChaCha8(key)
}

// testSeed is printed so a failing randomised run can be replayed with PANGEA_SEED.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PANGEA_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("PANGEA_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (replay with PANGEA_SEED=%d)", seed, seed)
	return seed
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// multipartETag is S3's ETag of a multipart object: the MD5 of the parts' binary MD5s,
// then "-" and the number of parts.
func multipartETag(data []byte, partSize int) string {
	var sums []byte
	n := 0
	for off := 0; off < len(data); off += partSize {
		end := min(off+partSize, len(data))
		s := md5.Sum(data[off:end])
		sums = append(sums, s[:]...)
		n++
	}
	return fmt.Sprintf("%s-%d", md5hex(sums), n)
}

// unquote strips the quotes S3 puts around ETags.
func unquote(s *string) string { return strings.Trim(aws.ToString(s), `"`) }

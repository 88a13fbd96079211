package awsclient

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
)

const (
	testMRAP     = "arn:aws:s3::000000000000:accesspoint/mfzwi23gnjvgw.mrap"
	testMRAPHost = "mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com"
	testCtlHost  = "000000000000.s3-control.us-west-2.amazonaws.com"
)

type seen struct {
	Host, URI string
	Header    http.Header
	Body      []byte
}

// recorder stands in for a Pangea endpoint: it records each request and
// answers with just enough for the SDKs.
type recorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	all []seen
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.all = append(rec.all, seen{Host: r.Host, URI: r.RequestURI, Header: r.Header.Clone(), Body: body})
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		switch {
		case strings.HasPrefix(r.URL.Path, "/v20180820/"):
			io.WriteString(w, `<ListMultiRegionAccessPointsResult><AccessPoints></AccessPoints></ListMultiRegionAccessPointsResult>`)
		case r.Method == http.MethodGet && r.URL.Path == "/":
			io.WriteString(w, `<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Buckets></Buckets></ListAllMyBucketsResult>`)
		case r.Method == http.MethodPut:
			w.Header().Set("ETag", `"e"`)
		default:
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "content")
		}
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) last(t *testing.T) seen {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.all) == 0 {
		t.Fatal("nothing reached the endpoint")
	}
	return rec.all[len(rec.all)-1]
}

func testConfig() aws.Config {
	return aws.Config{
		Region:           "us-west-2",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", ""),
		RetryMaxAttempts: 1,
	}
}

func checkSigV4A(t *testing.T, got seen) {
	t.Helper()
	if got.Host != testMRAPHost {
		t.Errorf("Host %q, want %q", got.Host, testMRAPHost)
	}
	if a := got.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-ECDSA-P256-SHA256 ") {
		t.Errorf("Authorization %q, want SigV4A", a)
	}
}

func TestOptions(t *testing.T) {
	rec := newRecorder(t)
	s3Opt, ctlOpt, err := Options(rec.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// UsePathStyle set by the caller must not break ARN buckets.
	client := s3.NewFromConfig(testConfig(), func(o *s3.Options) { o.UsePathStyle = true }, s3Opt)

	// An MRAP ARN keeps its global host and SigV4A.
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(testMRAP), Key: aws.String("k.txt"), Body: strings.NewReader("via the mrap"),
	}); err != nil {
		t.Fatal(err)
	}
	got := rec.last(t)
	checkSigV4A(t, got)
	if !strings.HasPrefix(got.URI, "/k.txt") || !bytes.Contains(got.Body, []byte("via the mrap")) {
		t.Errorf("URI %q body %q", got.URI, got.Body)
	}

	// An ordinary bucket goes path-style to the endpoint, SigV4.
	if _, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("plain"), Key: aws.String("d/k.txt")}); err != nil {
		t.Fatal(err)
	}
	got = rec.last(t)
	endpointHost := strings.TrimPrefix(rec.srv.URL, "http://")
	if got.Host != endpointHost || !strings.HasPrefix(got.URI, "/plain/d/k.txt") {
		t.Errorf("plain bucket: Host %q URI %q, want %q /plain/d/k.txt", got.Host, got.URI, endpointHost)
	}
	if a := got.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 ") || !strings.Contains(a, "/us-west-2/s3/") {
		t.Errorf("plain bucket Authorization %q", a)
	}

	// ListBuckets (no bucket) too.
	if _, err := client.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		t.Fatal(err)
	}
	if got = rec.last(t); got.Host != endpointHost {
		t.Errorf("ListBuckets Host %q", got.Host)
	}

	// S3 Control keeps the account host, even with a BaseEndpoint set.
	ctl := s3control.NewFromConfig(testConfig(), func(o *s3control.Options) { o.BaseEndpoint = aws.String(rec.srv.URL) }, ctlOpt)
	if _, err := ctl.ListMultiRegionAccessPoints(ctx, &s3control.ListMultiRegionAccessPointsInput{AccountId: aws.String("000000000000")}); err != nil {
		t.Fatal(err)
	}
	got = rec.last(t)
	if got.Host != testCtlHost || !strings.HasPrefix(got.URI, "/v20180820/mrap/instances") {
		t.Errorf("control: Host %q URI %q", got.Host, got.URI)
	}
}

func TestHTTPClient(t *testing.T) {
	rec := newRecorder(t)
	base := &http.Client{Timeout: 7 * time.Second}
	hc, err := HTTPClient(rec.srv.URL+"/", base)
	if err != nil {
		t.Fatal(err)
	}
	if hc == base || hc.Timeout != base.Timeout {
		t.Errorf("HTTPClient should copy base and keep its settings")
	}
	cfg := testConfig()
	cfg.HTTPClient = hc
	ctx := t.Context()

	if _, err := s3.NewFromConfig(cfg).PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(testMRAP), Key: aws.String("a b.txt"), Body: strings.NewReader("x"),
	}); err != nil {
		t.Fatal(err)
	}
	got := rec.last(t)
	checkSigV4A(t, got)
	if !strings.HasPrefix(got.URI, "/a%20b.txt") {
		t.Errorf("URI %q", got.URI)
	}

	// A plain bucket keeps the virtual host the SDK chose.
	if _, err := s3.NewFromConfig(cfg).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("plain"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if got = rec.last(t); got.Host != "plain.s3.us-west-2.amazonaws.com" || !strings.HasPrefix(got.URI, "/k") {
		t.Errorf("plain bucket: Host %q URI %q", got.Host, got.URI)
	}

	if _, err := s3control.NewFromConfig(cfg).ListMultiRegionAccessPoints(ctx, &s3control.ListMultiRegionAccessPointsInput{AccountId: aws.String("000000000000")}); err != nil {
		t.Fatal(err)
	}
	if got = rec.last(t); got.Host != testCtlHost {
		t.Errorf("control Host %q", got.Host)
	}

	// nil base: a default client.
	if hc, err := HTTPClient(rec.srv.URL, nil); err != nil || hc.Transport == nil {
		t.Errorf("nil base: %v %v", hc, err)
	}
}

func TestBadEndpoint(t *testing.T) {
	for _, ep := range []string{"", "127.0.0.1:9000", "ftp://h", "http://", "http://h/path", "http://h?q=1", "http://u:p@h"} {
		if _, err := HTTPClient(ep, nil); err == nil {
			t.Errorf("HTTPClient(%q): no error", ep)
		}
		if _, _, err := Options(ep); err == nil {
			t.Errorf("Options(%q): no error", ep)
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
)

const (
	proxyTestMRAP  = "arn:aws:s3::000000000000:accesspoint/mfzwi23gnjvgw.mrap"
	proxyTestAlias = "mfzwi23gnjvgw.mrap"
)

// seenRequest is what the echo target recorded of one request.
type seenRequest struct {
	Host, URI string
	Header    http.Header
	Body      []byte
}

// echoTarget stands in for a Pangea S3 endpoint: it records every request
// and answers with just enough XML for the SDKs to be satisfied.
type echoTarget struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

func newEchoTarget(t *testing.T) *echoTarget {
	e := &echoTarget{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.seen = append(e.seen, seenRequest{Host: r.Host, URI: r.RequestURI, Header: r.Header.Clone(), Body: body})
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		switch {
		case strings.HasPrefix(r.URL.Path, "/v20180820/"):
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListMultiRegionAccessPointsResult><AccessPoints></AccessPoints></ListMultiRegionAccessPointsResult>`)
		case r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>`+proxyTestAlias+`</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
		case r.Method == http.MethodGet && r.URL.Path == "/big":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(bigBody())
		case r.Method == http.MethodPut:
			w.Header().Set("ETag", `"5d41402abc4b2a76b9719d911017c592"`)
		default:
			io.WriteString(w, "echo")
		}
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *echoTarget) requests() []seenRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]seenRequest(nil), e.seen...)
}

func (e *echoTarget) last(t *testing.T) seenRequest {
	t.Helper()
	s := e.requests()
	if len(s) == 0 {
		t.Fatal("nothing reached the target")
	}
	return s[len(s)-1]
}

func startTestProxy(t *testing.T, caDir, target string) *mrapProxy {
	t.Helper()
	p, err := startMRAPProxy(t.Context(), proxyConfig{Addr: "127.0.0.1:0", CADir: caDir, Target: target})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// proxiedClient is a plain net/http client that uses the proxy and trusts
// only the CA in caFile, as AWS_CA_BUNDLE would make it.
func proxiedClient(t *testing.T, proxyURL, caFile string) *http.Client {
	t.Helper()
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no certificate in", caFile)
	}
	pu, err := url.Parse(proxyURL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: false}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func proxiedAWSConfig(t *testing.T, p *mrapProxy) aws.Config {
	return aws.Config{
		Region:           "us-west-2",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDPROXYTEST", "proxy-test-secret", ""),
		HTTPClient:       proxiedClient(t, p.URL(), p.CAFile()),
		RetryMaxAttempts: 1,
	}
}

// TestProxy_SDKMRAPAndControl: unmodified aws-sdk-go-v2 clients, with only
// a proxy and its CA configured, reach the target with the hosts they signed.
func TestProxy_SDKMRAPAndControl(t *testing.T) {
	e := newEchoTarget(t)
	p := startTestProxy(t, t.TempDir(), e.srv.URL)
	cfg := proxiedAWSConfig(t, p)
	ctx := t.Context()

	// (a) a PUT through the MRAP ARN: the global host, SigV4A, the body.
	_, err := s3.NewFromConfig(cfg).PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(proxyTestMRAP), Key: aws.String("dir/k.txt"), Body: strings.NewReader("hello through the proxy"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := e.last(t)
	if want := proxyTestAlias + ".accesspoint.s3-global.amazonaws.com"; got.Host != want {
		t.Errorf("Host %q, want %q", got.Host, want)
	}
	if !strings.HasPrefix(got.URI, "/dir/k.txt") {
		t.Errorf("request URI %q", got.URI)
	}
	if a := got.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-ECDSA-P256-SHA256 ") {
		t.Errorf("Authorization %q, want SigV4A", a)
	}
	if !bytes.Contains(got.Body, []byte("hello through the proxy")) {
		t.Errorf("body %q lacks the payload", got.Body)
	}

	// (b) S3 Control: the account-prefixed regional host.
	if _, err := s3control.NewFromConfig(cfg).ListMultiRegionAccessPoints(ctx, &s3control.ListMultiRegionAccessPointsInput{
		AccountId: aws.String("000000000000"),
	}); err != nil {
		t.Fatal(err)
	}
	got = e.last(t)
	if want := "000000000000.s3-control.us-west-2.amazonaws.com"; got.Host != want {
		t.Errorf("control Host %q, want %q", got.Host, want)
	}
	if !strings.HasPrefix(got.URI, "/v20180820/mrap/instances") || got.Header.Get("X-Amz-Account-Id") != "000000000000" {
		t.Errorf("control request %q account %q", got.URI, got.Header.Get("X-Amz-Account-Id"))
	}
}

// TestProxy_RefusesOtherHosts: CONNECT to a non-S3 host or port is refused
// with 403 and plain proxying with 405; nothing reaches the target.
func TestProxy_RefusesOtherHosts(t *testing.T) {
	e := newEchoTarget(t)
	p := startTestProxy(t, t.TempDir(), e.srv.URL)
	addr := strings.TrimPrefix(p.URL(), "http://")
	for _, tc := range []struct{ raw, want string }{
		{"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "403"},
		{"CONNECT s3.amazonaws.com.evil.example:443 HTTP/1.1\r\nHost: s3.amazonaws.com.evil.example:443\r\n\r\n", "403"},
		{"CONNECT s3.us-west-2.amazonaws.com:80 HTTP/1.1\r\nHost: s3.us-west-2.amazonaws.com:80\r\n\r\n", "403"},
		{"CONNECT ec2.us-west-2.amazonaws.com:443 HTTP/1.1\r\nHost: ec2.us-west-2.amazonaws.com:443\r\n\r\n", "403"},
		{"GET http://s3.amazonaws.com/ HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\r\n", "405"},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, tc.raw)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		c.Close()
		if fmt.Sprint(resp.StatusCode) != tc.want || !strings.Contains(string(msg), "pangea MRAP proxy") {
			t.Errorf("%q: %d %q, want %s with a message", strings.SplitN(tc.raw, "\r\n", 2)[0], resp.StatusCode, msg, tc.want)
		}
	}
	if n := len(e.requests()); n != 0 {
		t.Errorf("%d requests reached the target", n)
	}
}

// TestProxy_CAReusedAndPlainClient: the CA survives a restart (same ca.pem,
// a 0600 key), and a plain net/http client trusting CAFile works through the
// proxy, reusing its connection.
func TestProxy_CAReusedAndPlainClient(t *testing.T) {
	e := newEchoTarget(t)
	dir := filepath.Join(t.TempDir(), "ca")
	p1 := startTestProxy(t, dir, e.srv.URL)
	first, err := os.ReadFile(p1.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("ca-key.pem mode %v", fi.Mode().Perm())
	}
	p2 := startTestProxy(t, dir, e.srv.URL)
	second, err := os.ReadFile(p2.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatal("ca.pem changed across restarts")
	}

	client := proxiedClient(t, p2.URL(), p2.CAFile())
	host := proxyTestAlias + ".accesspoint.s3-global.amazonaws.com"
	for i := range 2 {
		var reused bool
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
			GotConn: func(ci httptrace.GotConnInfo) { reused = ci.Reused },
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, "https://"+host+"/a%20b/c.txt?x-id=PutObject", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if i == 1 && !reused {
			t.Error("second request did not reuse the kept-alive connection")
		}
		got := e.last(t)
		if got.Host != host || got.URI != "/a%20b/c.txt?x-id=PutObject" || string(got.Body) != "payload" {
			t.Errorf("target saw %q %q %q", got.Host, got.URI, got.Body)
		}
	}
}

// bigBody is 8 MiB of a repeating pattern, larger than any buffer on the way.
func bigBody() []byte {
	return bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuv"), 8<<20/32)
}

// TestProxy_LargeBodies: large bodies go through both ways intact, a PUT with
// Expect: 100-continue included.
func TestProxy_LargeBodies(t *testing.T) {
	e := newEchoTarget(t)
	p := startTestProxy(t, t.TempDir(), e.srv.URL)
	client := proxiedClient(t, p.URL(), p.CAFile())
	base := "https://" + proxyTestAlias + ".accesspoint.s3-global.amazonaws.com"
	want := bigBody()

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, base+"/up", bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Expect", "100-continue")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := e.last(t); resp.StatusCode != http.StatusOK || !bytes.Equal(got.Body, want) {
		t.Errorf("PUT: status %d, target got %d bytes, want %d", resp.StatusCode, len(got.Body), len(want))
	}

	resp, err = client.Get(base + "/big")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("GET: %d bytes (%v), want %d", len(got), err, len(want))
	}
}

func TestIsS3Host(t *testing.T) {
	for h, want := range map[string]bool{
		"s3.amazonaws.com":                                       true,
		"s3.us-west-2.amazonaws.com":                             true,
		"my.bucket.s3.eu-central-1.amazonaws.com":                true,
		"bucket.s3.amazonaws.com":                                true,
		"s3-control.us-west-2.amazonaws.com":                     true,
		"000000000000.s3-control.us-west-2.amazonaws.com":        true,
		"mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com": true,
		"x.y.s3-control.us-west-2.amazonaws.com":                 false,
		"accesspoint.s3-global.amazonaws.com":                    false,
		"sts.amazonaws.com":                                      false,
		"amazonaws.com":                                          false,
		"s3.amazonaws.com.example.com":                           false,
		"s3.not_a-region.amazonaws.com":                          false,
		"example.com":                                            false,
	} {
		if got := isS3Host(h); got != want {
			t.Errorf("isS3Host(%q) = %v", h, got)
		}
	}
}

// TestProxy_AWSCLI drives the real aws CLI with HTTPS_PROXY and
// AWS_CA_BUNDLE: a plain bucket listing and an S3 Control call (SigV4, any
// CLI: Python's TLS accepts the proxy's certificates), then the MRAP ARN listing when the CLI
// can sign SigV4A (CLI v2, or v1 with awscrt).
func TestProxy_AWSCLI(t *testing.T) {
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed")
	}
	e := newEchoTarget(t)
	p := startTestProxy(t, t.TempDir(), e.srv.URL)
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch n := strings.ToUpper(name); {
		case strings.HasPrefix(n, "AWS_"), n == "HTTPS_PROXY", n == "HTTP_PROXY", n == "NO_PROXY",
			n == "REQUESTS_CA_BUNDLE", n == "SSL_CERT_FILE", n == "HOME":
		default:
			env = append(env, kv)
		}
	}
	env = append(env,
		"HTTPS_PROXY="+p.URL(), "AWS_CA_BUNDLE="+p.CAFile(),
		"AWS_ACCESS_KEY_ID=AKIDPROXYTEST", "AWS_SECRET_ACCESS_KEY=proxy-test-secret",
		"AWS_DEFAULT_REGION=us-west-2",
		"AWS_CONFIG_FILE="+filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"),
		"AWS_MAX_ATTEMPTS=1", "HOME="+home)
	run := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(t.Context(), awsBin, args...)
		cmd.Env = env
		return cmd.CombinedOutput()
	}
	listing := func(bucket string) ([]byte, error) { return run("s3api", "list-objects-v2", "--bucket", bucket) }

	if out, err := listing("plain-bucket"); err != nil {
		t.Fatalf("aws (plain bucket): %v\n%s", err, out)
	}
	if got := e.last(t); got.Host != "plain-bucket.s3.us-west-2.amazonaws.com" ||
		!strings.HasPrefix(got.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		t.Errorf("plain bucket: Host %q, Authorization %q", got.Host, got.Header.Get("Authorization"))
	}

	// The setup docs/mrap-clients.md recommends for ordinary buckets: the
	// endpoint for S3 only, not proxied.
	env = append(env, "AWS_ENDPOINT_URL_S3="+e.srv.URL, "NO_PROXY=127.0.0.1,localhost")
	if out, err := listing("plain-bucket"); err != nil {
		t.Fatalf("aws (plain bucket, AWS_ENDPOINT_URL_S3): %v\n%s", err, out)
	}
	if got := e.last(t); got.Host != strings.TrimPrefix(e.srv.URL, "http://") || !strings.HasPrefix(got.URI, "/plain-bucket") {
		t.Errorf("plain bucket with AWS_ENDPOINT_URL_S3: Host %q URI %q", got.Host, got.URI)
	}

	if out, err := run("s3control", "list-multi-region-access-points", "--account-id", "000000000000"); err != nil {
		t.Fatalf("aws s3control: %v\n%s", err, out)
	}
	if got := e.last(t); got.Host != "000000000000.s3-control.us-west-2.amazonaws.com" {
		t.Errorf("s3control Host %q", got.Host)
	}

	out, err := listing(proxyTestMRAP)
	if err != nil {
		if bytes.Contains(out, []byte("botocore[crt]")) || bytes.Contains(out, []byte("MissingDependency")) {
			t.Skipf("aws CLI cannot sign SigV4A (CLI v1 without awscrt), MRAP part skipped: %s", bytes.TrimSpace(out))
		}
		t.Fatalf("aws (MRAP): %v\n%s", err, out)
	}
	got := e.last(t)
	if want := proxyTestAlias + ".accesspoint.s3-global.amazonaws.com"; got.Host != want {
		t.Errorf("Host %q, want %q", got.Host, want)
	}
	if a := got.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-ECDSA-P256-SHA256 ") {
		t.Errorf("Authorization %q, want SigV4A", a)
	}
}

// TestProxy_CloseEndsTunnels: Close ends kept-alive tunnels too; the next
// request fails instead of reaching the target.
func TestProxy_CloseEndsTunnels(t *testing.T) {
	e := newEchoTarget(t)
	p := startTestProxy(t, t.TempDir(), e.srv.URL)
	client := proxiedClient(t, p.URL(), p.CAFile())
	url := "https://s3.us-west-2.amazonaws.com/bucket/key"
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Fatalf("request after Close: status %d", resp.StatusCode)
	}
	if n := len(e.requests()); n != 1 {
		t.Errorf("%d requests reached the target, want 1", n)
	}
}

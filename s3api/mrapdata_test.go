package s3api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/s3api/auth"
	"github.com/pangea-s3/pangea/storage"
)

// mrapAlias is the alias of the tests' MRAP; mrapARN its ARN.
const (
	mrapAlias = "mtestalias123.mrap"
	mrapARN   = "arn:aws:s3::000000000000:accesspoint/" + mrapAlias
)

// testMRAPRouter is an in-memory MRAPRouter: MRAPs by alias, and the hops of
// each region in a fixed order (the test's stand-in for the Picker).
type testMRAPRouter struct {
	mu      sync.Mutex
	mraps   map[string]storage.MRAP
	order   []string          // regions, nearest first
	targets map[string]Target // where each region is served
}

func (r *testMRAPRouter) MRAPByAlias(_ context.Context, alias string) (storage.MRAP, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.mraps[alias]
	return m, ok, nil
}

func (r *testMRAPRouter) Route(_ context.Context, m storage.MRAP) ([]MRAPHop, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var hops []MRAPHop
	for _, region := range r.order {
		for _, mr := range m.Regions {
			if mr.Region == region && mr.Active() {
				hops = append(hops, MRAPHop{Region: region, Bucket: mr.Bucket, Target: r.targets[region]})
			}
		}
	}
	return hops, nil
}

func (r *testMRAPRouter) set(m storage.MRAP) {
	r.mu.Lock()
	r.mraps[m.Alias] = m
	r.mu.Unlock()
}

// notSentTransport fails every request to dead before sending anything, as
// node.InternalTransport's dial failures do.
type notSentTransport struct {
	next http.RoundTripper
	dead string
}

type dialFailed struct{}

func (dialFailed) Error() string { return "dial: connection refused" }
func (dialFailed) NotSent() bool { return true }

func (t notSentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == t.dead {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, dialFailed{}
	}
	return t.next.RoundTrip(r)
}

// mrapEnv is a region us-east-1 (the entry, with the MRAP router) and a
// region eu-west-1 reached over its internal handler, each over a real
// node.Local, and an MRAP over bucket "mrap-us" and "mrap-eu".
type mrapEnv struct {
	t        *testing.T
	router   *testMRAPRouter
	us, eu   *node.Local
	ts       *httptest.Server // us-east-1's public endpoint
	euPublic *httptest.Server
	mu       sync.Mutex
	euSeen   []*http.Request // requests eu's internal handler served
	seen     [2]string       // Host and Authorization of the ARN client's last request
	reg      *prometheus.Registry
}

const deadAddr = "127.0.0.1:9" // a region that cannot be reached

func newMRAPEnv(t *testing.T) *mrapEnv {
	t.Helper()
	creds := auth.StaticCredentials{ownerAK: ownerSK, otherAK: otherSK}
	e := &mrapEnv{t: t, reg: prometheus.NewRegistry()}
	e.us = openLocalWith(t, func(c *node.LocalConfig) { c.Region = "us-east-1" })
	e.eu = openLocalWith(t, func(c *node.LocalConfig) { c.Region = "eu-west-1" })
	euSrv := New(Config{Region: "eu-west-1", Credentials: creds, Logger: testLogger(t).With("region", "eu-west-1")}, e.eu)
	inner := euSrv.InternalHandler()
	euInternal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.euSeen = append(e.euSeen, r)
		e.mu.Unlock()
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(euInternal.Close)
	e.euPublic = httptest.NewServer(euSrv)
	t.Cleanup(e.euPublic.Close)
	e.router = &testMRAPRouter{
		mraps: map[string]storage.MRAP{},
		order: []string{"us-east-1", "eu-west-1"},
		targets: map[string]Target{
			"us-east-1":      {Local: true, Region: "us-east-1"},
			"eu-west-1":      {Region: "eu-west-1", Addrs: []string{strings.TrimPrefix(euInternal.URL, "http://")}},
			"ap-southeast-2": {Region: "ap-southeast-2", Addrs: []string{deadAddr}},
		},
	}
	srv := New(Config{Region: "us-east-1", Credentials: creds, Logger: testLogger(t).With("region", "us-east-1"),
		Forward: notSentTransport{next: http.DefaultTransport, dead: deadAddr}, MRAPRouter: e.router, Metrics: NewMetrics(e.reg)}, e.us)
	e.ts = httptest.NewServer(srv)
	t.Cleanup(e.ts.Close)

	ctx := context.Background()
	for _, b := range []struct {
		c    *s3.Client
		name string
		cfg  *types.CreateBucketConfiguration
	}{
		{e.pathClient(e.ts.URL, ownerAK, ownerSK), "mrap-us", nil},
		{e.pathClient(e.euPublic.URL, ownerAK, ownerSK), "mrap-eu", &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}},
	} {
		if _, err := b.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b.name), CreateBucketConfiguration: b.cfg}); err != nil {
			t.Fatalf("create %s: %v", b.name, err)
		}
	}
	e.router.set(storage.MRAP{Account: accountID, Name: "test", Alias: mrapAlias, Status: storage.MRAPReady,
		Regions: []storage.MRAPRegion{
			{Region: "ap-southeast-2", Bucket: "mrap-ap", TrafficDial: 100},
			{Region: "eu-west-1", Bucket: "mrap-eu", TrafficDial: 100},
			{Region: "us-east-1", Bucket: "mrap-us", TrafficDial: 100},
		}})
	return e
}

// pathClient is an SDK client of endpoint, path style, SigV4 for the
// endpoint's region.
func (e *mrapEnv) pathClient(endpoint, ak, sk string) *s3.Client {
	var creds aws.CredentialsProvider = aws.AnonymousCredentials{}
	if ak != "" {
		creds = credentials.NewStaticCredentialsProvider(ak, sk, "")
	}
	region := "us-east-1"
	if e.euPublic != nil && endpoint == e.euPublic.URL {
		region = "eu-west-1"
	}
	return s3.New(s3.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true, Retryer: aws.NopRetryer{}})
}

// redirect sends what the SDK addressed to AWS (https, the MRAP host) to the
// test server, after signing, keeping the signed Host: what users do.
// seen records the Host and Authorization of the last request.
type redirect struct {
	to   string
	seen *[2]string
}

func (rd redirect) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	if r2.Host == "" {
		r2.Host = r.URL.Host
	}
	if rd.seen != nil {
		*rd.seen = [2]string{r2.Host, r2.Header.Get("Authorization")}
	}
	r2.URL.Scheme, r2.URL.Host = "http", rd.to
	return http.DefaultTransport.RoundTrip(r2)
}

// arnClient is an SDK client that addresses the MRAP by ARN: SigV4A, host
// {alias}.accesspoint.s3-global.amazonaws.com, redirected to the entry.
func (e *mrapEnv) arnClient(ak, sk string) *s3.Client {
	u, _ := url.Parse(e.ts.URL)
	return s3.New(s3.Options{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient: &http.Client{Transport: redirect{to: u.Host, seen: &e.seen}}, Retryer: aws.NopRetryer{}})
}

// mrapCount is pangea_mrap_requests_total for the labels.
func (e *mrapEnv) mrapCount(mrap, region, status string) float64 {
	return e.mrapCounter("pangea_mrap_requests_total", map[string]string{"mrap": mrap, "region": region, "status": status})
}

// mrapCounter is the counter name with labels.
func (e *mrapEnv) mrapCounter(name string, labels map[string]string) float64 {
	e.t.Helper()
	fams, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			m, _ := sample(f, labels)
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func (e *mrapEnv) setOrder(regions ...string) {
	e.router.mu.Lock()
	e.router.order = regions
	e.router.mu.Unlock()
}

func mrapGetBody(t *testing.T, c *s3.Client, bucket, key string) (string, error) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

// TestMRAP_SDKThroughARN: the real SDK with the MRAP ARN as Bucket (SigV4A,
// the global host) writes into the nearest region's bucket, readable
// directly, and reads, lists, tags and deletes through the MRAP.
func TestMRAP_SDKThroughARN(t *testing.T) {
	e := newMRAPEnv(t)
	ctx := context.Background()
	c := e.arnClient(ownerAK, ownerSK)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(mrapARN), Key: aws.String("dir/a b.txt"),
		Body: strings.NewReader("hello mrap")}); err != nil {
		t.Fatalf("put through the ARN: %v", err)
	}
	if e.seen[0] != mrapAlias+mrapGlobalSuffix || !strings.HasPrefix(e.seen[1], "AWS4-ECDSA-P256-SHA256 ") {
		t.Fatalf("the SDK sent Host %q, Authorization %q", e.seen[0], e.seen[1])
	}
	if got, err := mrapGetBody(t, e.pathClient(e.ts.URL, ownerAK, ownerSK), "mrap-us", "dir/a b.txt"); err != nil || got != "hello mrap" {
		t.Fatalf("direct read: %q, %v", got, err)
	}
	if got, err := mrapGetBody(t, c, mrapARN, "dir/a b.txt"); err != nil || got != "hello mrap" {
		t.Fatalf("read through the ARN: %q, %v", got, err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(mrapARN), Key: aws.String("dir/a b.txt")}); err != nil {
		t.Fatalf("head: %v", err)
	}
	l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(mrapARN)})
	if err != nil || len(l.Contents) != 1 || aws.ToString(l.Contents[0].Key) != "dir/a b.txt" {
		t.Fatalf("list: %+v, %v", l, err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(mrapARN), Key: aws.String("dir/a b.txt")}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := mrapGetBody(t, c, mrapARN, "dir/a b.txt"); apiCode(err) != "NoSuchKey" {
		t.Fatalf("after delete: %v", err)
	}
	// A bucket-level operation through the ARN is refused.
	if _, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(mrapARN)}); apiCode(err) != "InvalidRequest" {
		t.Fatalf("bucket op through the ARN: %v", err)
	}
	if n := e.mrapCount(mrapAlias, "us-east-1", "200"); n < 4 {
		t.Errorf("pangea_mrap_requests_total 200 in us-east-1: %v", n)
	}
	if n := e.mrapCount(mrapAlias, "", "400"); n != 1 {
		t.Errorf("pangea_mrap_requests_total 400: %v", n)
	}
	// "hello mrap" went in with the PUT and out with the GET.
	in := e.mrapCounter("pangea_mrap_bytes_total", map[string]string{"mrap": mrapAlias, "region": "us-east-1", "direction": "in"})
	out := e.mrapCounter("pangea_mrap_bytes_total", map[string]string{"mrap": mrapAlias, "region": "us-east-1", "direction": "out"})
	if in < float64(len("hello mrap")) || out < float64(len("hello mrap")) {
		t.Errorf("pangea_mrap_bytes_total in %v, out %v: want at least the object's %d bytes each", in, out, len("hello mrap"))
	}
}

// TestMRAP_PathStyleAliasAndErrors: the alias as a path-style bucket with
// SigV4 works; refused operations, unknown and malformed aliases, MRAPs not
// ready, anonymous requests and SigV4 on the host form get S3 errors.
func TestMRAP_PathStyleAliasAndErrors(t *testing.T) {
	e := newMRAPEnv(t)
	ctx := context.Background()
	c := e.pathClient(e.ts.URL, ownerAK, ownerSK)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(mrapAlias), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatalf("put through the alias: %v", err)
	}
	if got, err := mrapGetBody(t, c, "mrap-us", "k"); err != nil || got != "v" {
		t.Fatalf("direct read: %q, %v", got, err)
	}
	for name, err := range map[string]error{
		"ListObjects": func() error {
			_, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(mrapAlias)})
			return err
		}(),
		"GetBucketTagging": func() error {
			_, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(mrapAlias)})
			return err
		}(),
		"ListObjectVersions": func() error {
			_, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(mrapAlias)})
			return err
		}(),
	} {
		if apiCode(err) != "InvalidRequest" {
			t.Errorf("%s through the MRAP: %v", name, err)
		}
	}
	if _, err := mrapGetBody(t, c, "munknown.mrap", "k"); apiCode(err) != "NoSuchBucket" || !strings.Contains(err.Error(), "munknown.mrap") {
		t.Fatalf("unknown alias: %v", err)
	}
	if _, err := mrapGetBody(t, c, "9bad.mrap", "k"); apiCode(err) != "InvalidRequest" {
		t.Fatalf("malformed alias: %v", err)
	}
	if _, err := mrapGetBody(t, e.pathClient(e.ts.URL, "", ""), mrapAlias, "k"); apiCode(err) != "AccessDenied" {
		t.Fatalf("anonymous: %v", err)
	}
	m, _, _ := e.router.MRAPByAlias(ctx, mrapAlias)
	m.Status = storage.MRAPCreating
	e.router.set(m)
	if _, err := mrapGetBody(t, c, mrapAlias, "k"); httpStatus(err) != http.StatusServiceUnavailable {
		t.Fatalf("not ready: %v", err)
	}
	m.Status = storage.MRAPReady
	e.router.set(m)

	// SigV4 on the host forms is refused; the alias as a virtual host under
	// the base domain is the alias as a bucket (here forwarded to eu).
	e.setOrder("eu-west-1")
	if _, err := e.pathClient(e.euPublic.URL, ownerAK, ownerSK).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("mrap-eu"),
		Key: aws.String("k"), Body: strings.NewReader("in eu")}); err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]int{
		mrapAlias + mrapGlobalSuffix:            http.StatusBadRequest,
		mrapAlias + ".accesspoint.localhost:80": http.StatusBadRequest,
		mrapAlias + ".localhost":                http.StatusOK,
	} {
		req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/k", nil)
		req.Host = host
		sum := sha256.Sum256(nil)
		if err := signWith(req, hex.EncodeToString(sum[:]), ownerAK, ownerSK); err != nil {
			t.Fatal(err)
		}
		r := sendRaw(t, http.DefaultClient, req)
		if r.status != want {
			t.Fatalf("SigV4 with Host %s: %d %s", host, r.status, r.body)
		}
		if want == http.StatusBadRequest && (r.code() != "InvalidRequest" || !bytes.Contains(r.body, []byte("Version 4A"))) {
			t.Fatalf("SigV4 with Host %s: %s", host, r.body)
		}
		if want == http.StatusOK && string(r.body) != "in eu" {
			t.Fatalf("SigV4 with Host %s: %s", host, r.body)
		}
	}
}

// TestMRAP_MultipartThroughARN: a multipart upload through the ARN, forwarded
// to the nearest region, completes there.
func TestMRAP_MultipartThroughARN(t *testing.T) {
	e := newMRAPEnv(t)
	ctx := context.Background()
	c := e.arnClient(ownerAK, ownerSK)
	e.setOrder("eu-west-1", "us-east-1")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(mrapARN), Key: aws.String("mp")})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	part := strings.Repeat("p", 5<<20)
	var parts []types.CompletedPart
	for i, body := range []string{part, "tail"} {
		n := int32(i + 1)
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(mrapARN), Key: aws.String("mp"), UploadId: up.UploadId,
			PartNumber: aws.Int32(n), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(mrapARN), Key: aws.String("mp"), UploadId: up.UploadId})
	if err != nil || len(lp.Parts) != 2 {
		t.Fatalf("list parts: %+v, %v", lp, err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(mrapARN), Key: aws.String("mp"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("complete: %v", err)
	}
	got, err := mrapGetBody(t, e.pathClient(e.euPublic.URL, ownerAK, ownerSK), "mrap-eu", "mp")
	if err != nil || got != part+"tail" {
		t.Fatalf("direct read in eu: %d bytes, %v", len(got), err)
	}
}

// TestMRAP_Policies: an MRAP policy's Deny refuses; a bucket policy that
// delegates to the MRAP (s3:DataAccessPointArn) lets another principal in
// through the MRAP only, here and in a forwarded region.
func TestMRAP_Policies(t *testing.T) {
	e := newMRAPEnv(t)
	ctx := context.Background()
	owner := e.arnClient(ownerAK, ownerSK)
	other := e.arnClient(otherAK, otherSK)
	for _, ep := range []struct{ url, bucket string }{{e.ts.URL, "mrap-us"}, {e.euPublic.URL, "mrap-eu"}} {
		oc := e.pathClient(ep.url, ownerAK, ownerSK)
		if _, err := oc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(ep.bucket), Key: aws.String("k"), Body: strings.NewReader(ep.bucket)}); err != nil {
			t.Fatal(err)
		}
		pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject",` +
			`"Resource":"arn:aws:s3:::` + ep.bucket + `/*","Condition":{"StringEquals":{"s3:DataAccessPointArn":"` + mrapARN + `"}}}]}`
		if _, err := oc.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(ep.bucket), Policy: aws.String(pol)}); err != nil {
			t.Fatalf("bucket policy: %v", err)
		}
		if _, err := mrapGetBody(t, e.pathClient(ep.url, otherAK, otherSK), ep.bucket, "k"); apiCode(err) != "AccessDenied" {
			t.Fatalf("other directly to %s: %v", ep.bucket, err)
		}
	}
	if got, err := mrapGetBody(t, other, mrapARN, "k"); err != nil || got != "mrap-us" {
		t.Fatalf("other through the MRAP: %q, %v", got, err)
	}
	e.setOrder("eu-west-1", "us-east-1")
	if got, err := mrapGetBody(t, other, mrapARN, "k"); err != nil || got != "mrap-eu" {
		t.Fatalf("other through the MRAP to eu: %q, %v", got, err)
	}
	e.mu.Lock()
	last := e.euSeen[len(e.euSeen)-1]
	e.mu.Unlock()
	if last.URL.Path != "/mrap-eu/k" || last.Host != mrapAlias+mrapGlobalSuffix || last.Header.Get(hdrDataAccessPoint) != mrapARN {
		t.Fatalf("forwarded as %s %v", last.URL.Path, last.Header)
	}

	// The MRAP policy denies the owner's deletes.
	m, _, _ := e.router.MRAPByAlias(ctx, mrapAlias)
	m.Policy = `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:*","Resource":"` + mrapARN + `/object/*"},` +
		`{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:DeleteObject","Resource":"` + mrapARN + `/object/*"}]}`
	e.router.set(m)
	if _, err := owner.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(mrapARN), Key: aws.String("k")}); apiCode(err) != "AccessDenied" {
		t.Fatalf("delete the MRAP policy denies: %v", err)
	}
	if _, err := mrapGetBody(t, owner, mrapARN, "k"); err != nil {
		t.Fatalf("get the MRAP policy allows: %v", err)
	}
	// A policy that allows nothing for the list: refused.
	if _, err := owner.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(mrapARN)}); apiCode(err) != "AccessDenied" {
		t.Fatalf("list the MRAP policy does not allow: %v", err)
	}
}

// TestMRAP_FailsOverToNextRegion: a region nothing reaches is skipped for GET
// and for a PUT whose small body was not sent; no region left is a 503.
func TestMRAP_FailsOverToNextRegion(t *testing.T) {
	e := newMRAPEnv(t)
	ctx := context.Background()
	c := e.arnClient(ownerAK, ownerSK)
	e.setOrder("ap-southeast-2", "eu-west-1")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(mrapARN), Key: aws.String("f"), Body: strings.NewReader("failover")}); err != nil {
		t.Fatalf("put: %v", err)
	}
	if got, err := mrapGetBody(t, c, mrapARN, "f"); err != nil || got != "failover" {
		t.Fatalf("get: %q, %v", got, err)
	}
	if got, err := mrapGetBody(t, e.pathClient(e.euPublic.URL, ownerAK, ownerSK), "mrap-eu", "f"); err != nil || got != "failover" {
		t.Fatalf("direct read in eu: %q, %v", got, err)
	}
	// A streamed body (over smallBody) nothing read from goes on too.
	big := strings.Repeat("b", 3*smallBody)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(mrapARN), Key: aws.String("big"), Body: strings.NewReader(big)}); err != nil {
		t.Fatalf("put big: %v", err)
	}
	if got, err := mrapGetBody(t, e.pathClient(e.euPublic.URL, ownerAK, ownerSK), "mrap-eu", "big"); err != nil || got != big {
		t.Fatalf("direct read of big in eu: %d bytes, %v", len(got), err)
	}
	// A presigned (SigV4A) URL for the ARN.
	ps, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(mrapARN), Key: aws.String("f")})
	if err != nil {
		t.Fatalf("presign: %v", err)
	}
	if !strings.Contains(ps.URL, "X-Amz-Region-Set=") {
		t.Fatalf("presigned URL %s", ps.URL)
	}
	preq, _ := http.NewRequest(http.MethodGet, ps.URL, nil)
	u, _ := url.Parse(e.ts.URL)
	if r := sendRaw(t, &http.Client{Transport: redirect{to: u.Host}}, preq); r.status != http.StatusOK || string(r.body) != "failover" {
		t.Fatalf("presigned GET: %d %s", r.status, r.body)
	}

	// A region set that leaves eu-west-1 out: only us-east-1 may serve.
	e.setOrder("eu-west-1", "us-east-1")
	usOnly := s3.New(c.Options(), s3.WithSigV4ASigningRegions([]string{"us-east-1"}))
	if _, err := usOnly.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(mrapARN), Key: aws.String("us"), Body: strings.NewReader("us")}); err != nil {
		t.Fatalf("put signed for us-east-1: %v", err)
	}
	if e.seen[1] == "" || !strings.Contains(e.seen[1], "x-amz-region-set") {
		t.Fatalf("not SigV4A: %q", e.seen[1])
	}
	if got, err := mrapGetBody(t, e.pathClient(e.ts.URL, ownerAK, ownerSK), "mrap-us", "us"); err != nil || got != "us" {
		t.Fatalf("direct read in us: %q, %v", got, err)
	}
	apOnly := s3.New(c.Options(), s3.WithSigV4ASigningRegions([]string{"ap-*"}))
	if _, err := mrapGetBody(t, apOnly, mrapARN, "us"); httpStatus(err) != http.StatusServiceUnavailable {
		t.Fatalf("no region in the region set: %v", err)
	}

	e.setOrder("ap-southeast-2")
	_, err = mrapGetBody(t, c, mrapARN, "f")
	if httpStatus(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), mrapAlias) {
		t.Fatalf("no region: %v", err)
	}
	if n := e.mrapCount(mrapAlias, "", "503"); n != 2 {
		t.Errorf("pangea_mrap_requests_total 503: %v", n)
	}
	if n := e.mrapCount(mrapAlias, "eu-west-1", "200"); n != 4 {
		t.Errorf("pangea_mrap_requests_total 200 in eu-west-1: %v", n)
	}
	var nf interface{ NotSent() bool }
	if errors.As(err, &nf) {
		t.Fatal("transport error leaked to the client")
	}
}

// FuzzMRAPHost: the host parser never panics, and what it accepts it
// accepts in any case and with a port.
func FuzzMRAPHost(f *testing.F) {
	for _, s := range []string{mrapAlias + mrapGlobalSuffix, "x.mrap.accesspoint.localhost:9000", "[::1]:80", "", ".accesspoint.s3-global.amazonaws.com",
		"A.MRAP.ACCESSPOINT.S3-GLOBAL.AMAZONAWS.COM.", "bucket.localhost"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		alias, ok := mrapHostAlias(host, ".localhost")
		if !ok {
			return
		}
		if alias == "" {
			t.Fatalf("%q: empty alias accepted", host)
		}
		if validMRAPAlias(alias) {
			if a2, ok2 := mrapHostAlias(strings.ToUpper(alias)+mrapGlobalSuffix+":443", ".localhost"); !ok2 || a2 != alias {
				t.Fatalf("%q: alias %q not found again (%q)", host, alias, a2)
			}
			if len(alias) > mrapAliasMax || !strings.HasSuffix(alias, ".mrap") {
				t.Fatalf("%q: bad alias %q valid", host, alias)
			}
		}
	})
}

package s3api

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/s3api/auth"
	"github.com/pangea-s3/pangea/storage"
)

// fakePlanet is a planet of regions for the resolve step: a catalog in a map,
// each region one s3api.Server over a real node.Local, its internal handler on
// its own loopback listener (the cluster-secret handshake in front of it is
// node's, tested there), and an edge with no backend.
type fakePlanet struct {
	t        *testing.T
	mu       sync.Mutex
	catalog  map[string]catalogEntry
	down     bool // the control region is unreachable
	regions  map[string]*fakeRegion
	edge     *httptest.Server
	forwards int // requests the internal handlers served
}

type fakeRegion struct {
	name     string
	local    *node.Local
	public   *httptest.Server
	internal *httptest.Server
}

// fakeResolver is the planet as one process sees it (region "" for the edge).
type fakeResolver struct {
	p      *fakePlanet
	region string
}

type unavailable struct{}

func (unavailable) Error() string   { return "control region unreachable" }
func (unavailable) Retryable() bool { return true }
func (unavailable) UnavailableMessage() string {
	return "The control region cannot be reached. Please retry."
}

func (r fakeResolver) target(region string) Target {
	if region == r.region {
		return Target{Local: true, Region: region}
	}
	fr := r.p.regions[region]
	return Target{Region: region, Addrs: []string{strings.TrimPrefix(fr.internal.URL, "http://")}}
}

func (r fakeResolver) Resolve(_ context.Context, bucket string) (Target, error) {
	r.p.mu.Lock()
	e, ok := r.p.catalog[bucket]
	r.p.mu.Unlock()
	if !ok {
		if r.region == "" {
			return Target{}, storage.ErrNoSuchBucket
		}
		return Target{Local: true, Region: r.region}, nil
	}
	return r.target(e.Region), nil
}

func (r fakeResolver) Region(_ context.Context, region string) (Target, error) {
	if region == "" {
		region = "us-east-1" // an edge's default: the control region
	}
	if _, ok := r.p.regions[region]; !ok {
		return Target{}, ErrUnknownRegion
	}
	return r.target(region), nil
}

func (r fakeResolver) ReserveBucket(_ context.Context, name, region, owner string) error {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	if r.p.down {
		return unavailable{}
	}
	if e, ok := r.p.catalog[name]; ok && (e.Region != region || e.Owner != owner) {
		if e.Owner == owner {
			return storage.ErrBucketAlreadyOwnedByYou // as routing.Resolver answers
		}
		return storage.ErrBucketAlreadyExists
	}
	r.p.catalog[name] = catalogEntry{Bucket: name, Region: region, Owner: owner}
	return nil
}

func (r fakeResolver) CatalogReachable(context.Context) error {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	if r.p.down {
		return unavailable{}
	}
	return nil
}

func (r fakeResolver) ReleaseBucket(_ context.Context, name, region string) error {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	if e, ok := r.p.catalog[name]; ok && e.Region == region {
		delete(r.p.catalog, name)
	}
	return nil
}

func (r fakeResolver) ListBuckets(_ context.Context, in storage.ListBucketsInput) (storage.ListBucketsResult, error) {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	var res storage.ListBucketsResult
	for _, e := range r.p.catalog {
		res.Buckets = append(res.Buckets, storage.BucketInfo{Name: e.Bucket, Region: e.Region, Owner: e.Owner})
	}
	slices.SortFunc(res.Buckets, func(a, b storage.BucketInfo) int { return strings.Compare(a.Name, b.Name) })
	return res, nil
}

// newFakePlanet starts us-east-1 and eu-west-1 and a TLS edge (over TLS the
// SDK sends aws-chunked bodies with a checksum trailer).
func newFakePlanet(t *testing.T) *fakePlanet {
	p := &fakePlanet{t: t, catalog: map[string]catalogEntry{}, regions: map[string]*fakeRegion{}}
	creds := auth.StaticCredentials{ownerAK: ownerSK, otherAK: otherSK}
	for _, name := range []string{"us-east-1", "eu-west-1"} {
		l := openLocalWith(t, func(c *node.LocalConfig) { c.Region = name })
		srv := New(Config{Region: name, Credentials: creds, Logger: testLogger(t).With("region", name),
			Resolver: fakeResolver{p: p, region: name}, Forward: http.DefaultTransport}, l)
		fr := &fakeRegion{name: name, local: l, public: httptest.NewServer(srv)}
		inner := srv.InternalHandler()
		fr.internal = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.mu.Lock()
			p.forwards++
			p.mu.Unlock()
			inner.ServeHTTP(w, r)
		}))
		t.Cleanup(fr.public.Close)
		t.Cleanup(fr.internal.Close)
		p.regions[name] = fr
	}
	edge := New(Config{Credentials: creds, Logger: testLogger(t).With("edge", true),
		Resolver: fakeResolver{p: p}, Forward: http.DefaultTransport}, nil)
	p.edge = httptest.NewTLSServer(edge)
	t.Cleanup(p.edge.Close)
	return p
}

func (p *fakePlanet) client(url string, httpc *http.Client, region, ak, sk string) *s3.Client {
	var creds aws.CredentialsProvider = aws.AnonymousCredentials{}
	if ak != "" {
		creds = credentials.NewStaticCredentialsProvider(ak, sk, "")
	}
	return s3.New(s3.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(url),
		UsePathStyle: true, HTTPClient: httpc, Retryer: aws.NopRetryer{}})
}

func (p *fakePlanet) edgeClient(region string) *s3.Client {
	return p.client(p.edge.URL, p.edge.Client(), region, ownerAK, ownerSK)
}

func TestForward_BucketOfAnotherRegionThroughEdgeAndMember(t *testing.T) {
	p := newFakePlanet(t)
	ctx := context.Background()
	eu := p.edgeClient("eu-west-1")
	_, err := createInEU(ctx, eu, "far")
	must(t, "create bucket in eu-west-1 through the edge", err)
	if _, err := p.regions["eu-west-1"].local.Bucket(ctx, "far"); err != nil {
		t.Fatalf("the bucket is not in eu-west-1's store: %v", err)
	}
	if _, err := p.regions["us-east-1"].local.Bucket(ctx, "far"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Fatalf("us-east-1's store has the bucket too (err %v)", err)
	}

	// A 1 MiB upload through the edge (aws-chunked with a CRC32 trailer over TLS).
	body := make([]byte, 1<<20)
	rand.Read(body)
	_, err = eu.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("far"), Key: aws.String("k"),
		Body: bytes.NewReader(body), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	must(t, "put through the edge", err)

	// Read it back through the us-east-1 member (signed for the bucket's region).
	us := p.regions["us-east-1"]
	member := p.client(us.public.URL, us.public.Client(), "eu-west-1", ownerAK, ownerSK)
	out, err := member.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("far"), Key: aws.String("k")})
	must(t, "get through the us-east-1 member", err)
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatalf("read back %d bytes, not the %d written", len(got), len(body))
	}
	// A ranged read streams the range.
	out, err = eu.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("far"), Key: aws.String("k"), Range: aws.String("bytes=1000-1999")})
	must(t, "ranged get through the edge", err)
	got, _ = io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, body[1000:2000]) {
		t.Fatalf("range: got %d bytes, not bytes 1000-1999", len(got))
	}
	// HEAD through the edge carries the object's headers.
	ho, err := eu.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("far"), Key: aws.String("k")})
	must(t, "head through the edge", err)
	if aws.ToInt64(ho.ContentLength) != int64(len(body)) || aws.ToString(ho.ETag) == "" {
		t.Fatalf("head through the edge: length %d, ETag %q", aws.ToInt64(ho.ContentLength), aws.ToString(ho.ETag))
	}
	// The owner's errors come back unchanged, with its request ID.
	_, err = eu.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("far"), Key: aws.String("missing")})
	if httpStatus(err) != http.StatusNotFound {
		t.Fatalf("head of a missing key through the edge: %v, want 404", err)
	}
	_, err = eu.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("far"), Key: aws.String("missing")})
	wantCode(t, "get of a missing key through the edge", err, "NoSuchKey")

	// Signed for the wrong region: the owner refuses and names its region.
	_, err = p.edgeClient("us-east-1").GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("far"), Key: aws.String("k")})
	wantCode(t, "get signed for us-east-1", err, "AuthorizationHeaderMalformed")

	// ListBuckets through the edge sees every region's buckets.
	lb, err := eu.ListBuckets(ctx, &s3.ListBucketsInput{})
	must(t, "list buckets through the edge", err)
	if len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != "far" || aws.ToString(lb.Buckets[0].BucketRegion) != "eu-west-1" {
		t.Fatalf("list buckets through the edge: %+v", lb.Buckets)
	}
	p.mu.Lock()
	n := p.forwards
	p.mu.Unlock()
	if n < 6 {
		t.Fatalf("only %d requests reached an internal handler", n)
	}
}

func TestForward_NameOwnedByOneRegion(t *testing.T) {
	p := newFakePlanet(t)
	ctx := context.Background()
	us := p.regions["us-east-1"]
	usc := p.client(us.public.URL, us.public.Client(), "us-east-1", ownerAK, ownerSK)
	must(t, "create in us-east-1", func() error {
		_, err := usc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("one")})
		return err
	}())
	// The owner again: 200 in us-east-1 (as S3 answers there), 409 from another region.
	_, err := usc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("one")})
	must(t, "the owner creating its us-east-1 bucket again in us-east-1", err)
	_, err = createInEU(ctx, p.edgeClient("eu-west-1"), "one")
	wantCode(t, "the owner creating its us-east-1 bucket in eu-west-1", err, "BucketAlreadyOwnedByYou")
	_, err = createInEU(ctx, p.edgeClient("eu-west-1"), "euone")
	must(t, "create in eu-west-1", err)
	_, err = createInEU(ctx, p.edgeClient("eu-west-1"), "euone")
	wantCode(t, "the owner creating its eu-west-1 bucket again in eu-west-1", err, "BucketAlreadyOwnedByYou")
	// Another principal asking eu-west-1 for the name: taken.
	eu := p.regions["eu-west-1"]
	other := p.client(eu.public.URL, eu.public.Client(), "eu-west-1", otherAK, otherSK)
	_, err = createInEU(ctx, other, "one")
	wantCode(t, "create the name in eu-west-1", err, "BucketAlreadyExists")
	if _, err := eu.local.Bucket(ctx, "one"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Fatalf("eu-west-1 created the bucket anyway (err %v)", err)
	}
	// With the control region unreachable, create and delete answer 503 and
	// change nothing; reads go on.
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	_, err = usc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("two")})
	wantCode(t, "create with the control region down", err, "ServiceUnavailable")
	if !strings.Contains(err.Error(), "control region") {
		t.Fatalf("the 503 does not say what is unreachable: %v", err)
	}
	_, err = usc.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("one")})
	wantCode(t, "delete with the control region down", err, "ServiceUnavailable")
	if _, err := us.local.Bucket(ctx, "one"); err != nil {
		t.Fatalf("the bucket was deleted although its name could not be released: %v", err)
	}
	_, err = usc.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("one")})
	must(t, "head bucket with the control region down", err)
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
	_, err = usc.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("one")})
	must(t, "delete", err)
	p.mu.Lock()
	_, held := p.catalog["one"]
	p.mu.Unlock()
	if held {
		t.Fatal("the deleted bucket's name is still held")
	}
	// An unknown region in the constraint.
	_, err = usc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("three"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintApSouth1}})
	wantCode(t, "create in a region the planet lacks", err, "InvalidLocationConstraint")
}

func TestForward_ForgedPrincipalIgnored(t *testing.T) {
	p := newFakePlanet(t)
	ctx := context.Background()
	eu := p.edgeClient("eu-west-1")
	_, err := createInEU(ctx, eu, "private")
	must(t, "create", err)
	_, err = eu.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("private"), Key: aws.String("secret"), Body: strings.NewReader("x")})
	must(t, "put", err)
	for _, url := range []string{p.edge.URL, p.regions["us-east-1"].public.URL, p.regions["eu-west-1"].public.URL} {
		req, _ := http.NewRequest(http.MethodGet, url+"/private/secret", nil)
		req.Header.Set(hdrPrincipal, ownerAK)
		req.Header.Set(hdrAuthMethod, "SigV4")
		req.Header.Set(hdrRegionSet, "eu-west-1")
		if r := sendRaw(t, p.edge.Client(), req); r.status != http.StatusForbidden || r.code() != "AccessDenied" {
			t.Fatalf("anonymous GET with a forged principal header at %s: %d %s", url, r.status, r.body)
		}
	}
}

func TestForward_UnverifiedBodyNeverCommitted(t *testing.T) {
	p := newFakePlanet(t)
	ctx := context.Background()
	eu := p.edgeClient("eu-west-1")
	_, err := createInEU(ctx, eu, "bkt")
	must(t, "create", err)
	us := p.regions["us-east-1"]
	for _, size := range []int{10, 200 << 10} { // read whole first, and streamed
		body := bytes.Repeat([]byte("a"), size)
		req, _ := http.NewRequest(http.MethodPut, us.public.URL+"/bkt/k", bytes.NewReader(body))
		req.ContentLength = int64(size)
		// Signed with the hash of another body.
		if err := signWithRegion(req, strings.Repeat("0", 64), "eu-west-1"); err != nil {
			t.Fatal(err)
		}
		if r := sendRaw(t, us.public.Client(), req); r.status != http.StatusBadRequest || r.code() != "XAmzContentSHA256Mismatch" {
			t.Fatalf("size %d: PUT with a wrong payload hash through us-east-1: %d %s", size, r.status, r.body)
		}
		if _, err := p.regions["eu-west-1"].local.Object(ctx, "bkt", "k", ""); !errors.Is(err, storage.ErrNoSuchKey) {
			t.Fatalf("size %d: the owner committed an unverified body (err %v)", size, err)
		}
	}
}

// signWithRegion signs req as the owner with SigV4 for payloadHash in region.
func signWithRegion(req *http.Request, payloadHash, region string) error {
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: ownerAK, SecretAccessKey: ownerSK}, req, payloadHash, "s3", region, time.Now())
}

func TestForward_RegionUnreachable(t *testing.T) {
	p := newFakePlanet(t)
	ctx := context.Background()
	eu := p.edgeClient("eu-west-1")
	_, err := createInEU(ctx, eu, "bkt")
	must(t, "create", err)
	// The region's internal address stops answering.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p.regions["eu-west-1"].internal.Close()
	p.regions["eu-west-1"].internal.URL = "http://" + dead
	_, err = eu.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	wantCode(t, "get with the region unreachable", err, "ServiceUnavailable")
	if !strings.Contains(err.Error(), "eu-west-1") {
		t.Fatalf("the 503 does not name the region: %v", err)
	}
}

type catalogEntry struct{ Bucket, Region, Owner string }

// TestForward_FailedAddressSkipped: a region member that accepts but never
// answers costs the first request the header timeout; the next requests skip it
// (503 at once) instead of waiting again.
func TestForward_FailedAddressSkipped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	accepted := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted++
			mu.Unlock()
			defer c.Close() // held open, silent, until the listener closes
		}
	}()
	p := &fakePlanet{t: t, catalog: map[string]catalogEntry{"cut": {Bucket: "cut", Region: "eu-west-1", Owner: ownerAK}},
		regions: map[string]*fakeRegion{"eu-west-1": {name: "eu-west-1", internal: &httptest.Server{URL: "http://" + ln.Addr().String()}}}}
	tr := &http.Transport{ResponseHeaderTimeout: 200 * time.Millisecond}
	defer tr.CloseIdleConnections()
	edge := httptest.NewServer(New(Config{Credentials: auth.StaticCredentials{ownerAK: ownerSK}, Logger: testLogger(t),
		Resolver: fakeResolver{p: p}, Forward: tr}, nil))
	defer edge.Close()
	c := p.client(edge.URL, edge.Client(), "eu-west-1", ownerAK, ownerSK)
	for i := range 3 {
		start := time.Now()
		_, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("cut"), Key: aws.String("k")})
		wantCode(t, fmt.Sprintf("GET #%d to a silent region", i), err, "ServiceUnavailable")
		took := time.Since(start)
		mu.Lock()
		n := accepted
		mu.Unlock()
		if n != 1 {
			t.Fatalf("GET #%d: the silent member saw %d connections, want 1 (later requests skip it)", i, n)
		}
		if i > 0 && took >= 200*time.Millisecond {
			t.Fatalf("GET #%d waited %v: a member that just failed was tried again", i, took)
		}
	}
}

// createInEU creates bucket in eu-west-1 through c.
func createInEU(ctx context.Context, c *s3.Client, bucket string) (*s3.CreateBucketOutput, error) {
	return c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}})
}

// sendRaw sends req through c and reads the answer whole.
func sendRaw(t *testing.T, c *http.Client, req *http.Request) rawResponse {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestForward_CopyFromAnotherRegion: CopyObject and UploadPartCopy whose source
// bucket lives in another region read it there, as the request's principal:
// bytes, metadata and tags arrive; a missing source and a principal the source
// refuses get S3's errors.
func TestForward_CopyFromAnotherRegion(t *testing.T) {
	p := newFakePlanet(t)
	ctx := context.Background()
	eu := p.edgeClient("eu-west-1")
	_, err := createInEU(ctx, eu, "src")
	must(t, "create the source bucket in eu-west-1", err)
	body := make([]byte, 3<<20+17)
	rand.Read(body)
	_, err = eu.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("dir/obj 1"), Body: bytes.NewReader(body),
		ContentType: aws.String("application/x-test"), Metadata: map[string]string{"color": "blue"}, Tagging: aws.String("a=1&b=2"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	must(t, "put the source", err)

	us := p.regions["us-east-1"]
	usc := p.client(us.public.URL, us.public.Client(), "us-east-1", ownerAK, ownerSK)
	_, err = usc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("dst")})
	must(t, "create the destination in us-east-1", err)
	_, err = usc.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String("src/dir/obj%201")})
	must(t, "copy from eu-west-1 into us-east-1", err)
	out, err := usc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy")})
	must(t, "get the copy", err)
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, body) || aws.ToString(out.ContentType) != "application/x-test" || out.Metadata["color"] != "blue" {
		t.Fatalf("copy: %d bytes (equal %v), content type %q, metadata %v", len(got), bytes.Equal(got, body), aws.ToString(out.ContentType), out.Metadata)
	}
	tg, err := usc.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("dst"), Key: aws.String("copy")})
	must(t, "tags of the copy", err)
	if len(tg.TagSet) != 2 {
		t.Fatalf("the copy has tags %+v, want the source's a=1, b=2", tg.TagSet)
	}
	if _, err := us.local.Object(ctx, "dst", "copy", ""); err != nil {
		t.Fatalf("the copy is not in us-east-1's store: %v", err)
	}

	// A part copied from a range of the remote source.
	mp, err := usc.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("dst"), Key: aws.String("parts")})
	must(t, "create upload", err)
	pc, err := usc.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("dst"), Key: aws.String("parts"), UploadId: mp.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("src/dir/obj%201"), CopySourceRange: aws.String("bytes=100-5242979")})
	if err == nil {
		_, err = usc.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("dst"), Key: aws.String("parts"), UploadId: mp.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: pc.CopyPartResult.ETag}}}})
	}
	// The range runs past the source's end: S3 refuses it.
	wantCode(t, "part copy of a range past the source's end", err, "InvalidArgument")
	pc, err = usc.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("dst"), Key: aws.String("parts"), UploadId: mp.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("src/dir/obj%201"), CopySourceRange: aws.String("bytes=100-1999")})
	must(t, "part copy of a range", err)
	_, err = usc.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("dst"), Key: aws.String("parts"), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: pc.CopyPartResult.ETag}}}})
	must(t, "complete", err)
	out, err = usc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("dst"), Key: aws.String("parts")})
	must(t, "get the part copy", err)
	got, _ = io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, body[100:2000]) {
		t.Fatalf("part copy: %d bytes, want bytes 100-1999 of the source", len(got))
	}

	// Errors come from the source's region.
	_, err = usc.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/missing")})
	wantCode(t, "copy of a missing remote source", err, "NoSuchKey")
	// A source the principal may not read: another principal's bucket in eu-west-1.
	theirs := p.client(p.edge.URL, p.edge.Client(), "eu-west-1", otherAK, otherSK)
	_, err = createInEU(ctx, theirs, "theirs")
	must(t, "another principal's bucket", err)
	_, err = theirs.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("theirs"), Key: aws.String("k"), Body: strings.NewReader("not yours")})
	must(t, "another principal's object", err)
	_, err = usc.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("y"), CopySource: aws.String("theirs/k")})
	if httpStatus(err) != http.StatusForbidden {
		t.Fatalf("copy from a remote source the principal may not read: %v, want 403", err)
	}
}

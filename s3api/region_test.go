package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/pangea-s3/pangea/s3api/auth"
)

// regionClient is an owner's SDK client that signs for region.
func (e *testEnv) regionClient(region string) *s3.Client {
	return s3.New(s3.Options{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(ownerAK, ownerSK, ""),
		BaseEndpoint: aws.String(e.ts.URL),
		UsePathStyle: true,
		HTTPClient:   e.ts.Client(),
		Retryer:      aws.NopRetryer{},
	})
}

// sendSigned sends a request built by the test and signed by sign.
func (e *testEnv) sendSigned(method, path string, body []byte, sign func(*http.Request) error) rawResponse {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	if err := sign(req); err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantWrongRegion checks S3's answer to a request signed for the wrong region:
// 400, the code, a message naming the expected region and a Region element.
func wantWrongRegion(t *testing.T, what string, r rawResponse, code, msgPart, region string) {
	t.Helper()
	var eb errorBody
	if err := xml.Unmarshal(r.body, &eb); err != nil {
		t.Fatalf("%s: %d %s", what, r.status, r.body)
	}
	if r.status != http.StatusBadRequest || eb.Code != code || eb.Region != region ||
		!strings.Contains(eb.Message, msgPart) {
		t.Fatalf("%s: %d %s; want 400 %s naming %q with Region %s", what, r.status, r.body, code, msgPart, region)
	}
}

// A request signed (in its header or presigned) for another region than the one
// that serves it is refused as S3 refuses it; signed for the right region it
// passes. The region that counts is the bucket's: a bucket of eu-west-1 served by
// this us-east-1 endpoint wants eu-west-1 signatures.
func TestServer_SignatureBoundToRegion(t *testing.T) {
	e := newEnv(t)
	e.createBucket("home")
	e.put("home", "k", "v")
	ctx := context.Background()
	must(t, "create eu bucket", e.local.CreateBucket(ctx, "abroad", "eu-west-1", ownerAK))
	now := time.Now()
	signV4 := func(region string) func(*http.Request) error {
		return func(r *http.Request) error { return auth.SignV4(r, ownerAK, ownerSK, region, "", now) }
	}

	for _, wrong := range []string{"eu-west-1", "zz-nowhere-9"} {
		msg := "the region '" + wrong + "' is wrong; expecting 'us-east-1'"
		for _, c := range []struct{ method, path string }{
			{"GET", "/home/k"}, {"PUT", "/home/new"}, {"GET", "/home"}, {"GET", "/"}, {"PUT", "/created-" + wrong},
		} {
			r := e.sendSigned(c.method, c.path, nil, signV4(wrong))
			wantWrongRegion(t, c.method+" "+c.path+" signed for "+wrong, r, "AuthorizationHeaderMalformed",
				"The authorization header is malformed; "+msg, "us-east-1")
		}
		// HEAD answers have no body: the header tells the region.
		r := e.sendSigned("HEAD", "/home", nil, signV4(wrong))
		if r.status != http.StatusBadRequest || r.header.Get("X-Amz-Bucket-Region") != "us-east-1" {
			t.Errorf("HEAD bucket signed for %s: %d, X-Amz-Bucket-Region %q", wrong, r.status, r.header.Get("X-Amz-Bucket-Region"))
		}

		// Presigned: S3's code for the query form.
		req, _ := http.NewRequest("GET", e.ts.URL+"/home/k", nil)
		must(t, "presign", auth.PresignV4(req, ownerAK, ownerSK, wrong, now, time.Hour))
		r = e.sendSigned("GET", req.URL.Path+"?"+req.URL.RawQuery, nil, func(*http.Request) error { return nil })
		wantWrongRegion(t, "presigned for "+wrong, r, "AuthorizationQueryParametersError",
			"Error parsing the X-Amz-Credential parameter; "+msg, "us-east-1")
	}
	if _, err := e.owner().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("home"), Key: aws.String("new")}); httpStatus(err) != http.StatusNotFound {
		t.Errorf("a refused PUT stored its object: %v", err)
	}
	r := e.ownerDo("GET", "/", nil, nil)
	if r.status != http.StatusOK || bytes.Contains(r.body, []byte("created-")) {
		t.Errorf("ListBuckets after refused CreateBucket: %d %s", r.status, r.body)
	}

	// The right region passes, header-signed and presigned.
	if r := e.sendSigned("GET", "/home/k", nil, signV4("us-east-1")); r.status != http.StatusOK || string(r.body) != "v" {
		t.Errorf("signed for us-east-1: %d %s", r.status, r.body)
	}
	req, _ := http.NewRequest("GET", e.ts.URL+"/home/k", nil)
	must(t, "presign", auth.PresignV4(req, ownerAK, ownerSK, "us-east-1", now, time.Hour))
	if r := e.sendSigned("GET", req.URL.Path+"?"+req.URL.RawQuery, nil, func(*http.Request) error { return nil }); r.status != http.StatusOK {
		t.Errorf("presigned for us-east-1: %d %s", r.status, r.body)
	}

	// The bucket's region decides, not the endpoint's.
	r = e.sendSigned("GET", "/abroad", nil, signV4("us-east-1"))
	wantWrongRegion(t, "eu-west-1 bucket signed for us-east-1", r, "AuthorizationHeaderMalformed",
		"the region 'us-east-1' is wrong; expecting 'eu-west-1'", "eu-west-1")
	if got := r.header.Get("X-Amz-Bucket-Region"); got != "eu-west-1" {
		t.Errorf("X-Amz-Bucket-Region %q", got)
	}
	if r := e.sendSigned("GET", "/abroad", nil, signV4("eu-west-1")); r.status != http.StatusOK {
		t.Errorf("eu-west-1 bucket signed for eu-west-1: %d %s", r.status, r.body)
	}
}

// A SigV4A signature is valid in the regions of its X-Amz-Region-Set, given by
// name or by pattern; a set that leaves the region out is refused with the
// region expected.
func TestServer_SigV4ARegionSet(t *testing.T) {
	e := newEnv(t)
	e.createBucket("home")
	e.put("home", "k", "v")
	now := time.Now()
	for _, c := range []struct {
		set []string
		ok  bool
	}{
		{[]string{"*"}, true},
		{[]string{"us-east-1"}, true},
		{[]string{"eu-west-1", "us-east-1"}, true},
		{[]string{"us-*"}, true},
		{[]string{"*-east-1"}, true},
		{[]string{"eu-west-1"}, false},
		{[]string{"eu-*", "ap-*"}, false},
		{[]string{"us-east-2"}, false},
		{[]string{"us-east-1-x"}, false},
	} {
		what := strings.Join(c.set, ",")
		r := e.sendSigned("GET", "/home/k", nil, func(r *http.Request) error {
			return auth.SignV4A(r, ownerAK, ownerSK, c.set, "", now)
		})
		req, _ := http.NewRequest("GET", e.ts.URL+"/home/k", nil)
		must(t, "presign", auth.PresignV4A(req, ownerAK, ownerSK, c.set, now, time.Hour))
		p := e.sendSigned("GET", req.URL.Path+"?"+req.URL.RawQuery, nil, func(*http.Request) error { return nil })
		if c.ok {
			if r.status != http.StatusOK || p.status != http.StatusOK {
				t.Errorf("region set %s: header-signed %d %s, presigned %d %s", what, r.status, r.body, p.status, p.body)
			}
			continue
		}
		wantWrongRegion(t, "region set "+what, r, "AuthorizationHeaderMalformed",
			"the region set '"+what+"' does not include 'us-east-1'", "us-east-1")
		wantWrongRegion(t, "presigned region set "+what, p, "AuthorizationQueryParametersError",
			"the region set '"+what+"' does not include 'us-east-1'", "us-east-1")
	}
}

// An unmodified aws-sdk-go-v2 client configured for the wrong region gets S3's
// error, naming the region it should use.
func TestServer_SDKWithWrongRegion(t *testing.T) {
	e := newEnv(t)
	e.createBucket("home")
	ctx := context.Background()
	c := e.regionClient("eu-west-1")
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("home"), Key: aws.String("k"), Body: strings.NewReader("v")})
	wantCode(t, "PutObject signed for eu-west-1", err, "AuthorizationHeaderMalformed")
	var ae smithy.APIError
	if !errors.As(err, &ae) || !strings.Contains(ae.ErrorMessage(), "expecting 'us-east-1'") || httpStatus(err) != 400 {
		t.Errorf("PutObject error %v", err)
	}
	_, err = c.ListBuckets(ctx, &s3.ListBucketsInput{})
	wantCode(t, "ListBuckets signed for eu-west-1", err, "AuthorizationHeaderMalformed")

	pc := s3.NewPresignClient(c)
	p, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("home"), Key: aws.String("k")})
	must(t, "presign", err)
	r := e.sendPresigned(p, nil, nil)
	wantWrongRegion(t, "SDK presigned for eu-west-1", r, "AuthorizationQueryParametersError",
		"the region 'eu-west-1' is wrong; expecting 'us-east-1'", "us-east-1")

	// The same client for the right region works.
	_, err = e.regionClient("us-east-1").PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("home"), Key: aws.String("k"), Body: strings.NewReader("v")})
	must(t, "PutObject signed for us-east-1", err)
}

package integration

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestBadRequests sends requests a server must refuse and checks each S3 error code and
// status, and that the server keeps serving afterwards.
func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	b := e.mkBucket(t, "errors")
	e.put(t, b, "k", []byte("v"))

	t.Run("wrong secret", func(t *testing.T) {
		_, err := e.client(ownerKey, "wrong-secret").ListBuckets(c, &s3.ListBucketsInput{})
		wantAPIError(t, err, "SignatureDoesNotMatch", http.StatusForbidden)
		// A signed body upload with the wrong secret must not store anything.
		_, err = e.client(ownerKey, "wrong-secret").PutObject(c, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("forged"), Body: strings.NewReader("forged")})
		wantAPIError(t, err, "SignatureDoesNotMatch", http.StatusForbidden)
		_, err = e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String("forged")})
		wantAPIError(t, err, "", http.StatusNotFound)
		e.mustServe(t)
	})

	t.Run("unknown access key", func(t *testing.T) {
		_, err := e.client("nobody", "whatever").ListBuckets(c, &s3.ListBucketsInput{})
		wantAPIError(t, err, "InvalidAccessKeyId", http.StatusForbidden)
		e.mustServe(t)
	})

	t.Run("skewed clock", func(t *testing.T) {
		for _, skew := range []time.Duration{-time.Hour, time.Hour} {
			r := e.do(t, rawRequest{Method: http.MethodGet, Path: "/" + b + "/k", SignedAt: time.Now().Add(skew)})
			r.wantCode(t, "RequestTimeTooSkewed", http.StatusForbidden)
		}
		// Within the allowed 15 minutes.
		if r := e.do(t, rawRequest{Method: http.MethodGet, Path: "/" + b + "/k", SignedAt: time.Now().Add(-5 * time.Minute)}); r.Status != http.StatusOK {
			t.Errorf("request signed 5 minutes ago: %d %s", r.Status, r.Body)
		}
		e.mustServe(t)
	})

	t.Run("payload hash mismatch", func(t *testing.T) {
		r := e.do(t, rawRequest{Method: http.MethodPut, Path: "/" + b + "/k2", Body: []byte("actual body")})
		if r.Status != http.StatusOK {
			t.Fatalf("hand-signed PUT: %d %s", r.Status, r.Body)
		}
		// Sign one body, send another of the same length: the signature holds, the
		// declared x-amz-content-sha256 does not.
		rr := rawRequest{Method: http.MethodPut, Path: "/" + b + "/k2", Body: []byte("signed body")}
		req := e.signedRequest(t, rr)
		req.Body = io.NopCloser(strings.NewReader("forged body"))
		resp, err := e.tls.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got := readResponse(t, resp)
		got.wantCode(t, "XAmzContentSHA256Mismatch", http.StatusBadRequest)
		body, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("k2")})
		if string(body) != "actual body" {
			t.Errorf("a rejected PUT changed the object to %q", body)
		}
		e.mustServe(t)
	})

	t.Run("unsigned and malformed authorization", func(t *testing.T) {
		r := e.do(t, rawRequest{Method: http.MethodPut, Path: "/anon-bucket", Access: "-"})
		r.wantCode(t, "AccessDenied", http.StatusForbidden)
		r = e.do(t, rawRequest{Method: http.MethodGet, Path: "/", Access: "-", Header: http.Header{"Authorization": {"AWS4-HMAC-SHA256 garbage"}}})
		r.wantCode(t, "AuthorizationHeaderMalformed", http.StatusBadRequest)
		e.mustServe(t)
	})

	t.Run("malformed xml", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path, query, body string
		}{
			{"versioning", http.MethodPut, "/" + b, "versioning", "<VersioningConfiguration><Status>Enabled"},
			{"versioning bad status", http.MethodPut, "/" + b, "versioning", "<VersioningConfiguration><Status>Sometimes</Status></VersioningConfiguration>"},
			{"object tagging", http.MethodPut, "/" + b + "/k", "tagging", "<Tagging><TagSet><Tag><Key>a"},
			{"bucket tagging", http.MethodPut, "/" + b, "tagging", "not xml at all"},
			{"create bucket", http.MethodPut, "/new-bucket-bad-xml", "", "<CreateBucketConfiguration><LocationConstraint>"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				hdr := http.Header{"Content-Md5": {md5b64([]byte(tc.body))}}
				r := e.do(t, rawRequest{Method: tc.method, Path: tc.path, Query: tc.query, Body: []byte(tc.body), Header: hdr})
				r.wantCode(t, "MalformedXML", http.StatusBadRequest)
				e.mustServe(t)
			})
		}
		// Nothing was half-applied.
		st, err := e.s3.GetBucketVersioning(c, &s3.GetBucketVersioningInput{Bucket: aws.String(b)})
		if err != nil || st.Status != "" {
			t.Errorf("versioning after malformed requests: %q, %v", st.Status, err)
		}
		_, err = e.s3.HeadBucket(c, &s3.HeadBucketInput{Bucket: aws.String("new-bucket-bad-xml")})
		wantAPIError(t, err, "", http.StatusNotFound)
	})

	t.Run("tag limits", func(t *testing.T) {
		r := e.do(t, rawRequest{Method: http.MethodPut, Path: "/" + b + "/k", Query: "tagging",
			Body: []byte("<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>")})
		r.wantCode(t, "InvalidTag", http.StatusBadRequest)
		var many strings.Builder
		many.WriteString("<Tagging><TagSet>")
		for i := range 11 {
			many.WriteString("<Tag><Key>k" + string(rune('a'+i)) + "</Key><Value>v</Value></Tag>")
		}
		many.WriteString("</TagSet></Tagging>")
		r = e.do(t, rawRequest{Method: http.MethodPut, Path: "/" + b + "/k", Query: "tagging", Body: []byte(many.String())})
		r.wantCode(t, "BadRequest", http.StatusBadRequest)
		e.mustServe(t)
	})

	t.Run("not implemented", func(t *testing.T) {
		_, err := e.s3.GetBucketLifecycleConfiguration(c, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(b)})
		wantAPIError(t, err, "NotImplemented", http.StatusNotImplemented)
		_, err = e.s3.SelectObjectContent(c, &s3.SelectObjectContentInput{Bucket: aws.String(b), Key: aws.String("k"),
			Expression: aws.String("select * from s3object"), ExpressionType: types.ExpressionTypeSql,
			InputSerialization:  &types.InputSerialization{CSV: &types.CSVInput{}},
			OutputSerialization: &types.OutputSerialization{CSV: &types.CSVOutput{}}})
		wantAPIError(t, err, "NotImplemented", http.StatusNotImplemented)
		e.mustServe(t)
	})

	t.Run("method not allowed", func(t *testing.T) {
		r := e.do(t, rawRequest{Method: http.MethodPost, Path: "/" + b + "/k"})
		if r.Status < 400 || r.err().Code == "" {
			t.Errorf("POST to an object without a subresource: %d %q, want an S3 error", r.Status, r.Body)
		}
		e.mustServe(t)
	})
}

// signedRequest builds and signs a hand-made request without sending it.
func (e *env) signedRequest(t *testing.T, rr rawRequest) *http.Request {
	t.Helper()
	var captured *http.Request
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		captured = r
		return &http.Response{StatusCode: http.StatusTeapot, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
	})}
	doRaw(t, e.tls.URL, hc, rr)
	if captured == nil {
		t.Fatal("request was not captured")
	}
	return captured.Clone(ctx(t))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func readResponse(t *testing.T, resp *http.Response) rawResponse {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

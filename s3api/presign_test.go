package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// sendPresigned sends a presigned request with the headers its signer
// returned plus extra, as a browser or curl holding the URL would.
func (e *testEnv) sendPresigned(p *v4.PresignedHTTPRequest, body []byte, extra map[string]string) rawResponse {
	e.t.Helper()
	req, err := http.NewRequest(p.Method, p.URL, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	for k, vs := range p.SignedHeader {
		req.Header[k] = vs
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", p.Method, p.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// A presigned PUT replayed with an x-amz-* header its signer did not sign
// is answered 403 AccessDenied naming the header, and writes nothing; the
// same URL without it, and a URL whose signer signed the metadata, work.
func TestServer_PresignedRequestWithUnsignedAmzHeaders(t *testing.T) {
	e := newEnv(t)
	e.createBucket("presigned")
	ctx := context.Background()
	pc := s3.NewPresignClient(e.owner(), s3.WithPresignExpires(10*time.Minute))

	p, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("presigned"), Key: aws.String("up.txt")})
	must(t, "presign PUT", err)
	r := e.sendPresigned(p, []byte("evil payload"), map[string]string{"X-Amz-Meta-Evil": "1", "X-Amz-Tagging": "a=b"})
	var eb errorBody
	if err := xml.Unmarshal(r.body, &eb); err != nil {
		t.Fatalf("PUT with unsigned headers: %d %s", r.status, r.body)
	}
	if r.status != http.StatusForbidden || eb.Code != "AccessDenied" ||
		eb.Message != "There were headers present in the request which were not signed" ||
		eb.HeadersNotSigned != "x-amz-meta-evil, x-amz-tagging" {
		t.Fatalf("PUT with unsigned headers: %d %s", r.status, r.body)
	}
	if eb.RequestID == "" || eb.RequestID != r.header.Get("X-Amz-Request-Id") {
		t.Errorf("error body request id %q, header %q", eb.RequestID, r.header.Get("X-Amz-Request-Id"))
	}
	_, err = e.owner().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("presigned"), Key: aws.String("up.txt")})
	wantCode(t, "HeadObject after the refused PUT", err, "NotFound")

	// The URL as issued works, and stores no metadata.
	if r := e.sendPresigned(p, []byte("good payload"), nil); r.status != http.StatusOK {
		t.Fatalf("presigned PUT: %d %s", r.status, r.body)
	}
	out, err := e.owner().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("presigned"), Key: aws.String("up.txt")})
	must(t, "GetObject", err)
	if got := readAll(t, out.Body); got != "good payload" || len(out.Metadata) != 0 {
		t.Fatalf("object %q, metadata %v", got, out.Metadata)
	}

	// Metadata the signer chose is a signed header of the URL.
	p, err = pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("presigned"), Key: aws.String("meta.txt"),
		Metadata: map[string]string{"color": "blue"}})
	must(t, "presign PUT with metadata", err)
	if r := e.sendPresigned(p, []byte("with metadata"), nil); r.status != http.StatusOK {
		t.Fatalf("presigned PUT with signed metadata: %d %s", r.status, r.body)
	}
	head, err := e.owner().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("presigned"), Key: aws.String("meta.txt")})
	must(t, "HeadObject", err)
	if head.Metadata["color"] != "blue" {
		t.Fatalf("metadata %v", head.Metadata)
	}

	// A presigned GET with nothing but the URL (curl) works; with an added
	// x-amz-* header it does not.
	g, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("presigned"), Key: aws.String("up.txt")})
	must(t, "presign GET", err)
	if r := e.sendPresigned(g, nil, nil); r.status != http.StatusOK || string(r.body) != "good payload" {
		t.Fatalf("presigned GET: %d %s", r.status, r.body)
	}
	if r := e.sendPresigned(g, nil, map[string]string{"X-Amz-Checksum-Mode": "ENABLED"}); r.code() != "AccessDenied" || r.status != http.StatusForbidden {
		t.Fatalf("presigned GET with unsigned x-amz-checksum-mode: %d %s", r.status, r.body)
	}
}

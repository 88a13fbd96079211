package auth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// wantHeadersNotSigned checks err is S3's AccessDenied for unsigned x-amz-*
// headers, naming exactly names.
func wantHeadersNotSigned(t *testing.T, err error, names ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want AccessDenied for unsigned headers %v", err, names)
	}
	if e.Code != "AccessDenied" || e.Message != "There were headers present in the request which were not signed" || e.StatusCode() != http.StatusForbidden {
		t.Fatalf("err = %v (status %d), want 403 AccessDenied for unsigned headers", err, e.StatusCode())
	}
	if !slices.Equal(e.HeadersNotSigned, names) {
		t.Fatalf("HeadersNotSigned = %q, want %q", e.HeadersNotSigned, names)
	}
}

// presigned returns a fresh request for a URL presigned by PresignV4 or
// PresignV4A (only host signed, UNSIGNED-PAYLOAD), as the server sees it.
func presigned(t *testing.T, alg, method, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, "/bucket/dir/key.txt", nil)
	var err error
	if alg == algV4A {
		err = PresignV4A(r, docAK, docSK, []string{"*"}, testNow, time.Hour)
	} else {
		err = PresignV4(r, docAK, docSK, "us-east-1", testNow, time.Hour)
	}
	if err != nil {
		t.Fatal(err)
	}
	return httptest.NewRequest(method, r.URL.String(), strings.NewReader(body))
}

// A presigned URL replayed with an x-amz-* header its signer did not sign is
// refused with S3's AccessDenied naming the header; without one it works.
func TestPresignV4_UnsignedAmzHeadersRefused(t *testing.T) {
	v := testVerifier(testNow.Add(time.Minute))
	for _, alg := range []string{algV4, algV4A} {
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			t.Run(alg+" "+method, func(t *testing.T) {
				if _, err := v.Verify(presigned(t, alg, method, "body")); err != nil {
					t.Fatalf("plain presigned %s: %v", method, err)
				}

				r := presigned(t, alg, method, "body")
				r.Header.Set("X-Amz-Meta-Foo", "bar")
				_, err := v.Verify(r)
				wantHeadersNotSigned(t, err, "x-amz-meta-foo")

				// Every unsigned one is named, lower-case and sorted, whatever
				// the spelling; an empty value counts too.
				r = presigned(t, alg, method, "body")
				r.Header.Set("X-Amz-Tagging", "a=b")
				r.Header["x-amz-acl"] = []string{"public-read"}
				r.Header["X-AMZ-STORAGE-CLASS"] = []string{"GLACIER"}
				r.Header.Set("X-Amz-Website-Redirect-Location", "")
				r.Header.Set("X-Amz-Meta-Evil", "1")
				r.Header["x-amz-meta-evil"] = []string{"2"}
				_, err = v.Verify(r)
				wantHeadersNotSigned(t, err, "x-amz-acl", "x-amz-meta-evil", "x-amz-storage-class",
					"x-amz-tagging", "x-amz-website-redirect-location")
			})
		}
	}
}

// Headers that are not x-amz-*, and the two exempt x-amz-* ones, do not
// make a presigned request fail.
func TestPresignV4_HeadersThatNeedNoSignature(t *testing.T) {
	v := testVerifier(testNow.Add(time.Minute))
	r := presigned(t, algV4, http.MethodPut, "body")
	r.Header.Set("Content-Type", "text/plain")
	r.Header.Set("User-Agent", "curl/8.0")
	r.Header.Set("X-Amzn-Trace-Id", "Root=1-67891233-abcdef012345678912345678")
	r.Header.Set("X-Amz-Cf-Id", "xyz==")
	// x-amz-content-sha256 is the canonical request's payload line: the
	// value the URL was signed with passes ...
	r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
	if _, err := v.Verify(r); err != nil {
		t.Fatalf("presigned PUT with harmless headers: %v", err)
	}
	// ... and any other value fails the signature, so it cannot be forged.
	r = presigned(t, algV4, http.MethodPut, "body")
	r.Header.Set("X-Amz-Content-Sha256", sha256Hex("body"))
	_, err := v.Verify(r)
	wantCode(t, err, "SignatureDoesNotMatch")
}

// Headers a presigner signed may be sent: aws-sdk-go-v2's signer keeps
// x-amz-meta-* (and the other headers S3 requires signed) as signed headers
// of the URL, and the request must then carry them with the signed values.
func TestSDKPresign_SignedAmzHeadersAccepted(t *testing.T) {
	now := time.Now().UTC()
	v := NewVerifier(StaticCredentials{docAK: docSK}, Options{Now: func() time.Time { return now }})
	creds := aws.Credentials{AccessKeyID: docAK, SecretAccessKey: docSK}
	const u = "http://127.0.0.1:9000/bucket/key?X-Amz-Expires=600"

	pr, _ := http.NewRequest(http.MethodPut, u, nil)
	pr.Header.Set("X-Amz-Meta-Foo", "bar")
	signed, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, pr, UnsignedPayload, "s3", "us-east-1", now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(signed, "X-Amz-SignedHeaders=host%3Bx-amz-meta-foo") {
		t.Fatalf("SDK did not sign x-amz-meta-foo: %s", signed)
	}
	send := func(extra map[string]string) error {
		r, _ := http.NewRequest(http.MethodPut, signed, strings.NewReader("body"))
		for k, vs := range hdr {
			r.Header[k] = vs
		}
		for k, val := range extra {
			r.Header.Set(k, val)
		}
		_, err := v.Verify(asServerRequest(t, r))
		return err
	}
	if err := send(nil); err != nil {
		t.Fatalf("presigned PUT with its signed x-amz-meta-foo: %v", err)
	}
	wantHeadersNotSigned(t, send(map[string]string{"X-Amz-Meta-Evil": "1"}), "x-amz-meta-evil")
	wantCode(t, send(map[string]string{"X-Amz-Meta-Foo": "changed"}), "SignatureDoesNotMatch")

	// The S3 presign client: metadata, tagging and storage class become
	// signed headers the caller must send (PresignedHTTPRequest.SignedHeader).
	cli := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://127.0.0.1:9000"),
		UsePathStyle: true,
		Credentials:  awscreds.NewStaticCredentialsProvider(docAK, docSK, ""),
	})
	p, err := s3.NewPresignClient(cli).PresignPutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("bucket"), Key: aws.String("dir/k 1"),
		Metadata: map[string]string{"foo": "bar"}, Tagging: aws.String("a=b"), StorageClass: types.StorageClassStandardIa,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("PresignPutObject: %s %s, signed headers %v", p.Method, p.URL, p.SignedHeader)
	sdkPut := func(extra string) error {
		r, _ := http.NewRequest(p.Method, p.URL, strings.NewReader("body"))
		for k, vs := range p.SignedHeader {
			r.Header[k] = vs
		}
		if extra != "" {
			r.Header.Set(extra, "x")
		}
		res, err := v.Verify(asServerRequest(t, r))
		if err == nil {
			if b, rerr := io.ReadAll(res.Body); rerr != nil || string(b) != "body" {
				t.Fatalf("body %q, %v", b, rerr)
			}
		}
		return err
	}
	if err := sdkPut(""); err != nil {
		t.Fatalf("SDK presigned PUT with metadata: %v", err)
	}
	wantHeadersNotSigned(t, sdkPut("X-Amz-Acl"), "x-amz-acl")
}

// SigV2 needs no separate check: its string to sign holds every x-amz-*
// header of the request (CanonicalizedAmzHeaders), so an added one breaks
// the signature, and one present when the URL was signed must be sent.
func TestPresignV2_AmzHeadersAreSigned(t *testing.T) {
	at := testNow
	build := func(meta string) *http.Request {
		r := httptest.NewRequest(http.MethodPut, "/bucket/key", strings.NewReader("body"))
		if meta != "" {
			r.Header.Set("X-Amz-Meta-Foo", meta)
		}
		if err := PresignV2(r, docAK, docSK, at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		return httptest.NewRequest(http.MethodPut, r.URL.String(), strings.NewReader("body"))
	}
	v := testVerifier(at)
	if res, err := v.Verify(build("")); err != nil || res.Method != "SigV2-Presigned" {
		t.Fatalf("plain SigV2 presigned PUT: %v %+v", err, res)
	}
	r := build("")
	r.Header.Set("X-Amz-Meta-Evil", "1")
	_, err := v.Verify(r)
	wantCode(t, err, "SignatureDoesNotMatch")

	r = build("bar")
	r.Header.Set("X-Amz-Meta-Foo", "bar")
	if _, err := v.Verify(r); err != nil {
		t.Fatalf("SigV2 presigned PUT with its signed x-amz-meta-foo: %v", err)
	}
	r.Header.Set("X-Amz-Meta-Foo", "changed")
	_, err = v.Verify(r)
	wantCode(t, err, "SignatureDoesNotMatch")
}

// TestHeaderV4_UnsignedAmzHeadersRefused: a request signed in the Authorization
// header by aws-sdk-go-v2 verifies; the same request with an x-amz-* header added
// after signing (as a proxy or a careless client would) is refused with the header
// named, as S3 does. Non-x-amz headers added later do not matter.
func TestHeaderV4_UnsignedAmzHeadersRefused(t *testing.T) {
	now := time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC)
	v := NewVerifier(StaticCredentials{docAK: docSK}, Options{Now: func() time.Time { return now }})
	creds := aws.Credentials{AccessKeyID: docAK, SecretAccessKey: docSK}
	sign := func(extra map[string]string) *http.Request {
		body := "payload"
		h := sha256Hex(body)
		r, err := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/bucket/key", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("X-Amz-Content-Sha256", h)
		r.Header.Set("X-Amz-Meta-Signed", "yes")
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, h, "s3", "us-east-1", now); err != nil {
			t.Fatal(err)
		}
		for k, val := range extra {
			r.Header.Set(k, val)
		}
		return asServerRequest(t, r)
	}
	if _, err := v.Verify(sign(nil)); err != nil {
		t.Fatalf("signed request: %v", err)
	}
	if _, err := v.Verify(sign(map[string]string{"User-Agent": "proxy/1", "X-Forwarded-For": "10.0.0.1"})); err != nil {
		t.Fatalf("request with non-x-amz headers added: %v", err)
	}
	_, err := v.Verify(sign(map[string]string{"X-Amz-Tagging": "evil=1", "X-Amz-Acl": "public-read"}))
	wantHeadersNotSigned(t, err, "x-amz-acl", "x-amz-tagging")
}

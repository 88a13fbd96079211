package integration

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestPresigned(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	b := e.mkBucket(t, "presigned")
	e.put(t, b, "dir/file name+1.txt", []byte("presigned content"))
	pc := s3.NewPresignClient(e.s3, s3.WithPresignExpires(10*time.Minute))
	hc := e.tls.Client()

	send := func(method, u string, body []byte, hdr http.Header) rawResponse {
		t.Helper()
		req, err := http.NewRequestWithContext(c, method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len(body))
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, u, err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: rb}
	}

	t.Run("get", func(t *testing.T) {
		p, err := pc.PresignGetObject(c, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("dir/file name+1.txt")})
		if err != nil {
			t.Fatal(err)
		}
		r := send(p.Method, p.URL, nil, p.SignedHeader)
		if r.Status != http.StatusOK || string(r.Body) != "presigned content" {
			t.Errorf("presigned GET: %d %q", r.Status, r.Body)
		}
		// The URL is bound to its key.
		tampered := strings.Replace(p.URL, "file%20name", "other%20name", 1)
		if tampered == p.URL {
			t.Fatalf("test bug: could not tamper with %s", p.URL)
		}
		send(p.Method, tampered, nil, p.SignedHeader).wantCode(t, "SignatureDoesNotMatch", http.StatusForbidden)
		e.mustServe(t)
	})

	t.Run("put", func(t *testing.T) {
		p, err := pc.PresignPutObject(c, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("uploaded.bin")})
		if err != nil {
			t.Fatal(err)
		}
		body := randomBytes(4, "presigned put", 70_000)
		if r := send(p.Method, p.URL, body, p.SignedHeader); r.Status != http.StatusOK {
			t.Fatalf("presigned PUT: %d %s", r.Status, r.Body)
		}
		got, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("uploaded.bin")})
		if !bytes.Equal(got, body) {
			t.Errorf("object written by a presigned PUT differs: %d bytes, want %d", len(got), len(body))
		}
	})

	t.Run("expired", func(t *testing.T) {
		// Signed two hours ago for sixty seconds: the SDK's own signer, an old clock.
		u := e.tls.URL + "/" + b + "/dir/file%20name%2B1.txt?X-Amz-Expires=60"
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		signed, hdr, err := s3Signer().PresignHTTP(c, aws.Credentials{AccessKeyID: ownerKey, SecretAccessKey: ownerSecret},
			req, unsignedBody, "s3", testRegion, time.Now().Add(-2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		send(http.MethodGet, signed, nil, hdr).wantCode(t, "AccessDenied", http.StatusForbidden)

		// The same construction with a current clock works, so the expiry is what failed.
		req, _ = http.NewRequest(http.MethodGet, u, nil)
		signed, hdr, err = s3Signer().PresignHTTP(c, aws.Credentials{AccessKeyID: ownerKey, SecretAccessKey: ownerSecret},
			req, unsignedBody, "s3", testRegion, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if r := send(http.MethodGet, signed, nil, hdr); r.Status != http.StatusOK {
			t.Errorf("fresh hand-presigned GET %s: %d %s", signed, r.Status, r.Body)
		}
		e.mustServe(t)
	})

	t.Run("expiry over seven days", func(t *testing.T) {
		u := e.tls.URL + "/" + b + "/dir/file%20name%2B1.txt?X-Amz-Expires=604801"
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		signed, hdr, err := s3Signer().PresignHTTP(c, aws.Credentials{AccessKeyID: ownerKey, SecretAccessKey: ownerSecret},
			req, unsignedBody, "s3", testRegion, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		send(http.MethodGet, signed, nil, hdr).wantCode(t, "AuthorizationQueryParametersError", http.StatusBadRequest)
		e.mustServe(t)
	})

	t.Run("other principal", func(t *testing.T) {
		p, err := s3.NewPresignClient(e.other).PresignGetObject(c, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("dir/file name+1.txt")})
		if err != nil {
			t.Fatal(err)
		}
		send(p.Method, p.URL, nil, p.SignedHeader).wantCode(t, "AccessDenied", http.StatusForbidden)
	})

	t.Run("wrong secret", func(t *testing.T) {
		p, err := s3.NewPresignClient(e.client(ownerKey, "not-the-secret")).PresignGetObject(c, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("dir/file name+1.txt")})
		if err != nil {
			t.Fatal(err)
		}
		send(p.Method, p.URL, nil, p.SignedHeader).wantCode(t, "SignatureDoesNotMatch", http.StatusForbidden)
		e.mustServe(t)
	})
}

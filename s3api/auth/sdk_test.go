package auth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// asServerRequest round-trips a client request through the HTTP/1.1 wire
// format, so the verifier sees exactly what a server would (RequestURI,
// Host, header canonicalisation, body framing).
func asServerRequest(t *testing.T, r *http.Request) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// Requests signed by aws-sdk-go-v2's own SigV4 signer verify, header and
// presigned, across awkward paths and queries.
func TestSDKSignerGoldenV4(t *testing.T) {
	now := time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC)
	v := NewVerifier(StaticCredentials{docAK: docSK}, Options{Now: func() time.Time { return now }})
	creds := aws.Credentials{AccessKeyID: docAK, SecretAccessKey: docSK}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	urls := []string{
		"http://127.0.0.1:9000/bucket/key",
		"http://127.0.0.1:9000/bucket/a%20b/c%2Bd%3De%26f%25g",
		"http://bucket.s3.localhost:9000/%E2%82%AC/unicode~key.txt?versionId=3%2F4&x-id=GetObject",
		"http://127.0.0.1:9000/bucket?list-type=2&prefix=dir%2F&delimiter=%2F&start-after=a+b",
		"http://127.0.0.1:9000/bucket?uploads",
		"http://127.0.0.1:9000/bucket/k?tagging&versionId=",
	}
	for _, u := range urls {
		t.Run(u, func(t *testing.T) {
			body := "hello, world"
			h := sha256Hex(body)
			r, err := http.NewRequest(http.MethodPut, u, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("X-Amz-Content-Sha256", h)
			r.Header.Set("X-Amz-Meta-Note", "  two   spaces  ")
			r.Header.Add("X-Amz-Meta-Multi", "a")
			r.Header.Add("X-Amz-Meta-Multi", "b")
			if err := signer.SignHTTP(context.Background(), creds, r, h, "s3", "eu-west-1", now); err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(asServerRequest(t, r))
			if err != nil {
				t.Fatalf("Verify header-signed: %v", err)
			}
			if res.Method != "SigV4" || res.RegionSet[0] != "eu-west-1" {
				t.Fatalf("result = %+v", res)
			}
			if got, err := io.ReadAll(res.Body); err != nil || string(got) != body {
				t.Fatalf("body = %q, %v", got, err)
			}

			pr, _ := http.NewRequest(http.MethodGet, u, nil)
			q := pr.URL.Query()
			q.Set("X-Amz-Expires", "3600")
			pr.URL.RawQuery = q.Encode()
			signed, _, err := signer.PresignHTTP(context.Background(), creds, pr, UnsignedPayload, "s3", "us-west-2", now.Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			gr, _ := http.NewRequest(http.MethodGet, signed, nil)
			res, err = v.Verify(asServerRequest(t, gr))
			if err != nil {
				t.Fatalf("Verify presigned %s: %v", signed, err)
			}
			if res.Method != "SigV4-Presigned" {
				t.Fatalf("method = %s", res.Method)
			}
		})
	}
}

func sha256Hex(s string) string {
	return hex.EncodeToString(sha256Sum(s))
}

// recorder is an aws.HTTPClient that keeps the requests it is given and
// answers 200 with an empty body.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (c *recorder) Do(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil {
		var err error
		if b, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.body = append(c.body, b)
	c.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// An S3 client given a Multi-Region Access Point ARN signs with SigV4A: the
// captured requests verify with the key derived from the access key pair.
func TestSDKSigV4AViaMRAPARN(t *testing.T) {
	rec := &recorder{}
	cli := s3.New(s3.Options{
		Region:      "us-east-1",
		Credentials: awscreds.NewStaticCredentialsProvider(docAK, docSK, ""),
		HTTPClient:  rec,
		// What s3.NewFromConfig resolves by default: over HTTPS the PUT goes
		// out aws-chunked with a trailing CRC32.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
	const arn = "arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap"
	ctx := context.Background()
	if _, err := cli.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(arn), Key: aws.String("dir/k 1.txt")}); err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	payload := strings.Repeat("mrap payload ", 1000)
	if _, err := cli.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(arn), Key: aws.String("k2"), Body: strings.NewReader(payload)}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	v := NewVerifier(StaticCredentials{docAK: docSK}, Options{})
	for i, r := range rec.reqs {
		if !strings.HasPrefix(r.Header.Get("Authorization"), algV4A+" ") {
			t.Fatalf("request %d not SigV4A: %s", i, r.Header.Get("Authorization"))
		}
		r.Body = io.NopCloser(bytes.NewReader(rec.body[i]))
		sr := asServerRequest(t, r)
		res, err := v.Verify(sr)
		if err != nil {
			t.Fatalf("request %d (%s %s, x-amz-content-sha256 %s): %v", i, r.Method, r.URL, r.Header.Get("X-Amz-Content-Sha256"), err)
		}
		if res.Method != "SigV4A" || strings.Join(res.RegionSet, ",") != "*" {
			t.Fatalf("request %d result = %+v", i, res)
		}
		got, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("request %d body: %v", i, err)
		}
		if r.Method == http.MethodPut && string(got) != payload {
			t.Fatalf("PUT body decoded to %d bytes, want %d", len(got), len(payload))
		}
		t.Logf("%s %s verified (payload %s)", r.Method, sr.Host, r.Header.Get("X-Amz-Content-Sha256"))

		// The same request with one signed header changed fails.
		r.Body = io.NopCloser(bytes.NewReader(rec.body[i]))
		tampered := asServerRequest(t, r)
		tampered.Header.Set("X-Amz-Date", time.Now().UTC().Add(time.Second).Format(amzDateLayout))
		if _, err := v.Verify(tampered); err == nil {
			t.Fatalf("request %d with a changed x-amz-date verified", i)
		}
	}
}

// verifyingServer is an S3 stand-in that authenticates every request with
// the Verifier and reads the verified body.
type verifyingServer struct {
	v    *Verifier
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	method, mode, trailer, crc string
	body                       []byte
	err                        error
	res                        *Result
}

func (s *verifyingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sr := seenRequest{method: r.Method, mode: r.Header.Get("X-Amz-Content-Sha256"), trailer: r.Header.Get("X-Amz-Trailer")}
	res, err := s.v.Verify(r)
	if err == nil {
		sr.res = res
		sr.body, err = io.ReadAll(res.Body)
		if sr.trailer != "" {
			sr.crc = res.Trailer(sr.trailer)
		}
	}
	sr.err = err
	s.mu.Lock()
	s.seen = append(s.seen, sr)
	s.mu.Unlock()
	if err != nil {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.Header().Set("ETag", `"d41d8cd98f00b204e9800998ecf8427e"`)
	w.WriteHeader(http.StatusOK)
}

func (s *verifyingServer) last(t *testing.T) seenRequest {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		t.Fatal("no request reached the server")
	}
	return s.seen[len(s.seen)-1]
}

func crc32Base64(b []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// aws-sdk-go-v2 against a TLS endpoint sends its default payload mode
// (aws-chunked with a trailing checksum for PutObject); the verifier
// authenticates it and decodes the body and the trailer.
func TestSDKClientAgainstVerifyingTLSServer(t *testing.T) {
	vs := &verifyingServer{v: NewVerifier(StaticCredentials{docAK: docSK}, Options{})}
	srv := httptest.NewTLSServer(vs)
	defer srv.Close()
	cli := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  awscreds.NewStaticCredentialsProvider(docAK, docSK, ""),
		HTTPClient:   srv.Client(),
		// What s3.NewFromConfig resolves by default.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
	ctx := context.Background()
	payload := bytes.Repeat([]byte("0123456789abcdef"), 20000)
	_, err := cli.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("a/b c+d.bin"), Body: bytes.NewReader(payload)})
	got := vs.last(t)
	if err != nil || got.err != nil {
		t.Fatalf("PutObject: client %v, server %v (mode %s)", err, got.err, got.mode)
	}
	t.Logf("aws-sdk-go-v2 PutObject over TLS: x-amz-content-sha256 %s, x-amz-trailer %q", got.mode, got.trailer)
	if !bytes.Equal(got.body, payload) {
		t.Fatalf("server decoded %d bytes, want %d", len(got.body), len(payload))
	}
	if got.trailer == "x-amz-checksum-crc32" && got.crc != crc32Base64(payload) {
		t.Fatalf("trailer crc32 = %q, want %q", got.crc, crc32Base64(payload))
	}

	// A body that cannot be rewound goes out aws-chunked with a trailing
	// checksum (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
	_, err = cli.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("stream"),
		Body: io.MultiReader(bytes.NewReader(payload)), ContentLength: aws.Int64(int64(len(payload)))})
	got = vs.last(t)
	if err != nil || got.err != nil {
		t.Fatalf("PutObject stream: client %v, server %v (mode %s)", err, got.err, got.mode)
	}
	t.Logf("aws-sdk-go-v2 PutObject of a stream over TLS: x-amz-content-sha256 %s, x-amz-trailer %q", got.mode, got.trailer)
	if got.mode != StreamingUnsignedPayload || got.trailer != "x-amz-checksum-crc32" {
		t.Fatalf("SDK sent %s with trailer %q; this test expects the unsigned trailer encoding", got.mode, got.trailer)
	}
	if !bytes.Equal(got.body, payload) || got.crc != crc32Base64(payload) {
		t.Fatalf("server decoded %d bytes, crc %q; want %d bytes, crc %q", len(got.body), got.crc, len(payload), crc32Base64(payload))
	}

	if _, err := cli.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("empty"), Body: bytes.NewReader(nil)}); err != nil {
		t.Fatalf("PutObject empty: %v (server %v)", err, vs.last(t).err)
	}

	pc := s3.NewPresignClient(cli)
	pr, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("a/b c+d.bin")}, s3.WithPresignExpires(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Get(pr.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := vs.last(t); got.err != nil || got.res.Method != "SigV4-Presigned" {
		t.Fatalf("presigned GET: %v %+v", got.err, got.res)
	}
}

// minio-go signs PutObject over plain HTTP with STREAMING-AWS4-HMAC-SHA256-PAYLOAD
// (per-chunk signatures), and can sign SigV2.
func TestMinioClientAgainstVerifyingServer(t *testing.T) {
	vs := &verifyingServer{v: NewVerifier(StaticCredentials{docAK: docSK}, Options{})}
	srv := httptest.NewServer(vs)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	payload := bytes.Repeat([]byte("minio-go chunked "), 12000)

	for _, tc := range []struct {
		name  string
		creds *miniocreds.Credentials
		want  string
	}{
		{"v4", miniocreds.NewStaticV4(docAK, docSK, ""), "SigV4"},
		{"v2", miniocreds.NewStaticV2(docAK, docSK, ""), "SigV2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc, err := minio.New(host, &minio.Options{Creds: tc.creds, Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
			if err != nil {
				t.Fatal(err)
			}
			_, err = mc.PutObject(ctx, "bkt", "dir/obj 1", bytes.NewReader(payload), int64(len(payload)), minio.PutObjectOptions{DisableMultipart: true})
			got := vs.last(t)
			if got.err != nil {
				t.Fatalf("server: %v (mode %s)", got.err, got.mode)
			}
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			t.Logf("minio-go %s PutObject: x-amz-content-sha256 %q, trailer %q", tc.name, got.mode, got.trailer)
			if got.res.Method != tc.want || !bytes.Equal(got.body, payload) {
				t.Fatalf("method %s, %d bytes; want %s, %d bytes", got.res.Method, len(got.body), tc.want, len(payload))
			}

			u, err := mc.PresignedGetObject(ctx, "bkt", "dir/obj 1", time.Hour, map[string][]string{"response-content-type": {"text/plain"}})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get(u.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := vs.last(t); got.err != nil || got.res.Method != tc.want+"-Presigned" {
				t.Fatalf("presigned GET %s: %v %+v", u, got.err, got.res)
			}
		})
	}
}

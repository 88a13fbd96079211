package integration

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

func TestBuckets(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)

	t.Run("create list head location", func(t *testing.T) {
		e.mkBucket(t, "alpha")
		e.mkBucket(t, "beta.with.dots")

		out, err := e.s3.ListBuckets(c, &s3.ListBucketsInput{})
		if err != nil {
			t.Fatalf("ListBuckets: %v", err)
		}
		var names []string
		for _, b := range out.Buckets {
			names = append(names, aws.ToString(b.Name))
			if b.CreationDate == nil || b.CreationDate.IsZero() {
				t.Errorf("bucket %s has no CreationDate", aws.ToString(b.Name))
			}
		}
		if !slices.Equal(names, []string{"alpha", "beta.with.dots"}) {
			t.Errorf("ListBuckets = %v, want [alpha beta.with.dots] in name order", names)
		}
		if out.Owner == nil || aws.ToString(out.Owner.ID) == "" {
			t.Errorf("ListBuckets has no Owner")
		}

		if _, err := e.s3.HeadBucket(c, &s3.HeadBucketInput{Bucket: aws.String("alpha")}); err != nil {
			t.Errorf("HeadBucket alpha: %v", err)
		}
		loc, err := e.s3.GetBucketLocation(c, &s3.GetBucketLocationInput{Bucket: aws.String("alpha")})
		if err != nil {
			t.Fatalf("GetBucketLocation: %v", err)
		}
		// S3 answers an empty LocationConstraint for us-east-1.
		if loc.LocationConstraint != "" {
			t.Errorf("GetBucketLocation = %q, want empty for us-east-1", loc.LocationConstraint)
		}
	})

	t.Run("missing bucket", func(t *testing.T) {
		_, err := e.s3.HeadBucket(c, &s3.HeadBucketInput{Bucket: aws.String("no-such-bucket")})
		wantAPIError(t, err, "", http.StatusNotFound)
		_, err = e.s3.ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: aws.String("no-such-bucket")})
		wantAPIError(t, err, "NoSuchBucket", http.StatusNotFound)
		_, err = e.s3.GetBucketLocation(c, &s3.GetBucketLocationInput{Bucket: aws.String("no-such-bucket")})
		wantAPIError(t, err, "NoSuchBucket", http.StatusNotFound)
		_, err = e.s3.PutObject(c, &s3.PutObjectInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("k")})
		wantAPIError(t, err, "NoSuchBucket", http.StatusNotFound)
		e.mustServe(t)
	})

	t.Run("already exists", func(t *testing.T) {
		e.mkBucket(t, "taken")
		// The owner creating its own bucket again: us-east-1 historically answers
		// 200, every other region BucketAlreadyOwnedByYou. Accept either, nothing else.
		_, err := e.s3.CreateBucket(c, &s3.CreateBucketInput{Bucket: aws.String("taken")})
		if err != nil {
			wantAPIError(t, err, "BucketAlreadyOwnedByYou", http.StatusConflict)
		}
		_, err = e.other.CreateBucket(c, &s3.CreateBucketInput{Bucket: aws.String("taken")})
		wantAPIError(t, err, "BucketAlreadyExists", http.StatusConflict)
		e.mustServe(t)
	})

	t.Run("delete", func(t *testing.T) {
		e.mkBucket(t, "full")
		e.put(t, "full", "k", []byte("x"))

		_, err := e.s3.DeleteBucket(c, &s3.DeleteBucketInput{Bucket: aws.String("full")})
		wantAPIError(t, err, "BucketNotEmpty", http.StatusConflict)

		_, err = e.other.DeleteBucket(c, &s3.DeleteBucketInput{Bucket: aws.String("full")})
		wantAPIError(t, err, "AccessDenied", http.StatusForbidden)

		if _, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: aws.String("full"), Key: aws.String("k")}); err != nil {
			t.Fatalf("DeleteObject: %v", err)
		}
		if _, err := e.s3.DeleteBucket(c, &s3.DeleteBucketInput{Bucket: aws.String("full")}); err != nil {
			t.Fatalf("DeleteBucket of an empty bucket: %v", err)
		}
		_, err = e.s3.HeadBucket(c, &s3.HeadBucketInput{Bucket: aws.String("full")})
		wantAPIError(t, err, "", http.StatusNotFound)
		_, err = e.s3.DeleteBucket(c, &s3.DeleteBucketInput{Bucket: aws.String("full")})
		wantAPIError(t, err, "NoSuchBucket", http.StatusNotFound)

		// The name is free again.
		e.mkBucket(t, "full")
	})

	t.Run("versioned bucket with only delete markers is not empty", func(t *testing.T) {
		b := e.mkBucket(t, "markers")
		enableVersioning(t, e, b)
		e.put(t, b, "k", []byte("v1"))
		if _, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
		_, err := e.s3.DeleteBucket(c, &s3.DeleteBucketInput{Bucket: aws.String(b)})
		wantAPIError(t, err, "BucketNotEmpty", http.StatusConflict)
	})
}

func TestInvalidBucketNames(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{
		"ab",                 // too short
		"Upper-Case",         // capitals
		"under_score",        // underscore
		"-leading-hyphen",    // must start with a letter or digit
		"trailing-hyphen-",   // must end with a letter or digit
		"double..dots",       // adjacent periods
		"192.168.1.10",       // formatted as an IP address
		"xn--punycode-start", // reserved prefix
		"a23456789012345678901234567890123456789012345678901234567890abcd", // 64 characters
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do(t, rawRequest{Method: http.MethodPut, Path: "/" + name})
			r.wantCode(t, "InvalidBucketName", http.StatusBadRequest)
			e.mustServe(t)
		})
	}
	// A 63-character name is the longest valid one.
	ok := e.do(t, rawRequest{Method: http.MethodPut, Path: "/a23456789012345678901234567890123456789012345678901234567890abc"})
	if ok.Status != http.StatusOK {
		t.Errorf("63-character bucket name: got %d %s", ok.Status, ok.Body)
	}
}

func enableVersioning(t *testing.T, e *env, bucket string) {
	t.Helper()
	setVersioning(t, e, bucket, types.BucketVersioningStatusEnabled)
}

func setVersioning(t *testing.T, e *env, bucket string, s types.BucketVersioningStatus) {
	t.Helper()
	_, err := e.s3.PutBucketVersioning(ctx(t), &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: s},
	})
	if err != nil {
		t.Fatalf("PutBucketVersioning %s %s: %v", bucket, s, err)
	}
}

// isAPIError reports whether err carries the S3 error code.
func isAPIError(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// TestVirtualHostStyle addresses buckets as <bucket>.localhost, the SDK's default when
// path style is off. A dialer that sends every host to the test server stands in for
// wildcard DNS.
func TestVirtualHostStyle(t *testing.T) {
	e := newEnv(t)
	addr := e.plain.Listener.Addr().String()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, addr)
	}}}
	seen := make(chan string, 16)
	vc := newSDKClient("http://localhost:"+port, hc, ownerKey, ownerSecret, func(o *s3.Options) {
		o.UsePathStyle = false
		o.HTTPClient = recordHosts{hc, seen}
	})
	c := ctx(t)
	if _, err := vc.CreateBucket(c, &s3.CreateBucketInput{Bucket: aws.String("vhost")}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	if _, err := vc.PutObject(c, &s3.PutObjectInput{Bucket: aws.String("vhost"), Key: aws.String("dir/k"), Body: strings.NewReader("virtual")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if host := <-seen; host != "vhost.localhost:"+port {
		t.Errorf("request went to host %q, want vhost.localhost:%s", host, port)
	}
	body, _ := e.get(t, vc, &s3.GetObjectInput{Bucket: aws.String("vhost"), Key: aws.String("dir/k")})
	if string(body) != "virtual" {
		t.Errorf("virtual-host GET = %q", body)
	}
	// The same object through path style.
	body, _ = e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String("vhost"), Key: aws.String("dir/k")})
	if string(body) != "virtual" {
		t.Errorf("path-style GET of a virtual-host PUT = %q", body)
	}
	out, err := vc.ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: aws.String("vhost")})
	if err != nil || len(out.Contents) != 1 {
		t.Errorf("virtual-host ListObjectsV2: %v, %d objects", err, len(out.Contents))
	}
}

// recordHosts is an SDK HTTP client that reports each request's Host.
type recordHosts struct {
	hc   *http.Client
	seen chan string
}

func (r recordHosts) Do(req *http.Request) (*http.Response, error) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	select {
	case r.seen <- host:
	default:
	}
	return r.hc.Do(req)
}

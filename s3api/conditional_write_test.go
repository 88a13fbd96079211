package s3api

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// wantStatus checks an SDK error's S3 code and HTTP status.
func wantStatus(t *testing.T, what string, err error, code string, status int) {
	t.Helper()
	wantCode(t, what, err, code)
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("%s: %v, want HTTP %d", what, err, status)
	}
}

// TestServer_ConditionalPut covers the status and error codes of PutObject with
// If-None-Match and If-Match, raw and through the SDK.
func TestServer_ConditionalPut(t *testing.T) {
	e := newEnv(t)
	e.createBucket("cond")
	c := e.owner()
	b := aws.String("cond")
	putIf := func(key, body string, inm, im *string) (*s3.PutObjectOutput, error) {
		return c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader(body),
			IfNoneMatch: inm, IfMatch: im})
	}
	etagOf := func(s string) string { return fmt.Sprintf(`"%x"`, md5.Sum([]byte(s))) }

	// If-None-Match: * creates once, then 412.
	out, err := putIf("k", "v1", aws.String("*"), nil)
	must(t, "If-None-Match on a new key", err)
	if aws.ToString(out.ETag) != etagOf("v1") {
		t.Fatalf("ETag %s", aws.ToString(out.ETag))
	}
	_, err = putIf("k", "clobber", aws.String("*"), nil)
	wantStatus(t, "If-None-Match on an existing key", err, "PreconditionFailed", 412)
	r := e.ownerDo("PUT", "/cond/k", []byte("clobber"), map[string]string{"If-None-Match": " * "})
	if r.status != 412 || r.code() != "PreconditionFailed" {
		t.Fatalf("raw If-None-Match: %d %s", r.status, r.body)
	}
	r = e.ownerDo("PUT", "/cond/k", []byte("x"), map[string]string{"If-None-Match": `"abc"`})
	if r.status != 501 || r.code() != "NotImplemented" {
		t.Fatalf("If-None-Match with an ETag: %d %s", r.status, r.body)
	}

	// If-Match: compare-and-swap on the ETag.
	_, err = putIf("k", "v2", nil, aws.String(`"00000000000000000000000000000000"`))
	wantStatus(t, "If-Match with another ETag", err, "PreconditionFailed", 412)
	_, err = putIf("absent", "v", nil, aws.String(etagOf("v1")))
	wantStatus(t, "If-Match on a missing key", err, "NoSuchKey", 404)
	_, err = putIf("absent", "v", nil, aws.String("*"))
	wantStatus(t, "If-Match: * on a missing key", err, "NoSuchKey", 404)
	out, err = putIf("k", "v2", nil, aws.String(`"nope", `+etagOf("v1")))
	must(t, "If-Match list naming the current ETag", err)
	if aws.ToString(out.ETag) != etagOf("v2") {
		t.Fatalf("ETag %s", aws.ToString(out.ETag))
	}
	_, err = putIf("k", "v3", nil, aws.String(etagOf("v1")))
	wantStatus(t, "If-Match with the replaced ETag", err, "PreconditionFailed", 412)
	r = e.ownerDo("PUT", "/cond/k", []byte("v3"), map[string]string{"If-Match": etagOf("v2")})
	if r.status != 200 || r.header.Get("Etag") != etagOf("v3") {
		t.Fatalf("raw If-Match: %d %s", r.status, r.body)
	}
	if got := getBody(t, c, "cond", "k"); got != "v3" {
		t.Fatalf("body %q after the conditional writes", got)
	}

	// A multi-chunk body rejected by its condition.
	big := bytes.Repeat([]byte("z"), 3<<20)
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: bytes.NewReader(big), IfNoneMatch: aws.String("*")})
	wantStatus(t, "large If-None-Match on an existing key", err, "PreconditionFailed", 412)

	// A delete marker as current version: the key counts as absent.
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	must(t, "enable versioning", err)
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k")})
	must(t, "delete", err)
	_, err = putIf("k", "v4", nil, aws.String(etagOf("v3")))
	wantStatus(t, "If-Match over a delete marker", err, "NoSuchKey", 404)
	_, err = putIf("k", "v4", aws.String("*"), nil)
	must(t, "If-None-Match over a delete marker", err)
	_, err = putIf("k", "v5", aws.String("*"), nil)
	wantStatus(t, "If-None-Match after the marker was covered", err, "PreconditionFailed", 412)
}

// TestServer_ConditionalCopy covers If-None-Match and If-Match on CopyObject's
// destination (the x-amz-copy-source-if-* headers are about the source).
func TestServer_ConditionalCopy(t *testing.T) {
	e := newEnv(t)
	e.createBucket("ccopy")
	c := e.owner()
	b := aws.String("ccopy")
	for key, body := range map[string]string{"src": "source", "dst": "old"} {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader(body)})
		must(t, "put "+key, err)
	}
	copyIf := func(dst string, inm, im *string) error {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String(dst), CopySource: aws.String("ccopy/src"),
			IfNoneMatch: inm, IfMatch: im})
		return err
	}
	wantStatus(t, "copy If-None-Match onto an existing key", copyIf("dst", aws.String("*"), nil), "PreconditionFailed", 412)
	wantStatus(t, "copy If-Match with another ETag", copyIf("dst", nil, aws.String(`"ffffffffffffffffffffffffffffffff"`)), "PreconditionFailed", 412)
	wantStatus(t, "copy If-Match onto a missing key", copyIf("new", nil, aws.String("*")), "NoSuchKey", 404)
	if got := getBody(t, c, "ccopy", "dst"); got != "old" {
		t.Fatalf("destination %q after rejected copies", got)
	}
	must(t, "copy If-Match with the current ETag", copyIf("dst", nil, aws.String(fmt.Sprintf(`"%x"`, md5.Sum([]byte("old"))))))
	must(t, "copy If-None-Match onto a new key", copyIf("new", aws.String("*"), nil))
	for _, k := range []string{"dst", "new"} {
		if got := getBody(t, c, "ccopy", k); got != "source" {
			t.Fatalf("%s = %q after the conditional copies", k, got)
		}
	}
}

// getBody returns the current body of bucket/key.
func getBody(t *testing.T, c *s3.Client, bucket, key string) string {
	t.Helper()
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	must(t, "get "+key, err)
	return readAll(t, out.Body)
}

// TestServer_ConditionalCompleteMultipartUpload: the same conditions on
// CompleteMultipartUpload; a failed one keeps the upload.
func TestServer_ConditionalCompleteMultipartUpload(t *testing.T) {
	e := newEnv(t)
	e.createBucket("cmpu")
	c := e.owner()
	b, k := aws.String("cmpu"), aws.String("obj")
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k})
	must(t, "create upload", err)
	up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: cr.UploadId, PartNumber: aws.Int32(1),
		Body: strings.NewReader("only part")})
	must(t, "upload part", err)
	complete := func(inm, im *string) (*s3.CompleteMultipartUploadOutput, error) {
		return c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: cr.UploadId,
			IfNoneMatch: inm, IfMatch: im,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}})
	}
	_, err = complete(nil, aws.String("*"))
	wantStatus(t, "If-Match on a missing key", err, "NoSuchKey", 404)
	old := e.put("cmpu", "obj", "old")
	_, err = complete(aws.String("*"), nil)
	wantStatus(t, "If-None-Match over an object", err, "PreconditionFailed", 412)
	_, err = complete(nil, aws.String(`"0123"`))
	wantStatus(t, "If-Match with another ETag", err, "PreconditionFailed", 412)
	r := e.ownerDo("POST", "/cmpu/obj?uploadId="+url.QueryEscape(aws.ToString(cr.UploadId)),
		[]byte("<CompleteMultipartUpload/>"), map[string]string{"If-None-Match": `"x"`})
	if r.status != 501 || r.code() != "NotImplemented" {
		t.Fatalf("If-None-Match with an ETag: %d %s", r.status, r.body)
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: k, UploadId: cr.UploadId})
	if err != nil || len(lp.Parts) != 1 {
		t.Fatalf("upload after failed conditions: %v, %+v", err, lp)
	}
	out, err := complete(nil, old.ETag)
	must(t, "If-Match with the current ETag", err)
	if got := getBody(t, c, "cmpu", "obj"); got != "only part" || aws.ToString(out.ETag) == aws.ToString(old.ETag) {
		t.Fatalf("object %q, etag %s", got, aws.ToString(out.ETag))
	}
}

package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pangea-s3/pangea/s3api/auth"
	"github.com/pangea-s3/pangea/storage"
)

func TestServer_Multipart(t *testing.T) {
	e := newEnv(t)
	e.createBucket("mpu")
	c := e.owner()
	b, k := aws.String("mpu"), aws.String("big/object")

	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k,
		ContentType: aws.String("application/x-big"), Metadata: map[string]string{"m": "1"}})
	must(t, "create upload", err)
	uid := cr.UploadId
	if aws.ToString(uid) == "" || aws.ToString(cr.Key) != "big/object" || aws.ToString(cr.Bucket) != "mpu" {
		t.Fatalf("create output %+v", cr)
	}
	part1 := bytes.Repeat([]byte("a"), 5<<20)
	part2 := []byte("tail-of-the-object")
	up1, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: uid, PartNumber: aws.Int32(1), Body: bytes.NewReader(part1)})
	must(t, "upload part 1", err)
	up2, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: uid, PartNumber: aws.Int32(2), Body: bytes.NewReader(part2)})
	must(t, "upload part 2", err)
	s1, s2 := md5.Sum(part1), md5.Sum(part2)
	if aws.ToString(up1.ETag) != fmt.Sprintf(`"%x"`, s1) || aws.ToString(up2.ETag) != fmt.Sprintf(`"%x"`, s2) {
		t.Errorf("part etags %s %s", aws.ToString(up1.ETag), aws.ToString(up2.ETag))
	}
	r := e.ownerDo("PUT", "/mpu/big/object?partNumber=10001&uploadId="+url.QueryEscape(aws.ToString(uid)), []byte("x"), nil)
	if r.status != 400 || r.code() != "InvalidArgument" {
		t.Errorf("part 10001: %d %s", r.status, r.body)
	}
	r = e.ownerDo("PUT", "/mpu/big/object?partNumber=1&uploadId=nope", []byte("x"), nil)
	if r.status != 404 || r.code() != "NoSuchUpload" {
		t.Errorf("unknown upload: %d %s", r.status, r.body)
	}

	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: k, UploadId: uid})
	must(t, "list parts", err)
	if len(lp.Parts) != 2 || aws.ToInt64(lp.Parts[0].Size) != 5<<20 || aws.ToInt32(lp.Parts[1].PartNumber) != 2 {
		t.Errorf("parts %+v", lp.Parts)
	}
	lu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b})
	must(t, "list uploads", err)
	if len(lu.Uploads) != 1 || aws.ToString(lu.Uploads[0].UploadId) != aws.ToString(uid) {
		t.Errorf("uploads %+v", lu.Uploads)
	}

	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: uid,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(2), ETag: up2.ETag}, {PartNumber: aws.Int32(1), ETag: up1.ETag}}}})
	wantCode(t, "out of order", err, "InvalidPartOrder")
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: uid,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: aws.String(`"00000000000000000000000000000000"`)}}}})
	wantCode(t, "wrong etag", err, "InvalidPart")

	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: uid,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: up1.ETag}, {PartNumber: aws.Int32(2), ETag: up2.ETag}}}})
	must(t, "complete", err)
	cat := append(s1[:], s2[:]...)
	sum := md5.Sum(cat)
	wantETag := `"` + hex.EncodeToString(sum[:]) + `-2"`
	if aws.ToString(done.ETag) != wantETag || aws.ToString(done.Key) != "big/object" || !strings.HasSuffix(aws.ToString(done.Location), "/mpu/big/object") {
		t.Errorf("complete output etag %s location %s", aws.ToString(done.ETag), aws.ToString(done.Location))
	}

	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k})
	must(t, "head", err)
	if aws.ToInt64(h.ContentLength) != int64(len(part1)+len(part2)) || aws.ToString(h.ContentType) != "application/x-big" || h.Metadata["m"] != "1" {
		t.Errorf("head after complete %+v", h)
	}
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k, PartNumber: aws.Int32(2)})
	must(t, "get part 2", err)
	if got := readAll(t, g.Body); got != string(part2) || aws.ToInt32(g.PartsCount) != 2 {
		t.Errorf("part 2 body %q parts count %d", got, aws.ToInt32(g.PartsCount))
	}
	r = e.ownerDo("GET", "/mpu/big/object?partNumber=3", nil, nil)
	if r.status != 416 {
		t.Errorf("part 3 of 2: %d %s", r.status, r.body)
	}
	r = e.ownerDo("GET", "/mpu/big/object?partNumber=1", nil, map[string]string{"Range": "bytes=0-1"})
	if r.status != 400 || r.code() != "InvalidRequest" {
		t.Errorf("range + partNumber: %d %s", r.status, r.body)
	}
	g, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k, Range: aws.String(fmt.Sprintf("bytes=%d-%d", 5<<20-2, 5<<20+3))})
	must(t, "range across parts", err)
	if got := readAll(t, g.Body); got != "aatail" {
		t.Errorf("cross-part range %q", got)
	}

	// Abort.
	cr2, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("aborted")})
	must(t, "create 2", err)
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("aborted"), UploadId: cr2.UploadId})
	must(t, "abort", err)
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("aborted"), UploadId: cr2.UploadId})
	wantCode(t, "abort twice", err, "NoSuchUpload")

	// UploadPartCopy with a range.
	cr3, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("copied")})
	must(t, "create 3", err)
	pc, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("copied"), UploadId: cr3.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("mpu/big/object"), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", 5<<20, 5<<20+3))})
	must(t, "upload part copy", err)
	tailSum := md5.Sum([]byte("tail"))
	if aws.ToString(pc.CopyPartResult.ETag) != fmt.Sprintf(`"%x"`, tailSum) {
		t.Errorf("part copy etag %s", aws.ToString(pc.CopyPartResult.ETag))
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("copied"), UploadId: cr3.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: pc.CopyPartResult.ETag}}}})
	must(t, "complete copied", err)
	g, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("copied")})
	must(t, "get copied", err)
	if got := readAll(t, g.Body); got != "tail" {
		t.Errorf("copied part body %q", got)
	}
}

func TestServer_CopyObject(t *testing.T) {
	e := newEnv(t)
	e.createBucket("src")
	e.createBucket("dst")
	c := e.owner()
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("a b"), Body: strings.NewReader("payload"),
		ContentType: aws.String("text/x-src"), Metadata: map[string]string{"k": "v"}, Tagging: aws.String("t=1")})
	must(t, "put source", err)

	out, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String("src/a%20b")})
	must(t, "copy", err)
	sum := md5.Sum([]byte("payload"))
	if aws.ToString(out.CopyObjectResult.ETag) != fmt.Sprintf(`"%x"`, sum) || out.CopyObjectResult.LastModified == nil {
		t.Errorf("copy result %+v", out.CopyObjectResult)
	}
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy")})
	must(t, "get copy", err)
	if readAll(t, g.Body) != "payload" || aws.ToString(g.ContentType) != "text/x-src" || g.Metadata["k"] != "v" || aws.ToInt32(g.TagCount) != 1 {
		t.Errorf("copied object %+v", g)
	}

	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("replaced"), CopySource: aws.String("src/a%20b"),
		MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/new"), Metadata: map[string]string{"n": "2"},
		TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("x=1&y=2")})
	must(t, "copy replace", err)
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("replaced")})
	must(t, "head replaced", err)
	if aws.ToString(h.ContentType) != "text/new" || h.Metadata["n"] != "2" || h.Metadata["k"] != "" {
		t.Errorf("replaced metadata %+v", h)
	}
	tg, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("dst"), Key: aws.String("replaced")})
	must(t, "tags of replaced", err)
	if len(tg.TagSet) != 2 {
		t.Errorf("replaced tags %+v", tg.TagSet)
	}

	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("a b"), CopySource: aws.String("src/a%20b")})
	wantCode(t, "copy onto itself", err, "InvalidRequest")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("a b"), CopySource: aws.String("src/a%20b"),
		MetadataDirective: types.MetadataDirectiveReplace})
	must(t, "copy onto itself with REPLACE", err)
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/missing")})
	wantCode(t, "missing source", err, "NoSuchKey")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("nobucket/k")})
	wantCode(t, "missing source bucket", err, "NoSuchBucket")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/a%20b"),
		CopySourceIfMatch: aws.String(`"nope"`)})
	wantCode(t, "copy-source-if-match", err, "PreconditionFailed")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/a%20b"),
		CopySourceIfNoneMatch: aws.String(fmt.Sprintf(`"%x"`, sum))})
	wantCode(t, "copy-source-if-none-match", err, "PreconditionFailed")

	// Copy of a specific version, reported in x-amz-copy-source-version-id.
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("src"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	must(t, "enable", err)
	v1 := aws.ToString(e.put("src", "v", "first").VersionId)
	e.put("src", "v", "second")
	out, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("old"),
		CopySource: aws.String("src/v?versionId=" + v1)})
	must(t, "copy version", err)
	if aws.ToString(out.CopySourceVersionId) != v1 {
		t.Errorf("copy source version %q, want %q", aws.ToString(out.CopySourceVersionId), v1)
	}
	g, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("dst"), Key: aws.String("old")})
	must(t, "get old copy", err)
	if got := readAll(t, g.Body); got != "first" {
		t.Errorf("copied version body %q", got)
	}
	// Restoring an old version onto the same key is not a self-copy.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("v"),
		CopySource: aws.String("src/v?versionId=" + v1)})
	must(t, "restore old version", err)
}

// setPolicy puts a bucket policy as the owner.
func setPolicy(t *testing.T, e *testEnv, bucket, doc string) {
	t.Helper()
	_, err := e.owner().PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)})
	must(t, "put policy", err)
}

func TestServer_Policy(t *testing.T) {
	e := newEnv(t)
	e.createBucket("pol")
	e.put("pol", "public/a", "pub")
	e.put("pol", "private/b", "priv")
	other, anon := e.client(otherAK, otherSK), e.client("", "")

	_, err := other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("public/a")})
	wantCode(t, "other without policy", err, "AccessDenied")
	_, err = other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("missing")})
	wantCode(t, "other cannot learn existence", err, "AccessDenied")
	_, err = e.owner().GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("pol")})
	wantCode(t, "no policy yet", err, "NoSuchBucketPolicy")
	_, err = e.owner().PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("pol"), Policy: aws.String("{not json")})
	wantCode(t, "malformed policy", err, "MalformedPolicy")

	setPolicy(t, e, "pol", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/other"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::pol","arn:aws:s3:::pol/*"]},
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/public/*"}]}`)
	gp, err := e.owner().GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("pol")})
	must(t, "get policy", err)
	if !strings.Contains(aws.ToString(gp.Policy), "arn:aws:s3:::pol/public/*") {
		t.Errorf("policy %s", aws.ToString(gp.Policy))
	}

	g, err := other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("private/b")})
	must(t, "other allowed", err)
	readAll(t, g.Body)
	_, err = other.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pol"), Key: aws.String("x"), Body: strings.NewReader("x")})
	wantCode(t, "other put not allowed", err, "AccessDenied")
	_, err = other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("missing")})
	wantCode(t, "other with ListBucket sees 404", err, "NoSuchKey")
	_, err = other.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("pol")})
	wantCode(t, "other deletes policy", err, "AccessDenied")

	g, err = anon.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("public/a")})
	must(t, "anonymous public read", err)
	if readAll(t, g.Body) != "pub" {
		t.Errorf("anonymous body")
	}
	_, err = anon.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("private/b")})
	wantCode(t, "anonymous private read", err, "AccessDenied")
	_, err = anon.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("pol")})
	wantCode(t, "anonymous list", err, "AccessDenied")
	r := e.do("GET", "/pol/public/a?response-content-type=text%2Fhtml", nil, nil, "", "")
	if r.status != 400 || r.code() != "InvalidRequest" {
		t.Errorf("anonymous response override: %d %s", r.status, r.body)
	}

	// RestrictPublicBuckets: the public statement stops working for anonymous callers,
	// account principals keep their access.
	_, err = e.owner().PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("pol"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{RestrictPublicBuckets: aws.Bool(true)}})
	must(t, "put pab", err)
	pab, err := e.owner().GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("pol")})
	must(t, "get pab", err)
	if !aws.ToBool(pab.PublicAccessBlockConfiguration.RestrictPublicBuckets) || aws.ToBool(pab.PublicAccessBlockConfiguration.BlockPublicPolicy) {
		t.Errorf("pab %+v", pab.PublicAccessBlockConfiguration)
	}
	_, err = anon.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("public/a")})
	wantCode(t, "anonymous under RestrictPublicBuckets", err, "AccessDenied")
	g, err = other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("public/a")})
	must(t, "account principal under RestrictPublicBuckets", err)
	readAll(t, g.Body)

	// BlockPublicPolicy refuses public policies but not private ones.
	_, err = e.owner().PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("pol"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicPolicy: aws.Bool(true)}})
	must(t, "put pab 2", err)
	_, err = e.owner().PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("pol"), Policy: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}`)})
	wantCode(t, "public policy blocked", err, "AccessDenied")
	setPolicy(t, e, "pol", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}`)

	_, err = e.owner().DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("pol")})
	must(t, "delete pab", err)
	_, err = e.owner().GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("pol")})
	wantCode(t, "pab deleted", err, "NoSuchPublicAccessBlockConfiguration")

	// An explicit Deny binds the owner too, except for managing the policy itself.
	setPolicy(t, e, "pol", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::pol/*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:*Policy","Resource":"arn:aws:s3:::pol"}]}`)
	_, err = e.owner().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("pol"), Key: aws.String("public/a")})
	wantCode(t, "owner denied", err, "AccessDenied")
	_, err = e.owner().GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("pol")})
	must(t, "owner can still read the policy", err)
	_, err = e.owner().DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("pol")})
	must(t, "owner can still delete the policy", err)
	_, err = e.owner().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("pol"), Key: aws.String("public/a")})
	must(t, "owner allowed again", err)

	// Policies naming resources outside the bucket are refused.
	_, err = e.owner().PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("pol"), Policy: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::elsewhere/*"}]}`)})
	wantCode(t, "foreign resource", err, "MalformedPolicy")
}

func TestServer_PolicyConditions(t *testing.T) {
	e := newEnv(t)
	e.createBucket("cond")
	e.put("cond", "docs/a", "x")
	e.put("cond", "other/b", "x")
	setPolicy(t, e, "cond", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:ListBucket",
		"Resource":"arn:aws:s3:::cond","Condition":{"StringLike":{"s3:prefix":"docs/*"},"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}]}`)
	other := e.client(otherAK, otherSK)
	out, err := other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cond"), Prefix: aws.String("docs/")})
	must(t, "list allowed prefix", err)
	if len(out.Contents) != 1 {
		t.Errorf("contents %d", len(out.Contents))
	}
	_, err = other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cond"), Prefix: aws.String("other/")})
	wantCode(t, "list other prefix", err, "AccessDenied")
	setPolicy(t, e, "cond", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:ListBucket",
		"Resource":"arn:aws:s3:::cond","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`)
	_, err = other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cond")})
	wantCode(t, "list from wrong network", err, "AccessDenied")
}

func TestServer_Replication(t *testing.T) {
	e := newEnv(t)
	e.createBucket("rep")
	c := e.owner()
	cfg := &types.ReplicationConfiguration{
		Role: aws.String("arn:aws:iam::000000000000:role/replication"),
		Rules: []types.ReplicationRule{{
			ID: aws.String("r1"), Status: types.ReplicationRuleStatusEnabled, Priority: aws.Int32(1),
			Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("")},
			DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
			Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::rep-copy")},
		}},
	}
	_, err := c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("rep"), ReplicationConfiguration: cfg})
	wantCode(t, "replication on unversioned bucket", err, "InvalidRequest")
	_, err = c.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("rep")})
	wantCode(t, "no replication", err, "ReplicationConfigurationNotFoundError")

	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("rep"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	must(t, "enable versioning", err)
	_, err = c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("rep"), ReplicationConfiguration: cfg})
	must(t, "put replication", err)
	got, err := c.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("rep")})
	must(t, "get replication", err)
	if len(got.ReplicationConfiguration.Rules) != 1 || aws.ToString(got.ReplicationConfiguration.Rules[0].ID) != "r1" ||
		aws.ToString(got.ReplicationConfiguration.Rules[0].Destination.Bucket) != "arn:aws:s3:::rep-copy" {
		t.Errorf("replication config %+v", got.ReplicationConfiguration)
	}
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("rep"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	wantCode(t, "suspend with replication", err, "InvalidBucketState")
	if httpStatus(err) != 409 {
		t.Errorf("suspend status %d", httpStatus(err))
	}
	bad := *cfg
	bad.Rules = []types.ReplicationRule{cfg.Rules[0]}
	bad.Rules[0].DeleteMarkerReplication = nil
	_, err = c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("rep"), ReplicationConfiguration: &bad})
	if err == nil || httpStatus(err) != 400 {
		t.Errorf("invalid replication rule accepted: %v", err)
	}
	_, err = c.DeleteBucketReplication(ctx, &s3.DeleteBucketReplicationInput{Bucket: aws.String("rep")})
	must(t, "delete replication", err)
	_, err = c.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("rep")})
	wantCode(t, "replication deleted", err, "ReplicationConfigurationNotFoundError")
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("rep"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	must(t, "suspend without replication", err)
}

// fakeBackend embeds a nil Backend: only the methods a test overrides may be called.
type fakeBackend struct {
	Backend
	bucket func(name string) (storage.BucketInfo, error)
	object func() (storage.ObjectVersion, error)
}

func (f *fakeBackend) Bucket(_ context.Context, name string) (storage.BucketInfo, error) {
	return f.bucket(name)
}

func (f *fakeBackend) BucketConfig(context.Context, string, storage.ConfigKind) ([]byte, error) {
	return nil, storage.ErrNoSuchConfig
}

func (f *fakeBackend) Object(context.Context, string, string, string) (storage.ObjectVersion, error) {
	return f.object()
}

func fakeServer(t *testing.T, f *fakeBackend) *httptest.Server {
	srv := New(Config{Credentials: auth.StaticCredentials{ownerAK: ownerSK}, Logger: testLogger(t)}, f)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

func signedGet(t *testing.T, ts *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+path, nil)
	signReq(t, req, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	resp, err := ts.Client().Do(req)
	must(t, "get", err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

type leadershipLost struct{}

func (leadershipLost) Error() string        { return "raft: leadership lost while committing" }
func (leadershipLost) UnknownOutcome() bool { return true }

func TestServer_PanicAndInternalErrors(t *testing.T) {
	owned := func(string) (storage.BucketInfo, error) { return storage.BucketInfo{Name: "b", Owner: ownerAK}, nil }
	ts := fakeServer(t, &fakeBackend{bucket: owned, object: func() (storage.ObjectVersion, error) { panic("boom") }})
	resp, body := signedGet(t, ts, "/b/k")
	if resp.StatusCode != 500 || !strings.Contains(body, "<Code>InternalError</Code>") || resp.Header.Get("X-Amz-Request-Id") == "" {
		t.Errorf("panic: %d %s", resp.StatusCode, body)
	}
	// The server survives and keeps answering.
	resp, _ = signedGet(t, ts, "/b/k")
	if resp.StatusCode != 500 {
		t.Errorf("after panic: %d", resp.StatusCode)
	}

	ts = fakeServer(t, &fakeBackend{bucket: owned, object: func() (storage.ObjectVersion, error) {
		return storage.ObjectVersion{}, errors.New("disk on fire: /secret/path")
	}})
	resp, body = signedGet(t, ts, "/b/k")
	if resp.StatusCode != 500 || strings.Contains(body, "secret") {
		t.Errorf("internal error leaks detail or wrong status: %d %s", resp.StatusCode, body)
	}

	ts = fakeServer(t, &fakeBackend{bucket: owned, object: func() (storage.ObjectVersion, error) {
		return storage.ObjectVersion{}, fmt.Errorf("node: %w", leadershipLost{})
	}})
	resp, body = signedGet(t, ts, "/b/k")
	if resp.StatusCode != 503 || !strings.Contains(body, "<Code>ServiceUnavailable</Code>") {
		t.Errorf("unknown outcome: %d %s", resp.StatusCode, body)
	}
}

func TestServer_TLSStreamingUploads(t *testing.T) {
	e := newTLSEnv(t)
	e.createBucket("tls")
	c := e.owner()
	body := bytes.Repeat([]byte("0123456789"), 200_000) // 2 MB: several aws-chunked chunks
	for _, alg := range []types.ChecksumAlgorithm{"", types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmSha256} {
		key := "obj-" + string(alg)
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tls"), Key: aws.String(key),
			Body: bytes.NewReader(body), ChecksumAlgorithm: alg, ContentEncoding: aws.String("gzip")})
		must(t, "streaming put "+key, err)
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("tls"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
		must(t, "get "+key, err)
		if got := readAll(t, g.Body); got != string(body) {
			t.Fatalf("%s: body of %d bytes differs", key, len(got))
		}
		if aws.ToString(g.ContentEncoding) != "gzip" {
			t.Errorf("%s: content encoding %q (aws-chunked must be stripped)", key, aws.ToString(g.ContentEncoding))
		}
	}
	if _, ok := e.modes.Load("STREAMING-UNSIGNED-PAYLOAD-TRAILER"); !ok {
		var seen []any
		e.modes.Range(func(k, _ any) bool { seen = append(seen, k); return true })
		t.Fatalf("the SDK did not use aws-chunked trailers; modes seen: %v", seen)
	}
	// Multipart through the streaming path too.
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("tls"), Key: aws.String("mp"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	must(t, "create upload", err)
	part := bytes.Repeat([]byte("p"), 5<<20)
	p1, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("tls"), Key: aws.String("mp"), UploadId: cr.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(part), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	must(t, "upload part", err)
	if aws.ToString(p1.ChecksumCRC32) == "" {
		t.Errorf("part checksum not returned")
	}
	p2, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("tls"), Key: aws.String("mp"), UploadId: cr.UploadId,
		PartNumber: aws.Int32(2), Body: bytes.NewReader([]byte("end")), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	must(t, "upload part 2", err)
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("tls"), Key: aws.String("mp"), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: p1.ETag, ChecksumCRC32: p1.ChecksumCRC32},
			{PartNumber: aws.Int32(2), ETag: p2.ETag, ChecksumCRC32: p2.ChecksumCRC32}}}})
	must(t, "complete", err)
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("tls"), Key: aws.String("mp"), ChecksumMode: types.ChecksumModeEnabled})
	must(t, "get multipart", err)
	if n := len(readAll(t, g.Body)); n != len(part)+3 {
		t.Errorf("multipart size %d", n)
	}
}

func TestServer_ExpectedBucketOwner(t *testing.T) {
	e := newEnv(t)
	e.createBucket("owned")
	for _, c := range []struct {
		owner  string
		status int
	}{{"000000000000", 200}, {ownerAK, 200}, {"111111111111", 403}} {
		r := e.ownerDo("GET", "/owned?list-type=2", nil, map[string]string{"X-Amz-Expected-Bucket-Owner": c.owner})
		if r.status != c.status {
			t.Errorf("expected owner %s: status %d, want %d", c.owner, r.status, c.status)
		}
	}
}

package s3api

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
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

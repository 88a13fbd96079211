package s3api

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestServer_GetObjectAttributes: through aws-sdk-go-v2, the attributes asked
// for and only those: ETag without quotes, the checksum with its type, size,
// storage class; a multipart object's parts, paged; a bad attribute name and
// none at all are InvalidArgument; a key whose latest version is a delete
// marker is NoSuchKey.
func TestServer_GetObjectAttributes(t *testing.T) {
	e := newEnv(t)
	e.createBucket("attrs")
	c := e.owner()
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("attrs"), Key: aws.String("one"), Body: strings.NewReader("hello attributes"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	must(t, "put", err)
	all := []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesChecksum, types.ObjectAttributesObjectSize, types.ObjectAttributesStorageClass, types.ObjectAttributesObjectParts}
	got, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("one"), ObjectAttributes: all})
	must(t, "attributes", err)
	if aws.ToString(got.ETag) != strings.Trim(aws.ToString(put.ETag), `"`) || aws.ToInt64(got.ObjectSize) != int64(len("hello attributes")) ||
		got.StorageClass != types.StorageClassStandard || got.Checksum == nil || aws.ToString(got.Checksum.ChecksumCRC32) != aws.ToString(put.ChecksumCRC32) ||
		got.ObjectParts != nil || got.LastModified == nil {
		t.Fatalf("attributes of a simple object: %+v (checksum %+v)", got, got.Checksum)
	}
	only, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("one"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize}})
	must(t, "size only", err)
	if only.ETag != nil || only.Checksum != nil || aws.ToInt64(only.ObjectSize) != 16 {
		t.Fatalf("asked for the size only: %+v", only)
	}

	// A multipart object of three parts, paged two at a time.
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("attrs"), Key: aws.String("parts")})
	must(t, "create upload", err)
	var done []types.CompletedPart
	sizes := []int{5 << 20, 5 << 20, 1234}
	for i, n := range sizes {
		up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("attrs"), Key: aws.String("parts"), UploadId: mp.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(bytes.Repeat([]byte{byte('a' + i)}, n))})
		must(t, "upload part", err)
		done = append(done, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("attrs"), Key: aws.String("parts"), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	must(t, "complete", err)
	page, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("parts"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts, types.ObjectAttributesEtag}, MaxParts: aws.Int32(2)})
	must(t, "parts page 1", err)
	p := page.ObjectParts
	if p == nil || aws.ToInt32(p.TotalPartsCount) != 3 || !aws.ToBool(p.IsTruncated) || len(p.Parts) != 2 ||
		aws.ToInt64(p.Parts[1].Size) != 5<<20 || aws.ToString(p.NextPartNumberMarker) != "2" || !strings.HasSuffix(aws.ToString(page.ETag), "-3") {
		t.Fatalf("first page of parts: %+v (etag %q)", p, aws.ToString(page.ETag))
	}
	page, err = c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("parts"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts}, MaxParts: aws.Int32(2), PartNumberMarker: p.NextPartNumberMarker})
	must(t, "parts page 2", err)
	if p := page.ObjectParts; len(p.Parts) != 1 || aws.ToInt32(p.Parts[0].PartNumber) != 3 || aws.ToInt64(p.Parts[0].Size) != 1234 || aws.ToBool(p.IsTruncated) {
		t.Fatalf("second page of parts: %+v", p)
	}

	r := e.ownerDo("GET", "/attrs/one?attributes", nil, map[string]string{"x-amz-object-attributes": "ETag,Colour"})
	if r.status != 400 || !strings.Contains(string(r.body), "InvalidArgument") {
		t.Fatalf("an unknown attribute: %d %s", r.status, r.body)
	}
	r = e.ownerDo("GET", "/attrs/one?attributes", nil, nil)
	if r.status != 400 || !strings.Contains(string(r.body), "InvalidArgument") {
		t.Fatalf("no attribute asked for: %d %s", r.status, r.body)
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("attrs"), Key: aws.String("one")})
	must(t, "delete", err)
	_, err = c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("one"), ObjectAttributes: all})
	wantCode(t, "attributes of a deleted key", err, "NoSuchKey")
}

package nodetest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestRegion_MultipartAcrossMembers runs one multipart upload through every member
// of a region, as a client behind a load balancer would: created on one member,
// parts uploaded (and one copied) through the others, listed on a third, completed
// on another; then every member serves the whole object. An aborted upload leaves
// nothing on any member.
func TestRegion_MultipartAcrossMembers(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	c := Start(t, Options{NoSync: true})
	if _, err := c.Leader(ctx, region); err != nil {
		t.Fatal(err)
	}
	nodes := c.Nodes(region)
	cl := make([]*s3.Client, len(nodes))
	for i, n := range nodes {
		cl[i] = sdk(c, n)
	}
	const bucket, key = "mpu", "assembled.bin"
	if _, err := cl[1].CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	const partSize = 5 << 20
	part1, part3 := randomBody(partSize), randomBody(1000)
	source := randomBody(partSize + 4096)
	put(ctx, t, cl[2], bucket, "copy-source", source)
	part2 := source[:partSize] // UploadPartCopy of the source's first 5 MiB

	created, err := cl[0].CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	id := created.UploadId
	up1, err := cl[1].UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(part1)})
	if err != nil {
		t.Fatalf("UploadPart 1 via %s: %v", nodes[1].ID, err)
	}
	up2, err := cl[2].UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id,
		PartNumber: aws.Int32(2), CopySource: aws.String(bucket + "/copy-source"), CopySourceRange: aws.String(fmt.Sprintf("bytes=0-%d", partSize-1))})
	if err != nil {
		t.Fatalf("UploadPartCopy 2 via %s: %v", nodes[2].ID, err)
	}
	up3, err := cl[0].UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id,
		PartNumber: aws.Int32(3), Body: bytes.NewReader(part3)})
	if err != nil {
		t.Fatalf("UploadPart 3 via %s: %v", nodes[0].ID, err)
	}
	etags := []*string{up1.ETag, up2.CopyPartResult.ETag, up3.ETag}

	// Every member lists the upload and its three parts at once (reads are linearizable).
	for i, cli := range cl {
		ups, err := cli.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil || len(ups.Uploads) != 1 || aws.ToString(ups.Uploads[0].UploadId) != aws.ToString(id) {
			t.Fatalf("ListMultipartUploads via %s: %+v, %v", nodes[i].ID, ups, err)
		}
		parts, err := cli.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id})
		if err != nil || len(parts.Parts) != 3 {
			t.Fatalf("ListParts via %s: %v (%d parts)", nodes[i].ID, err, len(parts.Parts))
		}
		for j, p := range parts.Parts {
			if aws.ToInt32(p.PartNumber) != int32(j+1) || aws.ToString(p.ETag) != aws.ToString(etags[j]) {
				t.Fatalf("ListParts via %s: part %d = #%d %s, want %s", nodes[i].ID, j+1, aws.ToInt32(p.PartNumber), aws.ToString(p.ETag), aws.ToString(etags[j]))
			}
		}
	}

	var completed []s3types.CompletedPart
	var md5s []byte
	for j, e := range etags {
		completed = append(completed, s3types.CompletedPart{PartNumber: aws.Int32(int32(j + 1)), ETag: e})
		raw, err := hex.DecodeString(trimQuotes(aws.ToString(e)))
		if err != nil {
			t.Fatalf("part %d ETag %s: %v", j+1, aws.ToString(e), err)
		}
		md5s = append(md5s, raw...)
	}
	done, err := cl[1].CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: id, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: completed}})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload via %s: %v", nodes[1].ID, err)
	}
	sum := md5.Sum(md5s)
	if want := fmt.Sprintf(`"%x-3"`, sum); aws.ToString(done.ETag) != want {
		t.Fatalf("ETag %s, want %s", aws.ToString(done.ETag), want)
	}
	whole := bytes.Join([][]byte{part1, part2, part3}, nil)
	for i, cli := range cl {
		got, err := get(ctx, cli, bucket, key)
		if err != nil || !bytes.Equal(got, whole) {
			t.Fatalf("GET via %s: %d bytes, %v; want the %d assembled bytes", nodes[i].ID, len(got), err, len(whole))
		}
		ups, err := cli.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil || len(ups.Uploads) != 0 {
			t.Fatalf("uploads left via %s after Complete: %+v, %v", nodes[i].ID, ups, err)
		}
	}

	// Abort: created on one member, a part through another, aborted through a third.
	ab, err := cl[2].CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("aborted")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl[0].UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("aborted"), UploadId: ab.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(randomBody(2 << 20))}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl[1].AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("aborted"), UploadId: ab.UploadId}); err != nil {
		t.Fatal(err)
	}
	for i, cli := range cl {
		_, err := cli.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String("aborted"), UploadId: ab.UploadId})
		if code := errorCode(err); code != "NoSuchUpload" {
			t.Fatalf("ListParts of the aborted upload via %s: %v (code %q), want NoSuchUpload", nodes[i].ID, err, code)
		}
		if _, err := get(ctx, cli, bucket, "aborted"); errorCode(err) != "NoSuchKey" {
			t.Fatalf("GET aborted via %s: %v, want NoSuchKey", nodes[i].ID, err)
		}
	}
}

func trimQuotes(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

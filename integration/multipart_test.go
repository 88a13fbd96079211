// feature/s3/manager is deprecated in favour of feature/s3/transfermanager, but it is
// what most programs in the field still upload with, and the module in go.mod.
//
//lint:file-ignore SA1019 deliberately testing the widely used manager.Uploader

package integration

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const mib = 1 << 20

func TestMultipartUploader(t *testing.T) {
	e := newEnv(t)
	b := e.mkBucket(t, "mpu")
	seed := testSeed(t)
	data := randomBytes(seed, "uploader", 30*mib)
	const partSize = 5 * mib

	up := manager.NewUploader(e.s3, func(u *manager.Uploader) {
		u.PartSize = partSize
		u.Concurrency = 3
		u.LeavePartsOnError = false
	})
	// A plain io.Reader (not a ReadSeeker) makes the uploader stream parts as it reads.
	out, err := up.Upload(ctx(t), &s3.PutObjectInput{
		Bucket:      aws.String(b),
		Key:         aws.String("big/object.bin"),
		Body:        io.LimitReader(bytes.NewReader(data), int64(len(data))),
		ContentType: aws.String("application/x-big"),
		Metadata:    map[string]string{"origin": "uploader"},
	})
	if err != nil {
		t.Fatalf("manager.Upload: %v", err)
	}
	want := multipartETag(data, partSize)
	if got := unquote(out.ETag); got != want {
		t.Errorf("multipart ETag %q, want md5-of-md5s %q", got, want)
	}
	if out.UploadID == "" {
		t.Errorf("30 MiB with 5 MiB parts did not go through multipart")
	}

	h, err := e.s3.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String("big/object.bin")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(h.ContentLength) != int64(len(data)) || unquote(h.ETag) != want {
		t.Errorf("HEAD: length %d etag %s, want %d %s", aws.ToInt64(h.ContentLength), unquote(h.ETag), len(data), want)
	}
	if aws.ToString(h.ContentType) != "application/x-big" || lowerKeys(h.Metadata)["origin"] != "uploader" {
		t.Errorf("metadata from CreateMultipartUpload lost: %q %v", aws.ToString(h.ContentType), h.Metadata)
	}

	got, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("big/object.bin")})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.New()
	n, err := io.Copy(sum, got.Body)
	got.Body.Close()
	if err != nil || n != int64(len(data)) || !bytes.Equal(sum.Sum(nil), sha256Of(data)) {
		t.Errorf("GET of the multipart object: %d bytes, err %v, content equal %v", n, err, bytes.Equal(sum.Sum(nil), sha256Of(data)))
	}

	// A range crossing a part boundary.
	rng, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("big/object.bin"),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", partSize-100, partSize+99))})
	if !bytes.Equal(rng, data[partSize-100:partSize+100]) {
		t.Errorf("range across a part boundary differs")
	}

	// Per-part reads: PartNumber=N returns that part and the part count.
	p2, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("big/object.bin"), PartNumber: aws.Int32(2)})
	if err != nil {
		t.Errorf("GET ?partNumber=2: %v", err)
	} else {
		body, _ := io.ReadAll(p2.Body)
		p2.Body.Close()
		if !bytes.Equal(body, data[partSize:2*partSize]) || aws.ToInt32(p2.PartsCount) != 6 {
			t.Errorf("GET ?partNumber=2: %d bytes, PartsCount %d", len(body), aws.ToInt32(p2.PartsCount))
		}
	}
}

func TestMultipartLowLevel(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	b := e.mkBucket(t, "mpu-low")
	k := aws.String("assembled")
	part1 := randomBytes(2, "p1", 5*mib)
	part2 := randomBytes(2, "p2", 1*mib+123)

	create, err := e.s3.CreateMultipartUpload(c, &s3.CreateMultipartUploadInput{Bucket: aws.String(b), Key: k})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	id := create.UploadId
	if aws.ToString(id) == "" {
		t.Fatal("CreateMultipartUpload returned no UploadId")
	}

	uploadPart := func(n int32, body []byte) string {
		t.Helper()
		out, err := e.s3.UploadPart(c, &s3.UploadPartInput{Bucket: aws.String(b), Key: k, UploadId: id, PartNumber: aws.Int32(n), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", n, err)
		}
		if unquote(out.ETag) != md5hex(body) {
			t.Errorf("UploadPart %d ETag %s, want %s", n, unquote(out.ETag), md5hex(body))
		}
		return aws.ToString(out.ETag)
	}
	// Parts may arrive in any order and be re-uploaded; the last upload of a number wins.
	e2 := uploadPart(2, []byte("to be replaced"))
	e1 := uploadPart(1, part1)
	e2 = uploadPart(2, part2)

	t.Run("list parts", func(t *testing.T) {
		lp, err := e.s3.ListParts(c, &s3.ListPartsInput{Bucket: aws.String(b), Key: k, UploadId: id})
		if err != nil {
			t.Fatalf("ListParts: %v", err)
		}
		if len(lp.Parts) != 2 {
			t.Fatalf("ListParts: %d parts, want 2", len(lp.Parts))
		}
		for i, want := range []struct {
			etag string
			size int
		}{{e1, len(part1)}, {e2, len(part2)}} {
			p := lp.Parts[i]
			if aws.ToInt32(p.PartNumber) != int32(i+1) || aws.ToString(p.ETag) != want.etag || aws.ToInt64(p.Size) != int64(want.size) {
				t.Errorf("part %d: number %d etag %s size %d", i+1, aws.ToInt32(p.PartNumber), aws.ToString(p.ETag), aws.ToInt64(p.Size))
			}
		}
		lp, err = e.s3.ListParts(c, &s3.ListPartsInput{Bucket: aws.String(b), Key: k, UploadId: id, MaxParts: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		if len(lp.Parts) != 1 || !aws.ToBool(lp.IsTruncated) || aws.ToString(lp.NextPartNumberMarker) != "1" {
			t.Errorf("ListParts MaxParts=1: %d parts truncated %v next %q", len(lp.Parts), aws.ToBool(lp.IsTruncated), aws.ToString(lp.NextPartNumberMarker))
		}
	})

	t.Run("list uploads", func(t *testing.T) {
		other, err := e.s3.CreateMultipartUpload(c, &s3.CreateMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("dir/other")})
		if err != nil {
			t.Fatal(err)
		}
		lu, err := e.s3.ListMultipartUploads(c, &s3.ListMultipartUploadsInput{Bucket: aws.String(b)})
		if err != nil {
			t.Fatalf("ListMultipartUploads: %v", err)
		}
		var got []string
		for _, u := range lu.Uploads {
			got = append(got, aws.ToString(u.Key)+"="+aws.ToString(u.UploadId))
		}
		want := []string{"assembled=" + aws.ToString(id), "dir/other=" + aws.ToString(other.UploadId)}
		if !slices.Equal(got, want) {
			t.Errorf("ListMultipartUploads = %v, want %v", got, want)
		}
		lu, err = e.s3.ListMultipartUploads(c, &s3.ListMultipartUploadsInput{Bucket: aws.String(b), Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(lu.Uploads) != 1 || len(lu.CommonPrefixes) != 1 || aws.ToString(lu.CommonPrefixes[0].Prefix) != "dir/" {
			t.Errorf("ListMultipartUploads delimiter=/: %d uploads, prefixes %v", len(lu.Uploads), lu.CommonPrefixes)
		}

		if _, err := e.s3.AbortMultipartUpload(c, &s3.AbortMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("dir/other"), UploadId: other.UploadId}); err != nil {
			t.Fatalf("AbortMultipartUpload: %v", err)
		}
		_, err = e.s3.UploadPart(c, &s3.UploadPartInput{Bucket: aws.String(b), Key: aws.String("dir/other"), UploadId: other.UploadId,
			PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("late"))})
		wantAPIError(t, err, "NoSuchUpload", http.StatusNotFound)
		_, err = e.s3.ListParts(c, &s3.ListPartsInput{Bucket: aws.String(b), Key: aws.String("dir/other"), UploadId: other.UploadId})
		wantAPIError(t, err, "NoSuchUpload", http.StatusNotFound)
		lu, err = e.s3.ListMultipartUploads(c, &s3.ListMultipartUploadsInput{Bucket: aws.String(b)})
		if err != nil || len(lu.Uploads) != 1 {
			t.Errorf("after abort: %d uploads listed (%v), want 1", len(lu.Uploads), err)
		}
		e.mustServe(t)
	})

	t.Run("bad completions", func(t *testing.T) {
		complete := func(parts ...types.CompletedPart) error {
			_, err := e.s3.CompleteMultipartUpload(c, &s3.CompleteMultipartUploadInput{Bucket: aws.String(b), Key: k, UploadId: id,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
			return err
		}
		part := func(n int32, etag string) types.CompletedPart {
			return types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(etag)}
		}
		wantAPIError(t, complete(part(1, e1), part(2, `"00000000000000000000000000000000"`)), "InvalidPart", http.StatusBadRequest)
		wantAPIError(t, complete(part(1, e1), part(3, e2)), "InvalidPart", http.StatusBadRequest)
		wantAPIError(t, complete(part(2, e2), part(1, e1)), "InvalidPartOrder", http.StatusBadRequest)
		wantAPIError(t, complete(), "MalformedXML", http.StatusBadRequest)
		// Part 1 is too small once it is not the last part.
		small, err := e.s3.CreateMultipartUpload(c, &s3.CreateMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("small")})
		if err != nil {
			t.Fatal(err)
		}
		var etags []string
		for n := int32(1); n <= 2; n++ {
			out, err := e.s3.UploadPart(c, &s3.UploadPartInput{Bucket: aws.String(b), Key: aws.String("small"), UploadId: small.UploadId,
				PartNumber: aws.Int32(n), Body: bytes.NewReader([]byte("tiny"))})
			if err != nil {
				t.Fatal(err)
			}
			etags = append(etags, aws.ToString(out.ETag))
		}
		_, err = e.s3.CompleteMultipartUpload(c, &s3.CompleteMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("small"), UploadId: small.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{part(1, etags[0]), part(2, etags[1])}}})
		wantAPIError(t, err, "EntityTooSmall", http.StatusBadRequest)

		r := e.do(t, rawRequest{Method: http.MethodPost, Path: "/" + b + "/" + *k, Query: "uploadId=" + aws.ToString(id), Body: []byte("<CompleteMultipartUpload><Part>")})
		r.wantCode(t, "MalformedXML", http.StatusBadRequest)
		_, err = e.s3.UploadPart(c, &s3.UploadPartInput{Bucket: aws.String(b), Key: k, UploadId: id, PartNumber: aws.Int32(10001), Body: bytes.NewReader([]byte("x"))})
		wantAPIError(t, err, "InvalidArgument", http.StatusBadRequest)
		e.mustServe(t)
	})

	t.Run("complete", func(t *testing.T) {
		out, err := e.s3.CompleteMultipartUpload(c, &s3.CompleteMultipartUploadInput{Bucket: aws.String(b), Key: k, UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
				{PartNumber: aws.Int32(1), ETag: aws.String(e1)},
				{PartNumber: aws.Int32(2), ETag: aws.String(e2)},
			}}})
		if err != nil {
			t.Fatalf("CompleteMultipartUpload: %v", err)
		}
		whole := append(slices.Clone(part1), part2...)
		if want := multipartETag(whole, 5*mib); unquote(out.ETag) != want {
			t.Errorf("completed ETag %s, want %s", unquote(out.ETag), want)
		}
		body, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: k})
		if !bytes.Equal(body, whole) {
			t.Errorf("assembled object differs: %d bytes, want %d", len(body), len(whole))
		}
		// The upload is gone once completed.
		_, err = e.s3.ListParts(c, &s3.ListPartsInput{Bucket: aws.String(b), Key: k, UploadId: id})
		wantAPIError(t, err, "NoSuchUpload", http.StatusNotFound)
	})
}

func TestUploadPartCopy(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	b := e.mkBucket(t, "part-copy")
	src := randomBytes(3, "source", 7*mib+17)
	e.put(t, b, "source", src)

	create, err := e.s3.CreateMultipartUpload(c, &s3.CreateMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("dest")})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, rng := range []string{fmt.Sprintf("bytes=0-%d", 5*mib-1), fmt.Sprintf("bytes=%d-%d", 5*mib, len(src)-1)} {
		out, err := e.s3.UploadPartCopy(c, &s3.UploadPartCopyInput{Bucket: aws.String(b), Key: aws.String("dest"), UploadId: create.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String(b + "/source"), CopySourceRange: aws.String(rng)})
		if err != nil {
			t.Fatalf("UploadPartCopy %s: %v", rng, err)
		}
		if out.CopyPartResult == nil || aws.ToString(out.CopyPartResult.ETag) == "" {
			t.Fatalf("UploadPartCopy %s: no ETag", rng)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag})
	}
	_, err = e.s3.UploadPartCopy(c, &s3.UploadPartCopyInput{Bucket: aws.String(b), Key: aws.String("dest"), UploadId: create.UploadId,
		PartNumber: aws.Int32(3), CopySource: aws.String(b + "/source"), CopySourceRange: aws.String(fmt.Sprintf("bytes=0-%d", len(src)))})
	// S3 answers a copy range beyond the source with 400 InvalidArgument, not 416.
	wantAPIError(t, err, "InvalidArgument", http.StatusBadRequest)

	out, err := e.s3.CompleteMultipartUpload(c, &s3.CompleteMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("dest"), UploadId: create.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if want := multipartETag(src, 5*mib); unquote(out.ETag) != want {
		t.Errorf("ETag %s, want %s", unquote(out.ETag), want)
	}
	body, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("dest")})
	if !bytes.Equal(body, src) {
		t.Errorf("object assembled by UploadPartCopy differs from its source")
	}
	e.mustServe(t)
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

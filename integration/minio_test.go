package integration

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestMinioClient drives the server with minio-go over plain HTTP, where it signs every
// body chunk (aws-chunked with STREAMING-AWS4-HMAC-SHA256-PAYLOAD, with a CRC32C
// trailer by default).
func TestMinioClient(t *testing.T) {
	e := newEnv(t)
	mc := e.minio(t)
	c := ctx(t)
	const b = "minio-bucket"

	if err := mc.MakeBucket(c, b, minio.MakeBucketOptions{Region: testRegion}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	ok, err := mc.BucketExists(c, b)
	if err != nil || !ok {
		t.Fatalf("BucketExists = %v, %v", ok, err)
	}
	seed := testSeed(t)

	t.Run("single put with signed chunks", func(t *testing.T) {
		before := e.wire.count("STREAMING-AWS4-HMAC-SHA256-PAYLOAD") + e.wire.count("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
		data := randomBytes(seed, "minio-small", 3*mib+5)
		info, err := mc.PutObject(c, b, "small/object", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
			ContentType:  "application/x-minio",
			UserMetadata: map[string]string{"flavour": "vanilla"},
		})
		if err != nil {
			t.Fatalf("PutObject: %v", err)
		}
		if info.ETag != md5hex(data) {
			t.Errorf("PutObject ETag %q, want %q", info.ETag, md5hex(data))
		}
		after := e.wire.count("STREAMING-AWS4-HMAC-SHA256-PAYLOAD") + e.wire.count("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
		if after == before {
			t.Errorf("minio-go did not send a signed streaming body; wire: %s", e.wire)
		}
		t.Logf("minio-go wire: %s", e.wire)

		st, err := mc.StatObject(c, b, "small/object", minio.StatObjectOptions{})
		if err != nil {
			t.Fatalf("StatObject: %v", err)
		}
		if st.Size != int64(len(data)) || st.ContentType != "application/x-minio" || st.UserMetadata["Flavour"] != "vanilla" {
			t.Errorf("StatObject: size %d type %q meta %v", st.Size, st.ContentType, st.UserMetadata)
		}
		if got := minioGet(t, mc, b, "small/object", minio.GetObjectOptions{}); !bytes.Equal(got, data) {
			t.Errorf("GetObject differs: %d bytes, want %d", len(got), len(data))
		}
		var rng minio.GetObjectOptions
		if err := rng.SetRange(1000, 1999); err != nil {
			t.Fatal(err)
		}
		if got := minioGet(t, mc, b, "small/object", rng); !bytes.Equal(got, data[1000:2000]) {
			t.Errorf("ranged GetObject differs")
		}
	})

	t.Run("multipart", func(t *testing.T) {
		data := randomBytes(seed, "minio-big", 20*mib+333)
		info, err := mc.PutObject(c, b, "big/object", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
			PartSize: 5 * mib, NumThreads: 2,
		})
		if err != nil {
			t.Fatalf("multipart PutObject: %v", err)
		}
		if !strings.HasSuffix(info.ETag, "-5") {
			t.Errorf("multipart ETag %q, want a -5 suffix", info.ETag)
		}
		if got := minioGet(t, mc, b, "big/object", minio.GetObjectOptions{}); !bytes.Equal(got, data) {
			t.Errorf("multipart object differs: %d bytes, want %d", len(got), len(data))
		}
	})

	t.Run("unknown size stream", func(t *testing.T) {
		data := randomBytes(seed, "minio-stream", 2*mib+1)
		// io.MultiReader hides the length, so minio-go must stream without knowing it.
		if _, err := mc.PutObject(c, b, "stream/object", io.MultiReader(bytes.NewReader(data)), -1, minio.PutObjectOptions{PartSize: 5 * mib}); err != nil {
			t.Fatalf("PutObject of unknown size: %v", err)
		}
		if got := minioGet(t, mc, b, "stream/object", minio.GetObjectOptions{}); !bytes.Equal(got, data) {
			t.Errorf("streamed object differs: %d bytes, want %d", len(got), len(data))
		}
	})

	t.Run("copy list presign remove", func(t *testing.T) {
		if _, err := mc.CopyObject(c, minio.CopyDestOptions{Bucket: b, Object: "copies/one"},
			minio.CopySrcOptions{Bucket: b, Object: "small/object"}); err != nil {
			t.Fatalf("CopyObject: %v", err)
		}
		var keys []string
		for o := range mc.ListObjects(c, b, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatalf("ListObjects: %v", o.Err)
			}
			keys = append(keys, o.Key)
		}
		if want := []string{"big/object", "copies/one", "small/object", "stream/object"}; !slices.Equal(keys, want) {
			t.Errorf("ListObjects = %v, want %v", keys, want)
		}

		u, err := mc.PresignedGetObject(c, b, "copies/one", 5*time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) != 3*mib+5 {
			t.Errorf("minio presigned GET: %d, %d bytes", resp.StatusCode, len(body))
		}

		pu, err := mc.PresignedPutObject(c, b, "presigned/put", 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPut, pu.String(), strings.NewReader("via minio presign"))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("minio presigned PUT: %d", resp.StatusCode)
		}

		if err := mc.RemoveBucket(c, b); minio.ToErrorResponse(err).Code != "BucketNotEmpty" {
			t.Errorf("RemoveBucket of a full bucket: %v, want BucketNotEmpty", err)
		}
		for _, k := range []string{"big/object", "copies/one", "small/object", "stream/object", "presigned/put"} {
			if err := mc.RemoveObject(c, b, k, minio.RemoveObjectOptions{}); err != nil {
				t.Errorf("RemoveObject %s: %v", k, err)
			}
		}
		if _, err := mc.StatObject(c, b, "small/object", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
			t.Errorf("StatObject after RemoveObject: %v, want NoSuchKey", err)
		}
		if err := mc.RemoveBucket(c, b); err != nil {
			t.Errorf("RemoveBucket: %v", err)
		}
	})
}

func minioGet(t *testing.T, mc *minio.Client, bucket, key string, opts minio.GetObjectOptions) []byte {
	t.Helper()
	o, err := mc.GetObject(ctx(t), bucket, key, opts)
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("GetObject %s: reading: %v", key, err)
	}
	return b
}

package integration

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestObjects(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	b := e.mkBucket(t, "objects")
	data := randomBytes(1, "objects", 100_000)
	key := "dir/hello world.bin"

	put, err := e.s3.PutObject(c, &s3.PutObjectInput{
		Bucket:             aws.String(b),
		Key:                aws.String(key),
		Body:               bytes.NewReader(data),
		ContentType:        aws.String("application/x-test"),
		CacheControl:       aws.String("max-age=60"),
		ContentDisposition: aws.String(`attachment; filename="hello.bin"`),
		ContentLanguage:    aws.String("en"),
		Metadata:           map[string]string{"color": "blue", "Mixed-Case": "Value With Spaces"},
		Tagging:            aws.String("team=storage&tier=gold"),
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if got := unquote(put.ETag); got != md5hex(data) {
		t.Errorf("PUT ETag %q, want the body's MD5 %q", got, md5hex(data))
	}
	if aws.ToString(put.ChecksumCRC32) == "" {
		t.Errorf("PUT with the SDK's default CRC32 checksum: no x-amz-checksum-crc32 in the response")
	}

	t.Run("head", func(t *testing.T) {
		h, err := e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("HeadObject: %v", err)
		}
		if aws.ToInt64(h.ContentLength) != int64(len(data)) || unquote(h.ETag) != md5hex(data) {
			t.Errorf("HEAD length %d etag %s, want %d %s", aws.ToInt64(h.ContentLength), unquote(h.ETag), len(data), md5hex(data))
		}
		for name, pair := range map[string][2]string{
			"Content-Type":        {aws.ToString(h.ContentType), "application/x-test"},
			"Cache-Control":       {aws.ToString(h.CacheControl), "max-age=60"},
			"Content-Disposition": {aws.ToString(h.ContentDisposition), `attachment; filename="hello.bin"`},
			"Content-Language":    {aws.ToString(h.ContentLanguage), "en"},
		} {
			if pair[0] != pair[1] {
				t.Errorf("HEAD %s = %q, want %q", name, pair[0], pair[1])
			}
		}
		if got := lowerKeys(h.Metadata); !maps.Equal(got, map[string]string{"color": "blue", "mixed-case": "Value With Spaces"}) {
			t.Errorf("HEAD metadata = %v", got)
		}
		if h.LastModified == nil || time.Since(*h.LastModified) > time.Hour || time.Until(*h.LastModified) > time.Minute {
			t.Errorf("HEAD Last-Modified = %v, want about now", h.LastModified)
		}
	})

	t.Run("get", func(t *testing.T) {
		body, out := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(key)})
		if !bytes.Equal(body, data) {
			t.Errorf("GET returned %d bytes that differ from the %d written", len(body), len(data))
		}
		if aws.ToString(out.ContentType) != "application/x-test" || aws.ToInt32(out.TagCount) != 2 {
			t.Errorf("GET Content-Type %q tag count %d", aws.ToString(out.ContentType), aws.ToInt32(out.TagCount))
		}
	})

	t.Run("range", func(t *testing.T) {
		n := len(data)
		for _, tc := range []struct {
			rng          string
			from, to     int // inclusive
			contentRange string
		}{
			{"bytes=0-0", 0, 0, fmt.Sprintf("bytes 0-0/%d", n)},
			{"bytes=10-19", 10, 19, fmt.Sprintf("bytes 10-19/%d", n)},
			{"bytes=99990-", 99990, n - 1, fmt.Sprintf("bytes 99990-%d/%d", n-1, n)},
			{"bytes=-7", n - 7, n - 1, fmt.Sprintf("bytes %d-%d/%d", n-7, n-1, n)},
			{"bytes=99000-2000000", 99000, n - 1, fmt.Sprintf("bytes 99000-%d/%d", n-1, n)},
		} {
			body, out := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(key), Range: aws.String(tc.rng)})
			if !bytes.Equal(body, data[tc.from:tc.to+1]) {
				t.Errorf("Range %s: got %d bytes, want bytes %d..%d", tc.rng, len(body), tc.from, tc.to)
			}
			if aws.ToString(out.ContentRange) != tc.contentRange {
				t.Errorf("Range %s: Content-Range %q, want %q", tc.rng, aws.ToString(out.ContentRange), tc.contentRange)
			}
		}
		_, err := e.s3.GetObject(c, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(key), Range: aws.String("bytes=200000-")})
		wantAPIError(t, err, "InvalidRange", http.StatusRequestedRangeNotSatisfiable)
		e.mustServe(t)
	})

	t.Run("conditionals", func(t *testing.T) {
		etag := `"` + md5hex(data) + `"`
		past, future := time.Now().Add(-24*time.Hour), time.Now().Add(24*time.Hour)
		in := func() *s3.GetObjectInput { return &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(key)} }

		ok := []*s3.GetObjectInput{in(), in(), in(), in()}
		ok[0].IfMatch = aws.String(etag)
		ok[1].IfNoneMatch = aws.String(`"0123"`)
		ok[2].IfModifiedSince = aws.Time(past)
		ok[3].IfUnmodifiedSince = aws.Time(future)
		for i, g := range ok {
			if _, err := e.s3.GetObject(c, g); err != nil {
				t.Errorf("satisfied condition %d: %v", i, err)
			}
		}

		notModified := []*s3.GetObjectInput{in(), in()}
		notModified[0].IfNoneMatch = aws.String(etag)
		notModified[1].IfModifiedSince = aws.Time(future)
		for i, g := range notModified {
			_, err := e.s3.GetObject(c, g)
			wantNoBodyStatus(t, fmt.Sprintf("not-modified condition %d", i), err, http.StatusNotModified)
		}

		failed := []*s3.GetObjectInput{in(), in()}
		failed[0].IfMatch = aws.String(`"0123"`)
		failed[1].IfUnmodifiedSince = aws.Time(past)
		for _, g := range failed {
			_, err := e.s3.GetObject(c, g)
			wantAPIError(t, err, "PreconditionFailed", http.StatusPreconditionFailed)
		}
		_, err := e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String(key), IfMatch: aws.String(`"0123"`)})
		wantAPIError(t, err, "", http.StatusPreconditionFailed)

		// If-Match wins over a failing If-Unmodified-Since (RFC 7232 order, as S3 does).
		both := in()
		both.IfMatch = aws.String(etag)
		both.IfUnmodifiedSince = aws.Time(past)
		if _, err := e.s3.GetObject(c, both); err != nil {
			t.Errorf("If-Match true + If-Unmodified-Since false: %v, want 200", err)
		}
		e.mustServe(t)
	})

	t.Run("conditional put", func(t *testing.T) {
		_, err := e.s3.PutObject(c, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(key),
			Body: strings.NewReader("clobber"), IfNoneMatch: aws.String("*")})
		wantAPIError(t, err, "PreconditionFailed", http.StatusPreconditionFailed)
		if _, err := e.s3.PutObject(c, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("fresh"),
			Body: strings.NewReader("new"), IfNoneMatch: aws.String("*")}); err != nil {
			t.Errorf("PUT If-None-Match: * of a new key: %v", err)
		}
		e.mustServe(t)
	})

	t.Run("tagging", func(t *testing.T) {
		tags, err := e.s3.GetObjectTagging(c, &s3.GetObjectTaggingInput{Bucket: aws.String(b), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("GetObjectTagging: %v", err)
		}
		if got := tagMap(tags.TagSet); !maps.Equal(got, map[string]string{"team": "storage", "tier": "gold"}) {
			t.Errorf("tags from the PUT x-amz-tagging header = %v", got)
		}
		_, err = e.s3.PutObjectTagging(c, &s3.PutObjectTaggingInput{Bucket: aws.String(b), Key: aws.String(key),
			Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("only"), Value: aws.String("one + two = three/@:")}}}})
		if err != nil {
			t.Fatalf("PutObjectTagging: %v", err)
		}
		tags, err = e.s3.GetObjectTagging(c, &s3.GetObjectTaggingInput{Bucket: aws.String(b), Key: aws.String(key)})
		if err != nil || !maps.Equal(tagMap(tags.TagSet), map[string]string{"only": "one + two = three/@:"}) {
			t.Errorf("tags after PutObjectTagging = %v, %v", tagMap(tags.TagSet), err)
		}
		if _, err := e.s3.DeleteObjectTagging(c, &s3.DeleteObjectTaggingInput{Bucket: aws.String(b), Key: aws.String(key)}); err != nil {
			t.Fatalf("DeleteObjectTagging: %v", err)
		}
		tags, err = e.s3.GetObjectTagging(c, &s3.GetObjectTaggingInput{Bucket: aws.String(b), Key: aws.String(key)})
		if err != nil || len(tags.TagSet) != 0 {
			t.Errorf("tags after DeleteObjectTagging = %v, %v", tagMap(tags.TagSet), err)
		}
		// Tagging never changes the content.
		body, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(key)})
		if !bytes.Equal(body, data) {
			t.Errorf("body changed after tagging")
		}
		_, err = e.s3.PutObjectTagging(c, &s3.PutObjectTaggingInput{Bucket: aws.String(b), Key: aws.String("missing"),
			Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}})
		wantAPIError(t, err, "NoSuchKey", http.StatusNotFound)
		e.mustServe(t)
	})

	t.Run("copy", func(t *testing.T) {
		src := url.PathEscape(b) + "/" + escapeKey(key)

		// COPY (the default): metadata comes from the source.
		cp, err := e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: aws.String(b), Key: aws.String("copy-same"), CopySource: aws.String(src)})
		if err != nil {
			t.Fatalf("CopyObject COPY: %v", err)
		}
		if cp.CopyObjectResult == nil || unquote(cp.CopyObjectResult.ETag) != md5hex(data) {
			t.Errorf("CopyObject result ETag = %v, want %s", cp.CopyObjectResult, md5hex(data))
		}
		h, err := e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String("copy-same")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(h.ContentType) != "application/x-test" || lowerKeys(h.Metadata)["color"] != "blue" {
			t.Errorf("COPY directive: Content-Type %q metadata %v, want the source's", aws.ToString(h.ContentType), h.Metadata)
		}

		// REPLACE: metadata comes from the request.
		_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{
			Bucket: aws.String(b), Key: aws.String("copy-replaced"), CopySource: aws.String(src),
			MetadataDirective: types.MetadataDirectiveReplace,
			ContentType:       aws.String("text/plain"),
			Metadata:          map[string]string{"shape": "round"},
		})
		if err != nil {
			t.Fatalf("CopyObject REPLACE: %v", err)
		}
		h, err = e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String("copy-replaced")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(h.ContentType) != "text/plain" || !maps.Equal(lowerKeys(h.Metadata), map[string]string{"shape": "round"}) {
			t.Errorf("REPLACE directive: Content-Type %q metadata %v", aws.ToString(h.ContentType), h.Metadata)
		}
		body, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("copy-replaced")})
		if !bytes.Equal(body, data) {
			t.Errorf("copied body differs from the source")
		}

		// Copying an object onto itself without changing anything is refused.
		_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: aws.String(b), Key: aws.String(key), CopySource: aws.String(src)})
		wantAPIError(t, err, "InvalidRequest", http.StatusBadRequest)
		// ...but allowed with REPLACE (how clients rewrite metadata in place).
		_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: aws.String(b), Key: aws.String(key), CopySource: aws.String(src),
			MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("application/octet-stream")})
		if err != nil {
			t.Errorf("in-place copy with REPLACE: %v", err)
		}

		_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: aws.String(b), Key: aws.String("x"), CopySource: aws.String(b + "/missing")})
		wantAPIError(t, err, "NoSuchKey", http.StatusNotFound)

		// Copy-source conditionals.
		_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: aws.String(b), Key: aws.String("x"), CopySource: aws.String(src),
			CopySourceIfMatch: aws.String(`"0123"`)})
		wantAPIError(t, err, "PreconditionFailed", http.StatusPreconditionFailed)
		e.mustServe(t)
	})

	t.Run("copy a version", func(t *testing.T) {
		vb := e.mkBucket(t, "copy-versions")
		enableVersioning(t, e, vb)
		first := e.put(t, vb, "k", []byte("first"))
		e.put(t, vb, "k", []byte("second"))
		_, err := e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: aws.String(vb), Key: aws.String("restored"),
			CopySource: aws.String(vb + "/k?versionId=" + aws.ToString(first.VersionId))})
		if err != nil {
			t.Fatalf("CopyObject of a version: %v", err)
		}
		body, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(vb), Key: aws.String("restored")})
		if string(body) != "first" {
			t.Errorf("copy of the first version = %q", body)
		}
	})

	t.Run("digests", func(t *testing.T) {
		good := md5.Sum([]byte("payload"))
		other := md5.Sum([]byte("something else"))
		if _, err := e.s3.PutObject(c, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("md5"),
			Body: strings.NewReader("payload"), ContentMD5: aws.String(base64.StdEncoding.EncodeToString(good[:]))}); err != nil {
			t.Errorf("PUT with a correct Content-MD5: %v", err)
		}
		_, err := e.s3.PutObject(c, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("md5"),
			Body: strings.NewReader("payload"), ContentMD5: aws.String(base64.StdEncoding.EncodeToString(other[:]))})
		wantAPIError(t, err, "BadDigest", http.StatusBadRequest)
		_, err = e.s3.PutObject(c, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("md5"),
			Body: strings.NewReader("payload"), ContentMD5: aws.String("not base64!")})
		wantAPIError(t, err, "InvalidDigest", http.StatusBadRequest)
		// A caller-computed checksum that does not match the body.
		_, err = e.s3.PutObject(c, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("md5"),
			Body: strings.NewReader("payload"), ChecksumCRC32: aws.String("AAAAAA==")})
		wantAPIError(t, err, "BadDigest", http.StatusBadRequest)

		// A failed write leaves the previous version in place.
		body, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("md5")})
		if string(body) != "payload" {
			t.Errorf("after rejected writes the object is %q", body)
		}
		e.mustServe(t)
	})

	t.Run("empty object", func(t *testing.T) {
		e.put(t, b, "empty", nil)
		body, out := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("empty")})
		if len(body) != 0 || unquote(out.ETag) != md5hex(nil) {
			t.Errorf("empty object: %d bytes, ETag %s", len(body), unquote(out.ETag))
		}
	})

	t.Run("missing key", func(t *testing.T) {
		_, err := e.s3.GetObject(c, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("nope")})
		re := wantAPIError(t, err, "NoSuchKey", http.StatusNotFound)
		if re.Response.Header.Get("X-Amz-Delete-Marker") != "" {
			t.Errorf("missing key answered x-amz-delete-marker")
		}
		_, err = e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String("nope")})
		wantAPIError(t, err, "", http.StatusNotFound)
		// Deleting a missing key succeeds, as in S3.
		if _, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String("nope")}); err != nil {
			t.Errorf("DELETE of a missing key: %v", err)
		}
	})
}

func TestListObjectsV2(t *testing.T) {
	e := newEnv(t)
	b := e.mkBucket(t, "listing")
	keys := []string{
		"a", "b/1", "b/2", "b/c/3", "c", "d/", "d/x", "e/f/g", "z",
	}
	for i := range 25 {
		keys = append(keys, fmt.Sprintf("many/%02d", i))
	}
	for _, k := range keys {
		e.put(t, b, k, []byte(k))
	}
	slices.Sort(keys)

	t.Run("paginator without delimiter", func(t *testing.T) {
		for _, size := range []int32{1, 3, 7, 1000} {
			got, prefixes := listAll(t, e, &s3.ListObjectsV2Input{Bucket: aws.String(b), MaxKeys: aws.Int32(size)})
			if !slices.Equal(got, keys) || len(prefixes) != 0 {
				t.Errorf("MaxKeys=%d: got %v prefixes %v, want %v", size, got, prefixes, keys)
			}
		}
	})

	t.Run("paginator with delimiter", func(t *testing.T) {
		wantKeys := []string{"a", "c", "z"}
		wantPrefixes := []string{"b/", "d/", "e/", "many/"}
		for _, size := range []int32{1, 2, 5, 1000} {
			got, prefixes := listAll(t, e, &s3.ListObjectsV2Input{Bucket: aws.String(b), Delimiter: aws.String("/"), MaxKeys: aws.Int32(size)})
			if !slices.Equal(got, wantKeys) || !slices.Equal(prefixes, wantPrefixes) {
				t.Errorf("MaxKeys=%d: keys %v prefixes %v, want %v %v", size, got, prefixes, wantKeys, wantPrefixes)
			}
		}
		got, prefixes := listAll(t, e, &s3.ListObjectsV2Input{Bucket: aws.String(b), Prefix: aws.String("b/"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
		if !slices.Equal(got, []string{"b/1", "b/2"}) || !slices.Equal(prefixes, []string{"b/c/"}) {
			t.Errorf("prefix b/: keys %v prefixes %v", got, prefixes)
		}
	})

	t.Run("start-after and fields", func(t *testing.T) {
		out, err := e.s3.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String(b), StartAfter: aws.String("many/20"), FetchOwner: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
			if unquote(o.ETag) != md5hex([]byte(aws.ToString(o.Key))) || aws.ToInt64(o.Size) != int64(len(aws.ToString(o.Key))) {
				t.Errorf("%s: ETag %s size %d", aws.ToString(o.Key), unquote(o.ETag), aws.ToInt64(o.Size))
			}
			if o.Owner == nil || aws.ToString(o.Owner.ID) == "" {
				t.Errorf("%s: FetchOwner=true but no Owner", aws.ToString(o.Key))
			}
		}
		if want := []string{"many/21", "many/22", "many/23", "many/24", "z"}; !slices.Equal(got, want) {
			t.Errorf("StartAfter many/20: %v, want %v", got, want)
		}
		if aws.ToInt32(out.KeyCount) != 5 {
			t.Errorf("KeyCount %d, want 5", aws.ToInt32(out.KeyCount))
		}
	})

	t.Run("list objects v1", func(t *testing.T) {
		var got []string
		marker := ""
		for page := 0; ; page++ {
			if page > 100 {
				t.Fatal("ListObjects v1 does not advance")
			}
			out, err := e.s3.ListObjects(ctx(t), &s3.ListObjectsInput{Bucket: aws.String(b), Marker: aws.String(marker), MaxKeys: aws.Int32(4)})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				got = append(got, aws.ToString(o.Key))
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			marker = aws.ToString(out.NextMarker)
			if marker == "" && len(out.Contents) > 0 {
				marker = aws.ToString(out.Contents[len(out.Contents)-1].Key)
			}
		}
		if !slices.Equal(got, keys) {
			t.Errorf("ListObjects v1: %v, want %v", got, keys)
		}
	})
}

func TestOddKeys(t *testing.T) {
	e := newEnv(t)
	b := e.mkBucket(t, "odd-keys")
	keys := []string{
		"with space/file name.txt",
		"plus+sign",
		"percent%20literal",
		"percent%",
		"unicode/ünïcödé/日本語/😀",
		"xml&<special>'\"chars",
		"question?mark#hash",
		"tilde~and=equals;semi,comma",
		"double//slash",
		"trailing space ",
	}
	for _, k := range keys {
		e.put(t, b, k, []byte(k))
	}
	for _, k := range keys {
		body, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(k)})
		if string(body) != k {
			t.Errorf("GET %q = %q", k, body)
		}
	}
	want := slices.Sorted(slices.Values(keys))

	t.Run("plain", func(t *testing.T) {
		got, _ := listAll(t, e, &s3.ListObjectsV2Input{Bucket: aws.String(b), MaxKeys: aws.Int32(3)})
		if !slices.Equal(got, want) {
			t.Errorf("keys:\n got %q\nwant %q", got, want)
		}
	})

	t.Run("encoding-type=url", func(t *testing.T) {
		in := &s3.ListObjectsV2Input{Bucket: aws.String(b), EncodingType: types.EncodingTypeUrl, MaxKeys: aws.Int32(3), Delimiter: aws.String("/")}
		var got, prefixes []string
		p := s3.NewListObjectsV2Paginator(e.s3, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if out.EncodingType != types.EncodingTypeUrl {
				t.Errorf("response EncodingType %q, want url", out.EncodingType)
			}
			for _, o := range out.Contents {
				raw := aws.ToString(o.Key)
				k, err := url.QueryUnescape(raw)
				if err != nil {
					t.Fatalf("key %q is not URL-encoded: %v", raw, err)
				}
				if strings.ContainsAny(raw, " <>&") || (strings.Contains(k, "%") && !strings.Contains(raw, "%25")) {
					t.Errorf("key %q came back without URL encoding (raw %q)", k, raw)
				}
				got = append(got, k)
			}
			for _, cp := range out.CommonPrefixes {
				pfx, err := url.QueryUnescape(aws.ToString(cp.Prefix))
				if err != nil {
					t.Fatal(err)
				}
				prefixes = append(prefixes, pfx)
			}
		}
		var wantKeys, wantPrefixes []string
		for _, k := range want {
			if i := strings.Index(k, "/"); i >= 0 {
				if p := k[:i+1]; !slices.Contains(wantPrefixes, p) {
					wantPrefixes = append(wantPrefixes, p)
				}
				continue
			}
			wantKeys = append(wantKeys, k)
		}
		if !slices.Equal(got, wantKeys) || !slices.Equal(prefixes, wantPrefixes) {
			t.Errorf("encoding-type=url:\n got %q %q\nwant %q %q", got, prefixes, wantKeys, wantPrefixes)
		}
	})

	t.Run("versions encoding-type=url", func(t *testing.T) {
		out, err := e.s3.ListObjectVersions(ctx(t), &s3.ListObjectVersionsInput{Bucket: aws.String(b), EncodingType: types.EncodingTypeUrl})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range out.Versions {
			k, err := url.QueryUnescape(aws.ToString(v.Key))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, k)
		}
		if !slices.Equal(got, want) {
			t.Errorf("ListObjectVersions encoding-type=url:\n got %q\nwant %q", got, want)
		}
	})

	t.Run("copy and delete", func(t *testing.T) {
		for _, k := range keys {
			_, err := e.s3.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: aws.String(b), Key: aws.String("copy/" + k),
				CopySource: aws.String(b + "/" + escapeKey(k))})
			if err != nil {
				t.Errorf("CopyObject %q: %v", k, err)
			}
		}
		var ids []types.ObjectIdentifier
		for _, k := range keys {
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(k)}, types.ObjectIdentifier{Key: aws.String("copy/" + k)})
		}
		out, err := e.s3.DeleteObjects(ctx(t), &s3.DeleteObjectsInput{Bucket: aws.String(b), Delete: &types.Delete{Objects: ids}})
		if err != nil {
			t.Fatalf("DeleteObjects: %v", err)
		}
		if len(out.Deleted) != len(ids) || len(out.Errors) != 0 {
			t.Errorf("DeleteObjects: %d deleted, %d errors (%v)", len(out.Deleted), len(out.Errors), out.Errors)
		}
		got, _ := listAll(t, e, &s3.ListObjectsV2Input{Bucket: aws.String(b)})
		if len(got) != 0 {
			t.Errorf("after DeleteObjects: %q remain", got)
		}
	})
}

func TestDeleteObjects(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	b := e.mkBucket(t, "multi-delete")
	for i := range 6 {
		e.put(t, b, fmt.Sprintf("k%d", i), []byte("x"))
	}
	ids := func(keys ...string) []types.ObjectIdentifier {
		var out []types.ObjectIdentifier
		for _, k := range keys {
			out = append(out, types.ObjectIdentifier{Key: aws.String(k)})
		}
		return out
	}

	out, err := e.s3.DeleteObjects(c, &s3.DeleteObjectsInput{Bucket: aws.String(b), Delete: &types.Delete{Objects: ids("k0", "k1", "never-existed")}})
	if err != nil {
		t.Fatalf("DeleteObjects: %v", err)
	}
	var deleted []string
	for _, d := range out.Deleted {
		deleted = append(deleted, aws.ToString(d.Key))
	}
	slices.Sort(deleted)
	// S3 reports a key that did not exist as deleted.
	if !slices.Equal(deleted, []string{"k0", "k1", "never-existed"}) || len(out.Errors) != 0 {
		t.Errorf("DeleteObjects: deleted %v errors %v", deleted, out.Errors)
	}

	out, err = e.s3.DeleteObjects(c, &s3.DeleteObjectsInput{Bucket: aws.String(b), Delete: &types.Delete{Objects: ids("k2", "k3"), Quiet: aws.Bool(true)}})
	if err != nil {
		t.Fatalf("DeleteObjects quiet: %v", err)
	}
	if len(out.Deleted) != 0 || len(out.Errors) != 0 {
		t.Errorf("quiet DeleteObjects reported %d deleted, %d errors; want neither", len(out.Deleted), len(out.Errors))
	}
	got, _ := listAll(t, e, &s3.ListObjectsV2Input{Bucket: aws.String(b)})
	if !slices.Equal(got, []string{"k4", "k5"}) {
		t.Errorf("remaining keys %v, want [k4 k5]", got)
	}

	// Versioned: deleting without a version makes markers; with a version removes it.
	enableVersioning(t, e, b)
	v := e.put(t, b, "k4", []byte("versioned"))
	out, err = e.s3.DeleteObjects(c, &s3.DeleteObjectsInput{Bucket: aws.String(b), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("k5")},
		{Key: aws.String("k4"), VersionId: v.VersionId},
		{Key: aws.String("k4"), VersionId: aws.String("bogus-version")},
	}}})
	if err != nil {
		t.Fatalf("versioned DeleteObjects: %v", err)
	}
	for _, d := range out.Deleted {
		switch aws.ToString(d.Key) {
		case "k5":
			if !aws.ToBool(d.DeleteMarker) || aws.ToString(d.DeleteMarkerVersionId) == "" {
				t.Errorf("k5: DeleteMarker=%v DeleteMarkerVersionId=%q, want a new marker", aws.ToBool(d.DeleteMarker), aws.ToString(d.DeleteMarkerVersionId))
			}
		case "k4":
			if aws.ToString(d.VersionId) != aws.ToString(v.VersionId) {
				t.Errorf("k4: deleted version %q, want %q", aws.ToString(d.VersionId), aws.ToString(v.VersionId))
			}
		}
	}
	if len(out.Deleted) != 2 || len(out.Errors) != 1 {
		t.Errorf("versioned DeleteObjects: %d deleted, %d errors (%v), want 2 and 1 (the bogus version)", len(out.Deleted), len(out.Errors), out.Errors)
	}
	// k4's null version (written while unversioned) is current again.
	body, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("k4")})
	if string(body) != "x" {
		t.Errorf("k4 after removing its newest version = %q, want the null version", body)
	}

	// Malformed and oversized requests.
	r := e.do(t, rawRequest{Method: http.MethodPost, Path: "/" + b, Query: "delete", Body: []byte("<Delete><Object>"),
		Header: http.Header{"Content-Md5": {md5b64([]byte("<Delete><Object>"))}}})
	r.wantCode(t, "MalformedXML", http.StatusBadRequest)
	var big strings.Builder
	big.WriteString("<Delete>")
	for i := range 1001 {
		fmt.Fprintf(&big, "<Object><Key>k%d</Key></Object>", i)
	}
	big.WriteString("</Delete>")
	r = e.do(t, rawRequest{Method: http.MethodPost, Path: "/" + b, Query: "delete", Body: []byte(big.String()),
		Header: http.Header{"Content-Md5": {md5b64([]byte(big.String()))}}})
	r.wantCode(t, "MalformedXML", http.StatusBadRequest)
	e.mustServe(t)
}

// listAll follows ListObjectsV2 pagination with the SDK paginator and returns every
// key and common prefix in the order received.
func listAll(t *testing.T, e *env, in *s3.ListObjectsV2Input) (keys, prefixes []string) {
	t.Helper()
	p := s3.NewListObjectsV2Paginator(e.s3, in)
	for pages := 0; p.HasMorePages(); pages++ {
		if pages > 1000 {
			t.Fatalf("ListObjectsV2: more than 1000 pages, the continuation token does not advance")
		}
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		if in.MaxKeys != nil && len(out.Contents)+len(out.CommonPrefixes) > int(*in.MaxKeys) {
			t.Errorf("page of %d keys and prefixes, MaxKeys %d", len(out.Contents)+len(out.CommonPrefixes), *in.MaxKeys)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		for _, cp := range out.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(cp.Prefix))
		}
	}
	return keys, prefixes
}

func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

func tagMap(tags []types.Tag) map[string]string {
	out := map[string]string{}
	for _, tg := range tags {
		out[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return out
}

// escapeKey URL-encodes a key for x-amz-copy-source the way the SDKs do: everything
// but unreserved characters and the slashes, so a literal "+" travels as %2B.
func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(url.QueryEscape(p), "+", "%20")
	}
	return strings.Join(parts, "/")
}

func md5b64(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// wantNoBodyStatus asserts an error carries an HTTP status, for answers such as 304
// that have no S3 error body.
func wantNoBodyStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: want HTTP %d, got success", what, status)
		return
	}
	re := asResponseError(err)
	if re == nil || re.HTTPStatusCode() != status {
		t.Errorf("%s: want HTTP %d, got %v", what, status, err)
	}
}

// TestSDKWireFormats checks the body encodings aws-sdk-go-v2 really sends: over TLS its
// default is aws-chunked STREAMING-UNSIGNED-PAYLOAD-TRAILER with a checksum trailer;
// over plain HTTP it signs the payload hash and sends the checksum as a header.
func TestSDKWireFormats(t *testing.T) {
	e := newEnv(t)
	b := e.mkBucket(t, "wire")
	data := randomBytes(5, "wire", 3*mib+99)

	for _, algo := range []types.ChecksumAlgorithm{"", types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmSha256, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmCrc64nvme} {
		t.Run("tls "+string(algo), func(t *testing.T) {
			before := e.wire.count("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
			key := "tls-" + string(algo)
			_, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(key),
				Body: bytes.NewReader(data), ChecksumAlgorithm: algo})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			if e.wire.count("STREAMING-UNSIGNED-PAYLOAD-TRAILER") == before {
				t.Errorf("the SDK did not send an aws-chunked trailer body over TLS; wire: %s", e.wire)
			}
			// ChecksumMode makes the SDK verify the stored checksum against the body.
			out, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("GetObject with checksum validation: %v, equal=%v", err, bytes.Equal(got, data))
			}
			if algo != "" && aws.ToString(out.ChecksumCRC32C)+aws.ToString(out.ChecksumSHA256)+aws.ToString(out.ChecksumSHA1)+aws.ToString(out.ChecksumCRC64NVME) == "" {
				t.Errorf("GET with ChecksumMode=ENABLED returned no %s checksum", algo)
			}
		})
	}

	t.Run("plain http", func(t *testing.T) {
		plain := newSDKClient(e.plain.URL, e.plain.Client(), ownerKey, ownerSecret)
		if _, err := plain.PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("plain"), Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("PutObject over plain HTTP: %v", err)
		}
		body, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("plain")})
		if !bytes.Equal(body, data) {
			t.Errorf("object written over plain HTTP differs")
		}
		if e.wire.count("signed") == 0 {
			t.Errorf("the SDK did not sign the payload hash over plain HTTP; wire: %s", e.wire)
		}
		t.Logf("wire: %s", e.wire)
	})
}

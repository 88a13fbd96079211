package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

var ctx = context.Background()

func TestServer_Buckets(t *testing.T) {
	e := newEnv(t)
	c := e.owner()
	e.createBucket("alpha")
	e.createBucket("beta.dotted")

	// S3's CreateBucket: "BucketAlreadyOwnedByYou ... in all AWS Regions except in
	// the North Virginia Region ... returns 200 OK" (this server is us-east-1).
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")})
	must(t, "re-create in us-east-1", err)
	_, err = e.client(otherAK, otherSK).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")})
	wantCode(t, "create taken name", err, "BucketAlreadyExists")

	for _, bad := range []string{"ab", "Upper", "a..b", "10.0.0.1", "xn--x", "bad-s3alias"} {
		r := e.ownerDo("PUT", "/"+bad, nil, nil)
		if r.status != 400 || r.code() != "InvalidBucketName" {
			t.Errorf("create %q: %d %s", bad, r.status, r.code())
		}
	}
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("gamma"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}})
	wantCode(t, "wrong location", err, "IllegalLocationConstraintException")
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("gamma"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "us-east-1"}})
	must(t, "create with own region", err)

	_, err = e.client("", "").ListBuckets(ctx, &s3.ListBucketsInput{})
	wantCode(t, "anonymous list buckets", err, "AccessDenied")
	_, err = e.client("", "").CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("anon")})
	wantCode(t, "anonymous create", err, "AccessDenied")

	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	must(t, "list buckets", err)
	var names []string
	for _, b := range lb.Buckets {
		names = append(names, aws.ToString(b.Name))
		if b.CreationDate == nil || b.CreationDate.IsZero() {
			t.Errorf("bucket %s has no creation date", aws.ToString(b.Name))
		}
	}
	if strings.Join(names, ",") != "alpha,beta.dotted,gamma" {
		t.Errorf("buckets = %v", names)
	}

	hb, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("alpha")})
	must(t, "head bucket", err)
	if aws.ToString(hb.BucketRegion) != "us-east-1" {
		t.Errorf("head bucket region = %q", aws.ToString(hb.BucketRegion))
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("missing")})
	if httpStatus(err) != 404 {
		t.Errorf("head missing bucket: %v", err)
	}
	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("alpha")})
	must(t, "location", err)
	if loc.LocationConstraint != "" {
		t.Errorf("us-east-1 location = %q, want empty", loc.LocationConstraint)
	}

	e.put("alpha", "k", "v")
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	wantCode(t, "delete non-empty", err, "BucketNotEmpty")
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")})
	must(t, "delete object", err)
	r := e.ownerDo("DELETE", "/alpha", nil, nil)
	if r.status != 204 {
		t.Fatalf("delete bucket status %d %s", r.status, r.body)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("alpha")})
	if httpStatus(err) != 404 {
		t.Errorf("head deleted bucket: %v", err)
	}
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("alpha")})
	wantCode(t, "list deleted", err, "NoSuchBucket")
}

func TestServer_VirtualHostStyle(t *testing.T) {
	e := newEnv(t)
	e.createBucket("vhost")
	port := e.ts.URL[strings.LastIndex(e.ts.URL, ":")+1:]
	r := e.ownerDo("PUT", "/dir//file.txt", []byte("hello"), map[string]string{"Host": "vhost.localhost:" + port})
	if r.status != 200 {
		t.Fatalf("vhost put: %d %s", r.status, r.body)
	}
	g := e.ownerDo("GET", "/vhost/dir//file.txt", nil, nil)
	if g.status != 200 || string(g.body) != "hello" {
		t.Fatalf("path-style get of vhost put: %d %q", g.status, g.body)
	}
}

func TestServer_ErrorShapeAndHeaders(t *testing.T) {
	e := newEnv(t)
	e.createBucket("errs")
	r := e.ownerDo("GET", "/errs/missing", nil, nil)
	if r.status != 404 || r.code() != "NoSuchKey" {
		t.Fatalf("get missing: %d %s", r.status, r.body)
	}
	if !bytes.HasPrefix(r.body, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Errorf("error body lacks XML declaration: %s", r.body)
	}
	for _, want := range []string{"<Error>", "<Message>", "<Resource>/errs/missing</Resource>", "<RequestId>", "<HostId>"} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("error body lacks %s: %s", want, r.body)
		}
	}
	id := r.header.Get("X-Amz-Request-Id")
	if !regexp.MustCompile(`^[0-9A-F]{16}$`).MatchString(id) {
		t.Errorf("request id %q", id)
	}
	if !bytes.Contains(r.body, []byte("<RequestId>"+id+"</RequestId>")) {
		t.Errorf("body request id differs from header %s: %s", id, r.body)
	}
	if r.header.Get("X-Amz-Id-2") == "" || r.header.Get("Server") != "Pangea" {
		t.Errorf("headers: %v", r.header)
	}
	r2 := e.ownerDo("GET", "/errs/missing", nil, nil)
	if r2.header.Get("X-Amz-Request-Id") == id {
		t.Errorf("request IDs repeat")
	}
	ok := e.ownerDo("GET", "/", nil, nil)
	if ok.status != 200 || ok.header.Get("X-Amz-Request-Id") == "" {
		t.Errorf("success lacks request id: %d %v", ok.status, ok.header)
	}
	h := e.ownerDo("HEAD", "/errs/missing", nil, nil)
	if h.status != 404 || len(h.body) != 0 {
		t.Errorf("HEAD error: %d body %q", h.status, h.body)
	}
	ni := e.ownerDo("GET", "/errs?cors", nil, nil)
	if ni.status != 501 || ni.code() != "NotImplemented" {
		t.Errorf("?cors: %d %s", ni.status, ni.body)
	}
	bad := e.do("GET", "/errs/x", nil, nil, ownerAK, "wrong-secret")
	if bad.status != 403 || bad.code() != "SignatureDoesNotMatch" {
		t.Errorf("bad signature: %d %s", bad.status, bad.body)
	}
	unk := e.do("GET", "/errs/x", nil, nil, "nobody", "x")
	if unk.status != 403 || unk.code() != "InvalidAccessKeyId" {
		t.Errorf("unknown key: %d %s", unk.status, unk.body)
	}
}

func TestServer_PutGetHeadObject(t *testing.T) {
	e := newEnv(t)
	e.createBucket("objs")
	c := e.owner()
	body := "0123456789abcdefghij"
	sum := md5.Sum([]byte(body))
	put, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("objs"), Key: aws.String("dir/file.txt"), Body: strings.NewReader(body),
		ContentType: aws.String("text/plain"), CacheControl: aws.String("max-age=60"),
		ContentDisposition: aws.String("inline"), ContentLanguage: aws.String("en"),
		Metadata:   map[string]string{"color": "blue", "Mixed-Case": "x"},
		Tagging:    aws.String("a=1&b=2"),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	must(t, "put", err)
	wantETag := fmt.Sprintf(`"%x"`, sum)
	if aws.ToString(put.ETag) != wantETag {
		t.Errorf("put etag %s, want %s", aws.ToString(put.ETag), wantETag)
	}
	if put.VersionId != nil {
		t.Errorf("unversioned bucket returned version id %q", aws.ToString(put.VersionId))
	}

	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String("dir/file.txt")})
	must(t, "get", err)
	if got := readAll(t, g.Body); got != body {
		t.Errorf("body %q", got)
	}
	if aws.ToString(g.ContentType) != "text/plain" || aws.ToString(g.CacheControl) != "max-age=60" ||
		aws.ToString(g.ContentDisposition) != "inline" || aws.ToString(g.ContentLanguage) != "en" ||
		aws.ToString(g.ETag) != wantETag || aws.ToInt64(g.ContentLength) != int64(len(body)) ||
		g.Metadata["color"] != "blue" || g.Metadata["mixed-case"] != "x" || aws.ToInt32(g.TagCount) != 2 ||
		aws.ToString(g.AcceptRanges) != "bytes" {
		t.Errorf("get output: %+v", g)
	}
	if g.LastModified == nil || time.Since(*g.LastModified) > time.Minute {
		t.Errorf("last modified %v", g.LastModified)
	}

	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("objs"), Key: aws.String("dir/file.txt")})
	must(t, "head", err)
	if aws.ToInt64(h.ContentLength) != int64(len(body)) || aws.ToString(h.ETag) != wantETag {
		t.Errorf("head: %+v", h)
	}

	// Default content type.
	e.ownerDo("PUT", "/objs/plain", []byte("x"), nil)
	r := e.ownerDo("GET", "/objs/plain", nil, nil)
	if r.header.Get("Content-Type") != "binary/octet-stream" {
		t.Errorf("default content type %q", r.header.Get("Content-Type"))
	}

	// Ranges.
	for _, rc := range []struct {
		rng, want, cr string
	}{
		{"bytes=0-4", "01234", "bytes 0-4/20"},
		{"bytes=15-", "fghij", "bytes 15-19/20"},
		{"bytes=-3", "hij", "bytes 17-19/20"},
		{"bytes=18-100", "ij", "bytes 18-19/20"},
	} {
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String("dir/file.txt"), Range: aws.String(rc.rng)})
		must(t, rc.rng, err)
		if got := readAll(t, g.Body); got != rc.want || aws.ToString(g.ContentRange) != rc.cr {
			t.Errorf("%s: %q %q", rc.rng, got, aws.ToString(g.ContentRange))
		}
	}
	r = e.ownerDo("GET", "/objs/dir/file.txt", nil, map[string]string{"Range": "bytes=0-4"})
	if r.status != 206 {
		t.Errorf("range status %d", r.status)
	}
	r = e.ownerDo("GET", "/objs/dir/file.txt", nil, map[string]string{"Range": "bytes=20-"})
	if r.status != 416 || r.code() != "InvalidRange" || r.header.Get("Content-Range") != "bytes */20" {
		t.Errorf("unsatisfiable range: %d %s %v", r.status, r.body, r.header)
	}
	r = e.ownerDo("GET", "/objs/dir/file.txt", nil, map[string]string{"Range": "bytes=5-1"})
	if r.status != 200 || string(r.body) != body {
		t.Errorf("invalid range not ignored: %d", r.status)
	}

	// Conditionals.
	lm := g.LastModified.UTC()
	for _, cc := range []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"if-match", map[string]string{"If-Match": wantETag}, 200},
		{"if-match miss", map[string]string{"If-Match": `"nope"`}, 412},
		{"if-none-match", map[string]string{"If-None-Match": wantETag}, 304},
		{"if-modified-since future", map[string]string{"If-Modified-Since": lm.Add(time.Hour).Format(http.TimeFormat)}, 304},
		{"if-modified-since past", map[string]string{"If-Modified-Since": lm.Add(-time.Hour).Format(http.TimeFormat)}, 200},
		{"if-unmodified-since past", map[string]string{"If-Unmodified-Since": lm.Add(-time.Hour).Format(http.TimeFormat)}, 412},
		{"if-match + unmodified-since false", map[string]string{"If-Match": wantETag, "If-Unmodified-Since": lm.Add(-time.Hour).Format(http.TimeFormat)}, 200},
		{"if-none-match false + modified-since true", map[string]string{"If-None-Match": wantETag, "If-Modified-Since": lm.Add(-time.Hour).Format(http.TimeFormat)}, 304},
	} {
		for _, m := range []string{"GET", "HEAD"} {
			r := e.ownerDo(m, "/objs/dir/file.txt", nil, cc.hdr)
			if r.status != cc.status {
				t.Errorf("%s %s: status %d, want %d (%s)", m, cc.name, r.status, cc.status, r.body)
			}
			if r.status == 304 && (len(r.body) != 0 || r.header.Get("ETag") != wantETag) {
				t.Errorf("%s %s: 304 with body %q etag %q", m, cc.name, r.body, r.header.Get("ETag"))
			}
		}
	}

	// Response header overrides, refused to anonymous callers.
	r = e.ownerDo("GET", "/objs/dir/file.txt?response-content-type=application%2Fx-test&response-content-disposition=attachment&response-cache-control=no-cache", nil, nil)
	if r.header.Get("Content-Type") != "application/x-test" || r.header.Get("Content-Disposition") != "attachment" || r.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("overrides: %v", r.header)
	}
	r = e.do("GET", "/objs/dir/file.txt?response-content-type=x", nil, nil, "", "")
	if r.status != 403 {
		t.Errorf("anonymous get without policy: %d", r.status)
	}

	// Content-MD5 checks.
	r = e.ownerDo("PUT", "/objs/md5", []byte("data"), map[string]string{"Content-MD5": "not-base64!"})
	if r.status != 400 || r.code() != "InvalidDigest" {
		t.Errorf("invalid md5: %d %s", r.status, r.body)
	}
	other := md5.Sum([]byte("other"))
	r = e.ownerDo("PUT", "/objs/md5", []byte("data"), map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(other[:])})
	if r.status != 400 || r.code() != "BadDigest" {
		t.Errorf("wrong md5: %d %s", r.status, r.body)
	}
	if r := e.ownerDo("GET", "/objs/md5", nil, nil); r.status != 404 {
		t.Errorf("object written despite bad digest: %d", r.status)
	}

	// Checksum header in, returned with checksum mode.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("objs"), Key: aws.String("cs"),
		Body: strings.NewReader("checksummed"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	must(t, "put with checksum", err)
	gc, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String("cs"), ChecksumMode: types.ChecksumModeEnabled})
	must(t, "get with checksum", err)
	readAll(t, gc.Body)
	if aws.ToString(gc.ChecksumSHA256) == "" {
		t.Errorf("no sha256 checksum returned")
	}
	r = e.ownerDo("PUT", "/objs/cs2", []byte("data"), map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA=="})
	if r.status != 400 || r.code() != "BadDigest" {
		t.Errorf("wrong crc32: %d %s", r.status, r.body)
	}

	// Metadata limit.
	r = e.ownerDo("PUT", "/objs/meta", []byte("x"), map[string]string{"X-Amz-Meta-Big": strings.Repeat("v", 2100)})
	if r.status != 400 || r.code() != "MetadataTooLarge" {
		t.Errorf("metadata too large: %d %s", r.status, r.body)
	}
	// Unsupported ACL.
	r = e.ownerDo("PUT", "/objs/acl", []byte("x"), map[string]string{"X-Amz-Acl": "public-read"})
	if r.status != 400 || r.code() != "AccessControlListNotSupported" {
		t.Errorf("public-read acl: %d %s", r.status, r.body)
	}
	// Zero-length object.
	e.put("objs", "empty", "")
	r = e.ownerDo("GET", "/objs/empty", nil, nil)
	if r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Length") != "0" {
		t.Errorf("empty object: %d %v", r.status, r.header)
	}
	// Keys with special characters survive the round trip.
	for _, k := range []string{"a b", "a+b", "ü/€", "x?y#z", "trailing/", "dbl//slash", "%41"} {
		e.put("objs", k, "v:"+k)
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("objs"), Key: aws.String(k)})
		must(t, "get "+k, err)
		if got := readAll(t, g.Body); got != "v:"+k {
			t.Errorf("key %q: body %q", k, got)
		}
	}
}

func TestServer_PutRequiresLength(t *testing.T) {
	e := newEnv(t)
	e.createBucket("len")
	req, _ := http.NewRequest("PUT", e.ts.URL+"/len/k", strings.NewReader("abc"))
	req.ContentLength = -1 // chunked transfer encoding, not aws-chunked
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signReq(t, req, "UNSIGNED-PAYLOAD")
	resp, err := e.ts.Client().Do(req)
	must(t, "put", err)
	resp.Body.Close()
	if resp.StatusCode != 411 {
		t.Errorf("status %d, want 411", resp.StatusCode)
	}
}

func TestServer_Versioning(t *testing.T) {
	e := newEnv(t)
	e.createBucket("ver")
	c := e.owner()
	b := aws.String("ver")

	gv, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	must(t, "get versioning", err)
	if gv.Status != "" {
		t.Errorf("new bucket versioning %q", gv.Status)
	}
	e.put("ver", "k", "null-version")
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	must(t, "enable versioning", err)
	gv, _ = c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	if gv.Status != types.BucketVersioningStatusEnabled {
		t.Errorf("versioning %q", gv.Status)
	}
	r := e.ownerDo("PUT", "/ver?versioning", []byte("<VersioningConfiguration><Status>Bogus</Status></VersioningConfiguration>"), nil)
	if r.status != 400 || r.code() != "MalformedXML" {
		t.Errorf("bogus status: %d %s", r.status, r.body)
	}

	v1 := aws.ToString(e.put("ver", "k", "one").VersionId)
	v2 := aws.ToString(e.put("ver", "k", "two").VersionId)
	if v1 == "" || v2 == "" || v1 == v2 || v1 == "null" {
		t.Fatalf("version ids %q %q", v1, v2)
	}
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k")})
	must(t, "get latest", err)
	if readAll(t, g.Body) != "two" || aws.ToString(g.VersionId) != v2 {
		t.Errorf("latest is not v2")
	}
	g, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(v1)})
	must(t, "get v1", err)
	if readAll(t, g.Body) != "one" {
		t.Errorf("v1 body")
	}
	g, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String("null")})
	must(t, "get null", err)
	if readAll(t, g.Body) != "null-version" || aws.ToString(g.VersionId) != "null" {
		t.Errorf("null version body/id")
	}

	del, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k")})
	must(t, "delete", err)
	marker := aws.ToString(del.VersionId)
	if !aws.ToBool(del.DeleteMarker) || marker == "" {
		t.Fatalf("delete did not create a marker: %+v", del)
	}
	r = e.ownerDo("GET", "/ver/k", nil, nil)
	if r.status != 404 || r.code() != "NoSuchKey" || r.header.Get("X-Amz-Delete-Marker") != "true" || r.header.Get("X-Amz-Version-Id") != marker {
		t.Errorf("get after delete: %d %s %v", r.status, r.body, r.header)
	}
	r = e.ownerDo("HEAD", "/ver/k", nil, nil)
	if r.status != 404 || r.header.Get("X-Amz-Delete-Marker") != "true" {
		t.Errorf("head after delete: %d %v", r.status, r.header)
	}
	r = e.ownerDo("GET", "/ver/k?versionId="+marker, nil, nil)
	if r.status != 405 || r.code() != "MethodNotAllowed" || r.header.Get("X-Amz-Delete-Marker") != "true" || r.header.Get("Last-Modified") == "" {
		t.Errorf("get marker by version: %d %s %v", r.status, r.body, r.header)
	}
	r = e.ownerDo("HEAD", "/ver/k?versionId="+marker, nil, nil)
	if r.status != 405 {
		t.Errorf("head marker by version: %d", r.status)
	}
	r = e.ownerDo("GET", "/ver/k?versionId=not-a-version", nil, nil)
	if r.status != 400 || r.code() != "InvalidArgument" {
		t.Errorf("bad version id: %d %s", r.status, r.body)
	}

	lv, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b})
	must(t, "list versions", err)
	if len(lv.Versions) != 3 || len(lv.DeleteMarkers) != 1 {
		t.Fatalf("versions %d markers %d", len(lv.Versions), len(lv.DeleteMarkers))
	}
	if !aws.ToBool(lv.DeleteMarkers[0].IsLatest) || aws.ToString(lv.DeleteMarkers[0].VersionId) != marker {
		t.Errorf("marker not latest")
	}
	gotIDs := []string{}
	for _, v := range lv.Versions {
		gotIDs = append(gotIDs, aws.ToString(v.VersionId))
		if aws.ToBool(v.IsLatest) {
			t.Errorf("version %s marked latest under a marker", aws.ToString(v.VersionId))
		}
	}
	if strings.Join(gotIDs, ",") != v2+","+v1+",null" {
		t.Errorf("version order %v", gotIDs)
	}
	// Raw XML interleaves DeleteMarker and Version in storage order.
	r = e.ownerDo("GET", "/ver?versions", nil, nil)
	s := string(r.body)
	if i, j := strings.Index(s, "<DeleteMarker>"), strings.Index(s, "<Version>"); i < 0 || j < 0 || i > j {
		t.Errorf("marker not first in XML: %s", s)
	}

	// Deleting the marker by version brings v2 back.
	dm, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(marker)})
	must(t, "delete marker", err)
	if !aws.ToBool(dm.DeleteMarker) || aws.ToString(dm.VersionId) != marker {
		t.Errorf("delete marker output %+v", dm)
	}
	g, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k")})
	must(t, "get after marker removal", err)
	if readAll(t, g.Body) != "two" {
		t.Errorf("v2 not restored")
	}
	// Permanently delete v2.
	r = e.ownerDo("DELETE", "/ver/k?versionId="+v2, nil, nil)
	if r.status != 204 || r.header.Get("X-Amz-Version-Id") != v2 || r.header.Get("X-Amz-Delete-Marker") != "" {
		t.Errorf("delete version: %d %v", r.status, r.header)
	}
	g, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k")})
	must(t, "get after version delete", err)
	if readAll(t, g.Body) != "one" {
		t.Errorf("v1 not current")
	}

	// Suspended: writes replace the null version; deletes make a null marker.
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	must(t, "suspend", err)
	if vid := aws.ToString(e.put("ver", "k", "suspended").VersionId); vid != "null" {
		t.Errorf("suspended put version %q", vid)
	}
	del, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k")})
	must(t, "suspended delete", err)
	if !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) != "null" {
		t.Errorf("suspended delete %+v", del)
	}
}

func TestServer_ListObjects(t *testing.T) {
	e := newEnv(t)
	e.createBucket("lst")
	c := e.owner()
	keys := []string{"a/1", "a/2", "a/b/3", "b/1", "c", "d e+f", "z"}
	for _, k := range keys {
		e.put("lst", k, "x")
	}
	// Pagination with continuation tokens.
	var got []string
	var token *string
	pages := 0
	for {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), MaxKeys: aws.Int32(2), ContinuationToken: token})
		must(t, "list v2", err)
		pages++
		if aws.ToInt32(out.KeyCount) != int32(len(out.Contents)) {
			t.Errorf("KeyCount %d for %d keys", aws.ToInt32(out.KeyCount), len(out.Contents))
		}
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
			if o.Owner != nil {
				t.Errorf("owner without fetch-owner")
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		token = out.NextContinuationToken
	}
	if strings.Join(got, "|") != strings.Join(keys, "|") || pages != 4 {
		t.Errorf("paged keys %v in %d pages", got, pages)
	}
	// Delimiter and prefix.
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), Delimiter: aws.String("/")})
	must(t, "delimiter", err)
	var prefixes []string
	for _, p := range out.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(p.Prefix))
	}
	if strings.Join(prefixes, ",") != "a/,b/" || len(out.Contents) != 3 || aws.ToInt32(out.KeyCount) != 5 {
		t.Errorf("delimiter: prefixes %v contents %d keycount %d", prefixes, len(out.Contents), aws.ToInt32(out.KeyCount))
	}
	out, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), Prefix: aws.String("a/"), Delimiter: aws.String("/"), FetchOwner: aws.Bool(true)})
	must(t, "prefix", err)
	if len(out.Contents) != 2 || len(out.CommonPrefixes) != 1 || out.Contents[0].Owner == nil || aws.ToString(out.Contents[0].Owner.ID) != ownerAK {
		t.Errorf("prefix listing: %+v", out)
	}
	out, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), StartAfter: aws.String("c")})
	must(t, "start-after", err)
	if len(out.Contents) != 2 || aws.ToString(out.Contents[0].Key) != "d e+f" {
		t.Errorf("start-after: %d", len(out.Contents))
	}
	// encoding-type=url encodes keys in the raw XML.
	r := e.ownerDo("GET", "/lst?list-type=2&encoding-type=url&prefix=d", nil, nil)
	if !bytes.Contains(r.body, []byte("<Key>d+e%2Bf</Key>")) || !bytes.Contains(r.body, []byte("<EncodingType>url</EncodingType>")) {
		t.Errorf("encoded listing: %s", r.body)
	}
	// The SDK decodes url-encoded listings itself.
	out, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), Prefix: aws.String("d"), EncodingType: types.EncodingTypeUrl})
	must(t, "encoded sdk listing", err)
	if len(out.Contents) != 1 {
		t.Fatalf("encoded listing contents %d", len(out.Contents))
	}
	r = e.ownerDo("GET", "/lst?list-type=2&max-keys=-1", nil, nil)
	if r.status != 400 || r.code() != "InvalidArgument" {
		t.Errorf("negative max-keys: %d %s", r.status, r.body)
	}
	r = e.ownerDo("GET", "/lst?list-type=2&continuation-token=%21%21", nil, nil)
	if r.status != 400 || r.code() != "InvalidArgument" {
		t.Errorf("bad token: %d %s", r.status, r.body)
	}
	r = e.ownerDo("GET", "/lst?list-type=2&max-keys=5000", nil, nil)
	if !bytes.Contains(r.body, []byte("<MaxKeys>1000</MaxKeys>")) {
		t.Errorf("max-keys not capped: %s", r.body)
	}

	// V1: NextMarker only with a delimiter.
	v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("lst"), MaxKeys: aws.Int32(2)})
	must(t, "list v1", err)
	if !aws.ToBool(v1.IsTruncated) || v1.NextMarker != nil || len(v1.Contents) != 2 || v1.Contents[0].Owner == nil {
		t.Errorf("v1 without delimiter: %+v", v1)
	}
	v1, err = c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("lst"), MaxKeys: aws.Int32(1), Delimiter: aws.String("/")})
	must(t, "list v1 delimiter", err)
	if !aws.ToBool(v1.IsTruncated) || aws.ToString(v1.NextMarker) != "a/" {
		t.Errorf("v1 with delimiter next marker %q", aws.ToString(v1.NextMarker))
	}
	v1, err = c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("lst"), Marker: aws.String("c")})
	must(t, "list v1 marker", err)
	if len(v1.Contents) != 2 {
		t.Errorf("v1 marker: %d", len(v1.Contents))
	}
}

func TestServer_DeleteObjects(t *testing.T) {
	e := newEnv(t)
	e.createBucket("del")
	c := e.owner()
	for i := range 30 {
		e.put("del", fmt.Sprintf("k%02d", i), "x")
	}
	var ids []types.ObjectIdentifier
	for i := range 30 {
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(fmt.Sprintf("k%02d", i))})
	}
	ids = append(ids, types.ObjectIdentifier{Key: aws.String("never-existed")})
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("del"), Delete: &types.Delete{Objects: ids}})
	must(t, "delete objects", err)
	if len(out.Deleted) != 31 || len(out.Errors) != 0 {
		t.Errorf("deleted %d errors %d", len(out.Deleted), len(out.Errors))
	}
	for i, d := range out.Deleted {
		if want := aws.ToString(ids[i].Key); aws.ToString(d.Key) != want {
			t.Errorf("result %d key %q, want %q (order kept)", i, aws.ToString(d.Key), want)
		}
	}
	l, _ := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("del")})
	if len(l.Contents) != 0 {
		t.Errorf("%d objects left", len(l.Contents))
	}
	quiet, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("del"),
		Delete: &types.Delete{Objects: ids[:2], Quiet: aws.Bool(true)}})
	must(t, "quiet delete", err)
	if len(quiet.Deleted) != 0 {
		t.Errorf("quiet mode listed %d deletions", len(quiet.Deleted))
	}
	// Without Content-MD5 or a checksum the request is refused.
	doc := []byte("<Delete><Object><Key>a</Key></Object></Delete>")
	r := e.ownerDo("POST", "/del?delete", doc, nil)
	if r.status != 400 || r.code() != "InvalidRequest" {
		t.Errorf("delete without md5: %d %s", r.status, r.body)
	}
	sum := md5.Sum(doc)
	r = e.ownerDo("POST", "/del?delete", doc, map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(sum[:])})
	if r.status != 200 || !bytes.Contains(r.body, []byte("<Deleted><Key>a</Key></Deleted>")) {
		t.Errorf("delete with md5: %d %s", r.status, r.body)
	}
	r = e.ownerDo("POST", "/del?delete", doc, map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(make([]byte, 16))})
	if r.status != 400 || r.code() != "BadDigest" {
		t.Errorf("delete with wrong md5: %d %s", r.status, r.body)
	}
	// Versioned: markers are reported.
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("del"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	must(t, "enable", err)
	e.put("del", "v", "x")
	out, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("del"),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("v")}}}})
	must(t, "versioned delete objects", err)
	if len(out.Deleted) != 1 || !aws.ToBool(out.Deleted[0].DeleteMarker) || aws.ToString(out.Deleted[0].DeleteMarkerVersionId) == "" {
		t.Errorf("versioned multi-delete: %+v", out.Deleted)
	}
}

func TestServer_Tagging(t *testing.T) {
	e := newEnv(t)
	e.createBucket("tag")
	c := e.owner()
	b := aws.String("tag")
	e.put("tag", "k", "x")
	_, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("k"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}})
	must(t, "put object tagging", err)
	got, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("k")})
	must(t, "get object tagging", err)
	if len(got.TagSet) != 1 || aws.ToString(got.TagSet[0].Key) != "env" || aws.ToString(got.TagSet[0].Value) != "prod" {
		t.Errorf("tags %+v", got.TagSet)
	}
	var many []types.Tag
	for i := range 11 {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
	}
	_, err = c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("k"), Tagging: &types.Tagging{TagSet: many}})
	wantCode(t, "11 tags", err, "BadRequest")
	_, err = c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("k"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String(strings.Repeat("k", 129)), Value: aws.String("v")}}}})
	wantCode(t, "long key", err, "InvalidTag")
	_, err = c.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: b, Key: aws.String("k")})
	must(t, "delete object tagging", err)
	got, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("k")})
	must(t, "get after delete", err)
	if len(got.TagSet) != 0 {
		t.Errorf("tags left: %+v", got.TagSet)
	}
	_, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("missing")})
	wantCode(t, "tagging of missing key", err, "NoSuchKey")

	_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b})
	wantCode(t, "no bucket tags", err, "NoSuchTagSet")
	_, err = c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: b,
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("team"), Value: aws.String("storage")}}}})
	must(t, "put bucket tagging", err)
	bt, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b})
	must(t, "get bucket tagging", err)
	if len(bt.TagSet) != 1 || aws.ToString(bt.TagSet[0].Value) != "storage" {
		t.Errorf("bucket tags %+v", bt.TagSet)
	}
	_, err = c.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: b})
	must(t, "delete bucket tagging", err)
	_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b})
	wantCode(t, "bucket tags deleted", err, "NoSuchTagSet")
}

func TestServer_ACL(t *testing.T) {
	e := newEnv(t)
	e.createBucket("acl")
	e.put("acl", "k", "x")
	c := e.owner()
	ga, err := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("acl")})
	must(t, "get bucket acl", err)
	if len(ga.Grants) != 1 || ga.Grants[0].Permission != types.PermissionFullControl || aws.ToString(ga.Owner.ID) != ownerAK {
		t.Errorf("bucket acl %+v", ga)
	}
	_, err = c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("acl"), Key: aws.String("k")})
	must(t, "get object acl", err)
	_, err = c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("acl"), ACL: types.BucketCannedACLPrivate})
	must(t, "put private acl", err)
	_, err = c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("acl"), ACL: types.BucketCannedACLPublicRead})
	wantCode(t, "public-read acl", err, "AccessControlListNotSupported")
	_, err = c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("acl"), Key: aws.String("missing"), ACL: types.ObjectCannedACLPrivate})
	wantCode(t, "acl of missing object", err, "NoSuchKey")
}

// signReq signs a request with the owner's credentials.
func signReq(t *testing.T, req *http.Request, payloadHash string) {
	t.Helper()
	if err := signWith(req, payloadHash, ownerAK, ownerSK); err != nil {
		t.Fatal(err)
	}
}

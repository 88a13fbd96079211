package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/replication/rules"
	"github.com/pangea-s3/pangea/s3api/auth"
	"github.com/pangea-s3/pangea/s3api/policy"
	"github.com/pangea-s3/pangea/storage"
)

func TestValidBucketName(t *testing.T) {
	cases := map[string]bool{
		"abc":                     true,
		"my-bucket.example":       true,
		"a1-2.b3":                 true,
		"123":                     true,
		strings.Repeat("a", 63):   true,
		strings.Repeat("a", 64):   false,
		"ab":                      false,
		"":                        false,
		"Abc":                     false,
		"a_b":                     false,
		"-ab":                     false,
		"ab-":                     false,
		".ab":                     false,
		"ab.":                     false,
		"a..b":                    false,
		"192.168.5.4":             false,
		"xn--abc":                 false,
		"sthree-abc":              false,
		"bucket-s3alias":          false,
		"bucket--ol-s3":           false,
		"bucket.mrap":             false,
		"bucket--x-s3":            false,
		"a b":                     false,
		"ab\u00e9":                false,
		"1.2.3":                   true, // not a full IPv4 address
		"a.b-c.d":                 true,
		"mrap-looking.mrap.extra": true,
	}
	for name, want := range cases {
		if got := validBucketName(name); got != want {
			t.Errorf("validBucketName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseRange(t *testing.T) {
	const size = 100
	cases := []struct {
		h          string
		size       int64
		ok         bool
		start, len int64
		invalid    bool
	}{
		{h: "", size: size},
		{h: "bytes=0-9", size: size, ok: true, start: 0, len: 10},
		{h: "bytes=10-", size: size, ok: true, start: 10, len: 90},
		{h: "bytes=-10", size: size, ok: true, start: 90, len: 10},
		{h: "bytes=-1000", size: size, ok: true, start: 0, len: 100},
		{h: "bytes=90-1000", size: size, ok: true, start: 90, len: 10},
		{h: "bytes=99-99", size: size, ok: true, start: 99, len: 1},
		{h: "bytes = 5 - 6", size: size, ok: true, start: 5, len: 2},
		{h: "bytes=100-", size: size, invalid: true},
		{h: "bytes=100-200", size: size, invalid: true},
		{h: "bytes=-0", size: size, invalid: true},
		{h: "bytes=0-", size: 0, invalid: true},
		{h: "bytes=-5", size: 0, invalid: true},
		{h: "bytes=5-1", size: size},     // syntactically invalid: ignored
		{h: "bytes=a-b", size: size},     // ignored
		{h: "items=0-1", size: size},     // other unit: ignored
		{h: "bytes=0-1,5-6", size: size}, // multiple ranges: ignored
		{h: "bytes=-", size: size},
		{h: "bytes=+1-2", size: size},
		{h: "bytes=99999999999999999999-", size: size},
	}
	for _, c := range cases {
		r, ok, err := parseRange(c.h, c.size)
		if c.invalid {
			if !errors.Is(err, errInvalidRange) {
				t.Errorf("parseRange(%q, %d) err = %v, want InvalidRange", c.h, c.size, err)
			}
			continue
		}
		if err != nil || ok != c.ok || (ok && (r.start != c.start || r.length != c.len)) {
			t.Errorf("parseRange(%q, %d) = (%+v, %v, %v), want (%d+%d, %v)", c.h, c.size, r, ok, err, c.start, c.len, c.ok)
		}
	}
	if got := (byteRange{start: 10, length: 5}).contentRange(100); got != "bytes 10-14/100" {
		t.Errorf("contentRange = %q", got)
	}
}

func TestPreconditions_Precedence(t *testing.T) {
	mod := time.Date(2024, 5, 1, 12, 0, 0, 500_000_000, time.UTC)
	before := mod.Add(-time.Hour).Format(http.TimeFormat)
	after := mod.Add(time.Hour).Format(http.TimeFormat)
	same := mod.Format(http.TimeFormat) // second precision: equal to the truncated mod time
	const etag = "abc"
	cases := []struct {
		name string
		p    preconditions
		want int
	}{
		{"none", preconditions{}, 0},
		{"if-match hit", preconditions{ifMatch: `"abc"`}, 0},
		{"if-match list hit", preconditions{ifMatch: `"x", "abc"`}, 0},
		{"if-match star", preconditions{ifMatch: "*"}, 0},
		{"if-match miss", preconditions{ifMatch: `"x"`}, 412},
		{"if-none-match hit", preconditions{ifNoneMatch: `"abc"`}, 304},
		{"if-none-match weak hit", preconditions{ifNoneMatch: `W/"abc"`}, 304},
		{"if-none-match star", preconditions{ifNoneMatch: "*"}, 304},
		{"if-none-match miss", preconditions{ifNoneMatch: `"x"`}, 0},
		{"if-modified-since older", preconditions{ifModifiedSince: before}, 0},
		{"if-modified-since newer", preconditions{ifModifiedSince: after}, 304},
		{"if-modified-since same second", preconditions{ifModifiedSince: same}, 304},
		{"if-unmodified-since older", preconditions{ifUnmodifiedSince: before}, 412},
		{"if-unmodified-since newer", preconditions{ifUnmodifiedSince: after}, 0},
		{"if-unmodified-since same second", preconditions{ifUnmodifiedSince: same}, 0},
		{"bad date ignored", preconditions{ifModifiedSince: "yesterday"}, 0},
		// S3: If-Match true and If-Unmodified-Since false => 200.
		{"if-match beats if-unmodified-since", preconditions{ifMatch: `"abc"`, ifUnmodifiedSince: before}, 0},
		// S3: If-None-Match false and If-Modified-Since true => 304.
		{"if-none-match beats if-modified-since", preconditions{ifNoneMatch: `"abc"`, ifModifiedSince: before}, 304},
		// If-None-Match true: If-Modified-Since is ignored.
		{"if-none-match miss ignores ims", preconditions{ifNoneMatch: `"x"`, ifModifiedSince: after}, 0},
		// 412 wins over 304.
		{"412 before 304", preconditions{ifMatch: `"x"`, ifNoneMatch: `"abc"`}, 412},
	}
	for _, c := range cases {
		if got := c.p.evaluate(etag, mod); got != c.want {
			t.Errorf("%s: evaluate = %d, want %d", c.name, got, c.want)
		}
	}
}

type retryableErr struct{}

func (retryableErr) Error() string   { return "leadership lost" }
func (retryableErr) Retryable() bool { return true }

func TestTranslate_Table(t *testing.T) {
	cases := []struct {
		err      error
		code     string
		status   int
		internal bool
	}{
		{storage.ErrNoSuchBucket, "NoSuchBucket", 404, false},
		{fmt.Errorf("node: %w", storage.ErrNoSuchKey), "NoSuchKey", 404, false},
		{storage.ErrNoSuchVersion, "NoSuchVersion", 404, false},
		{fmt.Errorf("put object: %w", fmt.Errorf("%w: If-Match", storage.ErrPreconditionFailed)), "PreconditionFailed", 412, false},
		{storage.ErrNoSuchUpload, "NoSuchUpload", 404, false},
		{storage.ErrBucketNotEmpty, "BucketNotEmpty", 409, false},
		{storage.ErrBucketAlreadyExists, "BucketAlreadyExists", 409, false},
		{storage.ErrBucketAlreadyOwnedByYou, "BucketAlreadyOwnedByYou", 409, false},
		{storage.ErrInvalidPart, "InvalidPart", 400, false},
		{storage.ErrInvalidPartOrder, "InvalidPartOrder", 400, false},
		{storage.ErrEntityTooSmall, "EntityTooSmall", 400, false},
		{storage.ErrEntityTooLarge, "EntityTooLarge", 400, false},
		{storage.ErrBadDigest, "BadDigest", 400, false},
		{storage.ErrChecksumMismatch, "BadDigest", 400, false},
		{storage.ErrIncompleteBody, "IncompleteBody", 400, false},
		{io.ErrUnexpectedEOF, "IncompleteBody", 400, false},
		{storage.ErrInvalidVersionID, "InvalidArgument", 400, false},
		{storage.ErrDeleteMarker, "MethodNotAllowed", 405, false},
		{fmt.Errorf("put: %w", &auth.Error{Code: "SignatureDoesNotMatch", Message: "x"}), "SignatureDoesNotMatch", 403, false},
		{&auth.Error{Code: "XAmzContentSHA256Mismatch"}, "XAmzContentSHA256Mismatch", 400, false},
		{&auth.Error{Code: "RequestTimeTooSkewed"}, "RequestTimeTooSkewed", 403, false},
		{&auth.Error{Code: "InvalidAccessKeyId"}, "InvalidAccessKeyId", 403, false},
		{&auth.Error{Code: "AccessDenied"}, "AccessDenied", 403, false},
		{&auth.Error{Code: "SomethingNew"}, "SomethingNew", 400, false},
		{&policy.Error{Code: "MalformedPolicy", Message: "bad"}, "MalformedPolicy", 400, false},
		{&rules.Error{Code: "InvalidRequest", Message: "bad"}, "InvalidRequest", 400, false},
		{fmt.Errorf("raft: %w", retryableErr{}), "ServiceUnavailable", 503, false},
		{context.Canceled, "RequestTimeout", 400, false},
		{context.DeadlineExceeded, "RequestTimeout", 400, false},
		{&http.MaxBytesError{Limit: 1}, "MaxMessageLengthExceeded", 400, false},
		{apiErr("NotModified", ""), "NotModified", 304, false},
		{apiErr("PreconditionFailed", ""), "PreconditionFailed", 412, false},
		{apiErr("InvalidRange", ""), "InvalidRange", 416, false},
		{apiErr("MissingContentLength", ""), "MissingContentLength", 411, false},
		{apiErr("NotImplemented", ""), "NotImplemented", 501, false},
		{apiErr("SlowDown", ""), "SlowDown", 503, false},
		{apiErr("KeyTooLongError", ""), "KeyTooLongError", 400, false},
		{apiErr("InvalidBucketName", ""), "InvalidBucketName", 400, false},
		{errors.New("disk on fire"), "InternalError", 500, true},
		// Reading the body or writing the response failed: the client's doing.
		{fmt.Errorf("put object: %w", &clientIOError{err: errors.New("malformed chunked encoding")}), "IncompleteBody", 400, false},
		{&clientIOError{err: io.ErrUnexpectedEOF}, "IncompleteBody", 400, false},
		{&clientIOError{err: os.ErrDeadlineExceeded}, "RequestTimeout", 400, false},
		{&clientIOError{err: &http.MaxBytesError{Limit: 1}}, "MaxMessageLengthExceeded", 400, false},
		{&clientIOError{err: errors.New("write: broken pipe"), write: true}, "IncompleteBody", 400, false},
	}
	for _, c := range cases {
		e, internal := translate(c.err)
		if e.Code != c.code || e.Status != c.status || internal != c.internal {
			t.Errorf("translate(%v) = (%s, %d, %v), want (%s, %d, %v)", c.err, e.Code, e.Status, internal, c.code, c.status, c.internal)
		}
	}
}

func TestListXML_EncodingTypeURL(t *testing.T) {
	enc := func(s string) xmlString { return xmlString(s3URLEncode(s)) }
	out := listBucketResultV2{
		Name: "b", Prefix: enc("dir one/"), Delimiter: enc("/"), MaxKeys: 1000, KeyCount: 2,
		EncodingType: "url", StartAfter: enc("a&b"),
		Contents: []objectEntry{objectEntryOf(storage.ObjectVersion{
			Key: "dir one/ä+b c", ETag: "e", Size: 3, ModTime: time.Date(2024, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		}, enc, false)},
		CommonPrefixes: commonPrefixesOf([]string{"dir one/sub dir/"}, enc),
	}
	b, err := xml.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`,
		`<Prefix>dir+one/</Prefix>`,
		`<Key>dir+one/%C3%A4%2Bb+c</Key>`,
		`<StartAfter>a%26b</StartAfter>`,
		`<CommonPrefixes><Prefix>dir+one/sub+dir/</Prefix></CommonPrefixes>`,
		`<EncodingType>url</EncodingType>`,
		`<KeyCount>2</KeyCount>`,
		`<LastModified>2024-01-02T03:04:05.006Z</LastModified>`,
		`<ETag>&#34;e&#34;</ETag>`,
		`<StorageClass>STANDARD</StorageClass>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("XML lacks %s:\n%s", want, got)
		}
	}
	// The encoding round-trips with the decoder clients use.
	for _, k := range []string{"dir one/ä+b c", "a&b=c?d#e%f", "~*'()!"} {
		dec, err := url.QueryUnescape(s3URLEncode(k))
		if err != nil || dec != k {
			t.Errorf("round trip %q -> %q (%v)", k, dec, err)
		}
	}
}

// Listings carry keys exactly: what XML 1.0 cannot hold as character
// references (as S3 writes them), never as U+FFFD.
func TestListXML_KeysBeyondXML10(t *testing.T) {
	out := listBucketResultV1{Name: "b", Prefix: "p\x01", Marker: "m\x00", MaxKeys: 1000,
		Contents:       []objectEntry{{Key: "a\x1b[b\tc\r\n<&>\ufffe\U0001F600\u00e9"}},
		CommonPrefixes: []commonPrefix{{Prefix: "d\x7f\x1f/"}}}
	b, err := xml.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		"<Prefix>p&#x1;</Prefix>",
		"<Marker>m&#x0;</Marker>",
		"<Key>a&#x1b;[b&#x9;c&#xD;&#xA;&lt;&amp;&gt;&#xfffe;\U0001F600\u00e9</Key>",
		"<CommonPrefixes><Prefix>d\x7f&#x1f;/</Prefix></CommonPrefixes>",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("XML lacks %q:\n%q", want, got)
		}
	}
	if strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("XML holds U+FFFD: %q", got)
	}
}

func TestListXML_VersionsInterleaved(t *testing.T) {
	out := listVersionsResult{Name: "b", MaxKeys: 1000, Entries: []versionEntry{
		{Key: "a", VersionID: "v3", IsLatest: true, DeleteMarker: true},
		{Key: "a", VersionID: "v2", ETag: `"x"`, StorageClass: "STANDARD"},
		{Key: "a", VersionID: "null", DeleteMarker: true},
		{Key: "b", VersionID: "null", IsLatest: true, ETag: `"y"`, Size: 4, StorageClass: "STANDARD"},
	}}
	b, err := xml.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	iDM := strings.Index(got, "<DeleteMarker><Key>a</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest>")
	iV := strings.Index(got, "<Version><Key>a</Key><VersionId>v2</VersionId><IsLatest>false</IsLatest>")
	iDM2 := strings.Index(got, "<DeleteMarker><Key>a</Key><VersionId>null</VersionId>")
	iV2 := strings.Index(got, "<Version><Key>b</Key><VersionId>null</VersionId><IsLatest>true</IsLatest>")
	if iDM < 0 || iV < 0 || iDM2 < 0 || iV2 < 0 || !(iDM < iV && iV < iDM2 && iDM2 < iV2) {
		t.Fatalf("versions not interleaved in order (%d %d %d %d):\n%s", iDM, iV, iDM2, iV2, got)
	}
	if strings.Contains(got[iDM:iV], "<ETag>") || strings.Contains(got[iDM:iV], "<Size>") {
		t.Errorf("delete marker has object fields:\n%s", got)
	}
}

func TestParseTaggingHeader(t *testing.T) {
	tags, err := parseTaggingHeader("b=2&a=1&empty=")
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "empty", Value: ""}}
	if fmt.Sprint(tags) != fmt.Sprint(want) {
		t.Fatalf("tags = %v, want %v", tags, want)
	}
	for _, bad := range []string{"a=1&a=2", "k%zz=1", "aws:x=1", strings.Repeat("k", 129) + "=v", "k=" + strings.Repeat("v", 257),
		"a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1"} {
		if _, err := parseTaggingHeader(bad); err == nil {
			t.Errorf("parseTaggingHeader(%q) succeeded", bad)
		}
	}
	if _, err := parseTaggingHeader(strings.Repeat("é", 128) + "=" + strings.Repeat("é", 256)); err != nil {
		t.Errorf("limits are in characters, not bytes: %v", err)
	}
}

func TestParseTaggingXML_Limits(t *testing.T) {
	doc := func(n int) []byte {
		var b strings.Builder
		b.WriteString("<Tagging><TagSet>")
		for i := range n {
			fmt.Fprintf(&b, "<Tag><Key>k%d</Key><Value>v</Value></Tag>", i)
		}
		b.WriteString("</TagSet></Tagging>")
		return []byte(b.String())
	}
	if _, err := parseTaggingXML(doc(10), maxObjectTags); err != nil {
		t.Errorf("10 object tags: %v", err)
	}
	assertCode(t, "11 object tags", mustErr(parseTaggingXML(doc(11), maxObjectTags)), "BadRequest")
	if _, err := parseTaggingXML(doc(50), maxBucketTags); err != nil {
		t.Errorf("50 bucket tags: %v", err)
	}
	assertCode(t, "51 bucket tags", mustErr(parseTaggingXML(doc(51), maxBucketTags)), "InvalidTag")
	assertCode(t, "duplicate", mustErr(parseTaggingXML([]byte("<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>"), 10)), "InvalidTag")
	assertCode(t, "no tagset", mustErr(parseTaggingXML([]byte("<Tagging></Tagging>"), 10)), "MalformedXML")
	assertCode(t, "wrong root", mustErr(parseTaggingXML([]byte("<Other><TagSet/></Other>"), 10)), "MalformedXML")
	assertCode(t, "trailing garbage", mustErr(parseTaggingXML([]byte("<Tagging><TagSet/></Tagging><x/>"), 10)), "MalformedXML")
	if tags, err := parseTaggingXML([]byte(`<?xml version="1.0"?><Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet/></Tagging>`), 10); err != nil || len(tags) != 0 {
		t.Errorf("empty tag set: %v %v", tags, err)
	}
}

func mustErr[T any](_ T, err error) error { return err }

func assertCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Errorf("%s: err = %v, want code %s", what, err, code)
	}
}

func TestParseCopySource(t *testing.T) {
	cases := []struct {
		in      string
		want    copySource
		errCode string
	}{
		{in: "/b/k", want: copySource{bucket: "b", key: "k"}},
		{in: "b/dir/k", want: copySource{bucket: "b", key: "dir/k"}},
		{in: "b/a%20b%3Fc", want: copySource{bucket: "b", key: "a b?c"}},
		{in: "/b/k?versionId=abc", want: copySource{bucket: "b", key: "k", versionID: "abc"}},
		{in: "b/k//x/", want: copySource{bucket: "b", key: "k//x/"}},
		{in: "b", errCode: "InvalidArgument"},
		{in: "/b/", errCode: "InvalidArgument"},
		{in: "", errCode: "InvalidArgument"},
		{in: "b/k%zz", errCode: "InvalidArgument"},
		{in: "b/k?versionId=", errCode: "InvalidArgument"},
		{in: "arn:aws:s3:us-east-1:1:accesspoint/x/object/k", errCode: "NotImplemented"},
	}
	for _, c := range cases {
		got, err := parseCopySource(c.in)
		if c.errCode != "" {
			assertCode(t, c.in, err, c.errCode)
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("parseCopySource(%q) = (%+v, %v), want %+v", c.in, got, err, c.want)
		}
	}
}

func TestParseCopySourceRange(t *testing.T) {
	r, err := parseCopySourceRange("bytes=5-9", 100)
	if err != nil || r.start != 5 || r.length != 5 {
		t.Errorf("got %+v %v", r, err)
	}
	for _, bad := range []string{"bytes=9-5", "bytes=5-", "bytes=-5", "5-9", "bytes=a-b"} {
		assertCode(t, bad, mustErr(parseCopySourceRange(bad, 100)), "InvalidArgument")
	}
	assertCode(t, "past end", mustErr(parseCopySourceRange("bytes=0-100", 100)), "InvalidArgument")
}

func TestParseCompleteMultipartUpload(t *testing.T) {
	parts, err := parseCompleteMultipartUpload([]byte(`<CompleteMultipartUpload>
		<Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part>
		<Part><PartNumber>2</PartNumber><ETag>b</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>
	</CompleteMultipartUpload>`))
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].Number != 1 || parts[0].ETag != `"a"` || parts[1].Checksum != "AAAAAA==" {
		t.Fatalf("parts = %+v", parts)
	}
	assertCode(t, "no parts", mustErr(parseCompleteMultipartUpload([]byte("<CompleteMultipartUpload/>"))), "MalformedXML")
	assertCode(t, "bad number", mustErr(parseCompleteMultipartUpload([]byte("<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>"))), "InvalidArgument")
	assertCode(t, "not xml", mustErr(parseCompleteMultipartUpload([]byte("{}"))), "MalformedXML")
}

func TestParseDeleteRequest(t *testing.T) {
	in, err := parseDeleteRequest([]byte(`<Delete><Quiet>true</Quiet><Object><Key>a</Key></Object><Object><Key>b</Key><VersionId>v</VersionId></Object></Delete>`))
	if err != nil || !in.Quiet || len(in.Objects) != 2 || in.Objects[1].VersionID != "v" {
		t.Fatalf("got %+v %v", in, err)
	}
	var b strings.Builder
	b.WriteString("<Delete>")
	for range 1001 {
		b.WriteString("<Object><Key>k</Key></Object>")
	}
	b.WriteString("</Delete>")
	assertCode(t, "1001 keys", mustErr(parseDeleteRequest([]byte(b.String()))), "MalformedXML")
	assertCode(t, "empty", mustErr(parseDeleteRequest([]byte("<Delete></Delete>"))), "MalformedXML")
}

func TestStripAWSChunked(t *testing.T) {
	for in, want := range map[string]string{
		"aws-chunked":       "",
		"aws-chunked,gzip":  "gzip",
		"gzip, aws-chunked": "gzip",
		"gzip":              "gzip",
		"":                  "",
	} {
		if got := stripAWSChunked(in); got != want {
			t.Errorf("stripAWSChunked(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMetaFromHeaders_Limits(t *testing.T) {
	h := http.Header{}
	h.Set("X-Amz-Meta-Big", strings.Repeat("v", 2040))
	h.Set("X-Amz-Meta-Ok", "1")
	if _, err := metaFromHeaders(h, false); err != nil {
		t.Fatalf("2 KiB metadata rejected: %v", err)
	}
	h.Set("X-Amz-Meta-More", "123456")
	assertCode(t, "over 2 KiB", mustErr(metaFromHeaders(h, false)), "MetadataTooLarge")
	h = http.Header{}
	h.Set("X-Amz-Storage-Class", "FAST")
	assertCode(t, "storage class", mustErr(metaFromHeaders(h, false)), "InvalidStorageClass")
	h = http.Header{}
	h.Set("X-Amz-Meta-Camel-Case", "x")
	h.Set("Content-Encoding", "aws-chunked")
	m, err := metaFromHeaders(h, false)
	if err != nil || m.UserMeta["camel-case"] != "x" || m.ContentEncoding != "" {
		t.Fatalf("meta = %+v, %v", m, err)
	}
}

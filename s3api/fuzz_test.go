package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pangea-s3/pangea/s3api/auth"
	"github.com/pangea-s3/pangea/s3api/policy"
	"github.com/pangea-s3/pangea/storage"
)

// FuzzRoute checks that any method, path, query and host either routes to a valid
// operation or fails with an S3 error, and never panics.
func FuzzRoute(f *testing.F) {
	seeds := []struct{ method, target, host, copySrc string }{
		{"GET", "/", "localhost", ""},
		{"GET", "/b/k?versionId=x", "127.0.0.1:9000", ""},
		{"PUT", "/b/k?partNumber=1&uploadId=u", "", "src/k"},
		{"POST", "/b?delete", "", ""},
		{"GET", "/?list-type=2", "b.localhost", ""},
		{"DELETE", "/b?cors", "", ""},
		{"HEAD", "//a//b/", "x.y.localhost:1", ""},
		{"PUT", "/b/k?tagging&acl", "", "x"},
		{"OPTIONS", "/b", "", ""},
		{"BREW", "/b/%E2%82%AC", "[::1]:80", ""},
		// Keys that are not UTF-8, and keys with controls XML 1.0 cannot hold.
		{"PUT", "/b/a%FFb", "", ""},
		{"GET", "/b/%C3", "", ""},
		{"PUT", "/b/%00%01%1B", "", ""},
		{"POST", "/k%ED%A0%80?uploads", "b.localhost", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.host, s.copySrc)
	}
	f.Fuzz(func(t *testing.T, method, target, host, copySrc string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: method, URL: u, Host: host, Header: http.Header{}}
		if copySrc != "" {
			r.Header.Set("X-Amz-Copy-Source", copySrc)
		}
		rt, err := route(r, ".localhost")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || e.Status < 300 {
				t.Fatalf("route error is not an S3 error: %#v", err)
			}
			return
		}
		if rt.op == opUnknown || rt.op >= numOps {
			t.Fatalf("route returned invalid op %d without error", rt.op)
		}
		if rt.op != opListBuckets && rt.bucket == "" {
			t.Fatalf("op %s without bucket", rt.op.name())
		}
		if len(rt.key) > maxKeyLength {
			t.Fatalf("key longer than the limit routed")
		}
		if !utf8.ValidString(rt.key) {
			t.Fatalf("key %q that is not UTF-8 routed", rt.key)
		}
	})
}

// FuzzServeHTTP sends arbitrary requests through the whole pipeline over a backend
// that knows one bucket: the answer is always a well-formed status and, for errors,
// an S3 error document.
func FuzzServeHTTP(f *testing.F) {
	f.Add("GET", "/b/k?versionId=null", "", "bytes=0-1", []byte(nil))
	f.Add("PUT", "/b?tagging", "", "", []byte("<Tagging><TagSet/></Tagging>"))
	f.Add("POST", "/b?delete", "", "", []byte("<Delete><Object><Key>a</Key></Object></Delete>"))
	f.Add("GET", "/b?list-type=2&max-keys=-1", "", "", []byte(nil))
	f.Add("PUT", "/b/k", "x-amz-acl", "public-read", []byte("x"))
	f.Add("GET", "/_pangea/health/ready", "", "", []byte(nil))
	f.Add("DELETE", "/_pangea/health/live?x", "Authorization", "AWS4-HMAC-SHA256", []byte(nil))
	srv := New(Config{Credentials: auth.StaticCredentials{}}, &fakeBackend{
		bucket: func(name string) (storage.BucketInfo, error) {
			if name == "b" {
				return storage.BucketInfo{Name: "b", Owner: "someone"}, nil
			}
			return storage.BucketInfo{}, storage.ErrNoSuchBucket
		},
		object: func() (storage.ObjectVersion, error) { return storage.ObjectVersion{}, storage.ErrNoSuchKey },
	})
	f.Fuzz(func(t *testing.T, method, target, hname, hval string, body []byte) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !validMethod(method) {
			return
		}
		r := httptest.NewRequest("GET", "/", bytes.NewReader(body))
		r.Method, r.URL, r.RequestURI = method, u, target
		if hname != "" && validHeader(hname, hval) {
			r.Header.Set(hname, hval)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
		if w.Header().Get("X-Amz-Request-Id") == "" {
			t.Fatalf("no request id")
		}
		if w.Code >= 300 && w.Code != 304 && method != "HEAD" {
			var eb errorBody
			if err := xml.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Code == "" {
				t.Fatalf("error status %d without S3 error body: %q", w.Code, w.Body.String())
			}
		}
	})
}

func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

func validHeader(name, value string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return utf8.ValidString(value) && !strings.ContainsAny(value, "\r\n")
}

// FuzzParseRange checks parseRange's invariants for arbitrary headers and sizes.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-1", "bytes=5-", "bytes=1-2,3-4", "bytes=9223372036854775807-", "bytes=-9223372036854775807", "x"} {
		f.Add(s, int64(100))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		r, ok, err := parseRange(h, size)
		if err != nil {
			if ok || !errors.Is(err, errInvalidRange) {
				t.Fatalf("error %v with ok=%v", err, ok)
			}
			return
		}
		if !ok {
			return
		}
		if r.start < 0 || r.length <= 0 || r.start+r.length > size {
			t.Fatalf("range %+v outside object of %d bytes (header %q)", r, size, h)
		}
	})
}

// FuzzRequestBodies feeds every request-body parser arbitrary bytes: each either
// accepts or answers an S3 error, never panics, and accepted values re-marshal.
func FuzzRequestBodies(f *testing.F) {
	seeds := []string{
		"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"x\"</ETag></Part></CompleteMultipartUpload>",
		"<Delete><Quiet>true</Quiet><Object><Key>a</Key><VersionId>v</VersionId></Object></Delete>",
		"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
		"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>",
		"<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>",
		"<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls></PublicAccessBlockConfiguration>",
		"<AccessControlPolicy><AccessControlList><Grant><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>",
		"<?xml version=\"1.0\"?><!-- c --><Delete/>",
		"<Delete><Object><Key>a</Key></Object></Delete><extra/>",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	isS3Err := func(t *testing.T, what string, err error) {
		if err == nil {
			return
		}
		var e *Error
		var pe *policy.Error
		if !errors.As(err, &e) && !errors.As(err, &pe) {
			t.Fatalf("%s: non-S3 error %T %v", what, err, err)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		parts, err := parseCompleteMultipartUpload(body)
		isS3Err(t, "complete", err)
		if err == nil {
			if len(parts) == 0 || len(parts) > 10000 {
				t.Fatalf("accepted %d parts", len(parts))
			}
		}
		del, err := parseDeleteRequest(body)
		isS3Err(t, "delete", err)
		if err == nil && (len(del.Objects) == 0 || len(del.Objects) > maxDeleteObjects) {
			t.Fatalf("accepted %d delete objects", len(del.Objects))
		}
		tags, err := parseTaggingXML(body, maxBucketTags)
		isS3Err(t, "tagging", err)
		if err == nil {
			doc, merr := xml.Marshal(taggingDocument(tags))
			if merr != nil {
				t.Fatalf("re-marshal tags: %v", merr)
			}
			again, perr := parseTaggingXML(doc, maxBucketTags)
			if perr != nil || len(again) != len(tags) {
				t.Fatalf("tags do not round-trip: %v", perr)
			}
		}
		var vc versioningConfiguration
		isS3Err(t, "versioning", parseXML(body, &vc))
		var cbc createBucketConfiguration
		isS3Err(t, "create bucket", parseXML(body, &cbc))
		var acl accessControlPolicyIn
		isS3Err(t, "acl", parseXML(body, &acl))
		_, err = policy.ParsePublicAccessBlock(body)
		isS3Err(t, "pab", err)
	})
}

// FuzzCopySource checks the x-amz-copy-source parser.
func FuzzCopySource(f *testing.F) {
	for _, s := range []string{"/b/k", "b/k?versionId=v", "b/a%2Fb", "arn:aws:s3:::x", "%zz", "b/k?versionId=a&versionId=b",
		"b/a%FFb", "b/%00%01", "/b/%C3%28"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := parseCopySource(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("non-S3 error %v", err)
			}
			return
		}
		if cs.bucket == "" || cs.key == "" || strings.Contains(cs.bucket, "/") || !utf8.ValidString(cs.key) {
			t.Fatalf("bad parse %+v of %q", cs, s)
		}
	})
}

// FuzzEscapeXMLText checks the escaping of listed keys: text XML 1.0 can hold is
// escaped exactly as encoding/xml escapes it and parses back to itself; other
// text is written as character references, which name every character.
func FuzzEscapeXMLText(f *testing.F) {
	for _, s := range []string{"", "plain", "a&b<c>d\"e'f", "tab\tcr\rlf\n", "ctl\x01\x00\x1b", "\ufffe\uffff", "caf\u00e9 \u65e5\u672c", "\xff\xfe", "\U0001F600"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := escapeXMLText(s)
		if !utf8.ValidString(s) {
			return
		}
		var v struct {
			Text string `xml:",chardata"`
		}
		err := xml.Unmarshal([]byte("<a>"+out+"</a>"), &v)
		if strings.IndexFunc(s, func(r rune) bool { return !inXMLCharRange(r) }) < 0 {
			var want strings.Builder
			_ = xml.EscapeText(&want, []byte(s))
			if out != want.String() {
				t.Fatalf("escapeXMLText(%q) = %q, encoding/xml writes %q", s, out, want.String())
			}
			if err != nil || v.Text != s {
				t.Fatalf("%q parses back as %q (%v)", out, v.Text, err)
			}
			return
		}
		// Only references stand for the characters XML 1.0 cannot hold.
		for _, r := range out {
			if !inXMLCharRange(r) {
				t.Fatalf("escapeXMLText(%q) = %q holds %U", s, out, r)
			}
		}
		if strings.ContainsRune(out, utf8.RuneError) && !strings.ContainsRune(s, utf8.RuneError) {
			t.Fatalf("escapeXMLText(%q) = %q holds U+FFFD", s, out)
		}
	})
}

package auth

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// readAllChecked drains r and checks that what comes out is bounded by the
// input and that every failure is an *Error or a plain read error.
func readAllChecked(t *testing.T, r io.Reader, inputLen int) ([]byte, error) {
	t.Helper()
	out, err := io.ReadAll(r)
	if len(out) > inputLen {
		t.Fatalf("decoded %d bytes from %d input bytes", len(out), inputLen)
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v (%T) is not an *Error", err, err)
		}
	}
	return out, err
}

func FuzzParseAuthorizationV4(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	f.Add("AWS4-ECDSA-P256-SHA256 Credential=AKID/20240101/s3/aws4_request, SignedHeaders=host;x-amz-date;x-amz-region-set, Signature=3045022100aa")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, Signature=")
	f.Add("AWS4-HMAC-SHA256 ,,,=,Credential==")
	f.Fuzz(func(t *testing.T, h string) {
		p, err := parseAuthorizationV4(h)
		if err != nil {
			if err.Code != codeHeaderMalformed {
				t.Fatalf("code %s", err.Code)
			}
			return
		}
		if p.accessKey == "" || len(p.scopeDate) != 8 || !contains(p.signedHeaders, "host") || p.signature == "" {
			t.Fatalf("accepted incomplete header %q: %+v", h, p)
		}
		if !strings.HasSuffix(p.scope(), "/"+scopeTerminator) {
			t.Fatalf("scope %q", p.scope())
		}
	})
}

func FuzzPresignedQuery(f *testing.F) {
	r := httptest.NewRequest(http.MethodGet, "/bucket/key", nil)
	_ = PresignV4(r, docAK, docSK, "us-east-1", testNow, 3600e9)
	v4q := r.URL.RawQuery
	f.Add(v4q, "", "")
	f.Add(v4q, "X-Amz-Meta-Foo", "bar")
	f.Add(v4q, "x-AMZ-acl", "public-read")
	f.Add(v4q, "X-Amz-Content-Sha256", UnsignedPayload)
	f.Add(v4q, "X-Amzn-Trace-Id", "Root=1")
	r = httptest.NewRequest(http.MethodGet, "/bucket/key", nil)
	_ = PresignV4A(r, docAK, docSK, []string{"*"}, testNow, 3600e9)
	f.Add(r.URL.RawQuery, "X-Amz-Tagging", "a=b")
	r = httptest.NewRequest(http.MethodGet, "/bucket/key", nil)
	_ = PresignV2(r, docAK, docSK, testNow.Add(time.Hour))
	f.Add(r.URL.RawQuery, "", "")
	f.Add(r.URL.RawQuery, "X-Amz-Meta-Foo", "bar")
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=%zz&&=&X-Amz-Credential=a%2F", "", "")
	v := testVerifier(testNow)
	f.Fuzz(func(t *testing.T, raw, name, value string) {
		r := httptest.NewRequest(http.MethodGet, "/bucket/key", nil)
		r.URL.RawQuery = raw
		if name != "" {
			// Stored as spelled: hand-built header maps are not canonical.
			r.Header[name] = []string{value}
		}
		res, err := v.Verify(r)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" {
				t.Fatalf("error %v is not an S3 *Error", err)
			}
			return
		}
		if !res.Anonymous && res.AccessKey != docAK {
			t.Fatalf("authenticated as %q from %q", res.AccessKey, raw)
		}
		// A SigV4/SigV4A presigned request never passes with an x-amz-*
		// header X-Amz-SignedHeaders leaves out, but for the two exempt
		// ones. (SigV2 signs every x-amz-* header it is sent.)
		lname := strings.ToLower(name)
		if (res.Method == "SigV4-Presigned" || res.Method == "SigV4A-Presigned") &&
			strings.HasPrefix(lname, "x-amz-") && lname != "x-amz-content-sha256" && lname != "x-amz-cf-id" &&
			!signedHeadersOf(raw)[lname] {
			t.Fatalf("%s request with unsigned %s accepted (query %q)", res.Method, name, raw)
		}
	})
}

// signedHeadersOf is the X-Amz-SignedHeaders set of a raw presigned query.
func signedHeadersOf(raw string) map[string]bool {
	set := make(map[string]bool)
	for _, p := range parseRawQuery(raw) {
		if p.k == "X-Amz-SignedHeaders" {
			for _, h := range strings.Split(p.v, ";") {
				set[h] = true
			}
		}
	}
	return set
}

func FuzzChunkedSigned(f *testing.F) {
	seedSigner := func() *chunkSigner {
		return &chunkSigner{alg: algV4, amzDate: docDate, scope: "20130524/us-east-1/s3/aws4_request",
			key: signingKey(docSK, "20130524", "us-east-1", "s3"), prev: docSeed}
	}
	f.Add([]byte(docChunkedBody([3]string{docChunkSig1, docChunkSig2, docChunkSig3}, "")), false)
	f.Add([]byte(encodeChunked(f, seedSigner(), []string{"hello", " world"}, [][2]string{{"x-amz-checksum-crc32", "DUoRhQ=="}})), true)
	f.Add([]byte("0;chunk-signature="+strings.Repeat("0", 64)+"\r\n\r\n"), false)
	f.Add([]byte("1;chunk-signature=zz\r\n"), true)
	f.Add([]byte("zz;chunk-signature="+strings.Repeat("0", 64)+"\r\n"), false)
	f.Add([]byte("0;chunk-signature="+strings.Repeat("0", 64)+"\n\n"), false)
	f.Add([]byte("5;chunk-signature="+strings.Repeat("0", 64)+";"+strings.Repeat("x", 10<<10)+"\r\nhello\r\n"), false)
	f.Fuzz(func(t *testing.T, body []byte, trailers bool) {
		var declared map[string]bool
		if trailers {
			declared = map[string]bool{"x-amz-checksum-crc32": true}
		}
		cr := newChunkedReader(bytes.NewReader(body), seedSigner(), trailers, declared, -1)
		_, err := readAllChecked(t, cr, len(body))
		if err == nil && cr.signer.prev == docSeed {
			t.Fatalf("body %q accepted without advancing the signature chain", body)
		}
	})
}

func FuzzChunkedUnsigned(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"), int64(11))
	f.Add([]byte("0\r\n\r\n"), int64(0))
	f.Add([]byte("3;ext=1\r\nabc\r\n0\r\n\r\n"), int64(-1))
	f.Add([]byte("ffffffffffffff\r\nabc"), int64(-1))
	// Broken framing (issue 17): sizes that are not hex or too large, a chunk
	// extension past the line limit, bare LF endings, data longer than its size.
	f.Add([]byte("zz\r\nabc\r\n0\r\n\r\n"), int64(-1))
	f.Add([]byte("-5\r\nhello\r\n0\r\n\r\n"), int64(5))
	f.Add([]byte("100000000000000000000\r\nhello\r\n0\r\n\r\n"), int64(-1))
	f.Add([]byte("5;"+strings.Repeat("x", 10<<10)+"\r\nhello\r\n0\r\n\r\n"), int64(5))
	f.Add([]byte("5\nhello\n0\n\n"), int64(5))
	f.Add([]byte("5\r\nhello\n0\r\n\r\n"), int64(5))
	f.Add([]byte("3\r\nhello\r\n0\r\n\r\n"), int64(-1))
	f.Fuzz(func(t *testing.T, body []byte, decoded int64) {
		if decoded < -1 {
			decoded = -1
		}
		cr := newChunkedReader(bytes.NewReader(body), nil, true, map[string]bool{"x-amz-checksum-crc32": true}, decoded)
		out, err := readAllChecked(t, cr, len(body))
		if err == nil {
			if decoded >= 0 && int64(len(out)) != decoded {
				t.Fatalf("decoded %d bytes, declared %d", len(out), decoded)
			}
		}
	})
}

func FuzzTrailerLine(f *testing.F) {
	f.Add("x-amz-checksum-crc32:DUoRhQ==")
	f.Add("x-amz-trailer-signature:" + strings.Repeat("a", 64))
	f.Add(":")
	f.Add("X-Amz-Checksum-SHA256 : abc ")
	f.Fuzz(func(t *testing.T, line string) {
		name, val, err := parseTrailerLine(line)
		if err != nil {
			return
		}
		if name == "" || name != strings.ToLower(name) || strings.ContainsAny(name, " :\t") {
			t.Fatalf("bad name %q from %q", name, line)
		}
		if val != strings.TrimSpace(val) {
			t.Fatalf("untrimmed value %q", val)
		}
	})
}

package auth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)

func testVerifier(now time.Time) *Verifier {
	return NewVerifier(StaticCredentials{docAK: docSK}, Options{Now: func() time.Time { return now }})
}

func signedPut(t *testing.T, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPut, "/bucket/key?tagging", strings.NewReader(body))
	r.Header.Set("Content-Type", "text/plain")
	r.Header.Set("X-Amz-Meta-Color", "blue")
	if err := SignV4(r, docAK, docSK, "us-east-1", sha256Hex(body), testNow); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAnonymous(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/bucket/key?list-type=2", nil)
	res, err := testVerifier(testNow).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Anonymous || res.AccessKey != "" || res.Method != "Anonymous" {
		t.Fatalf("result = %+v", res)
	}
}

func TestSigV4_TamperedElementsFail(t *testing.T) {
	v := testVerifier(testNow)
	if _, err := v.Verify(signedPut(t, "payload")); err != nil {
		t.Fatalf("untampered request rejected: %v", err)
	}
	tests := map[string]func(r *http.Request){
		"method":        func(r *http.Request) { r.Method = http.MethodPost },
		"path":          func(r *http.Request) { r.RequestURI = "/bucket/other?tagging" },
		"query value":   func(r *http.Request) { r.URL.RawQuery = "tagging=x" },
		"query added":   func(r *http.Request) { r.URL.RawQuery = "tagging&versionId=1" },
		"host":          func(r *http.Request) { r.Host = "other.example.com" },
		"signed header": func(r *http.Request) { r.Header.Set("X-Amz-Meta-Color", "red") },
		"content-type":  func(r *http.Request) { r.Header.Set("Content-Type", "text/html") },
		"payload hash":  func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload) },
		"date":          func(r *http.Request) { r.Header.Set("X-Amz-Date", testNow.Add(time.Second).Format(amzDateLayout)) },
		"signature": func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Signature=", "Signature=0", 1)[:len(r.Header.Get("Authorization"))])
		},
		"region": func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/", "/eu-west-1/", 1))
		},
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			r := signedPut(t, "payload")
			mutate(r)
			_, err := v.Verify(r)
			wantCode(t, err, "SignatureDoesNotMatch")
		})
	}
}

func TestSigV4_Errors(t *testing.T) {
	v := testVerifier(testNow)
	tests := []struct {
		name   string
		mutate func(r *http.Request)
		code   string
	}{
		{"unknown key", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), docAK, "NOSUCHKEY", 1))
		}, "InvalidAccessKeyId"},
		{"missing content sha256", func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, "InvalidRequest"},
		{"bad content sha256", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "nope") }, "InvalidArgument"},
		{"no date", func(r *http.Request) { r.Header.Del("X-Amz-Date") }, "AccessDenied"},
		{"scope date differs", func(r *http.Request) {
			r.Header.Set("X-Amz-Date", testNow.Add(24*time.Hour).Format(amzDateLayout))
		}, "AuthorizationHeaderMalformed"},
		{"no signature", func(r *http.Request) {
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:strings.Index(h, ", Signature=")])
		}, "AuthorizationHeaderMalformed"},
		{"bad credential", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/aws4_request", "/aws5_request", 1))
		}, "AuthorizationHeaderMalformed"},
		{"host not signed", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";host;", ";", 1))
		}, "AuthorizationHeaderMalformed"},
		{"unsupported scheme", func(r *http.Request) { r.Header.Set("Authorization", "Bearer xyz") }, "InvalidArgument"},
		{"two mechanisms", func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Signature=00" }, "InvalidArgument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := signedPut(t, "x")
			tc.mutate(r)
			_, err := v.Verify(r)
			wantCode(t, err, tc.code)
		})
	}
}

func TestSigV4_Skew(t *testing.T) {
	r := signedPut(t, "x")
	for _, d := range []time.Duration{-14 * time.Minute, 14 * time.Minute} {
		if _, err := testVerifier(testNow.Add(d)).Verify(r); err != nil {
			t.Fatalf("skew %v rejected: %v", d, err)
		}
	}
	for _, d := range []time.Duration{-16 * time.Minute, 16 * time.Minute} {
		_, err := testVerifier(testNow.Add(d)).Verify(r)
		wantCode(t, err, "RequestTimeTooSkewed")
	}
	short := NewVerifier(StaticCredentials{docAK: docSK}, Options{Now: func() time.Time { return testNow.Add(2 * time.Minute) }, MaxSkew: time.Minute})
	_, err := short.Verify(r)
	wantCode(t, err, "RequestTimeTooSkewed")
}

func TestSigV4_PayloadHashMismatch(t *testing.T) {
	r := signedPut(t, "the signed body")
	r.Body = io.NopCloser(strings.NewReader("another body"))
	res, err := testVerifier(testNow).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(res.Body)
	wantCode(t, err, "XAmzContentSHA256Mismatch")
}

func TestPresignV4_ExpiryAndErrors(t *testing.T) {
	build := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/bucket/key", nil)
		if err := PresignV4(r, docAK, docSK, "us-east-1", testNow, 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		return r
	}
	res, err := testVerifier(testNow.Add(9 * time.Minute)).Verify(build())
	if err != nil || res.Method != "SigV4-Presigned" {
		t.Fatalf("fresh presigned URL: %v %+v", err, res)
	}
	_, err = testVerifier(testNow.Add(11 * time.Minute)).Verify(build())
	wantCode(t, err, "AccessDenied")
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("err = %v", err)
	}

	for name, tc := range map[string]struct{ from, to, code string }{
		"expires too long": {"X-Amz-Expires=600", "X-Amz-Expires=604801", "AuthorizationQueryParametersError"},
		"expires zero":     {"X-Amz-Expires=600", "X-Amz-Expires=0", "AuthorizationQueryParametersError"},
		"no credential":    {"X-Amz-Credential=", "X-Amz-Cred=", "AuthorizationQueryParametersError"},
		"bad algorithm":    {"X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS3", "AuthorizationQueryParametersError"},
		"expires changed":  {"X-Amz-Expires=600", "X-Amz-Expires=6000", "SignatureDoesNotMatch"},
		"path changed":     {"", "", "SignatureDoesNotMatch"},
	} {
		t.Run(name, func(t *testing.T) {
			r := build()
			if tc.from == "" {
				r.RequestURI = "/bucket/key2"
			} else {
				r.URL.RawQuery = strings.Replace(r.URL.RawQuery, tc.from, tc.to, 1)
			}
			_, err := testVerifier(testNow).Verify(r)
			wantCode(t, err, tc.code)
		})
	}
}

// Chunked bodies: a bad chunk mid-stream fails at that chunk, after the
// earlier chunks were delivered; truncation and framing errors never hang
// or panic.
func TestChunked_Errors(t *testing.T) {
	chunks := []string{strings.Repeat("a", 9000), strings.Repeat("b", 9000), strings.Repeat("c", 10)}
	total := 18010
	v := testVerifier(testNow)
	good := func() (*http.Request, string) {
		r, s := streamingRequest(t, algV4, StreamingPayload, total, "", testNow)
		return r, encodeChunked(t, s, chunks, nil)
	}
	run := func(t *testing.T, body string) (int64, error) {
		r, _ := good()
		r.Body = io.NopCloser(strings.NewReader(body))
		res, err := v.Verify(r)
		if err != nil {
			t.Fatal(err)
		}
		return io.Copy(io.Discard, res.Body)
	}
	r, body := good()
	if n, err := run(t, body); err != nil || n != int64(total) {
		t.Fatalf("good body: %d, %v", n, err)
	}
	_ = r

	t.Run("bad second chunk", func(t *testing.T) {
		bad := strings.Replace(body, "bbbb", "Bbbb", 1)
		n, err := run(t, bad)
		wantCode(t, err, "SignatureDoesNotMatch")
		if n != 18000 {
			t.Fatalf("read %d bytes before the error, want 18000 (two chunks)", n)
		}
	})
	tests := map[string]struct{ body, code string }{
		"truncated in data":       {body[:5000], "IncompleteBody"},
		"truncated before final":  {body[:strings.LastIndex(body, "0;chunk")], "IncompleteBody"},
		"no final chunk CRLF":     {strings.TrimSuffix(body, "\r\n"), "IncompleteBody"},
		"bad size":                {"zz;chunk-signature=00\r\n", "IncompleteBody"},
		"missing signature":       {strings.Replace(body, ";chunk-signature=", ";x=", 1), "SignatureDoesNotMatch"},
		"chunk longer than size":  {strings.Replace(body, "2328;", "2327;", 1), "IncompleteBody"},
		"trailer not allowed":     {strings.TrimSuffix(body, "\r\n") + "x-amz-checksum-crc32:AAAAAA==\r\n\r\n", "InvalidRequest"},
		"data after final":        {body + "extra", "InvalidRequest"},
		"longer than decoded len": {strings.Replace(body, "\r\na;chunk-signature", "\r\nb;chunk-signature", 1), "InvalidRequest"},
		"huge size":               {"fffffffffffffff;chunk-signature=" + strings.Repeat("0", 64) + "\r\n", "InvalidRequest"},
		"endless header line":     {strings.Repeat("1", 70000), "IncompleteBody"},
		"bare LF after size":      {strings.Replace(body, "\r\n", "\n", 1), "IncompleteBody"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := run(t, tc.body)
			wantCode(t, err, tc.code)
		})
	}
}

func TestChunked_DecodedLengthShort(t *testing.T) {
	r, s := streamingRequest(t, algV4, StreamingPayload, 100, "", testNow)
	r.Body = io.NopCloser(strings.NewReader(encodeChunked(t, s, []string{"only ten b"}, nil)))
	res, err := testVerifier(testNow).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(res.Body)
	wantCode(t, err, "IncompleteBody")
}

func TestChunked_SignedTrailerTampering(t *testing.T) {
	chunks := []string{"hello ", "world"}
	for name, mutate := range map[string]func(string) string{
		"value changed":     func(b string) string { return strings.Replace(b, "AAAAAA==", "AAAAAB==", 1) },
		"signature dropped": func(b string) string { return b[:strings.Index(b, trailerSignatureName)] + "\r\n" },
		"trailer dropped":   func(b string) string { return strings.Replace(b, "x-amz-checksum-crc32:AAAAAA==\r\n", "", 1) },
	} {
		t.Run(name, func(t *testing.T) {
			r, s := streamingRequest(t, algV4, StreamingPayloadTrailer, 11, "x-amz-checksum-crc32", testNow)
			body := encodeChunked(t, s, chunks, [][2]string{{"x-amz-checksum-crc32", "AAAAAA=="}})
			r.Body = io.NopCloser(strings.NewReader(mutate(body)))
			res, err := testVerifier(testNow).Verify(r)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(res.Body)
			if err == nil {
				t.Fatal("tampered trailer accepted")
			}
			if res.Trailer("x-amz-checksum-crc32") != "" {
				t.Fatal("trailer value exposed after a failed body")
			}
		})
	}
}

func TestChunked_UnsignedTrailer(t *testing.T) {
	body := "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"
	r := httptest.NewRequest(http.MethodPut, "/bucket/key", strings.NewReader(body))
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "11")
	r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	if err := SignV4(r, docAK, docSK, "us-east-1", StreamingUnsignedPayload, testNow); err != nil {
		t.Fatal(err)
	}
	res, err := testVerifier(testNow).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	if res.Trailer("x-amz-checksum-crc32") != "" {
		t.Fatal("trailer visible before EOF")
	}
	got, err := io.ReadAll(res.Body)
	if err != nil || string(got) != "hello world" || res.DecodedLength != 11 {
		t.Fatalf("body %q, %v, decoded length %d", got, err, res.DecodedLength)
	}
	if v := res.Trailer("x-amz-checksum-crc32"); v != "DUoRhQ==" {
		t.Fatalf("trailer = %q", v)
	}

	// An undeclared trailer is refused.
	r2 := httptest.NewRequest(http.MethodPut, "/bucket/key", strings.NewReader(strings.Replace(body, "crc32:", "crc64:", 1)))
	r2.Header = r.Header.Clone()
	res, err = testVerifier(testNow).Verify(r2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(res.Body)
	wantCode(t, err, "InvalidRequest")
}

// SigV2 examples from the S3 documentation ("Signing and authenticating
// REST requests", RESTAuthentication.html).
func TestGolden_SigV2DocExamples(t *testing.T) {
	// Header auth: GET /photos/puppy.jpg on the virtual host johnsmith.s3.amazonaws.com.
	r := httptest.NewRequest(http.MethodGet, "/photos/puppy.jpg", nil)
	r.Host = "johnsmith.s3.amazonaws.com"
	r.Header.Set("Date", "Tue, 27 Mar 2007 19:36:42 +0000")
	r.Header.Set("Authorization", "AWS "+docAK+":bWq2s1WEIj+Ydj0vQ697zp+IXMU=")
	at := time.Date(2007, 3, 27, 19, 40, 0, 0, time.UTC)
	res, err := testVerifier(at).Verify(r)
	if err != nil {
		t.Fatalf("SigV2 header example: %v", err)
	}
	if res.Method != "SigV2" || res.AccessKey != docAK {
		t.Fatalf("result = %+v", res)
	}

	// Query string auth: the same object, Expires=1175139620.
	q := httptest.NewRequest(http.MethodGet, "/photos/puppy.jpg?AWSAccessKeyId="+docAK+"&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620", nil)
	q.Host = "johnsmith.s3.amazonaws.com"
	res, err = testVerifier(time.Unix(1175139000, 0)).Verify(q)
	if err != nil {
		t.Fatalf("SigV2 presigned example: %v", err)
	}
	if res.Method != "SigV2-Presigned" {
		t.Fatalf("method = %s", res.Method)
	}
	_, err = testVerifier(time.Unix(1175139621, 0)).Verify(q)
	wantCode(t, err, "AccessDenied")

	// Path-style round trip through PresignV2, with a sub-resource.
	p := httptest.NewRequest(http.MethodGet, "/bucket/a%20key?versionId=v1", nil)
	if err := PresignV2(p, docAK, docSK, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := testVerifier(at).Verify(p); err != nil {
		t.Fatalf("PresignV2 round trip: %v", err)
	}
	p.URL.RawQuery = strings.Replace(p.URL.RawQuery, "versionId=v1", "versionId=v2", 1)
	_, err = testVerifier(at).Verify(p)
	wantCode(t, err, "SignatureDoesNotMatch")
}

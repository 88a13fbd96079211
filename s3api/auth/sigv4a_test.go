package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDeriveSigV4AKey_KnownAnswers(t *testing.T) {
	tests := []struct{ ak, sk, x, y string }{
		// aws-sdk-go-v2 internal/v4a/v4a_test.go.
		{"AKISORANDOMAASORANDOM", "q+jcrXGc+0zWN6uzclKVhvMmUsIfRPa4rlRandom",
			"15D242CEEBF8D8169FD6A8B5A746C41140414C3B07579038DA06AF89190FFFCB",
			"0515242CEDD82E94799482E4C0514B505AFCCF2C0C98D6A553BF539F424C5EC0"},
		// aws-c-auth tests/sigv4_chunked_signing_tests: the documentation's example key.
		{docAK, docSK,
			"18B7D04643359F6EC270DCBAB8DCE6D169D66DDC9778C75CFB08DFDB701637AB",
			"FA36B35E4FE67E3112261D2E17A956EF85B06E44712D2850BCD3C2161E9993F2"},
	}
	for _, tc := range tests {
		priv, err := DeriveSigV4AKey(tc.ak, tc.sk)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := priv.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		x := strings.ToUpper(hex.EncodeToString(pub[1:33]))
		y := strings.ToUpper(hex.EncodeToString(pub[33:]))
		if x != tc.x || y != tc.y {
			t.Errorf("%s: X=%s Y=%s, want X=%s Y=%s", tc.ak, x, y, tc.x, tc.y)
		}
	}
}

func TestVerifierCachesSigV4AKeys(t *testing.T) {
	var c keyCache
	a, err := c.publicKey(docAK, docSK)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.publicKey(docAK, docSK)
	if a != b {
		t.Fatal("second lookup derived a new key")
	}
	other, _ := c.publicKey(docAK, "another-secret")
	if other.Equal(a) {
		t.Fatal("different secrets share a key")
	}
	for i := 0; i < maxCachedKeys+10; i++ {
		if _, err := c.publicKey(docAK, strings.Repeat("s", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.keys); n > maxCachedKeys {
		t.Fatalf("cache holds %d keys, bound %d", n, maxCachedKeys)
	}
}

func TestSigV4A_SignVerifyRoundTrip(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	v := NewVerifier(StaticCredentials{docAK: docSK}, Options{Now: func() time.Time { return now }})

	r := httptest.NewRequest(http.MethodGet, "/my%20key/with~odd=chars?x-id=GetObject&list-type=2&prefix=a%2Fb", nil)
	r.Host = "mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com"
	if err := SignV4A(r, docAK, docSK, []string{"*"}, UnsignedPayload, now); err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(r)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if res.Method != "SigV4A" || res.AccessKey != docAK || len(res.RegionSet) != 1 || res.RegionSet[0] != "*" {
		t.Fatalf("result = %+v", res)
	}

	// Tampering with any signed element fails.
	for name, mutate := range map[string]func(*http.Request){
		"region set": func(r *http.Request) { r.Header.Set("X-Amz-Region-Set", "us-east-1") },
		"path":       func(r *http.Request) { r.RequestURI = "/other" + r.RequestURI[1:] },
		"host":       func(r *http.Request) { r.Host = "evil.example" },
		"query":      func(r *http.Request) { r.URL.RawQuery += "&versionId=1" },
		"signature": func(r *http.Request) {
			h := r.Header.Get("Authorization")
			i := strings.Index(h, "Signature=") + len("Signature=") + 20
			c := byte('0')
			if h[i] == '0' {
				c = '1'
			}
			r.Header.Set("Authorization", h[:i]+string(c)+h[i+1:])
		},
	} {
		r2 := r.Clone(r.Context())
		r2.RequestURI = r.RequestURI
		mutate(r2)
		if _, err := v.Verify(r2); err == nil {
			t.Errorf("%s changed: accepted", name)
		}
	}
}

func TestSigV4A_PresignRoundTrip(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	v := NewVerifier(StaticCredentials{docAK: docSK}, Options{Now: func() time.Time { return now.Add(time.Minute) }})
	r := httptest.NewRequest(http.MethodGet, "/bucket/key", nil)
	if err := PresignV4A(r, docAK, docSK, []string{"us-east-1", "eu-west-1"}, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.URL.RawQuery, "X-Amz-Region-Set=us-east-1%2Ceu-west-1") {
		t.Fatalf("query = %s", r.URL.RawQuery)
	}
	res, err := v.Verify(r)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if res.Method != "SigV4A-Presigned" || strings.Join(res.RegionSet, ",") != "us-east-1,eu-west-1" {
		t.Fatalf("result = %+v", res)
	}
	late := NewVerifier(StaticCredentials{docAK: docSK}, Options{Now: func() time.Time { return now.Add(2 * time.Hour) }})
	_, err = late.Verify(r)
	wantCode(t, err, "AccessDenied")
}

// encodeChunked frames data as an aws-chunked body signed by s (nil: no
// chunk signatures), with trailers after the final chunk.
func encodeChunked(t testing.TB, s *chunkSigner, chunks []string, trailers [][2]string) string {
	t.Helper()
	var b strings.Builder
	for _, c := range append(append([]string(nil), chunks...), "") {
		b.WriteString(strconv.FormatInt(int64(len(c)), 16))
		if s != nil {
			h := sha256.Sum256([]byte(c))
			sig, err := s.sign(s.chunkStringToSign(h[:]))
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString(";chunk-signature=" + sig)
		}
		b.WriteString("\r\n")
		if c != "" {
			b.WriteString(c + "\r\n")
		}
	}
	vals := make(map[string]string)
	for _, tr := range trailers {
		b.WriteString(tr[0] + ":" + tr[1] + "\r\n")
		vals[tr[0]] = tr[1]
	}
	if s != nil && len(trailers) > 0 {
		sig, err := s.sign(s.trailerStringToSign(canonicalTrailers(vals)))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(trailerSignatureName + ":" + sig + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// streamingRequest signs a PUT with a streaming payload mode and returns it
// with the chunk chain seeded by its signature.
func streamingRequest(t *testing.T, alg, mode string, decoded int, trailer string, now time.Time) (*http.Request, *chunkSigner) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPut, "/bucket/obj", nil)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(decoded))
	if trailer != "" {
		r.Header.Set("X-Amz-Trailer", trailer)
	}
	var s *chunkSigner
	var err error
	if alg == algV4A {
		s, err = signHeader(r, algV4A, docAK, docSK, "", []string{"*"}, mode, now)
	} else {
		s, err = signHeader(r, algV4, docAK, docSK, "us-east-1", nil, mode, now)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

func TestSigV4A_StreamingChunks(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	v := NewVerifier(StaticCredentials{docAK: docSK}, Options{Now: func() time.Time { return now }})
	chunks := []string{strings.Repeat("x", 8192), strings.Repeat("y", 100)}
	for _, mode := range []string{StreamingECDSAPayload, StreamingECDSAPayloadTrailer} {
		t.Run(mode, func(t *testing.T) {
			var trailers [][2]string
			declared := ""
			if mode == StreamingECDSAPayloadTrailer {
				trailers = [][2]string{{"x-amz-checksum-crc32", "AAAAAA=="}}
				declared = "x-amz-checksum-crc32"
			}
			r, s := streamingRequest(t, algV4A, mode, 8292, declared, now)
			body := encodeChunked(t, s, chunks, trailers)
			// Every chunk signature travels padded to the fixed width (a DER signature
			// is at most 144 hex digits; shorter ones end in '*').
			for _, part := range strings.Split(body, ";chunk-signature=")[1:] {
				if sig, _, _ := strings.Cut(part, "\r\n"); len(sig) != sigV4APaddedLen {
					t.Fatalf("chunk signature %q is %d characters, want %d", sig, len(sig), sigV4APaddedLen)
				}
			}
			r.Body = io.NopCloser(strings.NewReader(body))
			res, err := v.Verify(r)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			got, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatalf("body: %v\n%q", err, body[len(body)-400:])
			}
			if string(got) != chunks[0]+chunks[1] {
				t.Fatalf("decoded %d bytes", len(got))
			}
			if declared != "" && res.Trailer(declared) != "AAAAAA==" {
				t.Fatalf("trailer = %q", res.Trailer(declared))
			}

			// A chunk signed by a different key fails at that chunk.
			r2, s2 := streamingRequest(t, algV4A, mode, 8292, declared, now)
			other, _ := DeriveSigV4AKey("OTHER", "other-secret")
			bad := *s2
			bad.priv = other
			first := encodeChunked(t, s2, chunks[:1], nil)
			first = first[:strings.Index(first, "\r\n0;chunk-signature")+2]
			rest := encodeChunked(t, &bad, chunks[1:], trailers)
			r2.Body = io.NopCloser(strings.NewReader(first + rest))
			res2, err := v.Verify(r2)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, res2.Body)
			wantCode(t, err, "SignatureDoesNotMatch")
			if n != int64(len(chunks[0]+chunks[1])) {
				t.Fatalf("read %d bytes before the error, want the first two chunks' %d", n, len(chunks[0]+chunks[1]))
			}
		})
	}
}

// TestSigV4A_PaddedSignatureVerifies: the SDKs pad a DER signature shorter than 72
// bytes to 144 hex digits with '*'; such a signature verifies, and a damaged one
// does not.
func TestSigV4A_PaddedSignatureVerifies(t *testing.T) {
	priv, err := DeriveSigV4AKey(docAK, docSK)
	if err != nil {
		t.Fatal(err)
	}
	// About three signatures in four are shorter than the maximum: keep signing
	// until one is (the chance of 200 full-length ones in a row is 4^-200).
	var sig string
	for i := 0; i < 200 && (sig == "" || len(sig) == sigV4APaddedLen); i++ {
		if sig, err = signECDSAHex(priv, "string to sign"); err != nil {
			t.Fatal(err)
		}
	}
	if len(sig) >= sigV4APaddedLen {
		t.Fatalf("no short signature in 200 tries (len %d)", len(sig))
	}
	padded := sig + strings.Repeat("*", sigV4APaddedLen-len(sig))
	if !verifyECDSAHex(&priv.PublicKey, "string to sign", padded) {
		t.Fatal("padded signature refused")
	}
	if verifyECDSAHex(&priv.PublicKey, "another string", padded) {
		t.Fatal("padded signature verified another string")
	}
	if verifyECDSAHex(&priv.PublicKey, "string to sign", "*"+padded[1:]) {
		t.Fatal("damaged signature verified")
	}
}

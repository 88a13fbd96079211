package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The AWS documentation's example credentials and request time
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
const (
	docAK   = "AKIAIOSFODNN7EXAMPLE"
	docSK   = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	docDate = "20130524T000000Z"
)

func docTime(t *testing.T) time.Time {
	t.Helper()
	at, err := time.Parse(amzDateLayout, docDate)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func docVerifier(t *testing.T) *Verifier {
	return NewVerifier(StaticCredentials{docAK: docSK}, Options{Now: func() time.Time { return docTime(t) }})
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *Error with code %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
}

// The documented GET Object example: signature f0e8bdb8...
func TestGolden_DocGetObject(t *testing.T) {
	const sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	build := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/test.txt", nil)
		r.Host = "examplebucket.s3.amazonaws.com"
		r.Header.Set("Range", "bytes=0-9")
		r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
		r.Header.Set("X-Amz-Date", docDate)
		return r
	}
	r := build()
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+docAK+"/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature="+sig)
	res, err := docVerifier(t).Verify(r)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if res.AccessKey != docAK || res.Method != "SigV4" || len(res.RegionSet) != 1 || res.RegionSet[0] != "us-east-1" {
		t.Fatalf("result = %+v", res)
	}
	if b, err := io.ReadAll(res.Body); err != nil || len(b) != 0 {
		t.Fatalf("body = %q, %v", b, err)
	}

	// The signer reproduces the documented signature (one canonicalisation).
	r2 := build()
	r2.Header.Del("X-Amz-Date")
	r2.Header.Del("X-Amz-Content-Sha256")
	if err := SignV4(r2, docAK, docSK, "us-east-1", emptySHA256, docTime(t)); err != nil {
		t.Fatal(err)
	}
	if got := r2.Header.Get("Authorization"); !strings.HasSuffix(got, "Signature="+sig) {
		t.Fatalf("SignV4 Authorization = %q, want signature %s", got, sig)
	}
}

// docChunkedRequest is the documented chunked upload example
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html) and
// its trailer variant (sigv4-streaming-trailers.html).
func docChunkedRequest(mode, signedHeaders, seed, body string, trailer bool) *http.Request {
	r := httptest.NewRequest(http.MethodPut, "/examplebucket/chunkObject.txt", strings.NewReader(body))
	r.Host = "s3.amazonaws.com"
	r.Header.Set("X-Amz-Date", docDate)
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", mode)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("Content-Length", "66824")
	if trailer {
		r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32c")
	}
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+docAK+"/20130524/us-east-1/s3/aws4_request, SignedHeaders="+signedHeaders+", Signature="+seed)
	return r
}

const (
	docSeed      = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	docChunkSig1 = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
	docChunkSig2 = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
	docChunkSig3 = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
	docSigned    = "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class"
)

func docChunkedBody(sigs [3]string, trailers string) string {
	return "10000;chunk-signature=" + sigs[0] + "\r\n" + strings.Repeat("a", 65536) + "\r\n" +
		"400;chunk-signature=" + sigs[1] + "\r\n" + strings.Repeat("a", 1024) + "\r\n" +
		"0;chunk-signature=" + sigs[2] + "\r\n" + trailers + "\r\n"
}

func TestGolden_DocChunkedUpload(t *testing.T) {
	body := docChunkedBody([3]string{docChunkSig1, docChunkSig2, docChunkSig3}, "")
	if len(body) != 66824 {
		t.Fatalf("documented body is %d bytes, want Content-Length 66824", len(body))
	}
	res, err := docVerifier(t).Verify(docChunkedRequest(StreamingPayload, docSigned, docSeed, body, false))
	if err != nil {
		t.Fatalf("seed signature rejected: %v", err)
	}
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("documented chunks rejected: %v", err)
	}
	if string(got) != strings.Repeat("a", 66560) || res.DecodedLength != 66560 {
		t.Fatalf("decoded %d bytes (DecodedLength %d), want 66560 'a'", len(got), res.DecodedLength)
	}
}

func TestGolden_DocChunkedUploadTrailer(t *testing.T) {
	const (
		seed   = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
		signed = "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer"
	)
	sigs := [3]string{
		"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
		"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
		"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
	}
	trailer := "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n"
	res, err := docVerifier(t).Verify(docChunkedRequest(StreamingPayloadTrailer, signed, seed, docChunkedBody(sigs, trailer), true))
	if err != nil {
		t.Fatalf("seed signature rejected: %v", err)
	}
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("documented chunks rejected: %v", err)
	}
	if len(got) != 66560 {
		t.Fatalf("decoded %d bytes", len(got))
	}
	if v := res.Trailer("x-amz-checksum-crc32c"); v != "sOO8/Q==" {
		t.Fatalf("trailer = %q", v)
	}
}

// aws-c-auth's trailing-header test continues the documented chain after the
// final chunk with trailers first:1st, second:2nd, third:3rd.
func TestGolden_TrailerSignatureAWSCAuth(t *testing.T) {
	s := &chunkSigner{alg: algV4, amzDate: docDate, scope: "20130524/us-east-1/s3/aws4_request",
		key: signingKey(docSK, "20130524", "us-east-1", "s3"), prev: docSeed}
	for i, want := range []string{docChunkSig1, docChunkSig2, docChunkSig3} {
		data := strings.Repeat("a", []int{65536, 1024, 0}[i])
		h := sha256.Sum256([]byte(data))
		got, err := s.sign(s.chunkStringToSign(h[:]))
		if err != nil || got != want {
			t.Fatalf("chunk %d signature = %s, want %s", i+1, got, want)
		}
	}
	trailers := map[string]string{"first": "1st", "second": "2nd", "third": "3rd"}
	th := canonicalTrailers(trailers)
	if got := hex.EncodeToString(th); got != "83d8f190334fb741bc8daf73c891689d320bd8017756bc730c540021ed48001f" {
		t.Fatalf("canonical trailer hash = %s", got)
	}
	got, _ := s.sign(s.trailerStringToSign(th))
	if got != "df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c" {
		t.Fatalf("trailer signature = %s", got)
	}
}

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

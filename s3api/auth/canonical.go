package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Algorithm names and payload hash values of Signature Version 4 and 4A.
const (
	algV4  = "AWS4-HMAC-SHA256"
	algV4A = "AWS4-ECDSA-P256-SHA256"

	// UnsignedPayload is the x-amz-content-sha256 value of a request whose
	// body is not covered by the signature.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// StreamingPayload and the other Streaming* values select an aws-chunked
	// body (see the package documentation).
	StreamingPayload                   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer            = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedPayload           = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	StreamingECDSAPayload              = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
	StreamingECDSAPayloadTrailer       = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"
	emptySHA256                        = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	amzDateLayout                      = "20060102T150405Z"
	scopeDateLayout                    = "20060102"
	scopeTerminator                    = "aws4_request"
	headerAmzDate                      = "X-Amz-Date"
	headerContentSHA256                = "X-Amz-Content-Sha256"
	headerRegionSet                    = "X-Amz-Region-Set"
	headerDecodedLength                = "X-Amz-Decoded-Content-Length"
	headerTrailer                      = "X-Amz-Trailer"
	trailerSignatureName               = "x-amz-trailer-signature"
	maxPresignExpiry             int64 = 7 * 24 * 3600
)

// canonicalRequest is the SigV4 canonical request of r (the same text for
// SigV4 and SigV4A): method, the URI path exactly as the client sent it (S3
// does not double-encode), the sorted URI-encoded query without
// dropQueryKey, the signed headers in the order the client listed them, and
// payloadHash.
func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash, dropQueryKey string) string {
	var b strings.Builder
	b.Grow(512)
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(requestPath(r))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, dropQueryKey))
	b.WriteByte('\n')
	for _, h := range signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// requestPath is the escaped path of r as it appeared on the request line.
// Servers have r.RequestURI, which is exactly what the client signed; a
// client-side request only has r.URL, whose EscapedPath is what net/http
// will put on the wire.
func requestPath(r *http.Request) string {
	if ru := r.RequestURI; ru != "" && ru[0] == '/' {
		if i := strings.IndexByte(ru, '?'); i >= 0 {
			ru = ru[:i]
		}
		return ru
	}
	if r.URL == nil {
		return "/"
	}
	if r.URL.Opaque != "" {
		// Opaque is "//host/path" or a bare path; the signer sends it verbatim.
		p := r.URL.Opaque
		if strings.HasPrefix(p, "//") {
			if i := strings.IndexByte(p[2:], '/'); i >= 0 {
				return p[2+i:]
			}
			return "/"
		}
		return p
	}
	if p := r.URL.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

type queryPair struct{ k, v string }

// parseRawQuery splits a raw query into decoded pairs, keeping duplicates
// and order. '+' decodes to a space, as every AWS SDK's signer assumes.
func parseRawQuery(raw string) []queryPair {
	var pairs []queryPair
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		pairs = append(pairs, queryPair{unescapeQuery(k), unescapeQuery(v)})
	}
	return pairs
}

func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	// An undecodable component is kept as sent: it then re-encodes
	// differently from what any signer produced and fails the signature,
	// rather than being dropped silently as url.ParseQuery would.
	return s
}

// canonicalQuery is the SigV4 canonical query string: every parameter
// URI-encoded, sorted by encoded name then value, dropKey left out.
func canonicalQuery(raw, dropKey string) string {
	pairs := parseRawQuery(raw)
	enc := make([]queryPair, 0, len(pairs))
	for _, p := range pairs {
		if dropKey != "" && p.k == dropKey {
			continue
		}
		enc = append(enc, queryPair{uriEncode(p.k, true), uriEncode(p.v, true)})
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].k != enc[j].k {
			return enc[i].k < enc[j].k
		}
		return enc[i].v < enc[j].v
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// uriEncode is the AWS URI encoding: every byte except the unreserved
// characters A-Z a-z 0-9 - _ . ~ becomes %XX (upper-case hex); '/' is kept
// when encodeSlash is false.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !isUnreserved(s[i]) && (encodeSlash || s[i] != '/') {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (!encodeSlash && c == '/') {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return string(b)
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// canonicalHeaderValue is the canonical value of the lower-case header name
// in r: all its values, each trimmed with inner runs of spaces folded, joined
// with commas. Go's server moves Host, and for some requests Content-Length
// and Transfer-Encoding, out of r.Header, so those come from r's fields.
func canonicalHeaderValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return foldSpaces(r.Host)
	case "content-length":
		if vs := r.Header.Values("Content-Length"); len(vs) > 0 {
			return joinHeaderValues(vs)
		}
		if r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10)
		}
		return ""
	case "transfer-encoding":
		if vs := r.Header.Values("Transfer-Encoding"); len(vs) > 0 {
			return joinHeaderValues(vs)
		}
		return strings.Join(r.TransferEncoding, ",")
	}
	return joinHeaderValues(r.Header.Values(name))
}

func joinHeaderValues(vs []string) string {
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return foldSpaces(vs[0])
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = foldSpaces(v)
	}
	return strings.Join(out, ",")
}

// foldSpaces trims s and folds each inner run of spaces into one space.
func foldSpaces(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "  ") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && i > 0 && s[i-1] == ' ' {
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// stringToSign is the SigV4/SigV4A string to sign for a canonical request.
func stringToSign(alg, amzDate, scope, canonical string) string {
	h := sha256.Sum256([]byte(canonical))
	return alg + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(h[:])
}

// signingKey derives the SigV4 HMAC key for a date/region/service scope.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, scopeTerminator)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// hexEqual compares two hex signatures in constant time, ignoring case.
func hexEqual(got, want string) bool {
	return hmac.Equal([]byte(strings.ToLower(got)), []byte(strings.ToLower(want)))
}

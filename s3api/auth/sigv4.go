package auth

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sigV4Params is a parsed SigV4 or SigV4A signature, from the Authorization
// header or from the query string.
type sigV4Params struct {
	alg           string
	accessKey     string
	scopeDate     string // yyyymmdd
	region        string // "" for SigV4A
	service       string
	signedHeaders []string
	signature     string
}

// scope is the credential scope the string to sign names.
func (p *sigV4Params) scope() string {
	if p.alg == algV4A {
		return p.scopeDate + "/" + p.service + "/" + scopeTerminator
	}
	return p.scopeDate + "/" + p.region + "/" + p.service + "/" + scopeTerminator
}

// parseAuthorizationV4 parses
// "AWS4-HMAC-SHA256 Credential=AK/yyyymmdd/region/s3/aws4_request, SignedHeaders=a;b, Signature=hex"
// (and the SigV4A form, whose scope has no region).
func parseAuthorizationV4(h string) (*sigV4Params, *Error) {
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || (alg != algV4 && alg != algV4A) {
		return nil, errHeaderMalformed("the authorization header requires the algorithm %s or %s.", algV4, algV4A)
	}
	var cred, signed, sig string
	var seen [3]bool
	for _, field := range strings.Split(rest, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		k, val, ok := strings.Cut(field, "=")
		if !ok {
			return nil, errHeaderMalformed("the authorization component %q is malformed.", field)
		}
		var i int
		switch k {
		case "Credential":
			i, cred = 0, val
		case "SignedHeaders":
			i, signed = 1, val
		case "Signature":
			i, sig = 2, val
		default:
			return nil, errHeaderMalformed("the authorization component %q is malformed.", field)
		}
		if seen[i] {
			return nil, errHeaderMalformed("the authorization component %q is repeated.", k)
		}
		seen[i] = true
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return nil, errHeaderMalformed("the authorization header requires the Credential, SignedHeaders and Signature components.")
	}
	p := &sigV4Params{alg: alg}
	if err := p.setCredential(cred); err != nil {
		return nil, errHeaderMalformed("%s", err.Message)
	}
	if err := p.setSignedHeaders(signed); err != nil {
		return nil, errHeaderMalformed("%s", err.Message)
	}
	if err := p.setSignature(sig); err != nil {
		return nil, errHeaderMalformed("%s", err.Message)
	}
	return p, nil
}

// setCredential parses "AK/yyyymmdd/region/service/aws4_request" (SigV4) or
// "AK/yyyymmdd/service/aws4_request" (SigV4A).
func (p *sigV4Params) setCredential(c string) *Error {
	parts := strings.Split(c, "/")
	want := 5
	form := "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"
	if p.alg == algV4A {
		want = 4
		form = "<YOUR-AKID>/YYYYMMDD/SERVICE/aws4_request"
	}
	bad := &Error{Message: "the Credential is mal-formed; expecting \"" + form + "\"."}
	if len(parts) != want || parts[0] == "" || parts[want-1] != scopeTerminator {
		return bad
	}
	if _, err := time.Parse(scopeDateLayout, parts[1]); err != nil || len(parts[1]) != 8 {
		return bad
	}
	p.accessKey, p.scopeDate = parts[0], parts[1]
	if p.alg == algV4A {
		p.service = parts[2]
	} else {
		p.region, p.service = parts[2], parts[3]
	}
	if p.service == "" || (p.alg == algV4 && p.region == "") {
		return bad
	}
	return nil
}

// setSignedHeaders parses "host;x-amz-date;...". The list must name host
// (S3 requires it) and only lower-case header names.
func (p *sigV4Params) setSignedHeaders(s string) *Error {
	if s == "" {
		return &Error{Message: "SignedHeaders is empty."}
	}
	hs := strings.Split(s, ";")
	host := false
	for _, h := range hs {
		if h == "" || !isLowerToken(h) {
			return &Error{Message: "SignedHeaders contains an invalid header name."}
		}
		host = host || h == "host"
	}
	if !host {
		return &Error{Message: "SignedHeaders must include host."}
	}
	p.signedHeaders = hs
	return nil
}

func isLowerToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' {
			continue
		}
		return false
	}
	return true
}

// setSignature checks the signature's shape: 64 hex digits for SigV4, an
// even number of hex digits (a DER ECDSA signature) for SigV4A.
func (p *sigV4Params) setSignature(s string) *Error {
	bad := &Error{Message: "the Signature is malformed."}
	if p.alg == algV4 {
		if len(s) != 64 || !isHex(s) {
			return bad
		}
	} else if len(s) < 16 || len(s) > 300 || len(s)%2 != 0 || !isHex(s) {
		return bad
	}
	p.signature = s
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' {
			continue
		}
		return false
	}
	return true
}

// requestTime reads x-amz-date, else Date, as the signing time.
func requestTime(r *http.Request) (amzDate string, t time.Time, err *Error) {
	if d := r.Header.Get(headerAmzDate); d != "" {
		t, perr := time.Parse(amzDateLayout, d)
		if perr != nil {
			return "", time.Time{}, newError(codeAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
		}
		return d, t, nil
	}
	if d := r.Header.Get("Date"); d != "" {
		t, perr := parseHTTPDate(d)
		if perr != nil {
			return "", time.Time{}, newError(codeAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
		}
		t = t.UTC()
		return t.Format(amzDateLayout), t, nil
	}
	return "", time.Time{}, newError(codeAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
}

// isPayloadHash reports whether v is an acceptable x-amz-content-sha256.
func isPayloadHash(v string) bool {
	switch v {
	case UnsignedPayload, StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayload,
		StreamingECDSAPayload, StreamingECDSAPayloadTrailer:
		return true
	}
	return len(v) == 64 && isHex(v)
}

func errBadPayloadHash() *Error {
	return newError(codeInvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
}

// verifyHeaderV4 authenticates a request signed in the Authorization header
// with SigV4 or SigV4A.
func (v *Verifier) verifyHeaderV4(r *http.Request, h string) (*Result, error) {
	p, err := parseAuthorizationV4(h)
	if err != nil {
		return nil, err
	}
	amzDate, t, err := requestTime(r)
	if err != nil {
		return nil, err
	}
	if amzDate[:8] != p.scopeDate {
		return nil, errHeaderMalformed("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	payload := r.Header.Values(headerContentSHA256)
	if len(payload) == 0 {
		return nil, newError(codeInvalidRequest, "Missing required header for this request: x-amz-content-sha256")
	}
	if len(payload) > 1 || !isPayloadHash(payload[0]) {
		return nil, errBadPayloadHash()
	}
	var regionSet []string
	if p.alg == algV4A {
		if regionSet, err = regionSetFrom(r.Header.Get(headerRegionSet)); err != nil {
			return nil, err
		}
		if !contains(p.signedHeaders, "x-amz-region-set") {
			return nil, errHeaderMalformed("SignedHeaders must include x-amz-region-set.")
		}
	}
	secret, err := v.secret(p.accessKey)
	if err != nil {
		return nil, err
	}
	if err := v.checkSkew(t); err != nil {
		return nil, err
	}
	// As with presigned URLs: S3 refuses x-amz-* headers the signature leaves out
	// (a proxy or a client adding tagging, metadata or ACL headers after signing).
	if unsigned := unsignedAmzHeaders(r, p.signedHeaders); len(unsigned) > 0 {
		return nil, errHeadersNotSigned(unsigned)
	}
	canonical := canonicalRequest(r, p.signedHeaders, payload[0], "")
	sts := stringToSign(p.alg, amzDate, p.scope(), canonical)
	chunks, verr := v.checkSignature(p, secret, sts, amzDate)
	if verr != nil {
		return nil, verr
	}
	res := &Result{AccessKey: p.accessKey, Method: "SigV4", RegionSet: []string{p.region}}
	if p.alg == algV4A {
		res.Method, res.RegionSet = "SigV4A", regionSet
	}
	if err := v.attachBody(r, res, chunks); err != nil {
		return nil, err
	}
	return res, nil
}

// checkSignature verifies p.signature over sts and returns the chunk
// signer seeded with it, for aws-chunked bodies.
func (v *Verifier) checkSignature(p *sigV4Params, secret, sts, amzDate string) (*chunkSigner, *Error) {
	if p.alg == algV4A {
		pub, err := v.keys.publicKey(p.accessKey, secret)
		if err != nil {
			return nil, newError(codeInvalidAccessKeyID, "The AWS Access Key Id you provided cannot sign SigV4A requests.")
		}
		if !verifyECDSAHex(pub, sts, p.signature) {
			return nil, errSignatureMismatch()
		}
		return &chunkSigner{alg: algV4A, amzDate: amzDate, scope: p.scope(), pub: pub, prev: p.signature}, nil
	}
	key := signingKey(secret, p.scopeDate, p.region, p.service)
	if !hexEqual(p.signature, hexHMAC(key, sts)) {
		return nil, errSignatureMismatch()
	}
	return &chunkSigner{alg: algV4, amzDate: amzDate, scope: p.scope(), key: key, prev: strings.ToLower(p.signature)}, nil
}

func regionSetFrom(v string) ([]string, *Error) {
	if strings.TrimSpace(v) == "" {
		return nil, errHeaderMalformed("the X-Amz-Region-Set is missing.")
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
		if parts[i] == "" {
			return nil, errHeaderMalformed("the X-Amz-Region-Set %q is malformed.", v)
		}
	}
	return parts, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// verifyQueryV4 authenticates a presigned SigV4 or SigV4A URL.
func (v *Verifier) verifyQueryV4(r *http.Request) (*Result, error) {
	q := make(map[string][]string)
	for _, p := range parseRawQuery(r.URL.RawQuery) {
		q[p.k] = append(q[p.k], p.v)
	}
	one := func(k string) (string, *Error) {
		vs := q[k]
		if len(vs) != 1 || vs[0] == "" {
			return "", errQueryMalformed("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
		return vs[0], nil
	}
	var vals [6]string
	for i, k := range [...]string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires"} {
		s, err := one(k)
		if err != nil {
			return nil, err
		}
		vals[i] = s
	}
	alg, cred, sig, amzDate, signed, expiresS := vals[0], vals[1], vals[2], vals[3], vals[4], vals[5]
	if alg != algV4 && alg != algV4A {
		return nil, errQueryMalformed("X-Amz-Algorithm only supports \"%s\" and \"%s\"", algV4, algV4A)
	}
	p := &sigV4Params{alg: alg}
	if err := p.setCredential(cred); err != nil {
		return nil, errQueryMalformed("Error parsing the X-Amz-Credential parameter; %s", err.Message)
	}
	if err := p.setSignedHeaders(signed); err != nil {
		return nil, errQueryMalformed("Error parsing the X-Amz-SignedHeaders parameter; %s", err.Message)
	}
	if err := p.setSignature(sig); err != nil {
		return nil, errQueryMalformed("Error parsing the X-Amz-Signature parameter; %s", err.Message)
	}
	t, perr := time.Parse(amzDateLayout, amzDate)
	if perr != nil {
		return nil, errQueryMalformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	if amzDate[:8] != p.scopeDate {
		return nil, errQueryMalformed("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	expires, perr := strconv.ParseInt(expiresS, 10, 64)
	if perr != nil {
		return nil, errQueryMalformed("X-Amz-Expires should be a number")
	}
	if expires <= 0 {
		return nil, errQueryMalformed("X-Amz-Expires must be non-negative")
	}
	if expires > maxPresignExpiry {
		return nil, errQueryMalformed("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	var regionSet []string
	if alg == algV4A {
		rs, err := one("X-Amz-Region-Set")
		if err != nil {
			return nil, errQueryMalformed("Query-string authentication version 4A requires the X-Amz-Region-Set parameter.")
		}
		if regionSet, err = regionSetFrom(rs); err != nil {
			return nil, errQueryMalformed("X-Amz-Region-Set is malformed.")
		}
	}
	// A presigned URL signs UNSIGNED-PAYLOAD unless the request also carries
	// x-amz-content-sha256, which the signer then used instead.
	payload := UnsignedPayload
	if vs := r.Header.Values(headerContentSHA256); len(vs) > 0 {
		if len(vs) > 1 || !isPayloadHash(vs[0]) {
			return nil, errBadPayloadHash()
		}
		payload = vs[0]
	}
	secret, err := v.secret(p.accessKey)
	if err != nil {
		return nil, err
	}
	now := v.now()
	if t.Sub(now) > v.maxSkew {
		return nil, newError(codeAccessDenied, "Request is not valid yet")
	}
	if now.After(t.Add(time.Duration(expires) * time.Second)) {
		return nil, newError(codeAccessDenied, "Request has expired")
	}
	// Whoever holds the URL must not add x-amz-* headers (metadata,
	// tagging, storage class, ACL ...) the signer never agreed to.
	if unsigned := unsignedAmzHeaders(r, p.signedHeaders); len(unsigned) > 0 {
		return nil, errHeadersNotSigned(unsigned)
	}
	canonical := canonicalRequest(r, p.signedHeaders, payload, "X-Amz-Signature")
	sts := stringToSign(alg, amzDate, p.scope(), canonical)
	chunks, verr := v.checkSignature(p, secret, sts, amzDate)
	if verr != nil {
		return nil, verr
	}
	res := &Result{AccessKey: p.accessKey, Method: "SigV4-Presigned", RegionSet: []string{p.region}}
	if alg == algV4A {
		res.Method, res.RegionSet = "SigV4A-Presigned", regionSet
	}
	if err := v.attachBody(r, res, chunks); err != nil {
		return nil, err
	}
	return res, nil
}

// unsignedAmzHeaders lists, lower-case, sorted and without duplicates, the
// x-amz-* headers of a request that signed leaves out. As in S3, such a
// request is refused, whether signed in the Authorization header or presigned:
// the signer agreed only to the headers it signed.
//
// Exempt are x-amz-content-sha256, whose value is the canonical request's
// payload line and so is covered by the signature anyway (a value other
// than the one signed fails the signature), and x-amz-cf-id, the request ID
// CloudFront adds to origin requests, which carries nothing Pangea acts on.
func unsignedAmzHeaders(r *http.Request, signed []string) []string {
	var out []string
	for k := range r.Header {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "x-amz-") || contains(signed, lk) {
			continue
		}
		switch lk {
		case "x-amz-content-sha256", "x-amz-cf-id":
			continue
		}
		out = append(out, lk)
	}
	if len(out) > 1 {
		// Header maps built by hand may hold one name in two spellings.
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out
}

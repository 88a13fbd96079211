package auth

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// isUnsignedHeader lists headers SignV4/SignV4A never sign: proxies and the HTTP
// stack may change them in transit (the AWS SDKs leave out the same ones).
func isUnsignedHeader(lower string) bool {
	switch lower {
	case "authorization", "user-agent", "expect", "transfer-encoding", "connection",
		"x-amzn-trace-id", "content-length":
		return true
	}
	return false
}

// headersToSign lists host, content-length when the body has one, and every
// other header of r, lower-case and sorted.
func headersToSign(r *http.Request) []string {
	names := []string{"host"}
	if r.ContentLength > 0 {
		names = append(names, "content-length")
	}
	for k := range r.Header {
		lk := strings.ToLower(k)
		if lk != "host" && !isUnsignedHeader(lk) {
			names = append(names, lk)
		}
	}
	sort.Strings(names)
	return names
}

// SignV4 signs r in place with an AWS4-HMAC-SHA256 Authorization header for
// the given region at time t. payloadHash becomes x-amz-content-sha256:
// the hex SHA-256 of the body, UnsignedPayload ("" means UnsignedPayload) or
// a Streaming* value (the caller then sends a matching aws-chunked body).
// It signs with the canonicalisation Verify checks against.
func SignV4(r *http.Request, accessKey, secret, region, payloadHash string, t time.Time) error {
	_, err := signHeader(r, algV4, accessKey, secret, region, nil, payloadHash, t)
	return err
}

// SignV4A signs r in place with an AWS4-ECDSA-P256-SHA256 Authorization
// header valid in regionSet (e.g. []string{"*"}), as SDKs sign requests to a
// Multi-Region Access Point.
func SignV4A(r *http.Request, accessKey, secret string, regionSet []string, payloadHash string, t time.Time) error {
	_, err := signHeader(r, algV4A, accessKey, secret, "", regionSet, payloadHash, t)
	return err
}

// signHeader signs r with an Authorization header and returns the chunk
// chain seeded by the signature.
func signHeader(r *http.Request, alg, accessKey, secret, region string, regionSet []string, payloadHash string, t time.Time) (*chunkSigner, error) {
	if payloadHash == "" {
		payloadHash = UnsignedPayload
	}
	if r.Host == "" && r.URL != nil {
		r.Host = r.URL.Host
	}
	t = t.UTC()
	amzDate := t.Format(amzDateLayout)
	r.Header.Set(headerAmzDate, amzDate)
	r.Header.Set(headerContentSHA256, payloadHash)
	if alg == algV4A {
		r.Header.Set(headerRegionSet, strings.Join(regionSet, ","))
	}
	p := &sigV4Params{alg: alg, accessKey: accessKey, scopeDate: amzDate[:8], region: region, service: "s3",
		signedHeaders: headersToSign(r)}
	s, err := p.signer(accessKey, secret, amzDate)
	if err != nil {
		return nil, err
	}
	sig, err := s.sign(stringToSign(alg, amzDate, p.scope(), canonicalRequest(r, p.signedHeaders, payloadHash, "")))
	if err != nil {
		return nil, err
	}
	s.prev = trimSigV4APadding(sig)
	r.Header.Set("Authorization", alg+" Credential="+accessKey+"/"+p.scope()+
		", SignedHeaders="+strings.Join(p.signedHeaders, ";")+", Signature="+s.prev)
	return s, nil
}

// signer returns the chunk chain state holding the key material for p.
func (p *sigV4Params) signer(accessKey, secret, amzDate string) (*chunkSigner, error) {
	s := &chunkSigner{alg: p.alg, amzDate: amzDate, scope: p.scope()}
	if p.alg == algV4A {
		priv, err := DeriveSigV4AKey(accessKey, secret)
		if err != nil {
			return nil, err
		}
		s.priv, s.pub = priv, &priv.PublicKey
		return s, nil
	}
	s.key = signingKey(secret, p.scopeDate, p.region, p.service)
	return s, nil
}

// PresignV4 adds AWS4-HMAC-SHA256 query authentication to r's URL, valid
// for expires from t. Only host is signed and the payload is
// UNSIGNED-PAYLOAD, as in the SDKs' presigners.
func PresignV4(r *http.Request, accessKey, secret, region string, t time.Time, expires time.Duration) error {
	return presign(r, algV4, accessKey, secret, region, nil, t, expires)
}

// PresignV4A adds AWS4-ECDSA-P256-SHA256 query authentication to r's URL,
// valid in regionSet for expires from t.
func PresignV4A(r *http.Request, accessKey, secret string, regionSet []string, t time.Time, expires time.Duration) error {
	return presign(r, algV4A, accessKey, secret, "", regionSet, t, expires)
}

func presign(r *http.Request, alg, accessKey, secret, region string, regionSet []string, t time.Time, expires time.Duration) error {
	if r.Host == "" && r.URL != nil {
		r.Host = r.URL.Host
	}
	t = t.UTC()
	amzDate := t.Format(amzDateLayout)
	p := &sigV4Params{alg: alg, accessKey: accessKey, scopeDate: amzDate[:8], region: region, service: "s3",
		signedHeaders: []string{"host"}}
	add := [][2]string{
		{"X-Amz-Algorithm", alg},
		{"X-Amz-Credential", accessKey + "/" + p.scope()},
		{"X-Amz-Date", amzDate},
		{"X-Amz-Expires", strconv.FormatInt(int64(expires/time.Second), 10)},
		{"X-Amz-SignedHeaders", "host"},
	}
	if alg == algV4A {
		add = append(add, [2]string{"X-Amz-Region-Set", strings.Join(regionSet, ",")})
	}
	appendQuery(r, add...)
	s, err := p.signer(accessKey, secret, amzDate)
	if err != nil {
		return err
	}
	sig, err := s.sign(stringToSign(alg, amzDate, p.scope(), canonicalRequest(r, p.signedHeaders, UnsignedPayload, "X-Amz-Signature")))
	if err != nil {
		return err
	}
	appendQuery(r, [2]string{"X-Amz-Signature", trimSigV4APadding(sig)})
	return nil
}

// PresignV2 adds SigV2 query authentication (AWSAccessKeyId, Expires,
// Signature) to r's URL, for a path-style resource, valid until expires.
func PresignV2(r *http.Request, accessKey, secret string, expires time.Time) error {
	exp := strconv.FormatInt(expires.Unix(), 10)
	sig := sigV2Sign(secret, sigV2StringToSign(r, exp, ""))
	appendQuery(r,
		[2]string{"AWSAccessKeyId", accessKey},
		[2]string{"Expires", exp},
		[2]string{"Signature", base64.StdEncoding.EncodeToString(sig)})
	return nil
}

// appendQuery appends URI-encoded parameters to r's raw query.
func appendQuery(r *http.Request, kvs ...[2]string) {
	var b strings.Builder
	b.WriteString(r.URL.RawQuery)
	for _, kv := range kvs {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(uriEncode(kv[0], true))
		b.WriteByte('=')
		b.WriteString(uriEncode(kv[1], true))
	}
	r.URL.RawQuery = b.String()
}

package auth

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// isSigV2SubResource reports whether a query parameter belongs in the SigV2
// canonicalized resource (the S3 documentation's list, as botocore signs it).
func isSigV2SubResource(k string) bool {
	switch k {
	case "accelerate", "acl", "analytics", "cors", "delete", "encryption", "inventory",
		"legal-hold", "lifecycle", "location", "logging", "metrics", "notification",
		"object-lock", "ownershipControls", "partNumber", "policy", "policyStatus",
		"publicAccessBlock", "replication", "requestPayment", "restore", "retention",
		"select", "select-type", "tagging", "torrent", "uploadId", "uploads", "versionId",
		"versioning", "versions", "website",
		"response-cache-control", "response-content-disposition", "response-content-encoding",
		"response-content-language", "response-content-type", "response-expires":
		return true
	}
	return false
}

// sigV2StringToSign builds the SigV2 string to sign of r for one candidate
// bucket prefix of the resource ("" for path-style requests). dateOrExpires
// is the Date header (header auth) or the Expires parameter (presigned).
func sigV2StringToSign(r *http.Request, dateOrExpires, bucket string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(strings.TrimSpace(r.Header.Get("Content-Md5")))
	b.WriteByte('\n')
	b.WriteString(strings.TrimSpace(r.Header.Get("Content-Type")))
	b.WriteByte('\n')
	b.WriteString(dateOrExpires)
	b.WriteByte('\n')

	var amz []string
	for k := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") {
			amz = append(amz, lk)
		}
	}
	sort.Strings(amz)
	for _, k := range amz {
		b.WriteString(k)
		b.WriteByte(':')
		for i, v := range r.Header.Values(k) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strings.TrimSpace(v))
		}
		b.WriteByte('\n')
	}

	if bucket != "" {
		b.WriteByte('/')
		b.WriteString(bucket)
	}
	b.WriteString(requestPath(r))
	var sub []queryPair
	for _, p := range parseRawQuery(r.URL.RawQuery) {
		if isSigV2SubResource(p.k) {
			sub = append(sub, p)
		}
	}
	sort.SliceStable(sub, func(i, j int) bool { return sub[i].k < sub[j].k })
	for i, p := range sub {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		if p.v != "" {
			b.WriteByte('=')
			b.WriteString(p.v)
		}
	}
	return b.String()
}

// sigV2Buckets lists the resource prefixes to try: "" for a path-style
// request, then each leading part of the Host for a virtual-hosted one,
// whose bucket the verifier cannot know without the server's base domain.
func sigV2Buckets(host string) []string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	out := []string{""}
	if net.ParseIP(host) != nil {
		return out
	}
	for i := 0; i < len(host) && len(out) < 8; i++ {
		if host[i] == '.' {
			out = append(out, host[:i])
		}
	}
	return append(out, host)
}

func sigV2Sign(secret, sts string) []byte {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(sts))
	return m.Sum(nil)
}

// checkV2 compares a base64 SigV2 signature with every candidate resource.
func checkV2(r *http.Request, secret, dateOrExpires, sig string) bool {
	// An unencoded '+' in a query string decodes to a space.
	got, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(sig, " ", "+"))
	if err != nil {
		return false
	}
	for _, bucket := range sigV2Buckets(r.Host) {
		if hmac.Equal(got, sigV2Sign(secret, sigV2StringToSign(r, dateOrExpires, bucket))) {
			return true
		}
	}
	return false
}

// verifyHeaderV2 authenticates "Authorization: AWS AK:signature".
func (v *Verifier) verifyHeaderV2(r *http.Request, h string) (*Result, error) {
	cred := strings.TrimPrefix(h, "AWS ")
	i := strings.LastIndexByte(cred, ':')
	if i <= 0 || i == len(cred)-1 {
		return nil, newError(codeInvalidArgument, "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature")
	}
	ak, sig := cred[:i], cred[i+1:]
	var t time.Time
	var err error
	date := r.Header.Get("Date")
	if xd := r.Header.Get(headerAmzDate); xd != "" {
		// With x-amz-date the Date line is empty; x-amz-date is signed
		// among the x-amz- headers.
		t, err = parseHTTPDate(xd)
		date = ""
	} else if date != "" {
		t, err = parseHTTPDate(date)
	} else {
		err = strconv.ErrSyntax
	}
	if err != nil {
		return nil, newError(codeAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
	}
	secret, aerr := v.secret(ak)
	if aerr != nil {
		return nil, aerr
	}
	if err := v.checkSkew(t); err != nil {
		return nil, err
	}
	if !checkV2(r, secret, date, sig) {
		return nil, errSignatureMismatch()
	}
	res := &Result{AccessKey: ak, Method: "SigV2"}
	if err := v.attachBody(r, res, nil); err != nil {
		return nil, err
	}
	return res, nil
}

// verifyQueryV2 authenticates a SigV2 presigned URL
// (?AWSAccessKeyId=AK&Expires=unix&Signature=base64).
func (v *Verifier) verifyQueryV2(r *http.Request) (*Result, error) {
	q := make(map[string][]string)
	for _, p := range parseRawQuery(r.URL.RawQuery) {
		q[p.k] = append(q[p.k], p.v)
	}
	ak, expiresS, sig := q["AWSAccessKeyId"], q["Expires"], q["Signature"]
	if len(ak) != 1 || len(expiresS) != 1 || len(sig) != 1 || ak[0] == "" || sig[0] == "" {
		return nil, newError(codeAccessDenied, "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
	}
	expires, err := strconv.ParseInt(expiresS[0], 10, 64)
	if err != nil {
		return nil, newError(codeAccessDenied, "Invalid date (should be seconds since epoch): %s", expiresS[0])
	}
	secret, aerr := v.secret(ak[0])
	if aerr != nil {
		return nil, aerr
	}
	if v.now().Unix() > expires {
		return nil, newError(codeAccessDenied, "Request has expired")
	}
	if !checkV2(r, secret, expiresS[0], sig[0]) {
		return nil, errSignatureMismatch()
	}
	res := &Result{AccessKey: ak[0], Method: "SigV2-Presigned"}
	if err := v.attachBody(r, res, nil); err != nil {
		return nil, err
	}
	return res, nil
}

// parseHTTPDate parses the date formats clients put in Date and (SigV2)
// x-amz-date: the HTTP formats plus RFC 1123 with a numeric zone, which the
// S3 documentation's own examples use.
func parseHTTPDate(s string) (time.Time, error) {
	if t, err := http.ParseTime(s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC1123Z, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC1123, s)
}

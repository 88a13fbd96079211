package auth

import (
	"crypto/ecdsa"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Credentials looks up the secret key of an access key.
type Credentials interface {
	SecretKey(accessKey string) (secret string, ok bool)
}

// StaticCredentials is a fixed access key -> secret key map.
type StaticCredentials map[string]string

// SecretKey implements Credentials.
func (c StaticCredentials) SecretKey(accessKey string) (string, bool) {
	s, ok := c[accessKey]
	return s, ok
}

// DefaultMaxSkew is how far a signed request's time may be from the server's
// clock, as in S3.
const DefaultMaxSkew = 15 * time.Minute

// Options tunes a Verifier. The zero value uses time.Now and DefaultMaxSkew.
type Options struct {
	// Now is the clock (tests inject one). Default time.Now.
	Now func() time.Time
	// MaxSkew bounds |request time - Now()| for header-signed requests.
	// Default DefaultMaxSkew.
	MaxSkew time.Duration
}

// Result is what Verify learned about a request.
type Result struct {
	// AccessKey is the authenticated access key; "" when Anonymous.
	AccessKey string
	// Anonymous is true when the request carried no signature at all.
	Anonymous bool
	// Method is how the request was signed: "SigV4", "SigV4-Presigned",
	// "SigV4A", "SigV4A-Presigned", "SigV2", "SigV2-Presigned" or "Anonymous".
	Method string
	// RegionSet is the SigV4A X-Amz-Region-Set (e.g. ["*"]), or for SigV4
	// the credential scope's region as a single element; nil for SigV2 and
	// anonymous requests. CheckRegion compares it with the serving region.
	RegionSet []string
	// Body is the decoded, verifying request body to read instead of
	// r.Body. It returns an *Error instead of io.EOF when the payload's
	// SHA-256, a chunk signature or the trailer signature does not match,
	// or the aws-chunked framing is broken; bytes read before such an error
	// are unverified, so nothing may be committed before io.EOF.
	Body io.Reader
	// DecodedLength is the body's decoded size: x-amz-decoded-content-length
	// for aws-chunked bodies, else the request's Content-Length; -1 unknown.
	DecodedLength int64
	// Trailer returns an aws-chunked trailer value by lower-case name (for
	// example "x-amz-checksum-crc32"), or "". Values are valid once Body
	// returned io.EOF.
	Trailer func(name string) string
}

// Verifier authenticates requests against a credential store. It is safe
// for concurrent use.
type Verifier struct {
	creds   Credentials
	now     func() time.Time
	maxSkew time.Duration
	keys    keyCache
}

// NewVerifier returns a Verifier that looks secrets up in creds.
func NewVerifier(creds Credentials, opts Options) *Verifier {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = DefaultMaxSkew
	}
	return &Verifier{creds: creds, now: opts.Now, maxSkew: opts.MaxSkew}
}

// Verify authenticates r. A request with no Authorization header and no
// signature query parameters is anonymous (Result.Anonymous), not an error:
// policy decides what anonymous callers may do. Errors are *Error with an S3
// error code. On success the caller reads the body only through
// Result.Body.
func (v *Verifier) Verify(r *http.Request) (*Result, error) {
	authz := r.Header.Values("Authorization")
	q := queryKeys(r.URL.RawQuery)
	hasV4Query := q["X-Amz-Algorithm"] || q["X-Amz-Credential"] || q["X-Amz-Signature"]
	hasV2Query := q["AWSAccessKeyId"] || (q["Signature"] && q["Expires"])

	if len(authz) > 0 {
		if hasV4Query || hasV2Query {
			return nil, newError(codeInvalidArgument, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
		}
		if len(authz) > 1 {
			return nil, newError(codeInvalidArgument, "Only one Authorization header is allowed")
		}
		h := authz[0]
		alg, _, _ := strings.Cut(h, " ")
		switch alg {
		case algV4, algV4A:
			return v.verifyHeaderV4(r, h)
		case "AWS":
			return v.verifyHeaderV2(r, h)
		case "":
			return nil, newError(codeAccessDenied, "Empty Authorization header")
		}
		return nil, newError(codeInvalidArgument, "Unsupported Authorization Type")
	}
	if hasV4Query {
		return v.verifyQueryV4(r)
	}
	if hasV2Query || q["Signature"] {
		return v.verifyQueryV2(r)
	}
	return v.anonymous(r)
}

// queryKeys is the set of decoded parameter names in a raw query.
func queryKeys(raw string) map[string]bool {
	keys := make(map[string]bool)
	for _, p := range parseRawQuery(raw) {
		keys[p.k] = true
	}
	return keys
}

func (v *Verifier) anonymous(r *http.Request) (*Result, error) {
	res := &Result{Anonymous: true, Method: "Anonymous"}
	if err := v.attachBody(r, res, nil); err != nil {
		return nil, err
	}
	return res, nil
}

// secret looks up an access key's secret.
func (v *Verifier) secret(accessKey string) (string, *Error) {
	if v.creds != nil {
		if s, ok := v.creds.SecretKey(accessKey); ok {
			return s, nil
		}
	}
	return "", newError(codeInvalidAccessKeyID, "The AWS Access Key Id you provided does not exist in our records.")
}

// checkSkew rejects a header-signed request whose time is too far from now.
func (v *Verifier) checkSkew(t time.Time) *Error {
	d := v.now().Sub(t)
	if d < 0 {
		d = -d
	}
	if d > v.maxSkew {
		return newError(codeRequestTimeTooSkewed, "The difference between the request time and the current time is too large.")
	}
	return nil
}

// maxCachedKeys bounds the SigV4A public-key cache: derivation costs a few
// HMACs and a scalar multiplication, so a small cache of the keys in use is
// enough, and clearing it when full keeps memory bounded under key churn.
const maxCachedKeys = 1024

// keyCache remembers SigV4A public keys per (access key, secret).
type keyCache struct {
	mu   sync.Mutex
	keys map[string]*ecdsa.PublicKey
}

func (c *keyCache) publicKey(accessKey, secret string) (*ecdsa.PublicKey, error) {
	id := accessKey + "\x00" + secret
	c.mu.Lock()
	pub, ok := c.keys[id]
	c.mu.Unlock()
	if ok {
		return pub, nil
	}
	priv, err := DeriveSigV4AKey(accessKey, secret)
	if err != nil {
		return nil, err
	}
	pub = &priv.PublicKey
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = make(map[string]*ecdsa.PublicKey)
	}
	c.keys[id] = pub
	c.mu.Unlock()
	return pub, nil
}

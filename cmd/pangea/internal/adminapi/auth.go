// Package adminapi is the lab's admin API as both sides see it: the request
// authentication (an HMAC of the request under the cluster secret), the JSON
// bodies, and a client for `pangea ctl`. The server is in cmd/pangea (admin.go).
//
// Authentication: every request carries
//
//	Authorization: Pangea-HMAC-SHA256 t=<unix seconds>, n=<nonce>, sig=<hex>
//
// where sig is HMAC-SHA256(key, canonical) with key = SHA-256("pangea-admin-v1\n" +
// cluster secret) and canonical the lines
//
//	PANGEA-ADMIN-V1
//	<METHOD>
//	<path, with ?query if any>
//	<t>
//	<n>
//	<hex SHA-256 of the body>
//
// The secret never travels. The server accepts t within ±MaxSkew of its clock,
// compares sig in constant time, and remembers each accepted nonce until its
// timestamp leaves the window, so a captured request cannot be played again; a
// tampered method, path, body, time or nonce breaks the signature.
package adminapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scheme names the Authorization scheme.
const Scheme = "Pangea-HMAC-SHA256"

// MaxSkew is how far a request's timestamp may be from the server's clock.
const MaxSkew = 5 * time.Minute

// maxNonces bounds the replay cache; only correctly signed requests enter it.
const maxNonces = 100_000

// Errors of Verify. ErrUnauthenticated means the request carries no usable
// credentials (401); ErrForbidden means they are wrong (403).
var (
	ErrUnauthenticated = errors.New("admin API: missing or malformed Authorization header")
	ErrForbidden       = errors.New("admin API: bad signature")
)

func key(secret string) []byte {
	k := sha256.Sum256([]byte("pangea-admin-v1\n" + secret))
	return k[:]
}

func canonical(method, path string, ts int64, nonce string, body []byte) []byte {
	bh := sha256.Sum256(body)
	return fmt.Appendf(nil, "PANGEA-ADMIN-V1\n%s\n%s\n%d\n%s\n%s", method, path, ts, nonce, hex.EncodeToString(bh[:]))
}

func signature(secret, method, path string, ts int64, nonce string, body []byte) []byte {
	m := hmac.New(sha256.New, key(secret))
	m.Write(canonical(method, path, ts, nonce, body))
	return m.Sum(nil)
}

// Authorization returns the Authorization header value for a request signed
// with secret at time now. path includes the query, if any (URL.RequestURI).
func Authorization(secret, method, path string, body []byte, now time.Time) string {
	var nb [16]byte
	_, _ = rand.Read(nb[:]) // crypto/rand.Read never fails on supported platforms
	nonce := hex.EncodeToString(nb[:])
	ts := now.Unix()
	sig := signature(secret, method, path, ts, nonce, body)
	return fmt.Sprintf("%s t=%d, n=%s, sig=%s", Scheme, ts, nonce, hex.EncodeToString(sig))
}

// Sign sets r's Authorization header for body (which must be r's body).
func Sign(r *http.Request, secret string, body []byte, now time.Time) {
	r.Header.Set("Authorization", Authorization(secret, r.Method, r.URL.RequestURI(), body, now))
}

// Verifier checks signed requests; it holds the replay cache. Safe for
// concurrent use.
type Verifier struct {
	secret string
	now    func() time.Time

	mu     sync.Mutex
	nonces map[string]time.Time // nonce -> when it may be forgotten
}

// NewVerifier returns a Verifier for secret; now is the clock (nil: time.Now).
func NewVerifier(secret string, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{secret: secret, now: now, nonces: map[string]time.Time{}}
}

// parseAuth splits the header into its timestamp, nonce and signature.
func parseAuth(h string) (ts int64, nonce string, sig []byte, err error) {
	rest, ok := strings.CutPrefix(h, Scheme+" ")
	if !ok {
		return 0, "", nil, fmt.Errorf("%w: want %q", ErrUnauthenticated, Scheme+" t=..., n=..., sig=...")
	}
	var haveT bool
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return 0, "", nil, fmt.Errorf("%w: %q is not key=value", ErrUnauthenticated, part)
		}
		switch k {
		case "t":
			if ts, err = strconv.ParseInt(v, 10, 64); err != nil {
				return 0, "", nil, fmt.Errorf("%w: bad timestamp", ErrUnauthenticated)
			}
			haveT = true
		case "n":
			if len(v) < 16 || len(v) > 64 {
				return 0, "", nil, fmt.Errorf("%w: nonce must be 16 to 64 characters", ErrUnauthenticated)
			}
			nonce = v
		case "sig":
			if sig, err = hex.DecodeString(v); err != nil || len(sig) != sha256.Size {
				return 0, "", nil, fmt.Errorf("%w: bad signature encoding", ErrUnauthenticated)
			}
		default:
			return 0, "", nil, fmt.Errorf("%w: unknown field %q", ErrUnauthenticated, k)
		}
	}
	if !haveT || nonce == "" || sig == nil {
		return 0, "", nil, fmt.Errorf("%w: t, n and sig are all required", ErrUnauthenticated)
	}
	return ts, nonce, sig, nil
}

// Verify checks the Authorization header of a request with method, path (with
// query) and body. It returns nil, or an error wrapping ErrUnauthenticated or
// ErrForbidden that says what is wrong (never anything about the secret).
func (v *Verifier) Verify(authz, method, path string, body []byte) error {
	if authz == "" {
		return fmt.Errorf("%w: sign requests with the cluster secret (pangea ctl does)", ErrUnauthenticated)
	}
	ts, nonce, sig, err := parseAuth(authz)
	if err != nil {
		return err
	}
	now := v.now()
	t := time.Unix(ts, 0)
	if t.Before(now.Add(-MaxSkew)) || t.After(now.Add(MaxSkew)) {
		return fmt.Errorf("%w: timestamp %s is more than %v from the server's clock %s (check the clocks)",
			ErrForbidden, t.UTC().Format(time.RFC3339), MaxSkew, now.UTC().Format(time.RFC3339))
	}
	if !hmac.Equal(sig, signature(v.secret, method, path, ts, nonce, body)) {
		return fmt.Errorf("%w: is PANGEA_CLUSTER_SECRET the lab's cluster_secret (lab.json)?", ErrForbidden)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, seen := v.nonces[nonce]; seen {
		return fmt.Errorf("%w: replayed request (nonce already used)", ErrForbidden)
	}
	if len(v.nonces) >= maxNonces/2 {
		for n, exp := range v.nonces {
			if now.After(exp) {
				delete(v.nonces, n)
			}
		}
		if len(v.nonces) >= maxNonces {
			return fmt.Errorf("%w: too many requests in the replay window; retry later", ErrForbidden)
		}
	}
	v.nonces[nonce] = t.Add(MaxSkew)
	return nil
}

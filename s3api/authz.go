package s3api

import (
	"errors"
	"net"
	"strconv"
	"sync"

	"github.com/pangea-s3/pangea/s3api/policy"
	"github.com/pangea-s3/pangea/storage"
)

// policyCacheMax bounds the parsed-policy cache; it is simply emptied when full,
// which is fine because parsing is the only cost of a miss.
const policyCacheMax = 256

// policyCache maps a policy document's bytes to its parsed form, so that a bucket
// policy is parsed once and evaluated per request. Keying by content (not by bucket)
// means a changed policy can never be served stale.
type policyCache struct {
	mu sync.Mutex
	m  map[string]*policy.Policy
}

func (c *policyCache) init() { c.m = make(map[string]*policy.Policy) }

func (c *policyCache) get(doc []byte) (*policy.Policy, error) {
	c.mu.Lock()
	p, ok := c.m[string(doc)]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := policy.Parse(doc)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= policyCacheMax {
		clear(c.m)
	}
	c.m[string(doc)] = p
	c.mu.Unlock()
	return p, nil
}

// authorizer decides whether the request's principal may perform actions on one
// bucket. It loads the bucket policy at most once per request.
//
// The rules, in order:
//  1. An explicit Deny in the bucket policy denies everyone, the owner included
//     (except that the owner can always manage the policy itself, so that a bad
//     policy cannot lock the owner out, as S3 does for the root user).
//  2. The bucket owner may do anything else.
//  3. Anyone else needs an Allow; when the public access block restricts public
//     buckets and the policy is public, anonymous requests are denied even then.
type authorizer struct {
	s       *Server
	rc      *reqCtx
	b       storage.BucketInfo
	loaded  bool
	pol     *policy.Policy
	baseCnd map[string][]string
}

func newAuthorizer(s *Server, rc *reqCtx, b storage.BucketInfo) *authorizer {
	return &authorizer{s: s, rc: rc, b: b}
}

func (a *authorizer) isOwner() bool {
	p := a.rc.principal()
	return p != "" && p == a.b.Owner
}

func (a *authorizer) load() error {
	if a.loaded {
		return nil
	}
	doc, err := a.s.b.BucketConfig(a.rc.r.Context(), a.b.Name, storage.ConfigPolicy)
	switch {
	case errors.Is(err, storage.ErrNoSuchConfig):
	case err != nil:
		return err
	default:
		p, perr := a.s.policies.get(doc)
		if perr != nil {
			// A stored policy was validated on PUT; failing now means it was written
			// by something else. Deny rather than fail open.
			a.s.log.Error("stored bucket policy does not parse", "bucket", a.b.Name, "err", perr)
			return errAccessDenied
		}
		a.pol = p
	}
	a.loaded = true
	return nil
}

func isPolicyManagement(action string) bool {
	switch action {
	case "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy":
		return true
	}
	return false
}

// check authorizes action on the bucket (key "") or on one of its objects. extra
// adds request-specific condition keys (s3:prefix, ...); it may be nil.
func (a *authorizer) check(action, key string, extra map[string][]string) error {
	if err := a.load(); err != nil {
		return err
	}
	owner := a.isOwner()
	if a.pol == nil {
		if owner {
			return nil
		}
		return errAccessDenied
	}
	resource := "arn:aws:s3:::" + a.b.Name
	if key != "" {
		resource += "/" + key
	}
	cond := a.conditions()
	if len(extra) > 0 {
		merged := make(map[string][]string, len(cond)+len(extra))
		for k, v := range cond {
			merged[k] = v
		}
		for k, v := range extra {
			merged[k] = v
		}
		cond = merged
	}
	dec := a.pol.Evaluate(policy.Request{
		Principal:  a.rc.principal(),
		Action:     action,
		Resource:   resource,
		Conditions: cond,
	})
	switch {
	case dec == policy.Deny && !(owner && isPolicyManagement(action)):
		return errAccessDenied
	case owner:
		return nil
	case dec != policy.Allow:
		return errAccessDenied
	}
	if a.rc.anonymous() && a.pol.IsPublic() {
		pab, err := a.s.publicAccessBlock(a.rc, a.b.Name)
		if err != nil {
			return err
		}
		if pab.RestrictPublicBuckets {
			return errAccessDenied
		}
	}
	return nil
}

// conditions are the global condition keys of the request, built once.
func (a *authorizer) conditions() map[string][]string {
	if a.baseCnd != nil {
		return a.baseCnd
	}
	r := a.rc.r
	now := a.s.now().UTC()
	c := map[string][]string{
		"aws:SecureTransport": {strconv.FormatBool(r.TLS != nil)},
		"aws:CurrentTime":     {now.Format("2006-01-02T15:04:05Z")},
		"aws:EpochTime":       {strconv.FormatInt(now.Unix(), 10)},
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		c["aws:SourceIp"] = []string{host}
	} else if r.RemoteAddr != "" {
		c["aws:SourceIp"] = []string{r.RemoteAddr}
	}
	if p := a.rc.principal(); p != "" {
		c["aws:username"] = []string{p}
		c["aws:userid"] = []string{p}
		c["aws:PrincipalType"] = []string{"User"}
	} else {
		c["aws:PrincipalType"] = []string{"Anonymous"}
	}
	if ua := r.UserAgent(); ua != "" {
		c["aws:UserAgent"] = []string{ua}
	}
	if ref := r.Referer(); ref != "" {
		c["aws:Referer"] = []string{ref}
	}
	if acl := r.Header.Get("X-Amz-Acl"); acl != "" {
		c["s3:x-amz-acl"] = []string{acl}
	}
	if v := a.rc.param("versionId"); v != "" {
		c["s3:VersionId"] = []string{v}
	}
	if ap := a.rc.dataAccessPoint(); ap != "" {
		// Served through a Multi-Region Access Point (mrapdata.go).
		c["s3:DataAccessPointArn"] = []string{ap}
		c["s3:DataAccessPointAccount"] = []string{accountOfARN(ap)}
	}
	if a.rc.auth != nil {
		switch a.rc.auth.Method {
		case "SigV4", "SigV4-Presigned":
			c["s3:signatureversion"] = []string{"AWS4-HMAC-SHA256"}
		case "SigV4A", "SigV4A-Presigned":
			c["s3:signatureversion"] = []string{"AWS4-ECDSA-P256-SHA256"}
		case "SigV2", "SigV2-Presigned":
			c["s3:signatureversion"] = []string{"AWS"}
		}
		switch a.rc.auth.Method {
		case "SigV4-Presigned", "SigV4A-Presigned", "SigV2-Presigned":
			c["s3:authType"] = []string{"REST-QUERY-STRING"}
		case "Anonymous", "":
		default:
			c["s3:authType"] = []string{"REST-HEADER"}
		}
	}
	a.baseCnd = c
	return c
}

// publicAccessBlock returns the bucket's public access block (all false when none).
func (s *Server) publicAccessBlock(rc *reqCtx, bucket string) (policy.PublicAccessBlock, error) {
	doc, err := s.b.BucketConfig(rc.r.Context(), bucket, storage.ConfigPublicAccessBlock)
	if errors.Is(err, storage.ErrNoSuchConfig) {
		return policy.PublicAccessBlock{}, nil
	}
	if err != nil {
		return policy.PublicAccessBlock{}, err
	}
	return policy.ParsePublicAccessBlock(doc)
}

package s3api

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/pangea-s3/pangea/s3api/policy"
	"github.com/pangea-s3/pangea/storage"
)

// The Multi-Region Access Point data plane: requests addressed to an MRAP are
// served as requests for the bucket of the nearest healthy active region.
//
// Addressing (the reference's section 2.1 and 5). A request is an MRAP request
// when its Host is "{alias}.accesspoint.s3-global.amazonaws.com" or
// "{alias}.accesspoint.{BaseDomain}" (any port; virtual-host style, the path is
// the key: what SDKs send for the MRAP ARN), or when its bucket, path style or
// "{alias}.{BaseDomain}" virtual host, ends in ".mrap" (an emulator
// convenience: no bucket name ends so). The alias must match
// ^[a-z][a-z0-9]*[.]mrap$ (63 characters at most), else InvalidRequest.
//
// Authentication. The host forms must be signed with SigV4A
// (AWS4-ECDSA-P256-SHA256, header or presigned); its region set must contain
// the region the request goes to ("*" does): regions it leaves out are not
// picked. The alias as a bucket may also be signed with SigV4, for any signing
// region (the MRAP has none). Anonymous requests are refused (AccessDenied):
// MRAPs do not support them, whatever their policy or public access block.
//
// Operations, checked once the alias is known to name an MRAP: the object
// operations S3 accepts through an MRAP (mrapOpAllowed); any other (bucket
// configuration, ListObjects v1, ListObjectVersions, DeleteObjects,
// UploadPartCopy, a CopyObject whose source is an MRAP) is InvalidRequest.
//
// Resolution: the MRAP by alias (unknown: NoSuchBucket naming the alias), which
// must be READY (CREATING: 503 ServiceUnavailable, to retry; DELETING: as
// unknown), then MRAPRouter.Route's hops. The request is served as one for the
// first hop's bucket: here if the hop is Local (dispatch, as a request for that
// bucket), else forwarded to the hop's region with the bucket in the path. A
// forward that fails goes on to the next hop when that cannot do harm: GET and
// HEAD always (before any answer), other requests only when nothing of them
// was sent and their body was not read (small bodies are buffered whole by
// forwardBody, so they can go again). No hop left: 503 ServiceUnavailable
// naming the MRAP.
//
// Authorization (section 2.3): the MRAP's policy, when it has one, must allow
// the request (resource arn:aws:s3::{account}:accesspoint/{alias}/object/{key},
// or the MRAP's ARN for the list operations) and must not deny it; without a
// policy any authenticated principal (all are of the MRAP's account) passes.
// Then the routed bucket's policy decides as usual, with the condition keys
// s3:DataAccessPointArn (the MRAP's ARN) and s3:DataAccessPointAccount; a
// forwarded request carries the ARN in X-Pangea-Data-Access-Point, which only
// InternalHandler reads (and which makes it route the request path style,
// the client's Host kept). The MRAP's public access block needs no check of
// its own: it can only take away what a public MRAP policy grants anonymous
// requests, and those are refused anyway.
//
// pangea_mrap_requests_total{mrap,region,status} counts the requests (mrap
// "unknown" when the alias names no MRAP; region "" when none served).

// mrapGlobalSuffix is the host suffix of MRAP requests on AWS.
const mrapGlobalSuffix = ".accesspoint.s3-global.amazonaws.com"

// hdrDataAccessPoint carries the MRAP ARN of a forwarded MRAP request (the
// s3:DataAccessPointArn condition key); only InternalHandler reads it.
const hdrDataAccessPoint = "X-Pangea-Data-Access-Point"

// mrapAliasMax is the longest alias accepted.
const mrapAliasMax = 63

// mrapRequest is what routing found of a request addressed to an MRAP.
type mrapRequest struct {
	alias string
	// host: addressed by one of the accesspoint host forms (must be SigV4A).
	host bool
	// known: the alias names an MRAP; region is the region that served the
	// request ("" none yet). For the metrics.
	known  bool
	region string
}

// validMRAPAlias reports whether alias matches ^[a-z][a-z0-9]*[.]mrap$ and is
// at most 63 characters long.
func validMRAPAlias(alias string) bool {
	name, ok := strings.CutSuffix(alias, ".mrap")
	if !ok || name == "" || len(alias) > mrapAliasMax {
		return false
	}
	if name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// mrapHostAlias extracts the alias of a Host of the form
// "{alias}.accesspoint.s3-global.amazonaws.com" or
// "{alias}.accesspoint{baseHost}" (any port, any case, a trailing dot
// allowed). ok is false for other hosts; the alias is not validated.
func mrapHostAlias(host, baseHost string) (alias string, ok bool) {
	if host == "" || host[0] == '[' {
		return "", false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, suffix := range []string{mrapGlobalSuffix, ".accesspoint" + baseHost} {
		if len(host) > len(suffix) && strings.HasSuffix(host, suffix) {
			return host[:len(host)-len(suffix)], true
		}
	}
	return "", false
}

// invalidMRAPAlias is the error for an MRAP address with a malformed alias.
func invalidMRAPAlias(alias string) *Error {
	return apiErr("InvalidRequest", "'"+alias+"' is not a valid Multi-Region Access Point alias: it must match ^[a-z][a-z0-9]*[.]mrap$ and have at most 63 characters.")
}

// routeRequest is route, recognizing requests addressed to an MRAP (nil when
// not one). Forwarded requests (internal) address their bucket and are never
// MRAP requests.
func (s *Server) routeRequest(r *http.Request, internal bool) (routed, *mrapRequest, error) {
	if !internal {
		if alias, ok := mrapHostAlias(r.Host, s.baseHost); ok {
			// Route the request as the path-style request for the alias.
			u := *r.URL
			u.Path = "/" + alias + "/" + strings.TrimPrefix(r.URL.Path, "/")
			u.RawPath = ""
			pr := *r
			pr.URL, pr.Host = &u, ""
			rt, err := route(&pr, s.baseHost)
			mr := &mrapRequest{alias: alias, host: true}
			if err == nil && !validMRAPAlias(alias) {
				err = invalidMRAPAlias(alias)
			}
			return rt, mr, err
		}
	}
	if internal && r.Header.Get(hdrDataAccessPoint) != "" {
		// A forwarded MRAP request keeps the client's Host (for Location
		// headers) but names its bucket in the path.
		pr := *r
		pr.Host = ""
		rt, err := route(&pr, s.baseHost)
		return rt, nil, err
	}
	rt, err := route(r, s.baseHost)
	if internal || len(rt.bucket) < len(".mrap") || !strings.EqualFold(rt.bucket[len(rt.bucket)-len(".mrap"):], ".mrap") {
		return rt, nil, err
	}
	mr := &mrapRequest{alias: rt.bucket}
	if err == nil && !validMRAPAlias(rt.bucket) {
		err = invalidMRAPAlias(rt.bucket)
	}
	return rt, mr, err
}

// dataAccessPoint is the MRAP ARN the request came through ("" for none): set
// on the request served for an MRAP here, or carried by a forwarded one.
func (rc *reqCtx) dataAccessPoint() string {
	if rc.accessPoint != "" {
		return rc.accessPoint
	}
	if rc.internal {
		return rc.r.Header.Get(hdrDataAccessPoint)
	}
	return ""
}

// mrapUnsupported is the error for an operation MRAPs do not serve.
func mrapUnsupported(o op) *Error {
	return apiErr("InvalidRequest", o.name()+" is not supported through a Multi-Region Access Point.")
}

// mrapOpAllowed refuses the operations S3 does not accept through an MRAP.
func mrapOpAllowed(rc *reqCtx) error {
	switch rc.op {
	case opGetObject, opHeadObject, opPutObject, opDeleteObject,
		opGetObjectTagging, opPutObjectTagging, opDeleteObjectTagging,
		opGetObjectACL, opPutObjectACL,
		opCreateMultipartUpload, opUploadPart, opCompleteMultipartUpload, opAbortMultipartUpload,
		opListParts, opListMultipartUploads, opListObjectsV2:
		return nil
	case opCopyObject:
		// Only as the destination, the source a bucket.
		cs, err := parseCopySource(rc.r.Header.Get("X-Amz-Copy-Source"))
		if err != nil {
			if errors.Is(err, errNotImplemented) {
				return apiErr("InvalidRequest", "CopyObject through a Multi-Region Access Point needs a bucket as its source.")
			}
			return err
		}
		if strings.HasSuffix(strings.ToLower(cs.bucket), ".mrap") {
			return apiErr("InvalidRequest", "CopyObject through a Multi-Region Access Point needs a bucket as its source.")
		}
		return nil
	}
	return mrapUnsupported(rc.op)
}

// mrapAction is the IAM action of an operation allowed through an MRAP, as
// the MRAP's policy sees it.
func mrapAction(rc *reqCtx) string {
	switch rc.op {
	case opGetObject, opHeadObject:
		if rc.param("versionId") != "" {
			return "s3:GetObjectVersion"
		}
		return "s3:GetObject"
	case opPutObject, opCopyObject, opCreateMultipartUpload, opUploadPart, opCompleteMultipartUpload:
		return "s3:PutObject"
	case opDeleteObject:
		if rc.param("versionId") != "" {
			return "s3:DeleteObjectVersion"
		}
		return "s3:DeleteObject"
	case opGetObjectTagging:
		return "s3:GetObjectTagging"
	case opPutObjectTagging:
		return "s3:PutObjectTagging"
	case opDeleteObjectTagging:
		return "s3:DeleteObjectTagging"
	case opGetObjectACL:
		return "s3:GetObjectAcl"
	case opPutObjectACL:
		return "s3:PutObjectAcl"
	case opAbortMultipartUpload:
		return "s3:AbortMultipartUpload"
	case opListParts:
		return "s3:ListMultipartUploadParts"
	case opListMultipartUploads:
		return "s3:ListBucketMultipartUploads"
	case opListObjectsV2:
		return "s3:ListBucket"
	}
	return "s3:" + rc.op.name()
}

// isSigV4A reports whether an auth method is SigV4A.
func isSigV4A(method string) bool { return method == "SigV4A" || method == "SigV4A-Presigned" }

// serveMRAP serves a request addressed to an MRAP (see the top of this file)
// and counts it (pangea_mrap_requests_total).
func (s *Server) serveMRAP(rc *reqCtx) (err error) {
	mr := rc.mrap
	defer func() {
		status := rc.w.status
		if !rc.w.wroteHeader {
			status = http.StatusOK
			if err != nil {
				e, _ := translate(err)
				status = e.Status
			}
		}
		alias := mr.alias
		if !mr.known {
			alias = "unknown" // no label per alias a client makes up
		}
		in := rc.r.ContentLength
		if d, err := strconv.ParseInt(rc.r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64); err == nil {
			in = d // aws-chunked: the object's bytes, not the framing
		}
		s.cfg.Metrics.observeMRAP(alias, mr.region, status, in, rc.w.bytes)
	}()
	return s.serveMRAPRequest(rc)
}

// serveMRAPRequest is serveMRAP's work.
func (s *Server) serveMRAPRequest(rc *reqCtx) error {
	mr := rc.mrap
	if rc.anonymous() {
		return apiErr("AccessDenied", "Multi-Region Access Points do not support anonymous requests.")
	}
	if mr.host && !isSigV4A(rc.auth.Method) {
		return apiErr("InvalidRequest", "Requests to a Multi-Region Access Point must be signed with Signature Version 4A (AWS4-ECDSA-P256-SHA256).")
	}
	noSuch := &Error{Code: "NoSuchBucket", Status: http.StatusNotFound,
		Message: "The specified Multi-Region Access Point does not exist: " + mr.alias}
	if s.cfg.MRAPRouter == nil {
		return noSuch
	}
	ctx := rc.r.Context()
	m, ok, err := s.cfg.MRAPRouter.MRAPByAlias(ctx, mr.alias)
	if err != nil {
		return err
	}
	mr.known = ok
	switch {
	case !ok || m.Status == storage.MRAPDeleting:
		return noSuch
	case m.Status != storage.MRAPReady:
		return &Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable,
			Message: "The Multi-Region Access Point " + mr.alias + " is not ready yet (" + m.Status + "). Please retry."}
	}
	if err := mrapOpAllowed(rc); err != nil {
		return err
	}
	rc.accessPoint = m.ARN()
	if err := s.authorizeMRAP(rc, m); err != nil {
		return err
	}
	hops, err := s.cfg.MRAPRouter.Route(ctx, m)
	if err != nil {
		return err
	}
	if isSigV4A(rc.auth.Method) {
		// Only the regions the signature is valid for.
		kept := hops[:0:0]
		for _, h := range hops {
			if rc.auth.CheckRegion(h.Region) == nil {
				kept = append(kept, h)
			}
		}
		hops = kept
	}
	if len(hops) == 0 {
		return mrapUnavailable(m, nil)
	}
	return s.sendMRAP(rc, m, hops)
}

// mrapUnavailable is the 503 of an MRAP no region of which can serve now.
func mrapUnavailable(m storage.MRAP, err error) error {
	e := &Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable,
		Message: "No region of the Multi-Region Access Point " + m.Alias + " can serve the request now. Please retry."}
	if err != nil {
		return &mrapForwardError{e: e, err: err}
	}
	return e
}

// mrapForwardError is the 503 of an MRAP request whose every forward failed,
// keeping the last failure for the log.
type mrapForwardError struct {
	e   *Error
	err error
}

func (e *mrapForwardError) Error() string { return e.e.Message + ": " + e.err.Error() }

// As lets translate find the S3 error before the wrapped forward error's.
func (e *mrapForwardError) As(target any) bool {
	if t, ok := target.(**Error); ok {
		*t = e.e
		return true
	}
	return false
}

func (e *mrapForwardError) Unwrap() error { return e.err }

// authorizeMRAP applies the MRAP's policy (see the top of this file).
func (s *Server) authorizeMRAP(rc *reqCtx, m storage.MRAP) error {
	if m.Policy == "" {
		return nil // any authenticated principal of the account
	}
	p, err := s.policies.get([]byte(m.Policy))
	if err != nil {
		s.log.Error("MRAP policy does not parse", "mrap", m.Alias, "err", err)
		return errAccessDenied
	}
	resource := m.ARN()
	if rc.key != "" {
		resource += "/object/" + rc.key
	}
	cond := newAuthorizer(s, rc, storage.BucketInfo{}).conditions()
	if p.Evaluate(policy.Request{Principal: rc.principal(), Action: mrapAction(rc), Resource: resource, Conditions: cond}) != policy.Allow {
		return errAccessDenied
	}
	return nil
}

// mrapHopRequest is rc as a request for hop's bucket: the path names the
// bucket (and the key), the signature's region was checked already, and the
// request is served where it lands (internal: never resolved again). The Host
// stays the client's: the owner of a forwarded one routes it path style
// (routeRequest).
func mrapHopRequest(rc *reqCtx, hop MRAPHop) *reqCtx {
	h := *rc
	h.mrap = nil
	h.bucket = hop.Bucket
	h.internal = true
	a := *rc.auth
	a.RegionSet = nil
	h.auth = &a
	u := *rc.r.URL
	u.Path = "/" + hop.Bucket
	if rc.key != "" {
		u.Path += "/" + rc.key
	}
	u.RawPath = ""
	r := *rc.r
	r.URL = &u
	h.r = &r
	return &h
}

// sendMRAP serves rc at the first hop that takes it.
func (s *Server) sendMRAP(rc *reqCtx, m storage.MRAP, hops []MRAPHop) error {
	var (
		body     *forwardedBody
		small    []byte
		prepared bool
		lastErr  error
	)
	for _, hop := range hops {
		hrc := mrapHopRequest(rc, hop)
		if hop.Target.Local {
			if s.b == nil {
				continue // an edge has no region of its own
			}
			rc.mrap.region = hop.Region
			return s.dispatch(hrc)
		}
		if !prepared {
			var err error
			if body, small, err = s.forwardBody(hrc); err != nil {
				return err
			}
			prepared = true
		}
		t := hop.Target
		err := s.forwardPrepared(hrc, &t, body, small)
		if err == nil || rc.w.wroteHeader {
			rc.mrap.region = hop.Region
		}
		if err == nil {
			return nil
		}
		lastErr = err
		if !s.mrapRetryable(rc, err, body) {
			break
		}
	}
	if lastErr == nil {
		return mrapUnavailable(m, nil)
	}
	var fe *forwardError
	if errors.As(lastErr, &fe) {
		return mrapUnavailable(m, lastErr)
	}
	return lastErr
}

// mrapRetryable reports whether an MRAP request whose forward failed with err
// may go to the next hop: no answer began, the failure is the region's, and
// the request is GET or HEAD, or nothing of it was sent and its body (if
// streamed) was not read.
func (s *Server) mrapRetryable(rc *reqCtx, err error, body *forwardedBody) bool {
	if rc.w.wroteHeader {
		return false
	}
	var fe *forwardError
	if !errors.As(err, &fe) {
		return false
	}
	if rc.r.Method == http.MethodGet || rc.r.Method == http.MethodHead {
		return true
	}
	if body != nil && body.n > 0 {
		return false
	}
	var ns notSent
	return errors.As(err, &ns) && ns.NotSent()
}

// nothingSentError is a forward failure before any request was made (no
// address to try): safe to send elsewhere.
type nothingSentError string

func (e nothingSentError) Error() string { return string(e) }

// NotSent reports true: nothing of the request left.
func (nothingSentError) NotSent() bool { return true }

// accountOfARN is the account field of an ARN ("" if it has none).
func accountOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

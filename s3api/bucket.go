package s3api

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/pangea-s3/pangea/storage"
)

// accountID is the single account every Pangea principal belongs to (see
// s3api/policy); x-amz-expected-bucket-owner may name it or the owner's access key.
const accountID = "000000000000"

// AccountID is the account of every Pangea principal: the one S3 Control
// requests name (x-amz-account-id) and MRAP ARNs carry.
const AccountID = accountID

// dispatch runs the handler of rc.op. Every op but ListBuckets and CreateBucket
// addresses an existing bucket, which is looked up once here.
//
// It is also where the signature is bound to a region (checkRegion): the region
// that owns the bucket, or this endpoint's for ListBuckets and CreateBucket (which
// creates the bucket here).
func (s *Server) dispatch(rc *reqCtx) error {
	if rc.mrap != nil {
		return s.serveMRAP(rc) // mrapdata.go: served for a region's bucket
	}
	switch rc.op {
	case opListBuckets:
		// An edge answers for no region: any signing region will do.
		if s.cfg.Region != "" {
			if err := s.checkRegion(rc, s.cfg.Region, false); err != nil {
				return err
			}
		}
		return s.listBuckets(rc)
	case opCreateBucket:
		if s.cfg.Resolver == nil {
			// In a planet the bucket's region checks, once chosen.
			if err := s.checkRegion(rc, s.cfg.Region, false); err != nil {
				return err
			}
		}
		return s.createBucket(rc)
	}
	// The resolve step: a bucket of another region is its region's to serve.
	t, err := s.resolve(rc)
	if err != nil {
		return err
	}
	if t != nil {
		return s.forward(rc, t)
	}
	b, err := s.b.Bucket(rc.r.Context(), rc.bucket)
	if err != nil {
		return err
	}
	if err := s.checkRegion(rc, b.Region, true); err != nil {
		return err
	}
	if eo := rc.r.Header.Get("X-Amz-Expected-Bucket-Owner"); eo != "" && eo != b.Owner && eo != accountID {
		return errAccessDenied
	}
	az := newAuthorizer(s, rc, b)
	switch rc.op {
	case opHeadBucket:
		// S3 tells the bucket's region even to callers who may not see the bucket.
		rc.w.Header().Set("X-Amz-Bucket-Region", b.Region)
		if err := az.check("s3:ListBucket", "", nil); err != nil {
			return err
		}
		rc.w.Header().Set("X-Amz-Access-Point-Alias", "false")
		return nil
	case opDeleteBucket:
		return s.deleteBucket(rc, az)
	case opGetBucketLocation:
		return s.getBucketLocation(rc, az)
	case opGetBucketVersioning:
		return s.getBucketVersioning(rc, az)
	case opPutBucketVersioning:
		return s.putBucketVersioning(rc, az)
	case opListObjects:
		return s.listObjectsV1(rc, az)
	case opListObjectsV2:
		return s.listObjectsV2(rc, az)
	case opListObjectVersions:
		return s.listObjectVersions(rc, az)
	case opListMultipartUploads:
		return s.listMultipartUploads(rc, az)
	case opDeleteObjects:
		return s.deleteObjects(rc, az)
	case opGetBucketTagging:
		return s.getBucketTagging(rc, az)
	case opPutBucketTagging:
		return s.putBucketTagging(rc, az)
	case opDeleteBucketTagging:
		return s.deleteBucketConfig(rc, az, "s3:PutBucketTagging", storage.ConfigTagging)
	case opGetBucketPolicy:
		return s.getBucketPolicy(rc, az)
	case opPutBucketPolicy:
		return s.putBucketPolicy(rc, az)
	case opDeleteBucketPolicy:
		return s.deleteBucketConfig(rc, az, "s3:DeleteBucketPolicy", storage.ConfigPolicy)
	case opGetPublicAccessBlock:
		return s.getPublicAccessBlock(rc, az)
	case opPutPublicAccessBlock:
		return s.putPublicAccessBlock(rc, az)
	case opDeletePublicAccessBlock:
		return s.deleteBucketConfig(rc, az, "s3:PutBucketPublicAccessBlock", storage.ConfigPublicAccessBlock)
	case opGetBucketReplication:
		return s.getBucketReplication(rc, az)
	case opPutBucketReplication:
		return s.putBucketReplication(rc, az)
	case opDeleteBucketReplication:
		return s.deleteBucketConfig(rc, az, "s3:PutReplicationConfiguration", storage.ConfigReplication)
	case opGetBucketACL:
		return s.getACL(rc, az, "s3:GetBucketAcl", "")
	case opPutBucketACL:
		return s.putACL(rc, az, "s3:PutBucketAcl", "")
	case opGetObject, opHeadObject:
		return s.getObject(rc, az)
	case opPutObject:
		return s.putObject(rc, az)
	case opCopyObject:
		return s.copyObject(rc, az)
	case opDeleteObject:
		return s.deleteObject(rc, az)
	case opGetObjectTagging:
		return s.getObjectTagging(rc, az)
	case opGetObjectAttributes:
		return s.getObjectAttributes(rc, az)
	case opPutObjectTagging:
		return s.putObjectTagging(rc, az)
	case opDeleteObjectTagging:
		return s.deleteObjectTagging(rc, az)
	case opGetObjectACL:
		return s.getObjectACL(rc, az)
	case opPutObjectACL:
		return s.putObjectACL(rc, az)
	case opCreateMultipartUpload:
		return s.createMultipartUpload(rc, az)
	case opUploadPart:
		return s.uploadPart(rc, az)
	case opUploadPartCopy:
		return s.uploadPartCopy(rc, az)
	case opCompleteMultipartUpload:
		return s.completeMultipartUpload(rc, az)
	case opAbortMultipartUpload:
		return s.abortMultipartUpload(rc, az)
	case opListParts:
		return s.listParts(rc, az)
	}
	return errNotImplemented
}

// checkRegion refuses a request signed for another region than region, the one
// that serves it, as S3 does (auth.Result.CheckRegion). It is the only place
// where signatures meet regions: region comes from the bucket's record, so a
// request forwarded to the bucket's region is judged by that region, wherever
// it entered. For a named bucket the answer carries X-Amz-Bucket-Region too:
// HEAD errors have no body to hold the Region element, and SDKs read the header.
func (s *Server) checkRegion(rc *reqCtx, region string, bucket bool) error {
	if region == "" {
		// A backend that keeps no region for its buckets serves them here.
		region = s.cfg.Region
	}
	err := rc.auth.CheckRegion(region)
	if err != nil && bucket {
		rc.w.Header().Set("X-Amz-Bucket-Region", region)
	}
	return err
}

// maxBucketsPage is the largest max-buckets S3 accepts. It is also the page size S3
// applies when prefix, bucket-region or continuation-token come without max-buckets;
// a request with none of them gets every bucket in one answer.
const maxBucketsPage = 10000

func (s *Server) listBuckets(rc *reqCtx) error {
	if rc.anonymous() {
		return errAccessDenied
	}
	in := storage.ListBucketsInput{Prefix: rc.param("prefix"), Region: rc.param("bucket-region")}
	if has(rc.query, "max-buckets") {
		n, err := strconv.Atoi(rc.param("max-buckets"))
		if err != nil || n < 1 || n > maxBucketsPage {
			return apiErr("InvalidArgument", "Argument max-buckets must be an integer between 1 and 10000")
		}
		in.MaxBuckets = n
	}
	if has(rc.query, "continuation-token") {
		name, ok := parseBucketsToken(rc.param("continuation-token"))
		if !ok {
			return apiErr("InvalidArgument", "The continuation token provided is incorrect")
		}
		in.StartAfter = name
	}
	if in.MaxBuckets == 0 && (has(rc.query, "prefix") || has(rc.query, "bucket-region") || has(rc.query, "continuation-token")) {
		in.MaxBuckets = maxBucketsPage
	}
	var list storage.ListBucketsResult
	var err error
	if s.cfg.Resolver != nil {
		list, err = s.cfg.Resolver.ListBuckets(rc.r.Context(), in) // every region's
	} else {
		list, err = s.b.ListBuckets(rc.r.Context(), in)
	}
	if err != nil {
		return err
	}
	res := listAllMyBucketsResult{Owner: ownerOf(rc.principal()), Prefix: in.Prefix, Buckets: make([]bucketEntry, 0, len(list.Buckets))}
	for _, b := range list.Buckets {
		res.Buckets = append(res.Buckets, bucketEntry{Name: b.Name, CreationDate: isoTime(b.CreatedAt), BucketRegion: b.Region})
	}
	if list.IsTruncated && len(list.Buckets) > 0 {
		res.ContinuationToken = bucketsToken(list.Buckets[len(list.Buckets)-1].Name)
	}
	return s.writeXML(rc, http.StatusOK, res)
}

// bucketsToken is the ListBuckets continuation token that resumes after the bucket
// name: the name in unpadded base64url. Clients treat it as opaque.
func bucketsToken(name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(name))
}

// parseBucketsToken returns the bucket name a continuation token resumes after. A
// token is well formed when it is canonical unpadded base64url (at most 1024
// characters, S3's limit) of 1 to 255 printable ASCII characters without spaces
// (any bucket name, legacy ones included).
func parseBucketsToken(tok string) (string, bool) {
	if tok == "" || len(tok) > 1024 {
		return "", false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) == 0 || len(b) > 255 {
		return "", false
	}
	for _, c := range b {
		if c <= ' ' || c > '~' {
			return "", false
		}
	}
	return string(b), true
}

// cannedACLAllowed reports whether a canned ACL is compatible with Pangea's only
// ACL model (bucket owner enforced: the owner has FULL_CONTROL, nobody else has any).
func cannedACLAllowed(acl string) bool {
	return acl == "" || acl == "private" || acl == "bucket-owner-full-control"
}

func hasGrantHeaders(h http.Header) bool {
	for _, k := range []string{"X-Amz-Grant-Full-Control", "X-Amz-Grant-Read", "X-Amz-Grant-Read-Acp", "X-Amz-Grant-Write", "X-Amz-Grant-Write-Acp"} {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

func (s *Server) createBucket(rc *reqCtx) error {
	if rc.anonymous() {
		return errAccessDenied
	}
	if !validBucketName(rc.bucket) {
		return apiErr("InvalidBucketName", "The specified bucket is not valid.")
	}
	h := rc.r.Header
	if !cannedACLAllowed(h.Get("X-Amz-Acl")) || hasGrantHeaders(h) {
		return apiErr("InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
	}
	if strings.EqualFold(h.Get("X-Amz-Bucket-Object-Lock-Enabled"), "true") {
		return errNotImplemented
	}
	body, err := readDocument(rc, maxXMLBody, false)
	if err != nil {
		return err
	}
	var lc string
	if len(bytes.TrimSpace(body)) > 0 {
		var cfg createBucketConfiguration
		if err := parseXML(body, &cfg); err != nil {
			return err
		}
		if cfg.Location != nil || cfg.Bucket != nil {
			// Directory buckets (S3 Express) are not implemented.
			return errNotImplemented
		}
		lc = strings.TrimSpace(cfg.LocationConstraint)
	}
	if s.cfg.Resolver == nil {
		switch {
		case lc == "" && s.cfg.Region != "us-east-1":
			return apiErr("IllegalLocationConstraintException", "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.")
		case lc != "" && lc != s.cfg.Region:
			return apiErr("IllegalLocationConstraintException", "The "+lc+" location constraint is incompatible for the region specific endpoint this request was sent to.")
		}
	} else {
		// In a planet the constraint picks the region, by default the one
		// that received the request (an edge's resolver picks for it).
		region := lc
		if region == "" {
			region = s.cfg.Region
		}
		if rc.internal && region != s.cfg.Region {
			return apiErr("IllegalLocationConstraintException", "The "+lc+" location constraint is incompatible for the region specific endpoint this request was sent to.")
		}
		if !rc.internal {
			t, err := s.cfg.Resolver.Region(rc.r.Context(), region)
			if err != nil {
				return err
			}
			if !t.Local {
				// The owning region reserves the name and creates the bucket.
				return s.forwardPrepared(rc, &t, nil, body)
			}
		}
		if err := s.checkRegion(rc, s.cfg.Region, false); err != nil {
			return err
		}
		if err := s.cfg.Resolver.ReserveBucket(rc.r.Context(), rc.bucket, s.cfg.Region, rc.principal()); err != nil {
			return err
		}
	}
	if err := s.b.CreateBucket(rc.r.Context(), rc.bucket, s.cfg.Region, rc.principal()); err != nil {
		// us-east-1 answers its owner's CreateBucket of a bucket it has with 200,
		// as S3 does there for historical reasons; other regions say 409.
		if !errors.Is(err, storage.ErrBucketAlreadyOwnedByYou) || s.cfg.Region != "us-east-1" {
			return err
		}
	}
	rc.w.Header().Set("Location", "/"+rc.bucket)
	rc.w.Header().Set("Content-Length", "0")
	rc.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) deleteBucket(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:DeleteBucket", "", nil); err != nil {
		return err
	}
	if res := s.cfg.Resolver; res != nil {
		// Never delete a bucket whose name could not then be released.
		if err := res.CatalogReachable(rc.r.Context()); err != nil {
			return err
		}
	}
	if err := s.b.DeleteBucket(rc.r.Context(), rc.bucket); err != nil {
		return err
	}
	if res := s.cfg.Resolver; res != nil {
		// The bucket is gone: its answer is success whatever comes of the
		// release, which the catalog's reconciliation retries if this fails.
		if err := res.ReleaseBucket(rc.r.Context(), rc.bucket, az.b.Region); err != nil {
			s.log.Warn("bucket deleted but its name is not released yet", "bucket", rc.bucket, "request_id", rc.id, "err", err)
		}
	}
	rc.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getBucketLocation(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:GetBucketLocation", "", nil); err != nil {
		return err
	}
	region := az.b.Region
	if region == "us-east-1" {
		// S3 reports the oldest region as an empty constraint.
		region = ""
	}
	return s.writeXML(rc, http.StatusOK, locationConstraint{Region: region})
}

func (s *Server) getBucketVersioning(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:GetBucketVersioning", "", nil); err != nil {
		return err
	}
	var out versioningConfigurationOut
	switch az.b.Versioning {
	case storage.VersioningEnabled:
		out.Status = "Enabled"
	case storage.VersioningSuspended:
		out.Status = "Suspended"
	}
	return s.writeXML(rc, http.StatusOK, out)
}

func (s *Server) putBucketVersioning(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:PutBucketVersioning", "", nil); err != nil {
		return err
	}
	body, err := readDocument(rc, maxXMLBody, false)
	if err != nil {
		return err
	}
	var cfg versioningConfiguration
	if err := parseXML(body, &cfg); err != nil {
		return err
	}
	switch cfg.MfaDelete {
	case "", "Disabled":
	case "Enabled":
		return errNotImplemented
	default:
		return errMalformedXML
	}
	var state storage.VersioningState
	switch cfg.Status {
	case "Enabled":
		state = storage.VersioningEnabled
	case "Suspended":
		state = storage.VersioningSuspended
		if _, err := s.b.BucketConfig(rc.r.Context(), rc.bucket, storage.ConfigReplication); err == nil {
			return apiErr("InvalidBucketState", "A replication configuration is present on this bucket, so the versioning state cannot be changed.")
		} else if !errors.Is(err, storage.ErrNoSuchConfig) {
			return err
		}
	case "":
		// No status: nothing to change (S3 accepts an empty configuration).
		return nil
	default:
		return errMalformedXML
	}
	return s.b.SetBucketVersioning(rc.r.Context(), rc.bucket, state)
}

package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pangea-s3/pangea/replication/rules"
	"github.com/pangea-s3/pangea/s3api/policy"
	"github.com/pangea-s3/pangea/storage"
)

// Tag limits, as S3 enforces them.
const (
	maxObjectTags  = 10
	maxBucketTags  = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// validateTags checks a tag set against S3's rules.
func validateTags(tags []storage.Tag, limit int) error {
	if len(tags) > limit {
		if limit == maxObjectTags {
			// S3's own code and text for this one limit.
			return apiErr("BadRequest", "Object tags cannot be greater than 10")
		}
		return apiErr("InvalidTag", "Bucket tag count cannot be greater than 50")
	}
	seen := make(map[string]struct{}, len(tags))
	for _, t := range tags {
		if t.Key == "" || !utf8.ValidString(t.Key) || utf8.RuneCountInString(t.Key) > maxTagKeyLen {
			return apiErr("InvalidTag", "The TagKey you have provided is invalid")
		}
		if !utf8.ValidString(t.Value) || utf8.RuneCountInString(t.Value) > maxTagValueLen {
			return apiErr("InvalidTag", "The TagValue you have provided is invalid")
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return apiErr("InvalidTag", "System tags cannot be added/updated by requester")
		}
		if _, dup := seen[t.Key]; dup {
			return apiErr("InvalidTag", "Cannot provide multiple Tags with the same key")
		}
		seen[t.Key] = struct{}{}
	}
	return nil
}

// parseTaggingXML parses a Tagging document into tags (in document order).
func parseTaggingXML(body []byte, limit int) ([]storage.Tag, error) {
	var in taggingIn
	if err := parseXML(body, &in); err != nil {
		return nil, err
	}
	if in.TagSet == nil {
		return nil, errMalformedXML
	}
	tags := make([]storage.Tag, 0, len(in.TagSet.Tags))
	for _, t := range in.TagSet.Tags {
		tags = append(tags, storage.Tag{Key: t.Key, Value: t.Value})
	}
	if err := validateTags(tags, limit); err != nil {
		return nil, err
	}
	return tags, nil
}

// parseTaggingHeader parses the x-amz-tagging header (URL query form).
func parseTaggingHeader(v string) ([]storage.Tag, error) {
	if v == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(v)
	if err != nil {
		return nil, apiErr("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	}
	tags := make([]storage.Tag, 0, len(q))
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, apiErr("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
		}
		tags = append(tags, storage.Tag{Key: k, Value: vs[0]})
	}
	// Map iteration order is random; store tags in a stable order.
	slices.SortFunc(tags, func(a, b storage.Tag) int { return strings.Compare(a.Key, b.Key) })
	if err := validateTags(tags, maxObjectTags); err != nil {
		return nil, err
	}
	return tags, nil
}

func taggingDocument(tags []storage.Tag) taggingOut {
	out := taggingOut{TagSet: make([]tagXML, 0, len(tags))}
	for _, t := range tags {
		out.TagSet = append(out.TagSet, tagXML{Key: t.Key, Value: t.Value})
	}
	return out
}

// writeStoredXML answers 200 with a stored canonical XML document.
func (s *Server) writeStoredXML(rc *reqCtx, doc []byte) error {
	h := rc.w.Header()
	h.Set("Content-Type", "application/xml")
	trimmed := bytes.TrimSpace(doc)
	hasDecl := bytes.HasPrefix(trimmed, []byte("<?xml"))
	n := len(doc)
	if !hasDecl {
		n += len(xml.Header)
	}
	h.Set("Content-Length", itoa(int64(n)))
	rc.w.WriteHeader(http.StatusOK)
	if !hasDecl {
		_, _ = io.WriteString(rc.w, xml.Header)
	}
	_, _ = rc.w.Write(doc)
	return nil
}

// bucketConfig returns a stored sub-resource, translating a missing one into the
// sub-resource's own error.
func (s *Server) bucketConfig(rc *reqCtx, kind storage.ConfigKind, missing *Error) ([]byte, error) {
	doc, err := s.b.BucketConfig(rc.r.Context(), rc.bucket, kind)
	if errors.Is(err, storage.ErrNoSuchConfig) {
		return nil, missing
	}
	return doc, err
}

func (s *Server) deleteBucketConfig(rc *reqCtx, az *authorizer, action string, kind storage.ConfigKind) error {
	if err := az.check(action, "", nil); err != nil {
		return err
	}
	if err := s.b.PutBucketConfig(rc.r.Context(), rc.bucket, kind, nil); err != nil {
		return err
	}
	rc.w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- bucket tagging ----

func (s *Server) getBucketTagging(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:GetBucketTagging", "", nil); err != nil {
		return err
	}
	doc, err := s.bucketConfig(rc, storage.ConfigTagging, apiErr("NoSuchTagSet", "The TagSet does not exist"))
	if err != nil {
		return err
	}
	return s.writeStoredXML(rc, doc)
}

func (s *Server) putBucketTagging(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:PutBucketTagging", "", nil); err != nil {
		return err
	}
	body, err := readDocument(rc, maxXMLBody, false)
	if err != nil {
		return err
	}
	tags, err := parseTaggingXML(body, maxBucketTags)
	if err != nil {
		return err
	}
	doc, err := xml.Marshal(taggingDocument(tags))
	if err != nil {
		return err
	}
	if err := s.b.PutBucketConfig(rc.r.Context(), rc.bucket, storage.ConfigTagging, doc); err != nil {
		return err
	}
	rc.w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- bucket policy ----

func (s *Server) getBucketPolicy(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:GetBucketPolicy", "", nil); err != nil {
		return err
	}
	doc, err := s.bucketConfig(rc, storage.ConfigPolicy, apiErr("NoSuchBucketPolicy", "The bucket policy does not exist"))
	if err != nil {
		return err
	}
	h := rc.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", itoa(int64(len(doc))))
	rc.w.WriteHeader(http.StatusOK)
	_, _ = rc.w.Write(doc)
	return nil
}

func (s *Server) putBucketPolicy(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:PutBucketPolicy", "", nil); err != nil {
		return err
	}
	body, err := readDocument(rc, maxXMLBody, false)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return apiErr("MissingRequestBodyError", "Request Body is empty")
	}
	p, err := policy.Parse(body)
	if err != nil {
		return err
	}
	if err := p.ValidateForBucket(rc.bucket); err != nil {
		return err
	}
	if p.IsPublic() {
		pab, err := s.publicAccessBlock(rc, rc.bucket)
		if err != nil {
			return err
		}
		if pab.BlockPublicPolicy {
			return errAccessDenied
		}
	}
	if err := s.b.PutBucketConfig(rc.r.Context(), rc.bucket, storage.ConfigPolicy, body); err != nil {
		return err
	}
	rc.w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- public access block ----

func (s *Server) getPublicAccessBlock(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:GetBucketPublicAccessBlock", "", nil); err != nil {
		return err
	}
	doc, err := s.bucketConfig(rc, storage.ConfigPublicAccessBlock,
		apiErr("NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found"))
	if err != nil {
		return err
	}
	return s.writeStoredXML(rc, doc)
}

func (s *Server) putPublicAccessBlock(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:PutBucketPublicAccessBlock", "", nil); err != nil {
		return err
	}
	body, err := readDocument(rc, maxXMLBody, false)
	if err != nil {
		return err
	}
	pab, err := policy.ParsePublicAccessBlock(body)
	if err != nil {
		return err
	}
	return s.b.PutBucketConfig(rc.r.Context(), rc.bucket, storage.ConfigPublicAccessBlock, pab.XML())
}

// ---- replication ----

func (s *Server) getBucketReplication(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:GetReplicationConfiguration", "", nil); err != nil {
		return err
	}
	doc, err := s.bucketConfig(rc, storage.ConfigReplication,
		apiErr("ReplicationConfigurationNotFoundError", "The replication configuration was not found"))
	if err != nil {
		return err
	}
	return s.writeStoredXML(rc, doc)
}

func (s *Server) putBucketReplication(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:PutReplicationConfiguration", "", nil); err != nil {
		return err
	}
	body, err := readDocument(rc, maxXMLBody, false)
	if err != nil {
		return err
	}
	cfg, err := rules.Parse(body)
	if err != nil {
		return err
	}
	if az.b.Versioning != storage.VersioningEnabled {
		return apiErr("InvalidRequest", "Versioning must be 'Enabled' on the bucket to apply a replication configuration")
	}
	seen := map[string]bool{}
	for _, r := range cfg.Rules {
		dst := r.Destination.BucketName()
		if seen[dst] {
			continue
		}
		seen[dst] = true
		if err := s.checkReplicationDestination(rc, dst); err != nil {
			return err
		}
	}
	return s.b.PutBucketConfig(rc.r.Context(), rc.bucket, storage.ConfigReplication, cfg.XML())
}

// checkReplicationDestination checks a rule's destination bucket as S3 does
// (it exists, with versioning enabled) and as Pangea needs (it is in another
// region: Pangea replicates across regions only).
func (s *Server) checkReplicationDestination(rc *reqCtx, dst string) error {
	ctx := rc.r.Context()
	if dst == rc.bucket {
		return apiErr("InvalidRequest", "Destination bucket cannot be the same as the source bucket.")
	}
	var t Target
	if s.cfg.Resolver != nil {
		var err error
		if t, err = s.cfg.Resolver.Resolve(ctx, dst); errors.Is(err, storage.ErrNoSuchBucket) {
			return apiErr("InvalidRequest", "Destination bucket must exist.")
		} else if err != nil {
			return err
		}
	} else {
		t.Local = true
	}
	if t.Local {
		if _, err := s.b.Bucket(ctx, dst); errors.Is(err, storage.ErrNoSuchBucket) {
			return apiErr("InvalidRequest", "Destination bucket must exist.")
		} else if err != nil {
			return err
		}
		return apiErr("InvalidRequest", fmt.Sprintf("The destination bucket %s is in this bucket's region: Pangea replicates between regions, so create the destination in another region.", dst))
	}
	resp, err := s.internalRequest(rc, &t, http.MethodGet, "/"+url.PathEscape(dst)+"?versioning", nil)
	if err != nil {
		return err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxXMLBody))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return remoteError(resp, body)
	}
	if rerr != nil {
		return regionUnreachable(t.Region, rerr)
	}
	var v versioningConfiguration
	if err := parseXML(body, &v); err != nil || v.Status != "Enabled" {
		return apiErr("InvalidRequest", "Destination bucket must have versioning enabled.")
	}
	return nil
}

// ---- ACLs ----
//
// Pangea implements S3's "bucket owner enforced" object ownership, the S3 default
// since 2023: ACLs are disabled, the bucket owner has FULL_CONTROL of the bucket and
// every object. GET ?acl answers that ACL; PUT ?acl succeeds only when it asks for
// exactly that (canned "private" or an owner-only FULL_CONTROL grant), because common
// tools set it routinely; anything else is AccessControlListNotSupported, as S3
// answers for buckets with ACLs disabled.

func ownerACL(ownerID string) accessControlPolicy {
	return accessControlPolicy{
		Owner: ownerOf(ownerID),
		Grants: []grant{{
			Grantee: grantee{
				XMLNSXSI:    "http://www.w3.org/2001/XMLSchema-instance",
				Type:        "CanonicalUser",
				ID:          ownerID,
				DisplayName: ownerID,
			},
			Permission: "FULL_CONTROL",
		}},
	}
}

func (s *Server) getACL(rc *reqCtx, az *authorizer, action, key string) error {
	if err := az.check(action, key, nil); err != nil {
		return err
	}
	return s.writeXML(rc, http.StatusOK, ownerACL(az.b.Owner))
}

// putACL accepts only the owner-FULL_CONTROL ACL (see above).
func (s *Server) putACL(rc *reqCtx, az *authorizer, action, key string) error {
	if err := az.check(action, key, nil); err != nil {
		return err
	}
	h := rc.r.Header
	if !cannedACLAllowed(h.Get("X-Amz-Acl")) || hasGrantHeaders(h) {
		return errACLNotSupported
	}
	body, err := readDocument(rc, maxXMLBody, false)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var in accessControlPolicyIn
	if err := parseXML(body, &in); err != nil {
		return err
	}
	for _, g := range in.Grants {
		if g.Permission != "FULL_CONTROL" || g.Grantee.URI != "" || (g.Grantee.ID != "" && g.Grantee.ID != az.b.Owner) {
			return errACLNotSupported
		}
	}
	return nil
}

var errACLNotSupported = apiErr("AccessControlListNotSupported", "The bucket does not allow ACLs")

func (s *Server) getObjectACL(rc *reqCtx, az *authorizer) error {
	action := "s3:GetObjectAcl"
	if rc.param("versionId") != "" {
		action = "s3:GetObjectVersionAcl"
	}
	if _, err := s.b.Object(rc.r.Context(), rc.bucket, rc.key, rc.param("versionId")); err != nil {
		if err := az.check(action, rc.key, nil); err != nil {
			return err
		}
		return objectLookupError(err, rc.param("versionId"))
	}
	return s.getACL(rc, az, action, rc.key)
}

func (s *Server) putObjectACL(rc *reqCtx, az *authorizer) error {
	action := "s3:PutObjectAcl"
	if rc.param("versionId") != "" {
		action = "s3:PutObjectVersionAcl"
	}
	if _, err := s.b.Object(rc.r.Context(), rc.bucket, rc.key, rc.param("versionId")); err != nil {
		if err := az.check(action, rc.key, nil); err != nil {
			return err
		}
		return objectLookupError(err, rc.param("versionId"))
	}
	return s.putACL(rc, az, action, rc.key)
}

package policy

import (
	"regexp"
	"strings"
)

// actionScope says which resource type an S3 action applies to.
type actionScope uint8

const (
	scopeBucket actionScope = iota + 1
	scopeObject
)

// knownActions classifies the S3 actions whose resource type is fixed, keyed by the lower
// case action name without "s3:". Actions missing here are accepted without the
// action/resource check rather than rejected, so a newer action never breaks a policy.
var knownActions = func() map[string]actionScope {
	m := map[string]actionScope{}
	for _, a := range []string{
		"AbortMultipartUpload", "BypassGovernanceRetention", "DeleteObject", "DeleteObjectTagging",
		"DeleteObjectVersion", "DeleteObjectVersionTagging", "GetObject", "GetObjectAcl",
		"GetObjectAttributes", "GetObjectLegalHold", "GetObjectRetention", "GetObjectTagging",
		"GetObjectTorrent", "GetObjectVersion", "GetObjectVersionAcl", "GetObjectVersionAttributes",
		"GetObjectVersionForReplication", "GetObjectVersionTagging", "GetObjectVersionTorrent",
		"InitiateReplication", "ListMultipartUploadParts", "ObjectOwnerOverrideToBucketOwner",
		"PutObject", "PutObjectAcl", "PutObjectLegalHold", "PutObjectRetention", "PutObjectTagging",
		"PutObjectVersionAcl", "PutObjectVersionTagging", "ReplicateDelete", "ReplicateObject",
		"ReplicateTags", "RestoreObject",
	} {
		m[strings.ToLower(a)] = scopeObject
	}
	for _, a := range []string{
		"CreateBucket", "DeleteBucket", "DeleteBucketOwnershipControls", "DeleteBucketPolicy",
		"DeleteBucketWebsite", "GetAccelerateConfiguration", "GetAnalyticsConfiguration",
		"GetBucketAcl", "GetBucketCORS", "GetBucketLocation", "GetBucketLogging",
		"GetBucketNotification", "GetBucketObjectLockConfiguration", "GetBucketOwnershipControls",
		"GetBucketPolicy", "GetBucketPolicyStatus", "GetBucketPublicAccessBlock",
		"GetBucketRequestPayment", "GetBucketTagging", "GetBucketVersioning", "GetBucketWebsite",
		"GetEncryptionConfiguration", "GetIntelligentTieringConfiguration",
		"GetInventoryConfiguration", "GetLifecycleConfiguration", "GetMetricsConfiguration",
		"GetReplicationConfiguration", "ListBucket", "ListBucketMultipartUploads",
		"ListBucketVersions", "PutAccelerateConfiguration", "PutAnalyticsConfiguration",
		"PutBucketAcl", "PutBucketCORS", "PutBucketLogging", "PutBucketNotification",
		"PutBucketObjectLockConfiguration", "PutBucketOwnershipControls", "PutBucketPolicy",
		"PutBucketPublicAccessBlock", "PutBucketRequestPayment", "PutBucketTagging",
		"PutBucketVersioning", "PutBucketWebsite", "PutEncryptionConfiguration",
		"PutIntelligentTieringConfiguration", "PutInventoryConfiguration",
		"PutLifecycleConfiguration", "PutMetricsConfiguration", "PutReplicationConfiguration",
	} {
		m[strings.ToLower(a)] = scopeBucket
	}
	return m
}()

var variablePattern = regexp.MustCompile(`\$\{[^}]*\}`)

// ValidateForBucket checks the policy as a bucket policy of bucket, as PutBucketPolicy
// does: every Resource and NotResource must be able to name the bucket or objects in it
// ("Policy has invalid resource"), and every S3 action named without wildcards must apply
// to at least one of its statement's resources ("Action does not apply to any resource(s)
// in statement"). Errors are *Error with Code MalformedPolicy.
func (p *Policy) ValidateForBucket(bucket string) error {
	bucketARN := []rune("arn:aws:s3:::" + bucket)
	objectPrefix := []rune("arn:aws:s3:::" + bucket + "/")
	for i := range p.Statements {
		st := &p.Statements[i]
		type res struct{ bucket, object bool }
		var rs []res
		for _, r := range append(append([]string(nil), st.Resource...), st.NotResource...) {
			if r == "*" {
				rs = append(rs, res{bucket: true, object: true})
				continue
			}
			// A variable can expand to anything, so validation treats it as "*".
			toks, _ := compilePattern(variablePattern.ReplaceAllString(r, "*"), false, nil)
			x := res{bucket: matchTokens(toks, bucketARN, false), object: canMatchWithPrefix(toks, objectPrefix)}
			if !x.bucket && !x.object {
				return malformed("Policy has invalid resource")
			}
			rs = append(rs, x)
		}
		if st.Resource == nil {
			continue
		}
		for _, a := range st.Action {
			_, name, _ := strings.Cut(a, ":")
			if hasWildcard(name) || a == "*" {
				continue
			}
			scope := knownActions[strings.ToLower(name)]
			if scope == 0 {
				continue
			}
			ok := false
			for _, x := range rs[:len(st.Resource)] {
				if scope == scopeBucket && x.bucket || scope == scopeObject && x.object {
					ok = true
					break
				}
			}
			if !ok {
				return malformed("Action does not apply to any resource(s) in statement")
			}
		}
	}
	return nil
}

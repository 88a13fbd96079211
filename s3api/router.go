package s3api

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// op is a typed S3 operation. The router maps every request to exactly one op (or an
// error); dispatch maps every op to exactly one handler.
type op uint8

const (
	opUnknown op = iota
	opListBuckets
	opCreateBucket
	opHeadBucket
	opDeleteBucket
	opGetBucketLocation
	opGetBucketVersioning
	opPutBucketVersioning
	opListObjects
	opListObjectsV2
	opListObjectVersions
	opListMultipartUploads
	opDeleteObjects
	opGetBucketTagging
	opPutBucketTagging
	opDeleteBucketTagging
	opGetBucketPolicy
	opPutBucketPolicy
	opDeleteBucketPolicy
	opGetPublicAccessBlock
	opPutPublicAccessBlock
	opDeletePublicAccessBlock
	opGetBucketReplication
	opPutBucketReplication
	opDeleteBucketReplication
	opGetBucketACL
	opPutBucketACL
	opGetObject
	opHeadObject
	opPutObject
	opCopyObject
	opDeleteObject
	opGetObjectTagging
	opGetObjectAttributes
	opPutObjectTagging
	opDeleteObjectTagging
	opGetObjectACL
	opPutObjectACL
	opCreateMultipartUpload
	opUploadPart
	opUploadPartCopy
	opCompleteMultipartUpload
	opAbortMultipartUpload
	opListParts
	opHealthLive  // not S3: GET /_pangea/health/live (health.go)
	opHealthReady // not S3: GET /_pangea/health/ready
	opMetrics     // not S3: GET /_pangea/metrics (metrics.go)
	numOps
)

var opNames = [numOps]string{
	opUnknown:                 "Unknown",
	opListBuckets:             "ListBuckets",
	opCreateBucket:            "CreateBucket",
	opHeadBucket:              "HeadBucket",
	opDeleteBucket:            "DeleteBucket",
	opGetBucketLocation:       "GetBucketLocation",
	opGetBucketVersioning:     "GetBucketVersioning",
	opPutBucketVersioning:     "PutBucketVersioning",
	opListObjects:             "ListObjects",
	opListObjectsV2:           "ListObjectsV2",
	opListObjectVersions:      "ListObjectVersions",
	opListMultipartUploads:    "ListMultipartUploads",
	opDeleteObjects:           "DeleteObjects",
	opGetBucketTagging:        "GetBucketTagging",
	opPutBucketTagging:        "PutBucketTagging",
	opDeleteBucketTagging:     "DeleteBucketTagging",
	opGetBucketPolicy:         "GetBucketPolicy",
	opPutBucketPolicy:         "PutBucketPolicy",
	opDeleteBucketPolicy:      "DeleteBucketPolicy",
	opGetPublicAccessBlock:    "GetPublicAccessBlock",
	opPutPublicAccessBlock:    "PutPublicAccessBlock",
	opDeletePublicAccessBlock: "DeletePublicAccessBlock",
	opGetBucketReplication:    "GetBucketReplication",
	opPutBucketReplication:    "PutBucketReplication",
	opDeleteBucketReplication: "DeleteBucketReplication",
	opGetBucketACL:            "GetBucketAcl",
	opPutBucketACL:            "PutBucketAcl",
	opGetObject:               "GetObject",
	opHeadObject:              "HeadObject",
	opPutObject:               "PutObject",
	opCopyObject:              "CopyObject",
	opDeleteObject:            "DeleteObject",
	opGetObjectTagging:        "GetObjectTagging",
	opGetObjectAttributes:     "GetObjectAttributes",
	opPutObjectTagging:        "PutObjectTagging",
	opDeleteObjectTagging:     "DeleteObjectTagging",
	opGetObjectACL:            "GetObjectAcl",
	opPutObjectACL:            "PutObjectAcl",
	opCreateMultipartUpload:   "CreateMultipartUpload",
	opUploadPart:              "UploadPart",
	opUploadPartCopy:          "UploadPartCopy",
	opCompleteMultipartUpload: "CompleteMultipartUpload",
	opAbortMultipartUpload:    "AbortMultipartUpload",
	opListParts:               "ListParts",
	opHealthLive:              "HealthLive",
	opHealthReady:             "HealthReady",
	opMetrics:                 "Metrics",
}

func (o op) name() string {
	if o < numOps {
		return opNames[o]
	}
	return "Unknown"
}

// routed is the result of routing: the operation and what it addresses.
type routed struct {
	op     op
	bucket string
	key    string
	query  url.Values
}

// unsupportedSubresource reports whether a query parameter names an S3 sub-resource
// or action that Pangea does not implement (answered NotImplemented).
func unsupportedSubresource(name string) bool {
	switch name {
	case "accelerate", "analytics", "attributes", "cors", "encryption", "intelligent-tiering",
		"inventory", "legal-hold", "lifecycle", "logging", "metadataTable", "metrics",
		"notification", "object-lock", "ownershipControls", "policyStatus", "requestPayment",
		"restore", "retention", "select", "select-type", "session", "torrent", "website",
		"renameObject", "metadataConfiguration", "abac":
		return true
	}
	return false
}

// route maps a request to an operation. It is a pure function of the method, host,
// path, query and a few headers. baseHost is "." + the lower-case base domain.
// The returned routed is filled as far as it could be even when err is non-nil, so
// errors can name their resource.
func route(r *http.Request, baseHost string) (routed, error) {
	var rt routed
	if r.URL.RawQuery != "" {
		rt.query = r.URL.Query()
	}
	path := r.URL.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if b, ok := vhostBucket(r.Host, baseHost); ok {
		rt.bucket, rt.key = b, path[1:]
	} else {
		rt.bucket, rt.key, _ = strings.Cut(path[1:], "/")
		if rt.bucket == healthBucket {
			if o, ok := healthOp(rt.key); ok {
				rt.op = o
				if r.Method != http.MethodGet && r.Method != http.MethodHead {
					return rt, errMethodNotAllowed
				}
				return rt, nil
			}
		}
	}

	if rt.bucket == "" {
		if rt.key != "" {
			return rt, apiErr("InvalidURI", "Couldn't parse the specified URI.")
		}
		if r.Method == http.MethodGet {
			rt.op = opListBuckets
			return rt, nil
		}
		return rt, errMethodNotAllowed
	}
	for name := range rt.query {
		if name == "attributes" && r.Method == http.MethodGet && rt.key != "" {
			continue // GetObjectAttributes; elsewhere ?attributes is not an operation
		}
		if unsupportedSubresource(name) {
			return rt, errNotImplemented
		}
	}
	if r.Method == http.MethodOptions {
		// CORS preflight: CORS is not implemented.
		return rt, errNotImplemented
	}
	var err error
	if rt.key == "" {
		rt.op, err = bucketOp(r.Method, rt.query)
	} else {
		if err := checkObjectKey(rt.key); err != nil {
			return rt, err
		}
		rt.op, err = objectOp(r.Method, rt.query, r.Header)
	}
	return rt, err
}

// vhostBucket extracts the bucket of a virtual-host-style request: a host of the
// form "<bucket>.<base domain>", with an optional port.
func vhostBucket(host, baseHost string) (string, bool) {
	if host == "" || host[0] == '[' { // IPv6 literal: path style
		return "", false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	if b, ok := awsVhostBucket(host); ok {
		return b, true
	}
	if len(host) <= len(baseHost) {
		return "", false
	}
	if !hasSuffixFold(host, baseHost) {
		return "", false
	}
	return strings.ToLower(host[:len(host)-len(baseHost)]), true
}

// awsVhostBucket is the bucket of a virtual-hosted AWS S3 host name, as an
// unmodified client sends it through Pangea's proxy mode:
// {bucket}.s3.amazonaws.com, {bucket}.s3.{region}.amazonaws.com or the legacy
// {bucket}.s3-{region}.amazonaws.com (bucket names may hold dots). The
// path-style hosts (s3.amazonaws.com, s3.{region}.amazonaws.com), S3 Control's
// and the MRAP global host are not buckets' hosts.
func awsVhostBucket(host string) (string, bool) {
	const suffix = ".amazonaws.com"
	if !hasSuffixFold(host, suffix) {
		return "", false
	}
	rest := strings.ToLower(host[:len(host)-len(suffix)])
	var bucket string
	switch {
	case strings.HasSuffix(rest, ".s3"): // bucket.s3
		bucket = rest[:len(rest)-len(".s3")]
	default:
		i := strings.LastIndex(rest, ".s3")
		if i <= 0 {
			return "", false
		}
		tail := rest[i+1:] // s3.<region> or s3-<region>
		region, ok := strings.CutPrefix(tail, "s3.")
		if !ok {
			region, ok = strings.CutPrefix(tail, "s3-")
		}
		if !ok || region == "" || strings.Contains(region, ".") || region == "global" || strings.HasPrefix(region, "control") {
			return "", false
		}
		bucket = rest[:i]
	}
	if bucket == "" {
		return "", false
	}
	return bucket, true
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

func has(q url.Values, name string) bool {
	if q == nil {
		return false
	}
	_, ok := q[name]
	return ok
}

// bucketOp routes requests addressing a bucket (no key).
func bucketOp(method string, q url.Values) (op, error) {
	switch method {
	case http.MethodGet:
		switch {
		case has(q, "versioning"):
			return opGetBucketVersioning, nil
		case has(q, "tagging"):
			return opGetBucketTagging, nil
		case has(q, "policy"):
			return opGetBucketPolicy, nil
		case has(q, "publicAccessBlock"):
			return opGetPublicAccessBlock, nil
		case has(q, "replication"):
			return opGetBucketReplication, nil
		case has(q, "location"):
			return opGetBucketLocation, nil
		case has(q, "acl"):
			return opGetBucketACL, nil
		case has(q, "versions"):
			return opListObjectVersions, nil
		case has(q, "uploads"):
			return opListMultipartUploads, nil
		case q.Get("list-type") == "2":
			return opListObjectsV2, nil
		}
		return opListObjects, nil
	case http.MethodHead:
		return opHeadBucket, nil
	case http.MethodPut:
		switch {
		case has(q, "versioning"):
			return opPutBucketVersioning, nil
		case has(q, "tagging"):
			return opPutBucketTagging, nil
		case has(q, "policy"):
			return opPutBucketPolicy, nil
		case has(q, "publicAccessBlock"):
			return opPutPublicAccessBlock, nil
		case has(q, "replication"):
			return opPutBucketReplication, nil
		case has(q, "acl"):
			return opPutBucketACL, nil
		case has(q, "location"), has(q, "versions"), has(q, "uploads"), has(q, "delete"):
			return opUnknown, errMethodNotAllowed
		}
		return opCreateBucket, nil
	case http.MethodDelete:
		switch {
		case has(q, "tagging"):
			return opDeleteBucketTagging, nil
		case has(q, "policy"):
			return opDeleteBucketPolicy, nil
		case has(q, "publicAccessBlock"):
			return opDeletePublicAccessBlock, nil
		case has(q, "replication"):
			return opDeleteBucketReplication, nil
		case has(q, "versioning"), has(q, "location"), has(q, "acl"), has(q, "versions"), has(q, "uploads"):
			return opUnknown, errMethodNotAllowed
		}
		return opDeleteBucket, nil
	case http.MethodPost:
		if has(q, "delete") {
			return opDeleteObjects, nil
		}
		// POST Object (browser form upload) is not implemented.
		return opUnknown, errNotImplemented
	}
	return opUnknown, errMethodNotAllowed
}

// objectOp routes requests addressing an object.
func objectOp(method string, q url.Values, h http.Header) (op, error) {
	switch method {
	case http.MethodGet:
		switch {
		case has(q, "uploadId"):
			return opListParts, nil
		case has(q, "tagging"):
			return opGetObjectTagging, nil
		case has(q, "acl"):
			return opGetObjectACL, nil
		case has(q, "attributes"):
			return opGetObjectAttributes, nil
		}
		return opGetObject, nil
	case http.MethodHead:
		return opHeadObject, nil
	case http.MethodPut:
		switch {
		case has(q, "tagging"):
			return opPutObjectTagging, nil
		case has(q, "acl"):
			return opPutObjectACL, nil
		case has(q, "uploadId") || has(q, "partNumber"):
			if !has(q, "uploadId") || !has(q, "partNumber") {
				return opUnknown, apiErr("InvalidRequest", "UploadPart requires both partNumber and uploadId.")
			}
			if h.Get("X-Amz-Copy-Source") != "" {
				return opUploadPartCopy, nil
			}
			return opUploadPart, nil
		case h.Get("X-Amz-Copy-Source") != "":
			return opCopyObject, nil
		}
		return opPutObject, nil
	case http.MethodDelete:
		switch {
		case has(q, "uploadId"):
			return opAbortMultipartUpload, nil
		case has(q, "tagging"):
			return opDeleteObjectTagging, nil
		}
		return opDeleteObject, nil
	case http.MethodPost:
		switch {
		case has(q, "uploads"):
			return opCreateMultipartUpload, nil
		case has(q, "uploadId"):
			return opCompleteMultipartUpload, nil
		}
		return opUnknown, errMethodNotAllowed
	}
	return opUnknown, errMethodNotAllowed
}

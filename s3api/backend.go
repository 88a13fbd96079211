package s3api

import (
	"context"
	"io"

	"github.com/pangea-s3/pangea/storage"
)

// RequestScoper is implemented by backends whose reads cost a round trip (the
// linearizable reads of a region member). The server calls BeginRequest once per
// request, before any backend call, and passes the returned context to every call
// the request makes. The backend may then let one read barrier cover all the reads
// of the request, and, for a write (any method but GET and HEAD), serve the bucket
// record and configurations that authorize it from its local replica: S3 bucket
// configuration is eventually consistent, and the write itself is ordered by the
// backend, which re-checks the bucket when it applies it.
type RequestScoper interface {
	BeginRequest(ctx context.Context, write bool) context.Context
}

// Backend is what the S3 front end needs from its own region's store: the region
// member (node.Member) or the standalone single-node store without raft
// (node.Local). It serves the buckets of this region only; in a planet the resolve
// step (Resolver, resolve.go) forwards the requests for other regions' buckets to
// them over HTTP rather than calling a Backend for them, and the bucket namespace
// is the catalog's (Resolver), which CreateBucket and DeleteBucket go through
// before they change the region's store.
// Errors are storage sentinels (errors.Is), a context error, or anything else
// (translated to InternalError or, if it implements Retryable, ServiceUnavailable).
type Backend interface {
	RegionBuckets
	DataBackend
}

// RegionBuckets are the region's bucket-set operations: what the catalog
// (Resolver) records for the whole planet, the store does for its region.
type RegionBuckets interface {
	// ListBuckets returns one page of the region's buckets selected by in, by name.
	ListBuckets(ctx context.Context, in storage.ListBucketsInput) (storage.ListBucketsResult, error)
	CreateBucket(ctx context.Context, name, region, owner string) error
	DeleteBucket(ctx context.Context, name string) error
}

// DataBackend serves the buckets of the region and their objects.
type DataBackend interface {
	Bucket(ctx context.Context, name string) (storage.BucketInfo, error)
	SetBucketVersioning(ctx context.Context, bucket string, state storage.VersioningState) error
	// BucketConfig returns a stored sub-resource, or storage.ErrNoSuchConfig.
	BucketConfig(ctx context.Context, bucket string, kind storage.ConfigKind) ([]byte, error)
	// PutBucketConfig stores a sub-resource; nil data deletes it.
	PutBucketConfig(ctx context.Context, bucket string, kind storage.ConfigKind, data []byte) error

	PutObject(ctx context.Context, in storage.PutObjectInput) (storage.ObjectVersion, error)
	// Object returns a version's metadata. versionID "" means the current version, "null"
	// the null version. A delete marker comes back with storage.ErrDeleteMarker.
	Object(ctx context.Context, bucket, key, versionID string) (storage.ObjectVersion, error)
	// OpenObject streams length bytes of v's body from offset (length -1: to the end).
	OpenObject(ctx context.Context, v storage.ObjectVersion, offset, length int64) (io.ReadCloser, error)
	// DeleteObject deletes a version or adds a delete marker owned by owner (the
	// authenticated principal, "" for anonymous).
	DeleteObject(ctx context.Context, bucket, key, versionID, owner string) (storage.DeleteResult, error)
	// PutObjectTagging replaces a version's tags (nil deletes them) and returns the version ID.
	PutObjectTagging(ctx context.Context, bucket, key, versionID string, tags []storage.Tag) (string, error)
	ListObjects(ctx context.Context, bucket string, in storage.ListObjectsInput) (storage.ListObjectsResult, error)
	ListObjectVersions(ctx context.Context, bucket string, in storage.ListVersionsInput) (storage.ListVersionsResult, error)

	CreateMultipartUpload(ctx context.Context, bucket, key string, meta storage.ObjectMeta, checksumAlgorithm, owner string) (storage.MultipartUpload, error)
	UploadPart(ctx context.Context, in storage.UploadPartInput) (storage.Part, error)
	// CompleteMultipartUpload assembles parts into a new version if cond holds
	// against the key's latest version when the write is applied.
	CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []storage.CompletedPart, cond storage.WriteConditions) (storage.ObjectVersion, error)
	AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error
	ListParts(ctx context.Context, bucket, key, uploadID string, partNumberMarker, maxParts int) (storage.ListPartsResult, error)
	ListMultipartUploads(ctx context.Context, bucket string, in storage.ListUploadsInput) (storage.ListUploadsResult, error)
}

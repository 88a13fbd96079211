package storage

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// This file is the contract between storage and the layers above it (node, s3api).
// Changing a signature here means changing every consumer: keep it stable.

// ChunkSize is the raw size of every body chunk except the last chunk of a blob.
// Fixed so that a byte range maps to chunk indexes by division.
const ChunkSize = 1 << 20

// Sentinel errors. Callers compare with errors.Is; s3api translates them to S3 errors.
var (
	ErrNoSuchBucket            = errors.New("storage: no such bucket")
	ErrBucketAlreadyExists     = errors.New("storage: bucket already exists")       // owned by someone else
	ErrBucketAlreadyOwnedByYou = errors.New("storage: bucket already owned by you") // same owner
	ErrBucketNotEmpty          = errors.New("storage: bucket not empty")
	ErrNoSuchKey               = errors.New("storage: no such key")
	ErrNoSuchVersion           = errors.New("storage: no such version")
	ErrDeleteMarker            = errors.New("storage: version is a delete marker") // returned with the marker's ObjectVersion
	ErrNoSuchUpload            = errors.New("storage: no such upload")
	ErrInvalidPart             = errors.New("storage: invalid part")
	ErrInvalidPartOrder        = errors.New("storage: invalid part order")
	ErrEntityTooSmall          = errors.New("storage: part too small")
	ErrEntityTooLarge          = errors.New("storage: entity too large")
	ErrIncompleteBody          = errors.New("storage: body shorter than declared length")
	ErrBadDigest               = errors.New("storage: Content-MD5 does not match body")
	ErrChecksumMismatch        = errors.New("storage: checksum does not match body")
	ErrNoSuchConfig            = errors.New("storage: no such bucket configuration")
	ErrPreconditionFailed      = errors.New("storage: precondition failed") // a WriteConditions check did not hold
	ErrInvalidVersionID        = errors.New("storage: invalid version id")
	ErrInvalidArgument         = errors.New("storage: invalid argument")
	// ErrBucketUnversioned: a replica version (not null) into a bucket whose
	// versioning was never enabled (S3's DstBucketUnversioned). Also
	// ErrInvalidArgument.
	ErrBucketUnversioned        = fmt.Errorf("%w: the bucket is not versioned", ErrInvalidArgument)
	ErrUnsupportedFormatVersion = errors.New("storage: unsupported format version")
)

// VersioningState is a bucket's versioning state. A bucket never returns to Unversioned.
type VersioningState uint8

const (
	Unversioned VersioningState = iota
	VersioningEnabled
	VersioningSuspended
)

// ConfigKind names a stored bucket sub-resource. Storage keeps them as opaque bytes;
// s3api validates and canonicalises them before they are stored.
type ConfigKind string

const (
	ConfigTagging           ConfigKind = "tagging"
	ConfigPolicy            ConfigKind = "policy"
	ConfigPublicAccessBlock ConfigKind = "public-access-block"
	ConfigReplication       ConfigKind = "replication"
)

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name       string
	Region     string
	Owner      string // access key of the creator
	CreatedAt  time.Time
	Versioning VersioningState
}

// VersionID totally orders versions everywhere: by hybrid logical clock timestamp,
// then origin region code, then sequence. The latest version of a key is the greatest ID.
type VersionID struct {
	Time   uint64 // HLC timestamp: unix milliseconds << 16 | logical counter
	Region uint32 // RegionCode(origin region name)
	Seq    uint32 // per-origin sequence, disambiguates IDs minted in one HLC tick
}

// Tag is one object or bucket tag.
type Tag struct {
	Key, Value string
}

// Checksum is an additional checksum stored with an object or part.
type Checksum struct {
	Algorithm string // CRC32, CRC32C, SHA1, SHA256 (and CRC64NVME)
	Value     string // base64; for multipart composites "<base64>-<parts>"
	Type      string // FULL_OBJECT or COMPOSITE
}

// ObjectMeta is the client-provided metadata of an object.
type ObjectMeta struct {
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string
	UserMeta           map[string]string // lower-case keys without the x-amz-meta- prefix
	Tags               []Tag
	StorageClass       string
}

// ObjectVersion is one version of a key (an object or a delete marker).
type ObjectVersion struct {
	Bucket, Key       string
	ID                VersionID
	IsNull            bool // the "null" version (written while unversioned or suspended)
	IsLatest          bool // filled by reads
	DeleteMarker      bool
	ModTime           time.Time
	Size              int64
	ETag              string // without quotes; "<hex>-N" for multipart
	Meta              ObjectMeta
	Checksum          *Checksum
	PartSizes         []int64 // multipart objects: the size of each part, in order
	Owner             string
	ReplicationStatus string

	body []segment // where the bytes are; only storage reads it
}

// segment is a run of chunks of one blob. Defined here so ObjectVersion can carry it.
type segment struct {
	Blob   BlobID
	Chunks uint32
	Size   int64
	Inline []byte
}

// BlobID names a staged run of body chunks. Chosen before the write enters the log.
type BlobID [16]byte

// ChunkEncoding says how a chunk's bytes are stored.
type ChunkEncoding uint8

const (
	ChunkRaw ChunkEncoding = iota
	ChunkS2
)

// DeleteResult is the outcome of a DeleteObject.
type DeleteResult struct {
	VersionID    string // "null", an ID, or "" for an unversioned bucket
	DeleteMarker bool
}

// ListBucketsInput selects buckets by name order: names beginning with Prefix and
// greater than StartAfter, in Region when it is not empty. MaxBuckets caps the page;
// 0 or less means no cap.
type ListBucketsInput struct {
	Prefix, StartAfter, Region string
	MaxBuckets                 int
}

// ListBucketsResult is one page of buckets by name. IsTruncated tells that more
// selected buckets follow the last one returned.
type ListBucketsResult struct {
	Buckets     []BucketInfo
	IsTruncated bool
}

// ListObjectsInput selects keys; Marker excludes every key <= Marker.
type ListObjectsInput struct {
	Prefix, Delimiter, Marker string
	MaxKeys                   int
}

// ListObjectsResult is one page of current, non-marker versions. NextMarker is the
// last key or common prefix returned (set when IsTruncated).
type ListObjectsResult struct {
	Objects        []ObjectVersion
	CommonPrefixes []string
	IsTruncated    bool
	NextMarker     string
}

// ListVersionsInput selects versions as S3 ListObjectVersions does.
type ListVersionsInput struct {
	Prefix, Delimiter, KeyMarker, VersionIDMarker string
	MaxKeys                                       int
}

// ListVersionsResult: versions and markers by key ascending, newest first within a key.
type ListVersionsResult struct {
	Versions                           []ObjectVersion
	CommonPrefixes                     []string
	IsTruncated                        bool
	NextKeyMarker, NextVersionIDMarker string
}

// MultipartUpload is an upload in progress.
type MultipartUpload struct {
	Bucket, Key, UploadID string
	Initiated             time.Time
	Meta                  ObjectMeta
	ChecksumAlgorithm     string
	Owner                 string
}

// Part is one uploaded part.
type Part struct {
	Number   int
	Size     int64
	ETag     string
	Checksum *Checksum
	ModTime  time.Time
}

// ListPartsResult is one page of parts.
type ListPartsResult struct {
	Upload               MultipartUpload
	Parts                []Part
	IsTruncated          bool
	NextPartNumberMarker int
}

// ListUploadsInput selects uploads as S3 ListMultipartUploads does.
type ListUploadsInput struct {
	Prefix, Delimiter, KeyMarker, UploadIDMarker string
	MaxUploads                                   int
}

// ListUploadsResult is one page of uploads.
type ListUploadsResult struct {
	Uploads                           []MultipartUpload
	CommonPrefixes                    []string
	IsTruncated                       bool
	NextKeyMarker, NextUploadIDMarker string
}

// CompletedPart is one element of a CompleteMultipartUpload request.
type CompletedPart struct {
	Number   int
	ETag     string // with or without quotes
	Checksum string // optional base64 value of the upload's checksum algorithm
}

// DigestExpectation carries what the client claims about a body, verified at its end.
type DigestExpectation struct {
	ContentMD5        string        // base64 Content-MD5 header, "" if none
	ChecksumAlgorithm string        // "", CRC32, CRC32C, SHA1, SHA256, CRC64NVME
	ChecksumValue     string        // base64 value from an x-amz-checksum-* header, "" if none
	Trailer           func() string // value from an aws-chunked trailer, read after EOF; nil if none
}

// BodyInput is a request body on its way in. Body may return an error instead of
// io.EOF (signature or checksum failure found at its end): the write is then abandoned
// and that error returned, wrapped.
type BodyInput struct {
	Body   io.Reader
	Size   int64 // exact decoded length, or -1 if unknown
	Expect DigestExpectation
}

// WriteConditions are the preconditions of a conditional write (S3's
// If-None-Match: * and If-Match). Apply checks them against the latest version of
// the key in the transaction that writes, so concurrent conditional writers are
// decided in log order: of N writers of one new key with IfNoneMatch, exactly one
// succeeds. The zero value means no condition.
type WriteConditions struct {
	// IfNoneMatch (If-None-Match: *): the write fails with ErrPreconditionFailed
	// when the key's latest version exists and is not a delete marker.
	IfNoneMatch bool
	// IfMatch, when not empty, is an If-Match header value (ETagListMatches): the
	// write fails with ErrNoSuchKey when the key has no current object (none, or a
	// delete marker is the latest version) and with ErrPreconditionFailed when the
	// current object's ETag is not listed.
	IfMatch string
}

// IsZero reports whether c sets no condition.
func (c WriteConditions) IsZero() bool { return !c.IfNoneMatch && c.IfMatch == "" }

// PutObjectInput is a PutObject (and the write half of CopyObject).
type PutObjectInput struct {
	Bucket, Key, Owner string
	Meta               ObjectMeta
	BodyInput
	WriteConditions
}

// UploadPartInput is an UploadPart (and the write half of UploadPartCopy).
type UploadPartInput struct {
	Bucket, Key, UploadID string
	PartNumber            int
	BodyInput
}

package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// backend is the write path and read path shared by Local and Member: it prepares
// commands (bodies streamed into chunks, digests checked, blob and upload IDs
// chosen), hands them to a Committer and answers from the Results. It leaves version
// IDs and times zero: the Committer's stamper fills them right before the commands
// are applied (Local) or proposed to the log (Member, on the leader), so that the
// one place deciding the order of writes also decides their IDs.
//
// Every read first passes the read barrier (nil: none, for Local whose store is the
// whole truth), which for a Member is what makes reads linearizable.
type backend struct {
	region  string
	logger  *slog.Logger
	store   *storage.Store
	commit  Committer
	barrier func(ctx context.Context) error

	// bufs holds the chunk read buffers shared by all uploads, one pool per size
	// class (body.go, getBuf).
	bufs bufPools
	// body bounds the request-body bytes between the socket and the log (ingest.go).
	body        *bodyBudget
	reserveWait time.Duration // a chunk whose reads wait longer in all gives its share back
	pace        UploadPace    // the slowest a body may arrive (pace.go)

	// active holds blobs being staged right now, so the collector never discards
	// the early chunks of a slow upload that has not committed its version yet.
	activeMu sync.Mutex
	active   map[storage.BlobID]struct{}
}

func newBackend(region string, logger *slog.Logger, st *storage.Store, c Committer, barrier func(context.Context) error) *backend {
	b := &backend{
		region:      region,
		logger:      logger,
		store:       st,
		commit:      c,
		barrier:     barrier,
		body:        newBodyBudget(DefaultBodyBudget()),
		reserveWait: defaultReserveWait,
		pace:        UploadPace{}.withDefaults(),
		active:      make(map[storage.BlobID]struct{}),
	}
	return b
}

// session is the read state of one S3 request (BeginRequest): whether the request
// writes, and whether a read barrier has passed for it already.
type session struct {
	write  bool
	mu     sync.Mutex
	passed bool
}

type sessionKey struct{}

// BeginRequest implements s3api.RequestScoper: the reads of one request share one
// read barrier, and a write's bucket record and configurations come from the local
// replica (see readConfig). Without a barrier (Local) there is nothing to scope.
func (l *backend) BeginRequest(ctx context.Context, write bool) context.Context {
	if l.barrier == nil {
		return ctx
	}
	return context.WithValue(ctx, sessionKey{}, &session{write: write})
}

// read runs the read barrier, once per request when ctx carries a session: the
// request is linearized at its first read, and later reads see that state or a
// newer one.
func (l *backend) read(ctx context.Context) error {
	if l.barrier == nil {
		return nil
	}
	s, _ := ctx.Value(sessionKey{}).(*session)
	if s == nil {
		return l.barrier(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.passed {
		return nil
	}
	if err := l.barrier(ctx); err != nil {
		return err
	}
	s.passed = true
	return nil
}

// readConfig precedes reads of bucket records and configurations. For a write
// request it skips the barrier (local reports true): those reads only authorize
// and shape the write, S3 bucket configuration is eventually consistent, and the
// write is ordered by the log, whose apply re-checks the bucket. A write's other
// reads (a copy's source, a precondition) still pass the barrier.
func (l *backend) readConfig(ctx context.Context) (local bool, err error) {
	if s, _ := ctx.Value(sessionKey{}).(*session); s != nil && s.write {
		return true, nil
	}
	return false, l.read(ctx)
}

// activeBlobs lists the blobs this process is staging right now.
func (l *backend) activeBlobs() []storage.BlobID {
	l.activeMu.Lock()
	defer l.activeMu.Unlock()
	out := make([]storage.BlobID, 0, len(l.active))
	for id := range l.active {
		out = append(out, id)
	}
	return out
}

// stamper decides version IDs and times. Exactly one stamper is in charge of a
// store at a time (Local's, or the raft leader's), and it Observes the store's
// greatest applied HLC timestamp before its first stamp, so IDs only grow.
type stamper struct {
	hlc    *storage.HLC
	region uint32
	seq    atomic.Uint32
}

func newStamper(region string, now func() time.Time) *stamper {
	s := &stamper{hlc: storage.NewHLC(now), region: storage.RegionCode(region)}
	// A random start keeps IDs distinct even if two stampers of one region share an
	// HLC tick (a leader change within a millisecond).
	var seed [4]byte
	rand.Read(seed[:])
	s.seq.Store(uint32(seed[0])<<24 | uint32(seed[1])<<16 | uint32(seed[2])<<8 | uint32(seed[3]))
	return s
}

// next mints a version ID and the modification time that goes with it. The time is
// derived from the ID so that ModTime and version order never disagree.
func (s *stamper) next() (storage.VersionID, time.Time) {
	ts := s.hlc.Next()
	return storage.VersionID{Time: ts, Region: s.region, Seq: s.seq.Add(1)}, storage.HLCTime(ts)
}

// time returns a time for commands that need one but mint no version.
func (s *stamper) time() time.Time { return storage.HLCTime(s.hlc.Next()) }

// NextVersion implements storage.Clock.
func (s *stamper) NextVersion() (storage.VersionID, time.Time) { return s.next() }

// Now implements storage.Clock.
func (s *stamper) Now() time.Time { return s.time() }

// stampingCommitter stamps commands, then commits them: Local's Committer.
type stampingCommitter struct {
	s *stamper
	c Committer
}

func (sc stampingCommitter) Commit(ctx context.Context, cmds ...storage.Command) ([]storage.Result, error) {
	return sc.c.Commit(ctx, storage.Stamp(cmds, sc.s)...)
}

// newBlobID returns a unique blob ID that sorts by creation time: 8 bytes of Unix
// nanoseconds, then 8 random bytes. Chunks are keyed by blob ID, so new chunks land
// at the right edge of the chunk index (one leaf rewritten per batch) instead of on a
// random leaf each (one leaf per chunk).
func newBlobID() storage.BlobID {
	var id storage.BlobID
	binary.BigEndian.PutUint64(id[:8], uint64(time.Now().UnixNano()))
	rand.Read(id[8:]) // crypto/rand.Read never fails (Go 1.24+)
	return id
}

func newUploadID() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// commitOne commits a single command and returns its business error, if any.
func (l *backend) commitOne(ctx context.Context, cmd storage.Command) (storage.Result, error) {
	res, err := l.commit.Commit(ctx, cmd)
	if err != nil {
		return storage.Result{}, err
	}
	return res[0], res[0].Err
}

// ---- buckets ----

// ListBuckets lists one page of the buckets selected by in, by name.
func (l *backend) ListBuckets(ctx context.Context, in storage.ListBucketsInput) (storage.ListBucketsResult, error) {
	if err := l.read(ctx); err != nil {
		return storage.ListBucketsResult{}, fmt.Errorf("list buckets: %w", err)
	}
	return l.store.ListBucketsPage(ctx, in)
}

// Bucket returns a bucket's description or storage.ErrNoSuchBucket. A bucket
// missing from the local replica is looked up again after a barrier: it may have
// been created through another member a moment ago.
func (l *backend) Bucket(ctx context.Context, name string) (storage.BucketInfo, error) {
	b, err := l.bucket(ctx, name)
	if err != nil {
		return storage.BucketInfo{}, fmt.Errorf("bucket: %w", err)
	}
	return b, nil
}

// bucket is Bucket without the wrapping, for the write paths that wrap their own.
func (l *backend) bucket(ctx context.Context, name string) (storage.BucketInfo, error) {
	local, err := l.readConfig(ctx)
	if err != nil {
		return storage.BucketInfo{}, err
	}
	b, err := l.store.Bucket(ctx, name)
	if local && errors.Is(err, storage.ErrNoSuchBucket) {
		if err := l.read(ctx); err != nil {
			return storage.BucketInfo{}, err
		}
		b, err = l.store.Bucket(ctx, name)
	}
	return b, err
}

// CreateBucket creates a bucket; an empty region means this node's region.
func (l *backend) CreateBucket(ctx context.Context, name, region, owner string) error {
	if region == "" {
		region = l.region
	}
	if _, err := l.commitOne(ctx, cmdCreateBucket(name, region, owner, time.Time{})); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	return nil
}

// DeleteBucket deletes an empty bucket.
func (l *backend) DeleteBucket(ctx context.Context, name string) error {
	if _, err := l.commitOne(ctx, cmdDeleteBucket(name)); err != nil {
		return fmt.Errorf("delete bucket: %w", err)
	}
	return nil
}

// SetBucketVersioning enables or suspends versioning.
func (l *backend) SetBucketVersioning(ctx context.Context, bucket string, state storage.VersioningState) error {
	if _, err := l.commitOne(ctx, cmdSetVersioning(bucket, state)); err != nil {
		return fmt.Errorf("set versioning: %w", err)
	}
	return nil
}

// BucketConfig returns a stored sub-resource or storage.ErrNoSuchConfig.
func (l *backend) BucketConfig(ctx context.Context, bucket string, kind storage.ConfigKind) ([]byte, error) {
	if _, err := l.readConfig(ctx); err != nil {
		return nil, fmt.Errorf("bucket config: %w", err)
	}
	return l.store.BucketConfig(ctx, bucket, kind)
}

// PutBucketConfig stores a sub-resource; nil data deletes it.
func (l *backend) PutBucketConfig(ctx context.Context, bucket string, kind storage.ConfigKind, data []byte) error {
	if _, err := l.commitOne(ctx, cmdPutBucketConfig(bucket, kind, data)); err != nil {
		return fmt.Errorf("put bucket config: %w", err)
	}
	return nil
}

// ---- objects ----

// PutObject streams in.Body into staged chunks (or inline for small bodies), checks
// it against in.Expect and in.Size, then commits the version. in.WriteConditions go
// inside the command and are checked when it is applied, atomically with the write.
// On any failure (a failed condition included) the staged blob is discarded and the
// error returned wrapped.
func (l *backend) PutObject(ctx context.Context, in storage.PutObjectInput) (storage.ObjectVersion, error) {
	if in.Size > MaxObjectSize {
		return storage.ObjectVersion{}, fmt.Errorf("put object: %w", storage.ErrEntityTooLarge)
	}
	if in.Size < 0 || in.Size > storage.ChunkSize {
		// Fail fast instead of staging a large body for a bucket that is not there (a
		// body of one chunk is committed with the version in one submission anyway).
		if _, err := l.bucket(ctx, in.Bucket); err != nil {
			return storage.ObjectVersion{}, fmt.Errorf("put object: %w", err)
		}
	}
	body, err := l.stageBody(ctx, in.BodyInput, "")
	if err != nil {
		return storage.ObjectVersion{}, fmt.Errorf("put object: %w", err)
	}
	defer l.release(body)
	res, err := l.commitBody(ctx, body, cmdPutObject(in, storage.VersionID{}, time.Time{}, body))
	if err != nil {
		l.discard(ctx, body)
		return storage.ObjectVersion{}, fmt.Errorf("put object: %w", err)
	}
	return res.Version, nil
}

// Object returns a version's metadata (see s3api.Backend).
func (l *backend) Object(ctx context.Context, bucket, key, versionID string) (storage.ObjectVersion, error) {
	if err := l.read(ctx); err != nil {
		return storage.ObjectVersion{}, fmt.Errorf("object: %w", err)
	}
	return l.store.Object(ctx, bucket, key, versionID)
}

// OpenObject streams part of a version's body. No read barrier: v came from a read
// that passed one, and a version's body never changes.
func (l *backend) OpenObject(ctx context.Context, v storage.ObjectVersion, offset, length int64) (io.ReadCloser, error) {
	return l.store.OpenObject(ctx, v, offset, length)
}

// DeleteObject deletes the current version (adding a delete marker where
// versioning asks for one) or, with a versionID, that version.
func (l *backend) DeleteObject(ctx context.Context, bucket, key, versionID, owner string) (storage.DeleteResult, error) {
	res, err := l.commitOne(ctx, cmdDeleteObject(bucket, key, versionID, owner, storage.VersionID{}, time.Time{}))
	if err != nil {
		return storage.DeleteResult{}, fmt.Errorf("delete object: %w", err)
	}
	return res.Delete, nil
}

// PutObjectTagging replaces a version's tags and returns the version ID.
func (l *backend) PutObjectTagging(ctx context.Context, bucket, key, versionID string, tags []storage.Tag) (string, error) {
	res, err := l.commitOne(ctx, cmdPutObjectTagging(bucket, key, versionID, tags))
	if err != nil {
		return "", fmt.Errorf("put object tagging: %w", err)
	}
	return res.VersionID, nil
}

// ListObjects lists current versions.
func (l *backend) ListObjects(ctx context.Context, bucket string, in storage.ListObjectsInput) (storage.ListObjectsResult, error) {
	if err := l.read(ctx); err != nil {
		return storage.ListObjectsResult{}, fmt.Errorf("list objects: %w", err)
	}
	return l.store.ListObjects(ctx, bucket, in)
}

// ListObjectVersions lists versions and delete markers.
func (l *backend) ListObjectVersions(ctx context.Context, bucket string, in storage.ListVersionsInput) (storage.ListVersionsResult, error) {
	if err := l.read(ctx); err != nil {
		return storage.ListVersionsResult{}, fmt.Errorf("list object versions: %w", err)
	}
	return l.store.ListObjectVersions(ctx, bucket, in)
}

// ---- multipart ----

// CreateMultipartUpload starts an upload with a random, URL-safe upload ID.
func (l *backend) CreateMultipartUpload(ctx context.Context, bucket, key string, meta storage.ObjectMeta, checksumAlgorithm, owner string) (storage.MultipartUpload, error) {
	res, err := l.commitOne(ctx, cmdCreateUpload(bucket, key, newUploadID(), time.Time{}, meta, checksumAlgorithm, owner))
	if err != nil {
		return storage.MultipartUpload{}, fmt.Errorf("create multipart upload: %w", err)
	}
	return res.Upload, nil
}

// UploadPart streams one part as PutObject streams a body, then commits it.
func (l *backend) UploadPart(ctx context.Context, in storage.UploadPartInput) (storage.Part, error) {
	if in.Size > MaxObjectSize {
		return storage.Part{}, fmt.Errorf("upload part: %w", storage.ErrEntityTooLarge)
	}
	if err := l.read(ctx); err != nil {
		return storage.Part{}, fmt.Errorf("upload part: %w", err)
	}
	up, err := l.store.MultipartUpload(ctx, in.Bucket, in.Key, in.UploadID)
	if err != nil {
		return storage.Part{}, fmt.Errorf("upload part: %w", err)
	}
	body, err := l.stageBody(ctx, in.BodyInput, up.ChecksumAlgorithm)
	if err != nil {
		return storage.Part{}, fmt.Errorf("upload part: %w", err)
	}
	defer l.release(body)
	res, err := l.commitBody(ctx, body, cmdPutPart(in, time.Time{}, body))
	if err != nil {
		l.discard(ctx, body)
		return storage.Part{}, fmt.Errorf("upload part: %w", err)
	}
	return res.Part, nil
}

// CompleteMultipartUpload assembles the listed parts into a new version if cond
// holds when the command is applied.
func (l *backend) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []storage.CompletedPart, cond storage.WriteConditions) (storage.ObjectVersion, error) {
	res, err := l.commitOne(ctx, cmdCompleteUpload(bucket, key, uploadID, parts, cond, storage.VersionID{}, time.Time{}))
	if err != nil {
		return storage.ObjectVersion{}, fmt.Errorf("complete multipart upload: %w", err)
	}
	return res.Version, nil
}

// AbortMultipartUpload removes an upload and releases its parts.
func (l *backend) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	if _, err := l.commitOne(ctx, cmdAbortUpload(bucket, key, uploadID)); err != nil {
		return fmt.Errorf("abort multipart upload: %w", err)
	}
	return nil
}

// ListParts lists an upload's parts.
func (l *backend) ListParts(ctx context.Context, bucket, key, uploadID string, partNumberMarker, maxParts int) (storage.ListPartsResult, error) {
	if err := l.read(ctx); err != nil {
		return storage.ListPartsResult{}, fmt.Errorf("list parts: %w", err)
	}
	return l.store.ListParts(ctx, bucket, key, uploadID, partNumberMarker, maxParts)
}

// ListMultipartUploads lists uploads in progress.
func (l *backend) ListMultipartUploads(ctx context.Context, bucket string, in storage.ListUploadsInput) (storage.ListUploadsResult, error) {
	if err := l.read(ctx); err != nil {
		return storage.ListUploadsResult{}, fmt.Errorf("list multipart uploads: %w", err)
	}
	return l.store.ListMultipartUploads(ctx, bucket, in)
}

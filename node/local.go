package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// MaxObjectSize is the largest body PutObject and UploadPart accept (S3's 5 GiB).
const MaxObjectSize int64 = 5 << 30

// Defaults for the staged-blob garbage collector.
const (
	DefaultGCGrace    = 15 * time.Minute
	DefaultGCInterval = 5 * time.Minute
)

// LocalConfig configures a single-node backend.
type LocalConfig struct {
	Dir    string       // data directory; the store is <Dir>/store.db
	Region string       // the region this node serves, e.g. "us-east-1"
	Logger *slog.Logger // nil discards
	NoSync bool         // skip fsync (tests and benchmarks only)
	Now    func() time.Time

	// GCGrace is how long a staged blob may stay unreferenced before the collector
	// discards it; GCInterval is how often the collector runs. Zero: the defaults.
	GCGrace, GCInterval time.Duration
	// Batch bounds group-commit batches. Zero values: the defaults.
	Batch BatchOptions

	// wrapApplier lets tests observe or hold batches on their way to the store.
	wrapApplier func(Applier) Applier
}

// Local is the single-node Backend: every write is prepared here (IDs, times, blob
// IDs, encoded chunks decided up front), handed to a Committer, and its Result
// awaited; reads go straight to the store. It implements s3api.Backend.
type Local struct {
	cfg       LocalConfig
	logger    *slog.Logger
	now       func() time.Time
	store     *storage.Store
	committer *BatchCommitter
	hlc       *storage.HLC
	region    uint32
	seq       atomic.Uint32

	// bufs holds ChunkSize read buffers shared by all uploads.
	bufs sync.Pool

	// active holds blobs being staged right now, so the collector never discards
	// the early chunks of a slow upload that has not committed its version yet.
	activeMu sync.Mutex
	active   map[storage.BlobID]struct{}

	gcStop chan struct{}
	gcDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// OpenLocal opens (or creates) the store in cfg.Dir and starts the committer and
// the staged-blob collector.
func OpenLocal(cfg LocalConfig) (*Local, error) {
	if cfg.Dir == "" {
		return nil, errors.New("node: LocalConfig.Dir is empty")
	}
	if cfg.Region == "" {
		return nil, errors.New("node: LocalConfig.Region is empty")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.GCGrace <= 0 {
		cfg.GCGrace = DefaultGCGrace
	}
	if cfg.GCInterval <= 0 {
		cfg.GCInterval = DefaultGCInterval
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("node: create data dir: %w", err)
	}
	logger := cfg.Logger.With("component", "node", "region", cfg.Region)
	st, err := storage.Open(filepath.Join(cfg.Dir, "store.db"), storage.Options{Logger: cfg.Logger, NoSync: cfg.NoSync})
	if err != nil {
		return nil, fmt.Errorf("node: open store: %w", err)
	}
	var applier Applier = st
	if cfg.wrapApplier != nil {
		applier = cfg.wrapApplier(st)
	}
	l := &Local{
		cfg:       cfg,
		logger:    logger,
		now:       cfg.Now,
		store:     st,
		committer: NewBatchCommitter(applier, cfg.Batch, logger),
		hlc:       storage.NewHLC(cfg.Now),
		region:    storage.RegionCode(cfg.Region),
		active:    make(map[storage.BlobID]struct{}),
		gcStop:    make(chan struct{}),
		gcDone:    make(chan struct{}),
	}
	// A random start keeps IDs distinct even if a restart lands in the same HLC
	// tick as IDs minted before it (the HLC restarts from the wall clock).
	var seed [4]byte
	rand.Read(seed[:])
	l.seq.Store(uint32(seed[0])<<24 | uint32(seed[1])<<16 | uint32(seed[2])<<8 | uint32(seed[3]))
	l.bufs.New = func() any {
		b := make([]byte, storage.ChunkSize)
		return &b
	}
	go l.gcLoop()
	logger.Info("node opened", "dir", cfg.Dir, "no_sync", cfg.NoSync)
	return l, nil
}

// Close stops the collector, applies every write already submitted, and closes the
// store. Writes submitted afterwards fail with ErrClosed.
func (l *Local) Close() error {
	l.closeOnce.Do(func() {
		close(l.gcStop)
		<-l.gcDone
		l.committer.Close()
		l.closeErr = l.store.Close()
	})
	return l.closeErr
}

// Stats reports group-commit counters.
func (l *Local) Stats() CommitStats { return l.committer.Stats() }

// Region returns the region this node serves.
func (l *Local) Region() string { return l.cfg.Region }

// nextVersion mints a version ID and the modification time that goes with it. The
// time is derived from the ID so that ModTime and version order never disagree.
func (l *Local) nextVersion() (storage.VersionID, time.Time) {
	ts := l.hlc.Next()
	return storage.VersionID{Time: ts, Region: l.region, Seq: l.seq.Add(1)}, storage.HLCTime(ts)
}

// stamp returns a time for commands that need one but mint no version.
func (l *Local) stamp() time.Time { return storage.HLCTime(l.hlc.Next()) }

func newBlobID() storage.BlobID {
	var id storage.BlobID
	rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+)
	return id
}

func newUploadID() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// commitOne commits a single command and returns its business error, if any.
func (l *Local) commitOne(ctx context.Context, cmd storage.Command) (storage.Result, error) {
	res, err := l.committer.Commit(ctx, cmd)
	if err != nil {
		return storage.Result{}, err
	}
	return res[0], res[0].Err
}

// ---- buckets ----

// ListBuckets lists every bucket.
func (l *Local) ListBuckets(ctx context.Context) ([]storage.BucketInfo, error) {
	return l.store.ListBuckets(ctx)
}

// Bucket returns a bucket's description or storage.ErrNoSuchBucket.
func (l *Local) Bucket(ctx context.Context, name string) (storage.BucketInfo, error) {
	return l.store.Bucket(ctx, name)
}

// CreateBucket creates a bucket; an empty region means this node's region.
func (l *Local) CreateBucket(ctx context.Context, name, region, owner string) error {
	if region == "" {
		region = l.cfg.Region
	}
	if _, err := l.commitOne(ctx, cmdCreateBucket(name, region, owner, l.stamp())); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	return nil
}

// DeleteBucket deletes an empty bucket.
func (l *Local) DeleteBucket(ctx context.Context, name string) error {
	if _, err := l.commitOne(ctx, cmdDeleteBucket(name)); err != nil {
		return fmt.Errorf("delete bucket: %w", err)
	}
	return nil
}

// SetBucketVersioning enables or suspends versioning.
func (l *Local) SetBucketVersioning(ctx context.Context, bucket string, state storage.VersioningState) error {
	if _, err := l.commitOne(ctx, cmdSetVersioning(bucket, state)); err != nil {
		return fmt.Errorf("set versioning: %w", err)
	}
	return nil
}

// BucketConfig returns a stored sub-resource or storage.ErrNoSuchConfig.
func (l *Local) BucketConfig(ctx context.Context, bucket string, kind storage.ConfigKind) ([]byte, error) {
	return l.store.BucketConfig(ctx, bucket, kind)
}

// PutBucketConfig stores a sub-resource; nil data deletes it.
func (l *Local) PutBucketConfig(ctx context.Context, bucket string, kind storage.ConfigKind, data []byte) error {
	if _, err := l.commitOne(ctx, cmdPutBucketConfig(bucket, kind, data)); err != nil {
		return fmt.Errorf("put bucket config: %w", err)
	}
	return nil
}

// ---- objects ----

// PutObject streams in.Body into staged chunks (or inline for small bodies), checks
// it against in.Expect and in.Size, then commits the version. On any failure the
// staged blob is discarded and the error returned wrapped.
func (l *Local) PutObject(ctx context.Context, in storage.PutObjectInput) (storage.ObjectVersion, error) {
	if in.Size > MaxObjectSize {
		return storage.ObjectVersion{}, fmt.Errorf("put object: %w", storage.ErrEntityTooLarge)
	}
	if in.Size < 0 || in.Size > storage.InlineMax {
		// Fail fast instead of staging a large body for a bucket that is not there.
		if _, err := l.store.Bucket(ctx, in.Bucket); err != nil {
			return storage.ObjectVersion{}, fmt.Errorf("put object: %w", err)
		}
	}
	body, err := l.stageBody(ctx, in.BodyInput, "")
	if err != nil {
		return storage.ObjectVersion{}, fmt.Errorf("put object: %w", err)
	}
	defer l.release(body)
	id, t := l.nextVersion()
	res, err := l.commitBody(ctx, body, cmdPutObject(in, id, t, body))
	if err != nil {
		l.discard(ctx, body)
		return storage.ObjectVersion{}, fmt.Errorf("put object: %w", err)
	}
	return res.Version, nil
}

// Object returns a version's metadata (see s3api.Backend).
func (l *Local) Object(ctx context.Context, bucket, key, versionID string) (storage.ObjectVersion, error) {
	return l.store.Object(ctx, bucket, key, versionID)
}

// OpenObject streams part of a version's body.
func (l *Local) OpenObject(ctx context.Context, v storage.ObjectVersion, offset, length int64) (io.ReadCloser, error) {
	return l.store.OpenObject(ctx, v, offset, length)
}

// DeleteObject deletes the current version (adding a delete marker where
// versioning asks for one) or, with a versionID, that version.
func (l *Local) DeleteObject(ctx context.Context, bucket, key, versionID string) (storage.DeleteResult, error) {
	id, t := l.nextVersion() // used only if a delete marker is created
	res, err := l.commitOne(ctx, cmdDeleteObject(bucket, key, versionID, id, t))
	if err != nil {
		return storage.DeleteResult{}, fmt.Errorf("delete object: %w", err)
	}
	return res.Delete, nil
}

// PutObjectTagging replaces a version's tags and returns the version ID.
func (l *Local) PutObjectTagging(ctx context.Context, bucket, key, versionID string, tags []storage.Tag) (string, error) {
	res, err := l.commitOne(ctx, cmdPutObjectTagging(bucket, key, versionID, tags))
	if err != nil {
		return "", fmt.Errorf("put object tagging: %w", err)
	}
	return res.VersionID, nil
}

// ListObjects lists current versions.
func (l *Local) ListObjects(ctx context.Context, bucket string, in storage.ListObjectsInput) (storage.ListObjectsResult, error) {
	return l.store.ListObjects(ctx, bucket, in)
}

// ListObjectVersions lists versions and delete markers.
func (l *Local) ListObjectVersions(ctx context.Context, bucket string, in storage.ListVersionsInput) (storage.ListVersionsResult, error) {
	return l.store.ListObjectVersions(ctx, bucket, in)
}

// ---- multipart ----

// CreateMultipartUpload starts an upload with a random, URL-safe upload ID.
func (l *Local) CreateMultipartUpload(ctx context.Context, bucket, key string, meta storage.ObjectMeta, checksumAlgorithm, owner string) (storage.MultipartUpload, error) {
	res, err := l.commitOne(ctx, cmdCreateUpload(bucket, key, newUploadID(), l.stamp(), meta, checksumAlgorithm, owner))
	if err != nil {
		return storage.MultipartUpload{}, fmt.Errorf("create multipart upload: %w", err)
	}
	return res.Upload, nil
}

// UploadPart streams one part as PutObject streams a body, then commits it.
func (l *Local) UploadPart(ctx context.Context, in storage.UploadPartInput) (storage.Part, error) {
	if in.Size > MaxObjectSize {
		return storage.Part{}, fmt.Errorf("upload part: %w", storage.ErrEntityTooLarge)
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
	res, err := l.commitBody(ctx, body, cmdPutPart(in, l.stamp(), body))
	if err != nil {
		l.discard(ctx, body)
		return storage.Part{}, fmt.Errorf("upload part: %w", err)
	}
	return res.Part, nil
}

// CompleteMultipartUpload assembles the listed parts into a new version.
func (l *Local) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []storage.CompletedPart) (storage.ObjectVersion, error) {
	id, t := l.nextVersion()
	res, err := l.commitOne(ctx, cmdCompleteUpload(bucket, key, uploadID, parts, id, t))
	if err != nil {
		return storage.ObjectVersion{}, fmt.Errorf("complete multipart upload: %w", err)
	}
	return res.Version, nil
}

// AbortMultipartUpload removes an upload and releases its parts.
func (l *Local) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	if _, err := l.commitOne(ctx, cmdAbortUpload(bucket, key, uploadID)); err != nil {
		return fmt.Errorf("abort multipart upload: %w", err)
	}
	return nil
}

// ListParts lists an upload's parts.
func (l *Local) ListParts(ctx context.Context, bucket, key, uploadID string, partNumberMarker, maxParts int) (storage.ListPartsResult, error) {
	return l.store.ListParts(ctx, bucket, key, uploadID, partNumberMarker, maxParts)
}

// ListMultipartUploads lists uploads in progress.
func (l *Local) ListMultipartUploads(ctx context.Context, bucket string, in storage.ListUploadsInput) (storage.ListUploadsResult, error) {
	return l.store.ListMultipartUploads(ctx, bucket, in)
}

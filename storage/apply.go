package storage

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/klauspost/compress/s2"
	"go.etcd.io/bbolt"
)

// MinPartSize is the smallest size of every part of a multipart upload but the last.
const MinPartSize = 5 << 20

// MaxPartNumber is the highest part number S3 accepts.
const MaxPartNumber = 10000

// Apply applies cmds in order in ONE bbolt read-write transaction (one fsync for the
// batch) and returns one Result per command. A business error (ErrNoSuchBucket,
// ErrBucketNotEmpty, ...) fails only its command, which then wrote nothing; later
// commands see the effects of earlier ones. An I/O error fails the whole batch: nothing
// is written and every Result.Err is set. Apply is deterministic: the same commands on
// the same state give the same state and results.
func (s *Store) Apply(cmds []Command) []Result {
	if len(cmds) == 0 {
		return nil
	}
	results, err := s.apply(cmds)
	if err != nil {
		for i := range results {
			results[i] = Result{Err: err}
		}
	}
	return results
}

// apply is Apply in one committed transaction. A non-nil error means the whole batch
// failed and nothing was written.
func (s *Store) apply(cmds []Command) ([]Result, error) {
	var results []Result
	s.mu.RLock()
	defer s.mu.RUnlock()
	var err error
	if s.db == nil {
		err = ErrClosed
	} else {
		err = s.db.Update(func(tx *bbolt.Tx) error {
			var err error
			results, err = applyInTx(tx, cmds, 0, false)
			return err
		})
	}
	if err != nil {
		if results == nil {
			results = make([]Result, len(cmds))
		}
		return results, fmt.Errorf("storage: apply: %w", err)
	}
	return results, nil
}

// applyInTx applies cmds inside tx; with indexed set (ApplyDeferred) it also records
// index as the last applied raft index, and refuses an index already applied. An
// error leaves tx partly written: the caller must roll it back.
func applyInTx(tx *bbolt.Tx, cmds []Command, index uint64, indexed bool) ([]Result, error) {
	results := make([]Result, len(cmds))
	if indexed {
		if err := checkIndex(tx, index); err != nil {
			return results, err
		}
	}
	a := applier{tx: tx}
	for i, c := range cmds {
		res, err := a.apply(c)
		var rej rejection
		switch {
		case errors.As(err, &rej):
			res = Result{Err: rej.err}
		case err != nil:
			return results, fmt.Errorf("command %d (%v): %w", i, c.Op, err)
		}
		results[i] = res
	}
	return results, recordProgress(tx, cmds, index, indexed)
}

// applier runs commands inside one write transaction. Every handler validates
// everything before its first write, so a rejected command leaves nothing behind. A
// handler error that is not a rejection is fatal for the batch.
type applier struct {
	tx *bbolt.Tx
}

// rejection marks a business error: the command fails, the batch goes on.
type rejection struct{ err error }

func (r rejection) Error() string { return r.err.Error() }
func (r rejection) Unwrap() error { return r.err }

func reject(err error) error { return rejection{err: err} }

// unreject strips the rejection marker for callers outside Apply.
func unreject(err error) error {
	var rej rejection
	if errors.As(err, &rej) {
		return rej.err
	}
	return err
}

// fail rejects the command.
func fail(err error) (Result, error) { return Result{}, reject(err) }

func (a *applier) apply(c Command) (Result, error) {
	if !c.valid() {
		return fail(fmt.Errorf("%w: command %v has no matching payload", ErrInvalidArgument, c.Op))
	}
	switch c.Op {
	case OpCreateBucket:
		return a.createBucket(c.CreateBucket)
	case OpDeleteBucket:
		return a.deleteBucket(c.DeleteBucket)
	case OpSetVersioning:
		return a.setVersioning(c.SetVersioning)
	case OpPutBucketConfig:
		return a.putBucketConfig(c.PutBucketConfig)
	case OpPutChunk:
		return a.putChunk(c.PutChunk)
	case OpPutObject:
		return a.putObject(c.PutObject)
	case OpDeleteObject:
		return a.deleteObject(c.DeleteObject)
	case OpPutObjectTagging:
		return a.putObjectTagging(c.PutObjectTagging)
	case OpCreateUpload:
		return a.createUpload(c.CreateUpload)
	case OpPutPart:
		return a.putPart(c.PutPart)
	case OpCompleteUpload:
		return a.completeUpload(c.CompleteUpload)
	case OpAbortUpload:
		return a.abortUpload(c.AbortUpload)
	case OpDiscardBlob:
		return a.discardBlob(c.DiscardBlob)
	}
	return fail(fmt.Errorf("%w: unknown op %v", ErrInvalidArgument, c.Op))
}

// bucketTables are the sub-buckets of one S3 bucket, opened on first use: most
// operations touch one of the four, and opening a nested bucket is not free.
type bucketTables struct {
	info               BucketInfo
	root               *bbolt.Bucket
	ver, upl, prt, cfg *bbolt.Bucket
}

// sub opens a sub-bucket. CreateBucket makes all four with the root in one
// transaction, so a missing one means a corrupt file: bbolt would fail loudly on it.
func (t *bucketTables) sub(p **bbolt.Bucket, name []byte) *bbolt.Bucket {
	if *p == nil {
		*p = t.root.Bucket(name)
	}
	return *p
}

func (t *bucketTables) versions() *bbolt.Bucket { return t.sub(&t.ver, subVersions) }
func (t *bucketTables) uploads() *bbolt.Bucket  { return t.sub(&t.upl, subUploads) }
func (t *bucketTables) parts() *bbolt.Bucket    { return t.sub(&t.prt, subParts) }
func (t *bucketTables) configs() *bbolt.Bucket  { return t.sub(&t.cfg, subConfigs) }

// tables looks up an S3 bucket, rejecting with ErrNoSuchBucket if absent.
func tables(tx *bbolt.Tx, name string) (*bucketTables, error) {
	raw := tx.Bucket(bktBuckets).Get([]byte(name))
	if raw == nil || name == "" {
		return nil, reject(fmt.Errorf("%w: %q", ErrNoSuchBucket, name))
	}
	info, err := decodeBucket(name, raw)
	if err != nil {
		return nil, err
	}
	root := tx.Bucket(bktObjects).Bucket([]byte(name))
	if root == nil {
		return nil, fmt.Errorf("%w: bucket %q has no object tables", errCorrupt, name)
	}
	return &bucketTables{info: info, root: root}, nil
}

func (a *applier) createBucket(c *CreateBucketCmd) (Result, error) {
	if c.Name == "" {
		return fail(fmt.Errorf("%w: empty bucket name", ErrInvalidArgument))
	}
	bk := a.tx.Bucket(bktBuckets)
	if raw := bk.Get([]byte(c.Name)); raw != nil {
		info, err := decodeBucket(c.Name, raw)
		if err != nil {
			return Result{}, err
		}
		if info.Owner == c.Owner {
			return fail(fmt.Errorf("%w: %q", ErrBucketAlreadyOwnedByYou, c.Name))
		}
		return fail(fmt.Errorf("%w: %q", ErrBucketAlreadyExists, c.Name))
	}
	info := BucketInfo{Name: c.Name, Region: c.Region, Owner: c.Owner, CreatedAt: c.Time}
	if err := bk.Put([]byte(c.Name), encodeBucket(info)); err != nil {
		return Result{}, err
	}
	objs := a.tx.Bucket(bktObjects)
	if objs.Bucket([]byte(c.Name)) != nil {
		// Left over from an inconsistent past; a new bucket starts empty.
		if err := objs.DeleteBucket([]byte(c.Name)); err != nil {
			return Result{}, err
		}
	}
	root, err := objs.CreateBucket([]byte(c.Name))
	if err != nil {
		return Result{}, err
	}
	for _, sub := range [][]byte{subVersions, subUploads, subParts, subConfigs} {
		if _, err := root.CreateBucket(sub); err != nil {
			return Result{}, err
		}
	}
	return Result{}, nil
}

func (a *applier) deleteBucket(c *DeleteBucketCmd) (Result, error) {
	t, err := tables(a.tx, c.Name)
	if err != nil {
		return Result{}, err
	}
	if k, _ := t.versions().Cursor().First(); k != nil {
		return fail(fmt.Errorf("%w: %q has object versions", ErrBucketNotEmpty, c.Name))
	}
	if k, _ := t.uploads().Cursor().First(); k != nil {
		return fail(fmt.Errorf("%w: %q has multipart uploads", ErrBucketNotEmpty, c.Name))
	}
	if err := a.tx.Bucket(bktObjects).DeleteBucket([]byte(c.Name)); err != nil {
		return Result{}, err
	}
	return Result{}, a.tx.Bucket(bktBuckets).Delete([]byte(c.Name))
}

func (a *applier) setVersioning(c *SetVersioningCmd) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if c.State != VersioningEnabled && c.State != VersioningSuspended {
		return fail(fmt.Errorf("%w: versioning state %d", ErrInvalidArgument, c.State))
	}
	if t.info.Versioning == c.State {
		return Result{}, nil
	}
	t.info.Versioning = c.State
	return Result{}, a.tx.Bucket(bktBuckets).Put([]byte(c.Bucket), encodeBucket(t.info))
}

func (a *applier) putBucketConfig(c *PutBucketConfigCmd) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if c.Kind == "" {
		return fail(fmt.Errorf("%w: empty configuration kind", ErrInvalidArgument))
	}
	if c.Data == nil {
		return Result{}, t.configs().Delete([]byte(c.Kind))
	}
	return Result{}, t.configs().Put([]byte(c.Kind), encodeConfig(c.Data))
}

func (a *applier) putChunk(c *PutChunkCmd) (Result, error) {
	if c.Blob == (BlobID{}) {
		return fail(fmt.Errorf("%w: zero blob id", ErrInvalidArgument))
	}
	if c.RawSize > ChunkSize {
		return fail(fmt.Errorf("%w: chunk of %d raw bytes exceeds ChunkSize", ErrInvalidArgument, c.RawSize))
	}
	switch c.Encoding {
	case ChunkRaw:
		if len(c.Data) != int(c.RawSize) {
			return fail(fmt.Errorf("%w: raw chunk length %d, RawSize %d", ErrInvalidArgument, len(c.Data), c.RawSize))
		}
	case ChunkS2:
		if n, err := s2.DecodedLen(c.Data); err != nil || n != int(c.RawSize) {
			return fail(fmt.Errorf("%w: s2 chunk does not decode to RawSize %d", ErrInvalidArgument, c.RawSize))
		}
	default:
		return fail(fmt.Errorf("%w: chunk encoding %d", ErrInvalidArgument, c.Encoding))
	}
	staged := a.tx.Bucket(bktStaged)
	chunks := a.tx.Bucket(bktChunks)
	var rec stagedRecord
	if raw := staged.Get(c.Blob[:]); raw != nil {
		r, err := decodeStaged(raw)
		if err != nil {
			return Result{}, err
		}
		rec = r
	} else {
		// Chunks without a staged record belong to a committed body: never touch them.
		if k, _ := chunks.Cursor().Seek(c.Blob[:]); k != nil && bytes.HasPrefix(k, c.Blob[:]) {
			return fail(fmt.Errorf("%w: blob %x is already referenced", ErrInvalidArgument, c.Blob))
		}
		rec.Time = c.Time.UnixNano()
		if c.Time.IsZero() {
			rec.Time = 0
		}
	}
	val := encodeChunkRecord(c.Encoding, c.RawSize, c.Data)
	ck := chunkKey(c.Blob, c.Index)
	if old := getChunkValue(chunks, ck); old != nil {
		if bytes.Equal(old, val) {
			return Result{}, nil // a retried PutChunk
		}
		return fail(fmt.Errorf("%w: chunk %d of blob %x already written with other bytes", ErrInvalidArgument, c.Index, c.Blob))
	}
	rec.Count++
	rec.Next = max(rec.Next, uint64(c.Index)+1)
	rec.RawBytes += uint64(c.RawSize)
	if c.RawSize < ChunkSize {
		rec.ShortCount++
		rec.ShortIndex = uint64(c.Index)
	}
	if err := putChunkValue(chunks, ck, val); err != nil {
		return Result{}, err
	}
	return Result{}, staged.Put(bytes.Clone(c.Blob[:]), encodeStaged(rec))
}

// checkBody validates a body reference of a PutObject or PutPart: inline bytes, or a
// staged blob whose chunks are all present and add up to size.
func (a *applier) checkBody(blob BlobID, chunks uint32, inline []byte, size int64) (segment, error) {
	if size < 0 {
		return segment{}, reject(fmt.Errorf("%w: negative size", ErrInvalidArgument))
	}
	if chunks == 0 {
		if blob != (BlobID{}) {
			return segment{}, reject(fmt.Errorf("%w: blob without chunks", ErrInvalidArgument))
		}
		if int64(len(inline)) != size || size > InlineMax {
			return segment{}, reject(fmt.Errorf("%w: inline body of %d bytes for size %d", ErrInvalidArgument, len(inline), size))
		}
		if size == 0 {
			return segment{}, nil
		}
		return segment{Size: size, Inline: bytes.Clone(inline)}, nil
	}
	if len(inline) != 0 {
		return segment{}, reject(fmt.Errorf("%w: both inline body and blob", ErrInvalidArgument))
	}
	raw := a.tx.Bucket(bktStaged).Get(blob[:])
	if raw == nil {
		return segment{}, reject(fmt.Errorf("%w: blob %x is not staged", ErrInvalidArgument, blob))
	}
	rec, err := decodeStaged(raw)
	if err != nil {
		return segment{}, err
	}
	n := uint64(chunks)
	if rec.Count != n || rec.Next != n || rec.RawBytes != uint64(size) ||
		!(rec.ShortCount == 0 || (rec.ShortCount == 1 && rec.ShortIndex == n-1)) {
		return segment{}, reject(fmt.Errorf("%w: blob %x incomplete (%d of %d chunks, %d of %d bytes)",
			ErrInvalidArgument, blob, rec.Count, chunks, rec.RawBytes, size))
	}
	return segment{Blob: blob, Chunks: chunks, Size: size}, nil
}

// adopt marks a staged blob as referenced.
func (a *applier) adopt(s segment) error {
	if s.Chunks == 0 {
		return nil
	}
	return a.tx.Bucket(bktStaged).Delete(s.Blob[:])
}

// release deletes the chunks of bodies no longer referenced.
func (a *applier) release(segs []segment) error {
	chunks := a.tx.Bucket(bktChunks)
	for _, s := range segs {
		for i := range s.Chunks {
			if err := deleteChunk(chunks, chunkKey(s.Blob, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// versionRef is a version found in the versions table: its bbolt key (copied) and record.
type versionRef struct {
	k []byte
	v ObjectVersion
}

// findNull returns the null version of key, if any. A key has at most one.
func findNull(vt *bbolt.Bucket, bucket, key string) (versionRef, bool, error) {
	prefix := appendEscaped(nil, key)
	c := vt.Cursor()
	for k, val := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, val = c.Next() {
		if len(val) < 2 || val[1]&verFlagNull == 0 {
			continue
		}
		v, err := decodeVersion(bucket, k, val)
		if err != nil {
			return versionRef{}, false, err
		}
		return versionRef{k: bytes.Clone(k), v: v}, true, nil
	}
	return versionRef{}, false, nil
}

// latest returns the newest version (or marker) of key, if any.
func latest(vt *bbolt.Bucket, bucket, key string) (versionRef, bool, error) {
	prefix := appendEscaped(nil, key)
	k, val := vt.Cursor().Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return versionRef{}, false, nil
	}
	v, err := decodeVersion(bucket, k, val)
	if err != nil {
		return versionRef{}, false, err
	}
	v.IsLatest = true
	return versionRef{k: bytes.Clone(k), v: v}, true, nil
}

// resolve finds the version a request names: "" the latest, "null" the null version,
// else an ID. Rejections: ErrNoSuchKey, ErrNoSuchVersion, ErrInvalidVersionID, and
// ErrDeleteMarker (with the marker's ref) when the version found is a delete marker.
func resolve(vt *bbolt.Bucket, bucket, key, versionID string) (versionRef, error) {
	var ref versionRef
	switch versionID {
	case "":
		r, ok, err := latest(vt, bucket, key)
		if err != nil {
			return r, err
		}
		if !ok {
			return r, reject(fmt.Errorf("%w: %q", ErrNoSuchKey, key))
		}
		ref = r
	case "null":
		r, ok, err := findNull(vt, bucket, key)
		if err != nil {
			return r, err
		}
		if !ok {
			return r, reject(fmt.Errorf("%w: %q version null", ErrNoSuchVersion, key))
		}
		ref = r
		ref.v.IsLatest = isLatest(vt, key, ref.k)
	default:
		id, err := ParseVersionID(versionID)
		if err != nil {
			return versionRef{}, reject(err)
		}
		k := versionKey(key, id)
		val := vt.Get(k)
		if val == nil || (len(val) > 1 && val[1]&verFlagNull != 0) {
			// The null version is only reachable as "null": its internal ID is never shown.
			return versionRef{}, reject(fmt.Errorf("%w: %q version %s", ErrNoSuchVersion, key, versionID))
		}
		v, err := decodeVersion(bucket, k, val)
		if err != nil {
			return versionRef{}, err
		}
		ref = versionRef{k: k, v: v}
		ref.v.IsLatest = isLatest(vt, key, k)
	}
	if ref.v.DeleteMarker {
		return ref, reject(ErrDeleteMarker)
	}
	return ref, nil
}

func isLatest(vt *bbolt.Bucket, key string, k []byte) bool {
	first, _ := vt.Cursor().Seek(appendEscaped(nil, key))
	return bytes.Equal(first, k)
}

// putVersion stores v as the newest write of its key under the bucket's versioning:
// as the null version (replacing and releasing any previous one) unless versioning is
// enabled. The caller has validated v.
func (a *applier) putVersion(t *bucketTables, v *ObjectVersion) error {
	v.IsNull = t.info.Versioning != VersioningEnabled
	if v.IsNull {
		old, ok, err := findNull(t.versions(), v.Bucket, v.Key)
		if err != nil {
			return err
		}
		if ok {
			if err := t.versions().Delete(old.k); err != nil {
				return err
			}
			if err := a.release(old.v.body); err != nil {
				return err
			}
		}
	}
	k := versionKey(v.Key, v.ID)
	if err := t.versions().Put(k, encodeVersion(v)); err != nil {
		return err
	}
	v.IsLatest = isLatest(t.versions(), v.Key, k)
	return nil
}

// checkNewVersion rejects a version write that would collide with an existing record.
func checkNewVersion(t *bucketTables, key string, id VersionID) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidArgument)
	}
	if id.IsZero() {
		return fmt.Errorf("%w: zero version id", ErrInvalidArgument)
	}
	if t.versions().Get(versionKey(key, id)) != nil {
		return fmt.Errorf("%w: version %s of %q already exists", ErrInvalidArgument, id, key)
	}
	return nil
}

func (a *applier) putObject(c *PutObjectCmd) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if err := checkNewVersion(t, c.Key, c.ID); err != nil {
		return fail(err)
	}
	seg, err := a.checkBody(c.Blob, c.Chunks, c.Inline, c.Size)
	if err != nil {
		return Result{}, err
	}
	// Last of the checks, in the transaction that writes: the atomic half of a
	// conditional write. A rejection here leaves the blob staged, as any other
	// rejection does; the writer discards it, or the staged-blob collector does.
	if err := checkConditions(t, c.Key, c.WriteConditions); err != nil {
		return Result{}, err
	}
	v := ObjectVersion{
		Bucket: c.Bucket, Key: c.Key, ID: c.ID, ModTime: c.Time, Size: c.Size, ETag: c.ETag,
		Meta: c.Meta, Checksum: c.Checksum, Owner: c.Owner, ReplicationStatus: c.ReplicationStatus,
	}
	if seg.Size > 0 {
		v.body = []segment{seg}
	}
	if err := a.putVersion(t, &v); err != nil {
		return Result{}, err
	}
	if err := a.adopt(seg); err != nil {
		return Result{}, err
	}
	return Result{Version: v}, nil
}

func (a *applier) deleteObject(c *DeleteObjectCmd) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if c.Key == "" {
		return fail(fmt.Errorf("%w: empty key", ErrInvalidArgument))
	}
	if c.VersionID != "" {
		return a.deleteVersion(t, c)
	}
	if t.info.Versioning == Unversioned {
		old, ok, err := findNull(t.versions(), c.Bucket, c.Key)
		if err != nil || !ok {
			return Result{}, err
		}
		if err := t.versions().Delete(old.k); err != nil {
			return Result{}, err
		}
		return Result{}, a.release(old.v.body)
	}
	if err := checkNewVersion(t, c.Key, c.MarkerID); err != nil {
		return fail(err)
	}
	m := ObjectVersion{Bucket: c.Bucket, Key: c.Key, ID: c.MarkerID, DeleteMarker: true, ModTime: c.Time, Owner: c.Owner}
	if err := a.putVersion(t, &m); err != nil {
		return Result{}, err
	}
	res := Result{Version: m, Delete: DeleteResult{VersionID: m.ID.String(), DeleteMarker: true}}
	if m.IsNull {
		res.Delete.VersionID = "null"
	}
	return res, nil
}

// deleteVersion permanently removes one version. A missing version is a success, as
// in S3 (204); the result says whether what was removed was a delete marker.
func (a *applier) deleteVersion(t *bucketTables, c *DeleteObjectCmd) (Result, error) {
	ref, err := resolve(t.versions(), c.Bucket, c.Key, c.VersionID)
	switch {
	case errors.Is(err, ErrNoSuchVersion):
		return Result{Delete: DeleteResult{VersionID: c.VersionID}}, nil
	case errors.Is(err, ErrDeleteMarker):
		// Removing a marker by version ID is allowed: it "undeletes" the object.
	case err != nil:
		return Result{}, err
	}
	if err := t.versions().Delete(ref.k); err != nil {
		return Result{}, err
	}
	if err := a.release(ref.v.body); err != nil {
		return Result{}, err
	}
	return Result{Version: ref.v, Delete: DeleteResult{VersionID: c.VersionID, DeleteMarker: ref.v.DeleteMarker}}, nil
}

func (a *applier) putObjectTagging(c *PutObjectTaggingCmd) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	ref, err := resolve(t.versions(), c.Bucket, c.Key, c.VersionID)
	if err != nil {
		return Result{}, err
	}
	ref.v.Meta.Tags = nil
	if len(c.Tags) > 0 {
		ref.v.Meta.Tags = c.Tags
	}
	if err := t.versions().Put(ref.k, encodeVersion(&ref.v)); err != nil {
		return Result{}, err
	}
	id := ref.v.ID.String()
	if ref.v.IsNull {
		id = "null"
	}
	return Result{Version: ref.v, VersionID: id}, nil
}

func (a *applier) createUpload(c *CreateUploadCmd) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if c.Key == "" || c.UploadID == "" {
		return fail(fmt.Errorf("%w: empty key or upload id", ErrInvalidArgument))
	}
	alg := c.ChecksumAlgorithm
	if alg != "" {
		if alg, err = NormalizeChecksumAlgorithm(alg); err != nil {
			return fail(err)
		}
	}
	k := uploadKey(c.Key, c.UploadID)
	if t.uploads().Get(k) != nil {
		return fail(fmt.Errorf("%w: upload %q exists", ErrInvalidArgument, c.UploadID))
	}
	u := MultipartUpload{Bucket: c.Bucket, Key: c.Key, UploadID: c.UploadID, Initiated: c.Time, Meta: c.Meta, ChecksumAlgorithm: alg, Owner: c.Owner}
	if err := t.uploads().Put(k, encodeUpload(u)); err != nil {
		return Result{}, err
	}
	return Result{Upload: u}, nil
}

// findUpload returns an upload record, rejecting with ErrNoSuchUpload if absent.
func findUpload(t *bucketTables, bucket, key, uploadID string) (MultipartUpload, error) {
	k := uploadKey(key, uploadID)
	raw := t.uploads().Get(k)
	if raw == nil {
		return MultipartUpload{}, reject(fmt.Errorf("%w: %q", ErrNoSuchUpload, uploadID))
	}
	return decodeUpload(bucket, k, raw)
}

// uploadParts returns the stored parts of an upload in part-number order.
func uploadParts(t *bucketTables, key, uploadID string) ([]partRecord, error) {
	prefix := partPrefix(key, uploadID)
	var parts []partRecord
	c := t.parts().Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+4 {
			continue
		}
		p, err := decodePart(k, v)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

func (a *applier) putPart(c *PutPartCmd) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if _, err := findUpload(t, c.Bucket, c.Key, c.UploadID); err != nil {
		return Result{}, err
	}
	if c.Number < 1 || c.Number > MaxPartNumber {
		return fail(fmt.Errorf("%w: part number %d", ErrInvalidArgument, c.Number))
	}
	seg, err := a.checkBody(c.Blob, c.Chunks, c.Inline, c.Size)
	if err != nil {
		return Result{}, err
	}
	k := partKey(c.Key, c.UploadID, c.Number)
	if raw := t.parts().Get(k); raw != nil {
		old, err := decodePart(k, raw)
		if err != nil {
			return Result{}, err
		}
		if err := a.release([]segment{old.body}); err != nil {
			return Result{}, err
		}
	}
	p := partRecord{Part: Part{Number: c.Number, Size: c.Size, ETag: c.ETag, Checksum: c.Checksum, ModTime: c.Time}, body: seg}
	if err := t.parts().Put(k, encodePart(p)); err != nil {
		return Result{}, err
	}
	if err := a.adopt(seg); err != nil {
		return Result{}, err
	}
	return Result{Part: p.Part}, nil
}

func sameETag(a, b string) bool {
	return strings.EqualFold(strings.Trim(a, `"`), strings.Trim(b, `"`))
}

func (a *applier) completeUpload(c *CompleteUploadCmd) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	u, err := findUpload(t, c.Bucket, c.Key, c.UploadID)
	if err != nil {
		return Result{}, err
	}
	if len(c.Parts) == 0 {
		return fail(fmt.Errorf("%w: no parts", ErrInvalidArgument))
	}
	for i := 1; i < len(c.Parts); i++ {
		if c.Parts[i].Number <= c.Parts[i-1].Number {
			return fail(fmt.Errorf("%w: part %d after part %d", ErrInvalidPartOrder, c.Parts[i].Number, c.Parts[i-1].Number))
		}
	}
	if err := checkNewVersion(t, c.Key, c.ID); err != nil {
		return fail(err)
	}
	stored, err := uploadParts(t, c.Key, c.UploadID)
	if err != nil {
		return Result{}, err
	}
	byNumber := make(map[int]partRecord, len(stored))
	for _, p := range stored {
		byNumber[p.Number] = p
	}
	used := make([]partRecord, len(c.Parts))
	etags := make([]string, len(c.Parts))
	for i, cp := range c.Parts {
		p, ok := byNumber[cp.Number]
		if !ok || !sameETag(p.ETag, cp.ETag) {
			return fail(fmt.Errorf("%w: part %d not uploaded or etag differs", ErrInvalidPart, cp.Number))
		}
		if cp.Checksum != "" && p.Checksum != nil && cp.Checksum != p.Checksum.Value {
			return fail(fmt.Errorf("%w: part %d checksum differs", ErrInvalidPart, cp.Number))
		}
		used[i], etags[i] = p, p.ETag
	}
	for _, p := range used[:len(used)-1] {
		if p.Size < MinPartSize {
			return fail(fmt.Errorf("%w: part %d is %d bytes", ErrEntityTooSmall, p.Number, p.Size))
		}
	}
	etag, err := MultipartETag(etags)
	if err != nil {
		return fail(err)
	}
	var sum *Checksum
	if u.ChecksumAlgorithm != "" {
		values := make([]string, 0, len(used))
		for _, p := range used {
			if p.Checksum != nil && p.Checksum.Algorithm == u.ChecksumAlgorithm {
				values = append(values, p.Checksum.Value)
			}
		}
		// Parts uploaded without the checksum leave the object without one rather
		// than with a wrong one.
		if len(values) == len(used) {
			if sum, err = CompositeChecksum(u.ChecksumAlgorithm, values); err != nil {
				return fail(err)
			}
		}
	}
	// Last of the checks: a failed condition leaves the upload and its parts intact.
	if err := checkConditions(t, c.Key, c.WriteConditions); err != nil {
		return Result{}, err
	}

	v := ObjectVersion{
		Bucket: c.Bucket, Key: c.Key, ID: c.ID, ModTime: c.Time, ETag: etag, Meta: u.Meta,
		Checksum: sum, Owner: u.Owner, PartSizes: make([]int64, len(used)),
	}
	inUse := make(map[int]bool, len(used))
	for i, p := range used {
		v.Size += p.Size
		v.PartSizes[i] = p.Size
		if p.body.Size > 0 {
			v.body = append(v.body, p.body)
		}
		inUse[p.Number] = true
	}
	if err := a.putVersion(t, &v); err != nil {
		return Result{}, err
	}
	for _, p := range stored {
		if err := t.parts().Delete(partKey(c.Key, c.UploadID, p.Number)); err != nil {
			return Result{}, err
		}
		if !inUse[p.Number] {
			if err := a.release([]segment{p.body}); err != nil {
				return Result{}, err
			}
		}
	}
	if err := t.uploads().Delete(uploadKey(c.Key, c.UploadID)); err != nil {
		return Result{}, err
	}
	return Result{Version: v}, nil
}

func (a *applier) abortUpload(c *AbortUploadCmd) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if _, err := findUpload(t, c.Bucket, c.Key, c.UploadID); err != nil {
		return Result{}, err
	}
	stored, err := uploadParts(t, c.Key, c.UploadID)
	if err != nil {
		return Result{}, err
	}
	for _, p := range stored {
		if err := t.parts().Delete(partKey(c.Key, c.UploadID, p.Number)); err != nil {
			return Result{}, err
		}
		if err := a.release([]segment{p.body}); err != nil {
			return Result{}, err
		}
	}
	return Result{}, t.uploads().Delete(uploadKey(c.Key, c.UploadID))
}

func (a *applier) discardBlob(c *DiscardBlobCmd) (Result, error) {
	staged := a.tx.Bucket(bktStaged)
	if staged.Get(c.Blob[:]) == nil {
		// Referenced (or already gone): a referenced blob is only freed with its owner.
		return Result{}, nil
	}
	chunks := a.tx.Bucket(bktChunks)
	var keys [][]byte
	cur := chunks.Cursor()
	for k, _ := cur.Seek(c.Blob[:]); k != nil && bytes.HasPrefix(k, c.Blob[:]); k, _ = cur.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := deleteChunk(chunks, k); err != nil {
			return Result{}, err
		}
	}
	return Result{}, staged.Delete(c.Blob[:])
}

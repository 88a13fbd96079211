package storage

import (
	"bytes"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/pangea-s3/pangea/replication/rules"
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
			return results, fmt.Errorf("command %d (%v): %w", i, c.Op(), err)
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
	// rules caches the replication configurations parsed in this batch, by
	// document (outbox.go).
	rules map[string]*rules.Configuration
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

// apply checks c, then runs it.
func (a *applier) apply(c Command) (Result, error) {
	if c == nil {
		return fail(fmt.Errorf("%w: nil command", ErrInvalidArgument))
	}
	if err := c.validate(); err != nil {
		return fail(err)
	}
	return c.apply(a)
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

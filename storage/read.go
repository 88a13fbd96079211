package storage

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// maxListKeys caps every listing page, as S3 does.
const maxListKeys = 1000

// pageSize turns a requested page size into the one served: negative means the S3
// default (1000), above 1000 is capped, 0 is an empty page.
func pageSize(n int) int {
	if n < 0 || n > maxListKeys {
		return maxListKeys
	}
	return n
}

// readTables opens one S3 bucket's tables in a read transaction.
func readTables(tx *bbolt.Tx, bucket string) (*bucketTables, error) {
	t, err := tables(tx, bucket)
	return t, unreject(err)
}

// ListBuckets returns every bucket, by name.
func (s *Store) ListBuckets(ctx context.Context) ([]BucketInfo, error) {
	res, err := s.ListBucketsPage(ctx, ListBucketsInput{})
	return res.Buckets, err
}

// ListBucketsPage returns the buckets selected by in, by name. It seeks to the first
// candidate name and stops at the first selected bucket past the page, so a page
// costs what it returns plus the buckets of other regions it skips.
func (s *Store) ListBucketsPage(ctx context.Context, in ListBucketsInput) (ListBucketsResult, error) {
	if err := ctx.Err(); err != nil {
		return ListBucketsResult{}, err
	}
	var out ListBucketsResult
	prefix, after := []byte(in.Prefix), []byte(in.StartAfter)
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bktBuckets).Cursor()
		start := prefix
		if in.StartAfter > in.Prefix {
			start = after
		}
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(after) > 0 && bytes.Compare(k, after) <= 0 {
				continue
			}
			b, err := decodeBucket(string(k), v)
			if err != nil {
				return err
			}
			if in.Region != "" && b.Region != in.Region {
				continue
			}
			if in.MaxBuckets > 0 && len(out.Buckets) == in.MaxBuckets {
				out.IsTruncated = true
				return nil
			}
			out.Buckets = append(out.Buckets, b)
		}
		return nil
	})
	if err != nil {
		return ListBucketsResult{}, err
	}
	return out, nil
}

// Bucket returns one bucket's description, or ErrNoSuchBucket.
func (s *Store) Bucket(ctx context.Context, name string) (BucketInfo, error) {
	if err := ctx.Err(); err != nil {
		return BucketInfo{}, err
	}
	var info BucketInfo
	err := s.view(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bktBuckets).Get([]byte(name))
		if raw == nil || name == "" {
			return fmt.Errorf("%w: %q", ErrNoSuchBucket, name)
		}
		var err error
		info, err = decodeBucket(name, raw)
		return err
	})
	return info, err
}

// BucketConfig returns a stored bucket sub-resource: ErrNoSuchBucket, ErrNoSuchConfig.
func (s *Store) BucketConfig(ctx context.Context, bucket string, kind ConfigKind) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var data []byte
	err := s.view(func(tx *bbolt.Tx) error {
		t, err := readTables(tx, bucket)
		if err != nil {
			return err
		}
		raw := t.configs().Get([]byte(kind))
		if raw == nil {
			return fmt.Errorf("%w: %s on %q", ErrNoSuchConfig, kind, bucket)
		}
		d, err := checkVersion(raw)
		if err != nil {
			return err
		}
		data = bytes.Clone(d.b)
		if data == nil {
			data = []byte{}
		}
		return nil
	})
	return data, err
}

// Object returns a version's metadata: versionID "" is the current version, "null" the
// null version, else an ID. Errors: ErrNoSuchBucket, ErrNoSuchKey, ErrNoSuchVersion,
// ErrInvalidVersionID. When the version is a delete marker it returns the marker AND
// ErrDeleteMarker.
func (s *Store) Object(ctx context.Context, bucket, key, versionID string) (ObjectVersion, error) {
	if err := ctx.Err(); err != nil {
		return ObjectVersion{}, err
	}
	var v ObjectVersion
	err := s.view(func(tx *bbolt.Tx) error {
		t, err := readTables(tx, bucket)
		if err != nil {
			return err
		}
		ref, err := resolve(t.versions(), bucket, key, versionID)
		v = ref.v
		return unreject(err)
	})
	return v, err
}

// ListObjects returns one page of current object versions (delete markers hide their
// key) in key order, rolling keys up into common prefixes at Delimiter after Prefix.
// Keys and common prefixes <= Marker are skipped. MaxKeys counts both objects and
// prefixes (negative: 1000; capped at 1000; 0: an empty page).
func (s *Store) ListObjects(ctx context.Context, bucket string, in ListObjectsInput) (ListObjectsResult, error) {
	if err := ctx.Err(); err != nil {
		return ListObjectsResult{}, err
	}
	limit := pageSize(in.MaxKeys)
	var res ListObjectsResult
	err := s.view(func(tx *bbolt.Tx) error {
		t, err := readTables(tx, bucket)
		if err != nil {
			return err
		}
		res = ListObjectsResult{}
		if limit == 0 {
			return nil
		}
		c := t.versions().Cursor()
		k, val := c.Seek(appendEscapedPrefix(nil, in.Prefix))
		if in.Marker != "" && in.Marker >= in.Prefix {
			k, val = c.Seek(keyAfterAll(in.Marker))
		}
		n := 0
		for k != nil {
			key, _, ok := parseVersionKey(k)
			if !ok {
				return fmt.Errorf("%w: version key %x", errCorrupt, k)
			}
			if !strings.HasPrefix(key, in.Prefix) {
				break
			}
			if cp, ok := commonPrefix(key, in.Prefix, in.Delimiter); ok {
				// A prefix whose keys are all deleted (latest is a marker) is not shown.
				visible := func(cpEnc []byte) bool { return anyVisible(c, k, val, cpEnc) }
				var done bool
				if k, val, done = rollUp(c, cp, in.Marker, visible, &n, limit, &res.IsTruncated, func() {
					res.CommonPrefixes = append(res.CommonPrefixes, cp)
					res.NextMarker = cp
				}); done {
					break
				}
				continue
			}
			// The first entry of a key is its latest version.
			if !isMarkerRecord(val) {
				if n == limit {
					res.IsTruncated = true
					break
				}
				v, err := decodeVersion(bucket, k, val)
				if err != nil {
					return err
				}
				v.IsLatest = true
				res.Objects = append(res.Objects, v)
				res.NextMarker = key
				n++
			}
			k, val = c.Seek(keyAfterAll(key))
		}
		if !res.IsTruncated {
			res.NextMarker = ""
		}
		return nil
	})
	return res, err
}

// isMarkerRecord reports whether a version record is a delete marker, from its flag
// byte alone (the hot path of listings).
func isMarkerRecord(val []byte) bool {
	return len(val) < 2 || val[1]&verFlagDeleteMarker != 0
}

// anyVisible reports whether, from the cursor's position (k, val) on, some key whose
// encoding starts with prefix has a latest version that is not a delete marker. It
// moves the cursor.
func anyVisible(c *bbolt.Cursor, k, val, prefix []byte) bool {
	for k != nil && bytes.HasPrefix(k, prefix) {
		if !isMarkerRecord(val) {
			return true
		}
		key, _, ok := parseVersionKey(k)
		if !ok {
			return false
		}
		k, val = c.Seek(keyAfterAll(key))
	}
	return false
}

// commonPrefix returns the rolled-up prefix of key (prefix + text up to and including
// the first delimiter after it), if the key has one.
func commonPrefix(key, prefix, delim string) (string, bool) {
	if delim == "" {
		return "", false
	}
	i := strings.Index(key[len(prefix):], delim)
	if i < 0 {
		return "", false
	}
	return key[:len(prefix)+i+len(delim)], true
}

// rollUp handles a key that falls under the common prefix cp in a delimited listing:
// the prefix counts as one entry of the page when it sorts after marker (and, with
// visible set, when visible says so), reported through add; then the cursor moves
// past every key under it. done says the listing stops here: the page is full
// (*truncated set) or nothing can sort after the prefix.
func rollUp(c *bbolt.Cursor, cp, marker string, visible func(cpEnc []byte) bool,
	n *int, limit int, truncated *bool, add func()) (k, v []byte, done bool) {
	cpEnc := appendEscapedPrefix(nil, cp)
	if cp > marker && (visible == nil || visible(cpEnc)) {
		if *n == limit {
			*truncated = true
			return nil, nil, true
		}
		add()
		*n++
	}
	next := successor(cpEnc)
	if next == nil {
		return nil, nil, true
	}
	k, v = c.Seek(next)
	return k, v, false
}

// ListObjectVersions returns one page of versions and delete markers: keys ascending,
// newest first within a key. It starts after (KeyMarker, VersionIDMarker): with no
// version marker, after every version of KeyMarker; "null" names the null version.
// An unparseable VersionIDMarker fails with ErrInvalidVersionID.
func (s *Store) ListObjectVersions(ctx context.Context, bucket string, in ListVersionsInput) (ListVersionsResult, error) {
	if err := ctx.Err(); err != nil {
		return ListVersionsResult{}, err
	}
	limit := pageSize(in.MaxKeys)
	var markerID VersionID
	if in.VersionIDMarker != "" && in.VersionIDMarker != "null" {
		id, err := ParseVersionID(in.VersionIDMarker)
		if err != nil {
			return ListVersionsResult{}, err
		}
		markerID = id
	}
	var res ListVersionsResult
	err := s.view(func(tx *bbolt.Tx) error {
		t, err := readTables(tx, bucket)
		if err != nil {
			return err
		}
		res = ListVersionsResult{}
		if limit == 0 {
			return nil
		}
		c := t.versions().Cursor()
		k, val := c.Seek(appendEscapedPrefix(nil, in.Prefix))
		if in.KeyMarker != "" && in.KeyMarker >= in.Prefix {
			start := keyAfterAll(in.KeyMarker)
			switch {
			case in.VersionIDMarker == "null":
				if ref, ok, err := findNull(t.versions(), bucket, in.KeyMarker); err != nil {
					return err
				} else if ok {
					start = append(ref.k, 0) // just after the null version's key
				}
			case in.VersionIDMarker != "":
				start = append(versionKey(in.KeyMarker, markerID), 0)
			}
			k, val = c.Seek(start)
		}
		n := 0
		var lastKey string
		for k != nil {
			key, _, ok := parseVersionKey(k)
			if !ok {
				return fmt.Errorf("%w: version key %x", errCorrupt, k)
			}
			if !strings.HasPrefix(key, in.Prefix) {
				break
			}
			if cp, ok := commonPrefix(key, in.Prefix, in.Delimiter); ok {
				var done bool
				if k, val, done = rollUp(c, cp, in.KeyMarker, nil, &n, limit, &res.IsTruncated, func() {
					res.CommonPrefixes = append(res.CommonPrefixes, cp)
					res.NextKeyMarker, res.NextVersionIDMarker = cp, ""
				}); done {
					break
				}
				continue
			}
			if n == limit {
				res.IsTruncated = true
				break
			}
			v, err := decodeVersion(bucket, k, val)
			if err != nil {
				return err
			}
			if key != lastKey {
				// The first version seen of a key is its latest, unless the page started
				// in the middle of the key (after a version marker).
				v.IsLatest = true
				if n == 0 && in.VersionIDMarker != "" && key == in.KeyMarker {
					first, _ := c.Seek(appendEscaped(nil, key))
					c.Seek(k)
					v.IsLatest = bytes.Equal(first, k)
				}
				lastKey = key
			}
			res.Versions = append(res.Versions, v)
			res.NextKeyMarker = key
			res.NextVersionIDMarker = versionIDText(v)
			n++
			k, val = c.Next()
		}
		if !res.IsTruncated {
			res.NextKeyMarker, res.NextVersionIDMarker = "", ""
		}
		return nil
	})
	return res, err
}

// versionIDText is a version's ID as S3 shows it.
func versionIDText(v ObjectVersion) string {
	if v.IsNull {
		return "null"
	}
	return v.ID.String()
}

// VersionIDText returns v's version ID as S3 shows it: "null" for the null version.
func (v ObjectVersion) VersionIDText() string { return versionIDText(v) }

// MultipartUpload returns an upload in progress, or ErrNoSuchUpload (ErrNoSuchBucket).
func (s *Store) MultipartUpload(ctx context.Context, bucket, key, uploadID string) (MultipartUpload, error) {
	if err := ctx.Err(); err != nil {
		return MultipartUpload{}, err
	}
	var u MultipartUpload
	err := s.view(func(tx *bbolt.Tx) error {
		t, err := readTables(tx, bucket)
		if err != nil {
			return err
		}
		u, err = findUpload(t, bucket, key, uploadID)
		return unreject(err)
	})
	return u, err
}

// ListParts returns one page of an upload's parts with numbers > partNumberMarker
// (maxParts: negative 1000, capped at 1000). ErrNoSuchUpload if the upload is gone.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string, partNumberMarker, maxParts int) (ListPartsResult, error) {
	if err := ctx.Err(); err != nil {
		return ListPartsResult{}, err
	}
	limit := pageSize(maxParts)
	var res ListPartsResult
	err := s.view(func(tx *bbolt.Tx) error {
		t, err := readTables(tx, bucket)
		if err != nil {
			return err
		}
		u, err := findUpload(t, bucket, key, uploadID)
		if err != nil {
			return unreject(err)
		}
		res = ListPartsResult{Upload: u}
		if limit == 0 {
			return nil
		}
		prefix := partPrefix(key, uploadID)
		c := t.parts().Cursor()
		start := partKey(key, uploadID, max(partNumberMarker, 0)+1)
		if partNumberMarker >= MaxPartNumber {
			return nil
		}
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) != len(prefix)+4 {
				continue
			}
			if len(res.Parts) == limit {
				res.IsTruncated = true
				break
			}
			p, err := decodePart(k, v)
			if err != nil {
				return err
			}
			res.Parts = append(res.Parts, p.Part)
			res.NextPartNumberMarker = p.Number
		}
		return nil
	})
	return res, err
}

// ListMultipartUploads returns one page of uploads in progress, by key then upload ID,
// after (KeyMarker, UploadIDMarker), rolled up at Delimiter like ListObjects.
func (s *Store) ListMultipartUploads(ctx context.Context, bucket string, in ListUploadsInput) (ListUploadsResult, error) {
	if err := ctx.Err(); err != nil {
		return ListUploadsResult{}, err
	}
	limit := pageSize(in.MaxUploads)
	var res ListUploadsResult
	err := s.view(func(tx *bbolt.Tx) error {
		t, err := readTables(tx, bucket)
		if err != nil {
			return err
		}
		res = ListUploadsResult{}
		if limit == 0 {
			return nil
		}
		c := t.uploads().Cursor()
		k, val := c.Seek(appendEscapedPrefix(nil, in.Prefix))
		if in.KeyMarker != "" && in.KeyMarker >= in.Prefix {
			if in.UploadIDMarker != "" {
				k, val = c.Seek(append(uploadKey(in.KeyMarker, in.UploadIDMarker), 0))
			} else {
				k, val = c.Seek(keyAfterAll(in.KeyMarker))
			}
		}
		n := 0
		for k != nil {
			key, _, ok := parseUploadKey(k)
			if !ok {
				return fmt.Errorf("%w: upload key %x", errCorrupt, k)
			}
			if !strings.HasPrefix(key, in.Prefix) {
				break
			}
			if cp, ok := commonPrefix(key, in.Prefix, in.Delimiter); ok {
				var done bool
				if k, val, done = rollUp(c, cp, in.KeyMarker, nil, &n, limit, &res.IsTruncated, func() {
					res.CommonPrefixes = append(res.CommonPrefixes, cp)
					res.NextKeyMarker, res.NextUploadIDMarker = cp, ""
				}); done {
					break
				}
				continue
			}
			if n == limit {
				res.IsTruncated = true
				break
			}
			u, err := decodeUpload(bucket, k, val)
			if err != nil {
				return err
			}
			res.Uploads = append(res.Uploads, u)
			res.NextKeyMarker, res.NextUploadIDMarker = u.Key, u.UploadID
			n++
			k, val = c.Next()
		}
		if !res.IsTruncated {
			res.NextKeyMarker, res.NextUploadIDMarker = "", ""
		}
		return nil
	})
	return res, err
}

// StagedBlobs returns the blobs that have chunks but no referencing version or part
// and were staged before olderThan: garbage from writes that never committed.
func (s *Store) StagedBlobs(ctx context.Context, olderThan time.Time) ([]BlobID, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cutoff := olderThan.UnixNano()
	var out []BlobID
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bktStaged).ForEach(func(k, v []byte) error {
			rec, err := decodeStaged(v)
			if err != nil {
				return err
			}
			if rec.Time < cutoff && len(k) == len(BlobID{}) {
				out = append(out, BlobID(k))
			}
			return nil
		})
	})
	return out, err
}

package storage

import (
	"errors"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Each chunk lives in a nested bucket of its own (key = chunkKey, one value under
// chunkValueKey) rather than as a plain value of the chunks table. bbolt rewrites every
// value of a leaf node it modifies and never splits a leaf of four or fewer elements,
// so with plain 1 MiB values every new chunk re-copied (and re-wrote) up to four of its
// neighbours: measured as ~2.5x write amplification and the whole file being faulted
// into the process's resident memory while a large object streamed in. A nested bucket
// gets its own root page, so adding a chunk writes only that chunk and a small bucket
// header in the parent.
var chunkValueKey = []byte{'v'}

// putChunkValue stores one chunk record under key.
func putChunkValue(chunks *bbolt.Bucket, key, val []byte) error {
	b, err := chunks.CreateBucket(key)
	if err != nil {
		return err
	}
	return b.Put(chunkValueKey, val)
}

// getChunkValue returns the chunk record under key, or nil. The slice is valid only
// inside the transaction.
func getChunkValue(chunks *bbolt.Bucket, key []byte) []byte {
	b := chunks.Bucket(key)
	if b == nil {
		return nil
	}
	return b.Get(chunkValueKey)
}

// deleteChunk removes the chunk under key; a missing chunk is not an error.
func deleteChunk(chunks *bbolt.Bucket, key []byte) error {
	if err := chunks.DeleteBucket(key); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return err
	}
	return nil
}

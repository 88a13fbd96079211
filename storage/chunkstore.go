package storage

import (
	"errors"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// A chunk record of up to smallChunk bytes is a plain value of the chunks table; a
// larger one lives in a nested bucket of its own (key = chunkKey, one value under
// chunkValueKey). bbolt rewrites every value of a leaf node it modifies and never
// splits a leaf of fewer than two elements, so with plain 1 MiB values every new
// chunk re-copied (and re-wrote) its neighbours: measured as ~2.5x write
// amplification and the whole file being faulted into the process's resident memory
// while a large object streamed in. A nested bucket gets its own root page, so
// adding a large chunk writes only that chunk and a small bucket header in the
// parent. A small chunk in a bucket of its own costs a whole page run, though: a
// 4 KiB body plus its headers takes two pages. As plain values, small chunks share
// leaves, appended at the right edge of the table (blob IDs sort by time), so a
// commit writes them back to back: per 4 KiB PUT, 128 per commit, 11.0 KB and 1.65
// write calls against 13.0 KB and 2.17 (BenchmarkWindowPut4KiB). Format 1 stores
// have only nested buckets; both forms are read.
var chunkValueKey = []byte{'v'}

// smallChunk is the largest chunk record stored as a plain value.
const smallChunk = 16 << 10

// putChunkValue stores one chunk record under key.
func putChunkValue(chunks *bbolt.Bucket, key, val []byte) error {
	if len(val) <= smallChunk {
		// Keys arrive in order (blob IDs sort by time): fill leaves before splitting.
		chunks.FillPercent = 0.9
		return chunks.Put(key, val)
	}
	b, err := chunks.CreateBucket(key)
	if err != nil {
		return err
	}
	return b.Put(chunkValueKey, val)
}

// getChunkValue returns the chunk record under key, or nil. The slice is valid only
// inside the transaction.
func getChunkValue(chunks *bbolt.Bucket, key []byte) []byte {
	if b := chunks.Bucket(key); b != nil {
		return b.Get(chunkValueKey)
	}
	return chunks.Get(key) // nil for a nested bucket or no key
}

// deleteChunk removes the chunk under key, in either form; a missing chunk is not an
// error.
func deleteChunk(chunks *bbolt.Bucket, key []byte) error {
	err := chunks.DeleteBucket(key)
	switch {
	case err == nil, errors.Is(err, berrors.ErrBucketNotFound):
		return nil
	case errors.Is(err, berrors.ErrIncompatibleValue):
		return chunks.Delete(key)
	}
	return err
}

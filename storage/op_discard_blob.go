package storage

import "bytes"

// OpDiscardBlob is DiscardBlobCmd's code.
const OpDiscardBlob Op = 13

// DiscardBlobCmd removes a staged blob's chunks. A blob referenced by a version or a
// part is never removed: discarding it is a no-op.
type DiscardBlobCmd struct {
	Blob BlobID
}

func (DiscardBlobCmd) Op() Op { return OpDiscardBlob }

func (DiscardBlobCmd) PayloadSize() int { return 0 }

func (DiscardBlobCmd) validate() error { return nil }

func (c DiscardBlobCmd) encode(e *encoder) {
	e.raw(c.Blob[:])
}

func (c *DiscardBlobCmd) decode(d *decoder) {
	c.Blob = d.blobID()
}

func (DiscardBlobCmd) idempotent() {}

func (c DiscardBlobCmd) apply(a *applier) (Result, error) {
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

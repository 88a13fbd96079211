package storage

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// StoredChunk is one chunk of a version's body as a store keeps it: Data is
// Encoding-encoded and decodes to RawSize bytes. Index numbers the chunks of the
// whole body from 0, across the blobs of a multipart body. It is what the
// replication shipper sends (replicationpb.Chunk) and what ReplicaBody stages.
type StoredChunk struct {
	Index    uint32
	Encoding ChunkEncoding
	RawSize  int
	Data     []byte
}

// BodyChunks is how many chunks ReadChunksStored passes for v: the chunks of each
// blob of its body, plus one for an inline body (or inline multipart part). 0 for a
// delete marker or an empty body. v must come from this store, as for OpenObject.
func (v ObjectVersion) BodyChunks() uint32 {
	var n uint32
	for _, sg := range v.body {
		switch {
		case sg.Chunks > 0:
			n += sg.Chunks
		case sg.Size > 0:
			n++
		}
	}
	return n
}

// ReadChunksStored calls fn with each chunk of v's body in order, as stored:
// compressed chunks are not decompressed. An inline body (or inline part) is passed
// as one ChunkRaw chunk of its bytes. Each chunk is read in its own read transaction
// and copied into one buffer reused for the next chunk, so memory stays at one chunk
// whatever the body size: Data is valid only until fn returns, and fn must copy what
// it keeps. The stored sizes are checked against v's (a mismatch is corruption);
// the data itself is not decoded, the receiver verifies it (ReplicaBody). A version
// removed while being read fails with ErrBlobMissing; an error from fn is returned
// as is, ending the read.
func (s *Store) ReadChunksStored(ctx context.Context, v ObjectVersion, fn func(c StoredChunk) error) error {
	var total int64
	for _, sg := range v.body {
		total += sg.Size
	}
	if total != v.Size {
		return fmt.Errorf("%w: version of %q carries no body reference (%d of %d bytes)", ErrInvalidArgument, v.Key, total, v.Size)
	}
	var index uint32
	var buf []byte
	for _, sg := range v.body {
		if sg.Size == 0 {
			continue
		}
		if sg.Chunks == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(StoredChunk{Index: index, Encoding: ChunkRaw, RawSize: len(sg.Inline), Data: sg.Inline}); err != nil {
				return err
			}
			index++
			continue
		}
		for i := range sg.Chunks {
			if err := ctx.Err(); err != nil {
				return err
			}
			want := min(int64(ChunkSize), sg.Size-int64(i)*ChunkSize)
			c := StoredChunk{Index: index}
			err := s.view(func(tx *bbolt.Tx) error {
				val := getChunkValue(tx.Bucket(bktChunks), chunkKey(sg.Blob, i))
				if val == nil {
					return fmt.Errorf("%w: blob %x chunk %d", ErrBlobMissing, sg.Blob, i)
				}
				enc, raw, data, err := decodeChunkRecord(val)
				if err != nil {
					return err
				}
				if int64(raw) != want {
					return fmt.Errorf("%w: blob %x chunk %d holds %d bytes, want %d", errCorrupt, sg.Blob, i, raw, want)
				}
				buf = append(buf[:0], data...) // bbolt memory is only valid inside the transaction
				DropMapped(tx, val)
				c.Encoding, c.RawSize, c.Data = enc, int(raw), buf
				return nil
			})
			if err != nil {
				return err
			}
			if err := fn(c); err != nil {
				return err
			}
			index++
		}
	}
	return nil
}

// ReplicaBody rebuilds, on a replication destination, a body received as its
// origin stores it (StoredChunk by StoredChunk, in index order), without decoding
// and re-encoding it: each chunk is staged as received by a PutChunkCmd. Every blob
// may have only its last chunk short, so a new blob starts after each short chunk (a
// multipart body, whose parts may end with short chunks, becomes several blobs); a
// body of a single chunk of at most inlineMax bytes is kept inline instead. Once
// every chunk is staged, Reference fills the ApplyReplicaCmd that commits it. Not
// safe for concurrent use.
type ReplicaBody struct {
	size      int64
	chunks    uint32
	inlineMax int
	time      time.Time
	newBlob   func() BlobID

	next   uint32 // index of the next chunk expected
	got    int64  // raw bytes received
	runs   []BlobRun
	full   bool // the last run ends with a full chunk: the next chunk joins it
	inline []byte
	buf    []byte // decode buffer for verification, reused
}

// NewReplicaBody starts the body of a replicated version of size bytes in chunks
// chunks (the replicationpb.Version header's). Blobs are named by newBlob and
// staged at t (PutChunkCmd.Time); bodies of one chunk of at most inlineMax bytes
// (at most InlineMax) are kept inline. An impossible header fails with
// ErrInvalidArgument.
func NewReplicaBody(size int64, chunks uint32, inlineMax int, t time.Time, newBlob func() BlobID) (*ReplicaBody, error) {
	switch {
	case size < 0 || (size == 0) != (chunks == 0) || size > int64(chunks)*ChunkSize || size < int64(chunks):
		return nil, fmt.Errorf("%w: body of %d bytes in %d chunks", ErrInvalidArgument, size, chunks)
	case inlineMax > InlineMax:
		return nil, fmt.Errorf("%w: inline limit %d exceeds InlineMax", ErrInvalidArgument, inlineMax)
	}
	return &ReplicaBody{size: size, chunks: chunks, inlineMax: inlineMax, time: t, newBlob: newBlob}, nil
}

// Stage checks the next chunk of the body and returns the command staging it, or
// ok false when the chunk is kept inline (nothing to stage). The chunk must be the
// next by index, of a known encoding, with a RawSize from 1 to ChunkSize that keeps
// the body within its size, and its data must decode to exactly RawSize bytes (it is
// decoded once to check: the bytes come from the network). Anything else fails with
// ErrInvalidArgument and leaves the body unchanged. The command's Data is c.Data,
// not a copy: it must stay unchanged until the command is applied or marshalled.
func (b *ReplicaBody) Stage(c StoredChunk) (cmd PutChunkCmd, ok bool, err error) {
	switch {
	case b.next >= b.chunks:
		return PutChunkCmd{}, false, fmt.Errorf("%w: chunk %d of a body of %d chunks", ErrInvalidArgument, c.Index, b.chunks)
	case c.Index != b.next:
		return PutChunkCmd{}, false, fmt.Errorf("%w: chunk %d, want %d", ErrInvalidArgument, c.Index, b.next)
	case c.RawSize <= 0 || c.RawSize > ChunkSize || int64(c.RawSize) > b.size-b.got:
		return PutChunkCmd{}, false, fmt.Errorf("%w: chunk %d of %d raw bytes, %d of %d left", ErrInvalidArgument, c.Index, c.RawSize, b.size-b.got, b.size)
	}
	raw, err := decodeChunkInto(b.buf, c.Encoding, c.Data)
	if err != nil {
		return PutChunkCmd{}, false, fmt.Errorf("%w: chunk %d: %v", ErrInvalidArgument, c.Index, err)
	}
	if len(raw) != c.RawSize {
		return PutChunkCmd{}, false, fmt.Errorf("%w: chunk %d decodes to %d bytes, RawSize %d", ErrInvalidArgument, c.Index, len(raw), c.RawSize)
	}
	if c.Encoding != ChunkRaw {
		b.buf = raw
	}
	b.next++
	b.got += int64(c.RawSize)
	if b.chunks == 1 && c.RawSize <= b.inlineMax {
		b.inline = bytes.Clone(raw)
		return PutChunkCmd{}, false, nil
	}
	if !b.full {
		b.runs = append(b.runs, BlobRun{Blob: b.newBlob()})
	}
	r := &b.runs[len(b.runs)-1]
	cmd = PutChunkCmd{Blob: r.Blob, Index: r.Chunks, Encoding: c.Encoding, RawSize: uint32(c.RawSize), Data: c.Data, Time: b.time}
	r.Chunks++
	r.Size += int64(c.RawSize)
	b.full = c.RawSize == ChunkSize
	return cmd, true, nil
}

// Blobs returns the blobs staged so far, for DiscardBlobCmd when the version is
// abandoned.
func (b *ReplicaBody) Blobs() []BlobID {
	ids := make([]BlobID, len(b.runs))
	for i, r := range b.runs {
		ids[i] = r.Blob
	}
	return ids
}

// Reference sets c's body fields (Size, Blob, Chunks, MoreBlobs, Inline) to the
// body staged, once every chunk is; before that it fails with ErrInvalidArgument.
func (b *ReplicaBody) Reference(c *ApplyReplicaCmd) error {
	if b.next != b.chunks || b.got != b.size {
		return fmt.Errorf("%w: body incomplete: %d of %d chunks, %d of %d bytes", ErrInvalidArgument, b.next, b.chunks, b.got, b.size)
	}
	c.Size, c.Blob, c.Chunks, c.MoreBlobs, c.Inline = b.size, BlobID{}, 0, nil, nil
	switch {
	case b.inline != nil:
		c.Inline = b.inline
	case len(b.runs) > 0:
		c.Blob, c.Chunks = b.runs[0].Blob, b.runs[0].Chunks
		if len(b.runs) > 1 {
			c.MoreBlobs = append([]BlobRun(nil), b.runs[1:]...)
		}
	}
	return nil
}

package storage

import (
	"bytes"
	"fmt"
	"time"

	"github.com/klauspost/compress/s2"
)

// OpPutChunk is PutChunkCmd's code.
const OpPutChunk Op = 5

// PutChunkCmd stages one chunk of a blob. Every chunk but the last holds exactly
// ChunkSize raw bytes. Time is when the blob was staged (for garbage collection of
// blobs never committed). Re-sending an identical chunk is a no-op; a different chunk
// at the same index, or a chunk for a blob already referenced, fails with ErrInvalidArgument.
type PutChunkCmd struct {
	Blob     BlobID
	Index    uint32
	Encoding ChunkEncoding
	RawSize  uint32
	Data     []byte
	Time     time.Time
}

func (PutChunkCmd) Op() Op { return OpPutChunk }

func (c PutChunkCmd) PayloadSize() int { return len(c.Data) }

func (c PutChunkCmd) validate() error {
	if c.Blob == (BlobID{}) {
		return fmt.Errorf("%w: zero blob id", ErrInvalidArgument)
	}
	if c.RawSize > ChunkSize {
		return fmt.Errorf("%w: chunk of %d raw bytes exceeds ChunkSize", ErrInvalidArgument, c.RawSize)
	}
	switch c.Encoding {
	case ChunkRaw:
		if len(c.Data) != int(c.RawSize) {
			return fmt.Errorf("%w: raw chunk length %d, RawSize %d", ErrInvalidArgument, len(c.Data), c.RawSize)
		}
	case ChunkS2:
		if n, err := s2.DecodedLen(c.Data); err != nil || n != int(c.RawSize) {
			return fmt.Errorf("%w: s2 chunk does not decode to RawSize %d", ErrInvalidArgument, c.RawSize)
		}
	default:
		return fmt.Errorf("%w: chunk encoding %d", ErrInvalidArgument, c.Encoding)
	}
	return nil
}

func (c PutChunkCmd) encode(e *encoder) {
	e.raw(c.Blob[:])
	e.uvarint(uint64(c.Index))
	e.byte1(byte(c.Encoding))
	e.uvarint(uint64(c.RawSize))
	e.time(c.Time)
	e.bytes(c.Data)
}

func (c *PutChunkCmd) decode(d *decoder) {
	c.Blob = d.blobID()
	c.Index = d.u32varint()
	c.Encoding = ChunkEncoding(d.byte1())
	c.RawSize = d.u32varint()
	c.Time = d.time()
	c.Data = d.bytes()
}

func (c PutChunkCmd) stamp(clk Clock) Command {
	stampTime(&c.Time, clk)
	return c
}

func (PutChunkCmd) idempotent() {}

func (c PutChunkCmd) apply(a *applier) (Result, error) {
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

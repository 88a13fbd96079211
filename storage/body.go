package storage

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.etcd.io/bbolt"
)

// OpenObject streams length bytes of v's body starting at offset (length -1, or a
// length past the end: to the end). v must come from this store (Object, a listing or
// an Apply result): it carries where the body is. Each chunk is read in its own short
// read transaction and decoded into one reusable buffer, so memory stays around one
// chunk whatever the object size, and no transaction stays open between Reads. If the
// version is removed while being read, Read fails with ErrBlobMissing.
func (s *Store) OpenObject(ctx context.Context, v ObjectVersion, offset, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if offset < 0 || offset > v.Size || length < -1 {
		return nil, fmt.Errorf("%w: range %d+%d of a %d-byte object", ErrInvalidArgument, offset, length, v.Size)
	}
	if length == -1 || length > v.Size-offset {
		length = v.Size - offset
	}
	var total int64
	for _, sg := range v.body {
		total += sg.Size
	}
	if total != v.Size {
		return nil, fmt.Errorf("%w: version of %q carries no body reference (%d of %d bytes)", ErrInvalidArgument, v.Key, total, v.Size)
	}
	return &bodyReader{s: s, ctx: ctx, segs: v.body, pos: offset, end: offset + length}, nil
}

// bodyReader reads a body segment by segment, chunk by chunk.
type bodyReader struct {
	s      *Store
	ctx    context.Context
	segs   []segment
	pos    int64 // absolute offset of the next byte to return
	end    int64
	cur    []byte // decoded bytes from pos on, within the current chunk or inline body
	buf    []byte // chunk decode buffer, reused
	seg    int    // index of the segment holding pos
	segOff int64  // absolute offset of segs[seg]
	err    error
}

func (r *bodyReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.pos >= r.end {
		return 0, io.EOF
	}
	if len(r.cur) == 0 {
		if err := r.load(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.pos += int64(n)
	return n, nil
}

// load fills cur with the bytes from pos to the end of the chunk (or inline body)
// holding pos, clipped to end.
func (r *bodyReader) load() error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	for r.seg < len(r.segs) && r.pos >= r.segOff+r.segs[r.seg].Size {
		r.segOff += r.segs[r.seg].Size
		r.seg++
	}
	if r.seg >= len(r.segs) {
		return fmt.Errorf("%w: offset %d beyond body", ErrBlobMissing, r.pos)
	}
	sg := r.segs[r.seg]
	rel := r.pos - r.segOff
	var data []byte
	if sg.Chunks == 0 {
		data = sg.Inline[rel:]
	} else {
		idx := rel / ChunkSize
		want := min(int64(ChunkSize), sg.Size-idx*ChunkSize)
		chunk, err := r.readChunk(sg.Blob, uint32(idx), want)
		if err != nil {
			return err
		}
		data = chunk[rel-idx*ChunkSize:]
	}
	if rest := r.end - r.pos; int64(len(data)) > rest {
		data = data[:rest]
	}
	r.cur = data
	return nil
}

// readChunk decodes one chunk into buf in its own read transaction.
func (r *bodyReader) readChunk(blob BlobID, idx uint32, want int64) ([]byte, error) {
	if int64(cap(r.buf)) < want {
		size := max(want, min(int64(ChunkSize), r.end-r.pos))
		if size == ChunkSize {
			if bp, ok := r.s.chunkBufs.Get().(*[]byte); ok {
				r.buf = (*bp)[:0]
			}
		}
		if int64(cap(r.buf)) < want {
			r.buf = make([]byte, 0, size)
		}
	}
	var out []byte
	err := r.s.view(func(tx *bbolt.Tx) error {
		val := getChunkValue(tx.Bucket(bktChunks), chunkKey(blob, idx))
		if val == nil {
			return fmt.Errorf("%w: blob %x chunk %d", ErrBlobMissing, blob, idx)
		}
		enc, raw, data, err := decodeChunkRecord(val)
		if err != nil {
			return err
		}
		if int64(raw) != want {
			return fmt.Errorf("%w: blob %x chunk %d holds %d bytes, want %d", errCorrupt, blob, idx, raw, want)
		}
		if enc == ChunkRaw {
			// Copy out: bbolt memory is only valid inside the transaction.
			out = append(r.buf[:0], data...)
		} else {
			out, err = decodeChunkInto(r.buf[:0], enc, data)
			if err != nil {
				return err
			}
		}
		if int64(len(out)) != want {
			return fmt.Errorf("%w: blob %x chunk %d decodes to %d bytes, want %d", errCorrupt, blob, idx, len(out), want)
		}
		DropMapped(tx, val) // copied out: the chunk need not stay resident
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.buf = out
	return out, nil
}

// errReaderClosed is returned by Read after Close.
var errReaderClosed = errors.New("storage: object reader closed")

func (r *bodyReader) Close() error {
	if r.err == errReaderClosed {
		return nil
	}
	r.err = errReaderClosed
	if cap(r.buf) == ChunkSize {
		// Nothing refers to it any more: Read copies out, and cur is dropped.
		b := r.buf[:0]
		r.s.chunkBufs.Put(&b)
	}
	r.cur, r.buf = nil, nil
	return nil
}

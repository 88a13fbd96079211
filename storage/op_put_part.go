package storage

import (
	"fmt"
	"time"
)

// OpPutPart is PutPartCmd's code.
const OpPutPart Op = 10

// PutPartCmd records an uploaded part (1..10000), replacing an earlier part with the
// same number. The body rules are PutObjectCmd's.
type PutPartCmd struct {
	Bucket, Key, UploadID string
	Number                int
	Size                  int64
	ETag                  string
	Checksum              *Checksum
	Time                  time.Time
	Blob                  BlobID
	Chunks                uint32
	Inline                []byte
}

func (PutPartCmd) Op() Op { return OpPutPart }

func (c PutPartCmd) PayloadSize() int { return len(c.Inline) + len(c.Key) }

func (PutPartCmd) validate() error { return nil }

func (c PutPartCmd) encode(e *encoder) {
	e.str(c.Bucket)
	e.str(c.Key)
	e.str(c.UploadID)
	e.varint(int64(c.Number))
	e.varint(c.Size)
	e.str(c.ETag)
	e.checksum(c.Checksum)
	e.time(c.Time)
	e.raw(c.Blob[:])
	e.uvarint(uint64(c.Chunks))
	e.optBytes(c.Inline)
}

func (c *PutPartCmd) decode(d *decoder) {
	*c = PutPartCmd{Bucket: d.str(), Key: d.str(), UploadID: d.str(), Number: d.intVarint(), Size: d.varint()}
	c.ETag = d.str()
	c.Checksum = d.checksum()
	c.Time = d.time()
	c.Blob = d.blobID()
	c.Chunks = d.u32varint()
	c.Inline = d.optBytes()
}

func (c PutPartCmd) stamp(clk Clock) Command {
	stampTime(&c.Time, clk)
	return c
}

func (c PutPartCmd) apply(a *applier) (Result, error) {
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

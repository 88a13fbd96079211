package storage

import (
	"time"
)

// OpPutObject is PutObjectCmd's code.
const OpPutObject Op = 6

// PutObjectCmd writes a new object version. The body is either Inline (at most
// InlineMax bytes, Chunks 0) or the staged blob Blob with Chunks chunks holding Size
// bytes; the blob must be staged and complete (ErrInvalidArgument otherwise). With
// WriteConditions set the write happens only if they hold against the key's latest
// version at apply time (ErrPreconditionFailed, ErrNoSuchKey otherwise); a rejected
// PutObject leaves its blob staged, as any rejected PutObject does.
type PutObjectCmd struct {
	Bucket, Key       string
	ID                VersionID
	Time              time.Time
	Size              int64
	ETag              string
	Meta              ObjectMeta
	Checksum          *Checksum
	Owner             string
	Blob              BlobID
	Chunks            uint32
	Inline            []byte
	ReplicationStatus string
	WriteConditions
}

func (PutObjectCmd) Op() Op { return OpPutObject }

func (c PutObjectCmd) PayloadSize() int { return len(c.Inline) + len(c.Key) + len(c.IfMatch) }

func (PutObjectCmd) validate() error { return nil }

func (c PutObjectCmd) encode(e *encoder) {
	e.str(c.Bucket)
	e.str(c.Key)
	e.versionID(c.ID)
	e.time(c.Time)
	e.varint(c.Size)
	e.str(c.ETag)
	e.meta(c.Meta)
	e.checksum(c.Checksum)
	e.str(c.Owner)
	e.raw(c.Blob[:])
	e.uvarint(uint64(c.Chunks))
	e.optBytes(c.Inline)
	e.str(c.ReplicationStatus)
	e.conditions(c.WriteConditions)
}

func (c *PutObjectCmd) decode(d *decoder) {
	*c = PutObjectCmd{Bucket: d.str(), Key: d.str(), ID: d.versionID(), Time: d.time(), Size: d.varint()}
	c.ETag = d.str()
	c.Meta = d.meta()
	c.Checksum = d.checksum()
	c.Owner = d.str()
	c.Blob = d.blobID()
	c.Chunks = d.u32varint()
	c.Inline = d.optBytes()
	c.ReplicationStatus = d.str()
	c.WriteConditions = d.conditions()
}

func (c PutObjectCmd) stamp(clk Clock) Command {
	stampVersion(&c.ID, &c.Time, clk)
	return c
}

func (c PutObjectCmd) versionTime() uint64 { return c.ID.Time }

func (c PutObjectCmd) apply(a *applier) (Result, error) {
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
	repl := a.newVersionReplicates(t, &v)
	if err := a.putVersion(t, &v); err != nil {
		return Result{}, err
	}
	if err := a.adopt(seg); err != nil {
		return Result{}, err
	}
	if repl {
		if err := a.appendOutbox(&v, OutboxPut); err != nil {
			return Result{}, err
		}
	}
	return Result{Version: v}, nil
}

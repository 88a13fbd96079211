package storage

import (
	"fmt"
	"time"
)

// Op names a command type. Values are persisted (raft log): append, never renumber.
type Op uint8

const (
	OpCreateBucket Op = iota + 1
	OpDeleteBucket
	OpSetVersioning
	OpPutBucketConfig
	OpPutChunk
	OpPutObject
	OpDeleteObject
	OpPutObjectTagging
	OpCreateUpload
	OpPutPart
	OpCompleteUpload
	OpAbortUpload
	OpDiscardBlob
	opEnd
)

var opNames = [...]string{
	OpCreateBucket:     "CreateBucket",
	OpDeleteBucket:     "DeleteBucket",
	OpSetVersioning:    "SetVersioning",
	OpPutBucketConfig:  "PutBucketConfig",
	OpPutChunk:         "PutChunk",
	OpPutObject:        "PutObject",
	OpDeleteObject:     "DeleteObject",
	OpPutObjectTagging: "PutObjectTagging",
	OpCreateUpload:     "CreateUpload",
	OpPutPart:          "PutPart",
	OpCompleteUpload:   "CompleteUpload",
	OpAbortUpload:      "AbortUpload",
	OpDiscardBlob:      "DiscardBlob",
}

func (o Op) String() string {
	if o > 0 && o < opEnd {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// CreateBucketCmd creates a bucket. Fails with ErrBucketAlreadyOwnedByYou if Owner
// already owns it, ErrBucketAlreadyExists if someone else does.
type CreateBucketCmd struct {
	Name, Region, Owner string
	Time                time.Time
}

// DeleteBucketCmd deletes an empty bucket and its configurations. Fails with
// ErrBucketNotEmpty while any version, delete marker or upload remains.
type DeleteBucketCmd struct {
	Name string
}

// SetVersioningCmd sets a bucket's versioning to VersioningEnabled or
// VersioningSuspended (Unversioned: ErrInvalidArgument).
type SetVersioningCmd struct {
	Bucket string
	State  VersioningState
}

// PutBucketConfigCmd stores a bucket sub-resource; nil Data deletes it.
type PutBucketConfigCmd struct {
	Bucket string
	Kind   ConfigKind
	Data   []byte
}

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

// DeleteObjectCmd is an S3 DeleteObject. VersionID "" deletes the current version
// according to the bucket's versioning (a marker with MarkerID where one is made);
// "null" or an ID string removes that version for good.
type DeleteObjectCmd struct {
	Bucket, Key, VersionID string
	MarkerID               VersionID
	Time                   time.Time
	Owner                  string
}

// PutObjectTaggingCmd replaces a version's tags; nil Tags removes them.
type PutObjectTaggingCmd struct {
	Bucket, Key, VersionID string
	Tags                   []Tag
}

// CreateUploadCmd starts a multipart upload.
type CreateUploadCmd struct {
	Bucket, Key, UploadID    string
	Time                     time.Time
	Meta                     ObjectMeta
	ChecksumAlgorithm, Owner string
}

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

// CompleteUploadCmd turns an upload into an object version with ID, re-using the
// parts' blobs as its body. WriteConditions are PutObjectCmd's; when they fail the
// upload and its parts stay as they were.
type CompleteUploadCmd struct {
	Bucket, Key, UploadID string
	Parts                 []CompletedPart
	ID                    VersionID
	Time                  time.Time
	WriteConditions
}

// AbortUploadCmd removes an upload and its parts' bodies.
type AbortUploadCmd struct {
	Bucket, Key, UploadID string
}

// DiscardBlobCmd removes a staged blob's chunks. A blob referenced by a version or a
// part is never removed: discarding it is a no-op.
type DiscardBlobCmd struct {
	Blob BlobID
}

// Command is one deterministic state change. Op says which pointer field is set;
// exactly that one must be non-nil.
type Command struct {
	Op               Op
	CreateBucket     *CreateBucketCmd
	DeleteBucket     *DeleteBucketCmd
	SetVersioning    *SetVersioningCmd
	PutBucketConfig  *PutBucketConfigCmd
	PutChunk         *PutChunkCmd
	PutObject        *PutObjectCmd
	DeleteObject     *DeleteObjectCmd
	PutObjectTagging *PutObjectTaggingCmd
	CreateUpload     *CreateUploadCmd
	PutPart          *PutPartCmd
	CompleteUpload   *CompleteUploadCmd
	AbortUpload      *AbortUploadCmd
	DiscardBlob      *DiscardBlobCmd
}

// Result is the outcome of one command. Err is a business error (a sentinel, wrapped)
// or, when the whole batch failed, the I/O error. The other fields are set by the
// commands that produce them: Version (PutObject, CompleteUpload, DeleteObject when it
// made a marker), Delete (DeleteObject), Part (PutPart), Upload (CreateUpload),
// VersionID (PutObjectTagging: "null" or the ID).
type Result struct {
	Err       error
	Version   ObjectVersion
	Delete    DeleteResult
	Part      Part
	Upload    MultipartUpload
	VersionID string
}

// commandFormatV1 is the first byte of every marshalled command.
const commandFormatV1 = 1

// MarshalBinary encodes c compactly: a format byte, the op, then its fields. Chunk
// data is copied as is.
func (c Command) MarshalBinary() ([]byte, error) {
	if !c.valid() {
		return nil, fmt.Errorf("%w: command %v has no matching payload", ErrInvalidArgument, c.Op)
	}
	e := encoder{b: make([]byte, 0, c.sizeHint())}
	e.byte1(commandFormatV1)
	e.byte1(byte(c.Op))
	switch c.Op {
	case OpCreateBucket:
		x := c.CreateBucket
		e.str(x.Name)
		e.str(x.Region)
		e.str(x.Owner)
		e.time(x.Time)
	case OpDeleteBucket:
		e.str(c.DeleteBucket.Name)
	case OpSetVersioning:
		e.str(c.SetVersioning.Bucket)
		e.byte1(byte(c.SetVersioning.State))
	case OpPutBucketConfig:
		x := c.PutBucketConfig
		e.str(x.Bucket)
		e.str(string(x.Kind))
		e.optBytes(x.Data)
	case OpPutChunk:
		x := c.PutChunk
		e.raw(x.Blob[:])
		e.uvarint(uint64(x.Index))
		e.byte1(byte(x.Encoding))
		e.uvarint(uint64(x.RawSize))
		e.time(x.Time)
		e.bytes(x.Data)
	case OpPutObject:
		x := c.PutObject
		e.str(x.Bucket)
		e.str(x.Key)
		e.versionID(x.ID)
		e.time(x.Time)
		e.varint(x.Size)
		e.str(x.ETag)
		e.meta(x.Meta)
		e.checksum(x.Checksum)
		e.str(x.Owner)
		e.raw(x.Blob[:])
		e.uvarint(uint64(x.Chunks))
		e.optBytes(x.Inline)
		e.str(x.ReplicationStatus)
		e.conditions(x.WriteConditions)
	case OpDeleteObject:
		x := c.DeleteObject
		e.str(x.Bucket)
		e.str(x.Key)
		e.str(x.VersionID)
		e.versionID(x.MarkerID)
		e.time(x.Time)
		e.str(x.Owner)
	case OpPutObjectTagging:
		x := c.PutObjectTagging
		e.str(x.Bucket)
		e.str(x.Key)
		e.str(x.VersionID)
		e.bool(x.Tags != nil)
		e.tags(x.Tags)
	case OpCreateUpload:
		x := c.CreateUpload
		e.str(x.Bucket)
		e.str(x.Key)
		e.str(x.UploadID)
		e.time(x.Time)
		e.meta(x.Meta)
		e.str(x.ChecksumAlgorithm)
		e.str(x.Owner)
	case OpPutPart:
		x := c.PutPart
		e.str(x.Bucket)
		e.str(x.Key)
		e.str(x.UploadID)
		e.varint(int64(x.Number))
		e.varint(x.Size)
		e.str(x.ETag)
		e.checksum(x.Checksum)
		e.time(x.Time)
		e.raw(x.Blob[:])
		e.uvarint(uint64(x.Chunks))
		e.optBytes(x.Inline)
	case OpCompleteUpload:
		x := c.CompleteUpload
		e.str(x.Bucket)
		e.str(x.Key)
		e.str(x.UploadID)
		e.uvarint(uint64(len(x.Parts)))
		for _, p := range x.Parts {
			e.varint(int64(p.Number))
			e.str(p.ETag)
			e.str(p.Checksum)
		}
		e.versionID(x.ID)
		e.time(x.Time)
		e.conditions(x.WriteConditions)
	case OpAbortUpload:
		x := c.AbortUpload
		e.str(x.Bucket)
		e.str(x.Key)
		e.str(x.UploadID)
	case OpDiscardBlob:
		e.raw(c.DiscardBlob.Blob[:])
	}
	return e.b, nil
}

func (c Command) sizeHint() int {
	switch {
	case c.PutChunk != nil:
		return len(c.PutChunk.Data) + 48
	case c.PutObject != nil:
		return len(c.PutObject.Inline) + len(c.PutObject.Key) + len(c.PutObject.IfMatch) + 160
	case c.PutPart != nil:
		return len(c.PutPart.Inline) + len(c.PutPart.Key) + 160
	}
	return 128
}

// valid reports whether exactly the pointer field named by Op is set.
func (c Command) valid() bool {
	set := 0
	for _, p := range []bool{
		c.CreateBucket != nil, c.DeleteBucket != nil, c.SetVersioning != nil, c.PutBucketConfig != nil,
		c.PutChunk != nil, c.PutObject != nil, c.DeleteObject != nil, c.PutObjectTagging != nil,
		c.CreateUpload != nil, c.PutPart != nil, c.CompleteUpload != nil, c.AbortUpload != nil, c.DiscardBlob != nil,
	} {
		if p {
			set++
		}
	}
	if set != 1 {
		return false
	}
	switch c.Op {
	case OpCreateBucket:
		return c.CreateBucket != nil
	case OpDeleteBucket:
		return c.DeleteBucket != nil
	case OpSetVersioning:
		return c.SetVersioning != nil
	case OpPutBucketConfig:
		return c.PutBucketConfig != nil
	case OpPutChunk:
		return c.PutChunk != nil
	case OpPutObject:
		return c.PutObject != nil
	case OpDeleteObject:
		return c.DeleteObject != nil
	case OpPutObjectTagging:
		return c.PutObjectTagging != nil
	case OpCreateUpload:
		return c.CreateUpload != nil
	case OpPutPart:
		return c.PutPart != nil
	case OpCompleteUpload:
		return c.CompleteUpload != nil
	case OpAbortUpload:
		return c.AbortUpload != nil
	case OpDiscardBlob:
		return c.DiscardBlob != nil
	}
	return false
}

// UnmarshalCommand decodes MarshalBinary's output. Malformed input yields an error
// wrapping ErrInvalidArgument (ErrUnsupportedFormatVersion for an unknown format
// byte); it never panics. Byte fields are copied: b may be reused afterwards.
func UnmarshalCommand(b []byte) (Command, error) {
	if len(b) < 2 {
		return Command{}, fmt.Errorf("%w: command too short", ErrInvalidArgument)
	}
	if b[0] != commandFormatV1 {
		return Command{}, fmt.Errorf("%w: command format %d", ErrUnsupportedFormatVersion, b[0])
	}
	c := Command{Op: Op(b[1])}
	d := &decoder{b: b[2:]}
	switch c.Op {
	case OpCreateBucket:
		c.CreateBucket = &CreateBucketCmd{Name: d.str(), Region: d.str(), Owner: d.str(), Time: d.time()}
	case OpDeleteBucket:
		c.DeleteBucket = &DeleteBucketCmd{Name: d.str()}
	case OpSetVersioning:
		c.SetVersioning = &SetVersioningCmd{Bucket: d.str(), State: VersioningState(d.byte1())}
	case OpPutBucketConfig:
		c.PutBucketConfig = &PutBucketConfigCmd{Bucket: d.str(), Kind: ConfigKind(d.str()), Data: d.optBytes()}
	case OpPutChunk:
		x := &PutChunkCmd{}
		copy(x.Blob[:], d.take(len(x.Blob)))
		x.Index = d.u32varint()
		x.Encoding = ChunkEncoding(d.byte1())
		x.RawSize = d.u32varint()
		x.Time = d.time()
		x.Data = d.bytes()
		c.PutChunk = x
	case OpPutObject:
		x := &PutObjectCmd{Bucket: d.str(), Key: d.str(), ID: d.versionID(), Time: d.time(), Size: d.varint()}
		x.ETag = d.str()
		x.Meta = d.meta()
		x.Checksum = d.checksum()
		x.Owner = d.str()
		copy(x.Blob[:], d.take(len(x.Blob)))
		x.Chunks = d.u32varint()
		x.Inline = d.optBytes()
		x.ReplicationStatus = d.str()
		x.WriteConditions = d.conditions()
		c.PutObject = x
	case OpDeleteObject:
		c.DeleteObject = &DeleteObjectCmd{Bucket: d.str(), Key: d.str(), VersionID: d.str(), MarkerID: d.versionID(), Time: d.time(), Owner: d.str()}
	case OpPutObjectTagging:
		x := &PutObjectTaggingCmd{Bucket: d.str(), Key: d.str(), VersionID: d.str()}
		present := d.bool()
		x.Tags = d.tags()
		if present && x.Tags == nil {
			x.Tags = []Tag{}
		} else if !present && x.Tags != nil {
			d.fail()
		}
		c.PutObjectTagging = x
	case OpCreateUpload:
		c.CreateUpload = &CreateUploadCmd{Bucket: d.str(), Key: d.str(), UploadID: d.str(), Time: d.time(), Meta: d.meta(), ChecksumAlgorithm: d.str(), Owner: d.str()}
	case OpPutPart:
		x := &PutPartCmd{Bucket: d.str(), Key: d.str(), UploadID: d.str(), Number: d.intVarint(), Size: d.varint()}
		x.ETag = d.str()
		x.Checksum = d.checksum()
		x.Time = d.time()
		copy(x.Blob[:], d.take(len(x.Blob)))
		x.Chunks = d.u32varint()
		x.Inline = d.optBytes()
		c.PutPart = x
	case OpCompleteUpload:
		x := &CompleteUploadCmd{Bucket: d.str(), Key: d.str(), UploadID: d.str()}
		if n := d.count(3); n > 0 {
			x.Parts = make([]CompletedPart, n)
			for i := range x.Parts {
				x.Parts[i] = CompletedPart{Number: d.intVarint(), ETag: d.str(), Checksum: d.str()}
			}
		}
		x.ID = d.versionID()
		x.Time = d.time()
		x.WriteConditions = d.conditions()
		c.CompleteUpload = x
	case OpAbortUpload:
		c.AbortUpload = &AbortUploadCmd{Bucket: d.str(), Key: d.str(), UploadID: d.str()}
	case OpDiscardBlob:
		x := &DiscardBlobCmd{}
		copy(x.Blob[:], d.take(len(x.Blob)))
		c.DiscardBlob = x
	default:
		return Command{}, fmt.Errorf("%w: unknown command op %d", ErrInvalidArgument, b[1])
	}
	if err := d.done(); err != nil {
		return Command{}, fmt.Errorf("%w: %v command: %v", ErrInvalidArgument, c.Op, err)
	}
	return c, nil
}

// Flags of the optional conditions block that ends a PutObject or CompleteUpload.
const (
	condIfNoneMatch = 1 << iota
	condIfMatch
	condKnown = condIfNoneMatch | condIfMatch
)

// conditions appends the optional trailing block of a conditional write: nothing
// at all without conditions (so such a command encodes as it did before the block
// existed), else a non-zero flags byte, then the If-Match list when its flag is set.
func (e *encoder) conditions(c WriteConditions) {
	var flags byte
	if c.IfNoneMatch {
		flags |= condIfNoneMatch
	}
	if c.IfMatch != "" {
		flags |= condIfMatch
	}
	if flags == 0 {
		return
	}
	e.byte1(flags)
	if c.IfMatch != "" {
		e.str(c.IfMatch)
	}
}

// conditions reads what encoder.conditions wrote: the block is present exactly when
// input remains. Only the canonical form is accepted (flags non-zero and known, an
// If-Match list not empty), so every accepted command re-encodes to the same bytes.
func (d *decoder) conditions() WriteConditions {
	var c WriteConditions
	if d.err != nil || len(d.b) == 0 {
		return c
	}
	flags := d.byte1()
	if flags == 0 || flags&^condKnown != 0 {
		d.fail()
		return c
	}
	c.IfNoneMatch = flags&condIfNoneMatch != 0
	if flags&condIfMatch != 0 {
		if c.IfMatch = d.str(); c.IfMatch == "" {
			d.fail()
		}
	}
	return c
}

func (d *decoder) u32varint() uint32 {
	v := d.uvarint()
	if v > 1<<32-1 {
		d.fail()
		return 0
	}
	return uint32(v)
}

// intVarint reads an int that must fit 32 bits, so that decoding is the same on every
// platform.
func (d *decoder) intVarint() int {
	v := d.varint()
	if v < -1<<31 || v > 1<<31-1 {
		d.fail()
		return 0
	}
	return int(v)
}

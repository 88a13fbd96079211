package storage

import (
	"fmt"
	"slices"
	"time"
)

// OpApplyReplica is ApplyReplicaCmd's code.
const OpApplyReplica Op = 18

// ReplicationStatusReplica is the replication status of every version written by
// ApplyReplicaCmd (S3's x-amz-replication-status of a replica).
const ReplicationStatusReplica = "REPLICA"

// ApplyReplicaCmd writes a version (or delete marker) received from another region,
// as its origin has it: ID (origin region and HLC time), Last-Modified (Time), size,
// ETag, metadata and tags, checksum and part sizes. The body is referenced as
// PutObjectCmd's is (Inline, or the staged and complete blob Blob with Chunks
// chunks holding Size bytes; a multipart object's body may be staged as one blob,
// PartSizes keeps its parts); a delete marker has none. A body whose chunks are not
// all full but the last (a multipart body as its origin stores it: each part's last
// chunk may be short) is staged as several blobs, each with only its last chunk
// short: Blob holds the first bytes, MoreBlobs the rest in order, and Blob's size is
// Size less theirs (ReplicaBody builds them). The origin's replication
// status is not carried: the stored version's is ReplicationStatusReplica.
//
// Delivery is at least once and in any order, so the command is idempotent: a
// version whose ID the key already has is a success that changes nothing (its
// staged blob, if any, is discarded). The key's latest version stays the greatest
// ID, whatever the order of arrival. With Null set the version is the origin's null
// version: it replaces the key's null version only if its ID is greater (no null
// version: it becomes it); otherwise it is a no-op as well. A version that is not
// null needs a bucket with versioning enabled or suspended (ErrInvalidArgument on
// an unversioned bucket, S3's DstBucketUnversioned). A replica never writes the
// outbox: replicas are not replicated again. Result.Version is the version stored,
// zero for a no-op; the ID raises the store's maxhlc like any other.
type ApplyReplicaCmd struct {
	Bucket, Key  string
	ID           VersionID
	Null         bool
	DeleteMarker bool
	Time         time.Time
	Size         int64
	ETag         string
	Meta         ObjectMeta
	Checksum     *Checksum
	PartSizes    []int64
	Owner        string
	Blob         BlobID
	Chunks       uint32
	Inline       []byte
	MoreBlobs    []BlobRun
	// MetadataOnly: the command carries a metadata change (the tags of Meta) of
	// version ID and no body. A version ID the key has takes the tags, its status
	// and everything else unchanged (no outbox entry: a synced change is not
	// synced back); an ID the key lacks is a no-op (the version's own entry brings
	// it). Tag changes on both sides at once are not ordered: the last applied
	// wins on each side (replication/DESIGN.md).
	MetadataOnly bool
}

// BlobRun is a staged blob of a replica's body: Chunks chunks holding Size bytes.
type BlobRun struct {
	Blob   BlobID
	Chunks uint32
	Size   int64
}

const (
	replicaFlagNull = 1 << iota
	replicaFlagDeleteMarker
	replicaFlagMetadataOnly
	replicaFlagsKnown = replicaFlagNull | replicaFlagDeleteMarker | replicaFlagMetadataOnly
)

func (ApplyReplicaCmd) Op() Op { return OpApplyReplica }

// needsFormat: the metadata-only form came with Format5.
func (c ApplyReplicaCmd) needsFormat() Format {
	if c.MetadataOnly {
		return Format5
	}
	return Format4
}

func (c ApplyReplicaCmd) PayloadSize() int {
	return len(c.Inline) + len(c.Key) + 8*len(c.PartSizes) + 32*len(c.MoreBlobs)
}

func (c ApplyReplicaCmd) validate() error {
	switch {
	case c.Key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidArgument)
	case c.ID.IsZero():
		return fmt.Errorf("%w: replica without a version id", ErrInvalidArgument)
	case c.DeleteMarker && (c.Size != 0 || c.Chunks != 0 || c.Inline != nil || c.PartSizes != nil || c.MoreBlobs != nil):
		return fmt.Errorf("%w: delete marker with a body", ErrInvalidArgument)
	case c.MetadataOnly && (c.DeleteMarker || c.Size != 0 || c.Chunks != 0 || c.Inline != nil || c.PartSizes != nil || c.MoreBlobs != nil):
		return fmt.Errorf("%w: metadata change with a body", ErrInvalidArgument)
	case c.MoreBlobs != nil && (c.Chunks == 0 || c.Inline != nil):
		return fmt.Errorf("%w: more blobs without a first blob", ErrInvalidArgument)
	}
	rest := int64(0)
	for i, r := range c.MoreBlobs {
		if r.Blob == (BlobID{}) || r.Chunks == 0 || r.Size <= 0 {
			return fmt.Errorf("%w: empty blob run %d", ErrInvalidArgument, i)
		}
		if r.Blob == c.Blob || slices.ContainsFunc(c.MoreBlobs[:i], func(o BlobRun) bool { return o.Blob == r.Blob }) {
			return fmt.Errorf("%w: blob %x referenced twice", ErrInvalidArgument, r.Blob)
		}
		rest += r.Size
	}
	if c.MoreBlobs != nil && rest >= c.Size {
		return fmt.Errorf("%w: more blobs hold %d bytes of %d", ErrInvalidArgument, rest, c.Size)
	}
	var sum int64
	for _, n := range c.PartSizes {
		if n < 0 {
			return fmt.Errorf("%w: negative part size", ErrInvalidArgument)
		}
		sum += n
	}
	if c.PartSizes != nil && sum != c.Size {
		return fmt.Errorf("%w: parts add up to %d bytes, size %d", ErrInvalidArgument, sum, c.Size)
	}
	return nil
}

func (c ApplyReplicaCmd) encode(e *encoder) {
	e.str(c.Bucket)
	e.str(c.Key)
	e.versionID(c.ID)
	var flags byte
	if c.Null {
		flags |= replicaFlagNull
	}
	if c.DeleteMarker {
		flags |= replicaFlagDeleteMarker
	}
	if c.MetadataOnly {
		flags |= replicaFlagMetadataOnly
	}
	e.byte1(flags)
	e.time(c.Time)
	e.varint(c.Size)
	e.str(c.ETag)
	e.meta(c.Meta)
	e.checksum(c.Checksum)
	e.uvarint(uint64(len(c.PartSizes)))
	for _, n := range c.PartSizes {
		e.varint(n)
	}
	e.str(c.Owner)
	e.raw(c.Blob[:])
	e.uvarint(uint64(c.Chunks))
	e.optBytes(c.Inline)
	e.uvarint(uint64(len(c.MoreBlobs)))
	for _, r := range c.MoreBlobs {
		e.raw(r.Blob[:])
		e.uvarint(uint64(r.Chunks))
		e.varint(r.Size)
	}
}

func (c *ApplyReplicaCmd) decode(d *decoder) {
	*c = ApplyReplicaCmd{Bucket: d.str(), Key: d.str(), ID: d.versionID()}
	flags := d.byte1()
	if flags&^replicaFlagsKnown != 0 {
		d.fail()
	}
	c.Null = flags&replicaFlagNull != 0
	c.DeleteMarker = flags&replicaFlagDeleteMarker != 0
	c.MetadataOnly = flags&replicaFlagMetadataOnly != 0
	c.Time = d.time()
	c.Size = d.varint()
	c.ETag = d.str()
	c.Meta = d.meta()
	c.Checksum = d.checksum()
	if n := d.count(1); n > 0 {
		c.PartSizes = make([]int64, n)
		for i := range c.PartSizes {
			c.PartSizes[i] = d.varint()
		}
	}
	c.Owner = d.str()
	c.Blob = d.blobID()
	c.Chunks = d.u32varint()
	c.Inline = d.optBytes()
	if n := d.count(18); n > 0 {
		c.MoreBlobs = make([]BlobRun, n)
		for i := range c.MoreBlobs {
			c.MoreBlobs[i] = BlobRun{Blob: d.blobID(), Chunks: d.u32varint(), Size: d.varint()}
		}
	}
}

func (c ApplyReplicaCmd) versionTime() uint64 { return c.ID.Time }

func (ApplyReplicaCmd) idempotent() {}

func (c ApplyReplicaCmd) apply(a *applier) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if !c.Null && t.info.Versioning == Unversioned {
		return fail(fmt.Errorf("%w: replica version %s into bucket %q", ErrBucketUnversioned, c.ID, c.Bucket))
	}
	vt := t.versions()
	k := versionKey(c.Key, c.ID)
	if c.MetadataOnly {
		return a.replicaMetadata(t, c, k)
	}
	if vt.Get(k) != nil {
		return a.replicaNoop(c)
	}
	var old versionRef
	var replaces bool
	if c.Null {
		if old, replaces, err = findNull(vt, c.Bucket, c.Key); err != nil {
			return Result{}, err
		}
		if replaces && old.v.ID.Compare(c.ID) > 0 {
			return a.replicaNoop(c)
		}
	}
	var body []segment
	if !c.DeleteMarker {
		if body, err = a.checkReplicaBody(c); err != nil {
			return Result{}, err
		}
	}
	if replaces {
		if err := vt.Delete(old.k); err != nil {
			return Result{}, err
		}
		if err := a.release(old.v.body); err != nil {
			return Result{}, err
		}
	}
	v := ObjectVersion{
		Bucket: c.Bucket, Key: c.Key, ID: c.ID, IsNull: c.Null, DeleteMarker: c.DeleteMarker,
		ModTime: c.Time, Size: c.Size, ETag: c.ETag, Meta: c.Meta, Checksum: c.Checksum,
		PartSizes: c.PartSizes, Owner: c.Owner, ReplicationStatus: ReplicationStatusReplica,
	}
	v.body = body
	if err := vt.Put(k, encodeVersion(&v)); err != nil {
		return Result{}, err
	}
	for _, sg := range body {
		if err := a.adopt(sg); err != nil {
			return Result{}, err
		}
	}
	v.IsLatest = isLatest(vt, c.Key, k)
	return Result{Version: v}, nil
}

// replicaMetadata applies a MetadataOnly command to the version at key k.
func (a *applier) replicaMetadata(t *bucketTables, c ApplyReplicaCmd, k []byte) (Result, error) {
	val := t.versions().Get(k)
	if val == nil {
		return Result{}, nil
	}
	v, err := decodeVersion(c.Bucket, k, val)
	if err != nil {
		return Result{}, err
	}
	if v.DeleteMarker || slices.Equal(v.Meta.Tags, c.Meta.Tags) || (len(v.Meta.Tags) == 0 && len(c.Meta.Tags) == 0) {
		return Result{}, nil
	}
	v.Meta.Tags = c.Meta.Tags
	if len(v.Meta.Tags) == 0 {
		v.Meta.Tags = nil
	}
	if err := t.versions().Put(k, encodeVersion(&v)); err != nil {
		return Result{}, err
	}
	v.IsLatest = isLatest(t.versions(), c.Key, k)
	return Result{Version: v}, nil
}

// checkReplicaBody checks c's body as checkBody does, blob by blob, and returns its
// segments (none for an empty body).
func (a *applier) checkReplicaBody(c ApplyReplicaCmd) ([]segment, error) {
	first := c.Size
	for _, r := range c.MoreBlobs {
		first -= r.Size
	}
	seg, err := a.checkBody(c.Blob, c.Chunks, c.Inline, first)
	if err != nil || seg.Size == 0 {
		return nil, err
	}
	body := []segment{seg}
	for _, r := range c.MoreBlobs {
		sg, err := a.checkBody(r.Blob, r.Chunks, nil, r.Size)
		if err != nil {
			return nil, err
		}
		body = append(body, sg)
	}
	return body, nil
}

// replicaNoop ends a replica the key has already (or a null version older than the
// key's): nothing changes but its staged blob, which nobody else will reference.
func (a *applier) replicaNoop(c ApplyReplicaCmd) (Result, error) {
	if c.Chunks > 0 {
		if _, err := (DiscardBlobCmd{Blob: c.Blob}).apply(a); err != nil {
			return Result{}, err
		}
	}
	for _, r := range c.MoreBlobs {
		if _, err := (DiscardBlobCmd{Blob: r.Blob}).apply(a); err != nil {
			return Result{}, err
		}
	}
	return Result{}, nil
}

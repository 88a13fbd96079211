package storage

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"
)

// The replication outbox: what a region's shipper has to send to other regions,
// written by the applier in the transaction that makes the change (DESIGN.md,
// invariant 4). SCHEMA.md, "outbox", describes the layout.

var (
	// bktOutbox holds one entry per replicable change, keyed by its sequence.
	bktOutbox = []byte("outbox")
	// keyOutboxSeq holds the last sequence given to an outbox entry (recordV1 | u64).
	keyOutboxSeq = []byte("outboxseq")
)

// OutboxKind says what kind of change an outbox entry describes.
type OutboxKind uint8

const (
	// OutboxPut: a new object version (PutObject, CompleteUpload).
	OutboxPut OutboxKind = 1
	// OutboxDeleteMarker: a delete marker added by a DeleteObject without a version.
	OutboxDeleteMarker OutboxKind = 2
	// OutboxMetadata: the tags of an existing version changed (PutObjectTagging).
	OutboxMetadata OutboxKind = 3
)

func (k OutboxKind) String() string {
	switch k {
	case OutboxPut:
		return "put"
	case OutboxDeleteMarker:
		return "delete-marker"
	case OutboxMetadata:
		return "metadata"
	}
	return fmt.Sprintf("OutboxKind(%d)", uint8(k))
}

// OutboxEntry is one change to replicate. It names the version; the shipper reads
// the version itself (it may be gone by then: deleted by version ID, or replaced as
// the null version) when it ships the entry.
type OutboxEntry struct {
	Seq       uint64 // > 0, increasing in apply order, never reused
	Bucket    string
	Key       string
	VersionID VersionID // the version's ID, also for a null version
	Null      bool      // the version is the key's null version (addressed as "null")
	Kind      OutboxKind
}

const outboxFlagNull = 1

func encodeOutboxEntry(e OutboxEntry) []byte {
	enc := encoder{b: make([]byte, 0, 32+len(e.Bucket)+len(e.Key))}
	enc.byte1(recordV1)
	enc.str(e.Bucket)
	enc.str(e.Key)
	enc.versionID(e.VersionID)
	enc.byte1(byte(e.Kind))
	var flags byte
	if e.Null {
		flags |= outboxFlagNull
	}
	enc.byte1(flags)
	return enc.b
}

func decodeOutboxEntry(k, val []byte) (OutboxEntry, error) {
	if len(k) != 8 {
		return OutboxEntry{}, fmt.Errorf("%w: outbox key %x", errCorrupt, k)
	}
	d, err := checkVersion(val)
	if err != nil {
		return OutboxEntry{}, err
	}
	e := OutboxEntry{Seq: binary.BigEndian.Uint64(k), Bucket: d.str(), Key: d.str(), VersionID: d.versionID()}
	e.Kind = OutboxKind(d.byte1())
	flags := d.byte1()
	e.Null = flags&outboxFlagNull != 0
	if err := d.done(); err != nil {
		return OutboxEntry{}, fmt.Errorf("outbox entry %d: %w", e.Seq, err)
	}
	return e, nil
}

// replicated reports whether changes of the bucket go to the outbox: the region
// runs Format4 (so every member writes the same entries) and the bucket has a
// replication configuration. Which rule matches a key is the shipper's business.
func (t *bucketTables) replicated(tx *bbolt.Tx) bool {
	return regionFormat(tx) >= Format4 && t.configs().Get([]byte(ConfigReplication)) != nil
}

// outbox appends an entry for version v of a replicated bucket, in the applier's
// transaction, with the next sequence of meta/outboxseq. Anything else is a no-op.
func (a *applier) outbox(t *bucketTables, v *ObjectVersion, kind OutboxKind) error {
	if !t.replicated(a.tx) {
		return nil
	}
	bk, err := a.tx.CreateBucketIfNotExists(bktOutbox)
	if err != nil {
		return err
	}
	seq := readMetaU64(a.tx, keyOutboxSeq) + 1
	e := OutboxEntry{Seq: seq, Bucket: v.Bucket, Key: v.Key, VersionID: v.ID, Null: v.IsNull, Kind: kind}
	if err := bk.Put(binary.BigEndian.AppendUint64(nil, seq), encodeOutboxEntry(e)); err != nil {
		return err
	}
	return writeMetaU64(a.tx, keyOutboxSeq, seq)
}

// Outbox returns the entries with a sequence greater than after, in sequence order,
// at most max of them (max <= 0: all), read in one transaction.
func (s *Store) Outbox(after uint64, max int) ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := s.view(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(bktOutbox)
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		if after == ^uint64(0) {
			return nil
		}
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, after+1)); k != nil; k, v = c.Next() {
			if max > 0 && len(out) == max {
				return nil
			}
			e, err := decodeOutboxEntry(k, v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: read outbox: %w", err)
	}
	return out, nil
}

// OutboxLast returns the last sequence given to an outbox entry, trimmed or not (0
// if none ever was, or if the store is closed): one read of the meta bucket.
func (s *Store) OutboxLast() uint64 {
	var v uint64
	s.view(func(tx *bbolt.Tx) error {
		v = readMetaU64(tx, keyOutboxSeq)
		return nil
	})
	return v
}

package storage

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/pangea-s3/pangea/replication/rules"
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

// replicates reports whether a change of kind to version v goes to the outbox:
// the region runs Format5 (so every member decides alike; Format4 sends every
// change of a replicated bucket), the
// bucket has a replication configuration, and one of its enabled rules selects
// v's key and tags for the change: any rule for a new version, a rule with
// DeleteMarkerReplication for a delete marker, and for a tag change any rule,
// except on a replica, whose changes go back only under a rule with
// ReplicaModifications (replicas are not replicated again otherwise:
// invariant 6). Which destination a rule names is the shipper's business.
//
// Decided in the apply, from the configuration as of the entry, so every member
// decides alike and a configuration acknowledged before a write applies to it.
func (a *applier) replicates(t *bucketTables, v *ObjectVersion, kind OutboxKind) bool {
	format := regionFormat(a.tx)
	if format < Format4 {
		return false
	}
	raw := t.configs().Get([]byte(ConfigReplication))
	if raw == nil {
		return false
	}
	if format < Format5 {
		return true // Format4: every change of a replicated bucket (see Format5)
	}
	d, err := checkVersion(raw)
	if err != nil {
		return false // a record this binary cannot read replicates nothing
	}
	cfg := a.replicationRules(d.b)
	if cfg == nil {
		return false
	}
	var tags map[string]string
	if kind != OutboxDeleteMarker && len(v.Meta.Tags) > 0 {
		tags = make(map[string]string, len(v.Meta.Tags))
		for _, tg := range v.Meta.Tags {
			tags[tg.Key] = tg.Value
		}
	}
	replica := v.ReplicationStatus == ReplicationStatusReplica
	for _, r := range cfg.Match(v.Key, tags) {
		switch {
		case kind == OutboxDeleteMarker && !r.ReplicatesDeleteMarkers():
		case replica && (kind != OutboxMetadata || !r.ReplicatesReplicaModifications()):
		default:
			return true
		}
	}
	return false
}

// replicationRules parses a stored replication configuration, once per apply
// batch and document. A document that does not parse (PutBucketReplication
// stores only valid ones) replicates nothing.
func (a *applier) replicationRules(doc []byte) *rules.Configuration {
	if c, ok := a.rules[string(doc)]; ok {
		return c
	}
	c, err := rules.Parse(doc)
	if err != nil {
		c = nil
	}
	if a.rules == nil {
		a.rules = map[string]*rules.Configuration{}
	}
	a.rules[string(doc)] = c
	return c
}

// outbox appends an entry for a change of kind to version v, in the applier's
// transaction, if replicates says so; anything else is a no-op.
func (a *applier) outbox(t *bucketTables, v *ObjectVersion, kind OutboxKind) error {
	if !a.replicates(t, v, kind) {
		return nil
	}
	return a.appendOutbox(v, kind)
}

// appendOutbox appends the entry, with the next sequence of meta/outboxseq.
func (a *applier) appendOutbox(v *ObjectVersion, kind OutboxKind) error {
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

// newVersionReplicates decides, once, whether a new client version goes to
// the outbox, and gives it replication status PENDING if so (from Format5: S3
// shows the status only on versions a rule selects). The caller appends the
// entry (appendOutbox) once the version is written.
func (a *applier) newVersionReplicates(t *bucketTables, v *ObjectVersion) bool {
	if !a.replicates(t, v, OutboxPut) {
		return false
	}
	if regionFormat(a.tx) >= Format5 {
		v.ReplicationStatus = ReplicationStatusPending
	}
	return true
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

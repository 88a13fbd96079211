package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// OpSetReplicationMark is SetReplicationMarkCmd's code.
const OpSetReplicationMark Op = 20

// Replication statuses a source version moves through (S3's
// x-amz-replication-status): PENDING from its write while a rule replicates it,
// then COMPLETED once every destination has it, or FAILED once one refused it for
// good. A replica's is ReplicationStatusReplica.
const (
	ReplicationStatusPending   = "PENDING"
	ReplicationStatusCompleted = "COMPLETED"
	ReplicationStatusFailed    = "FAILED"
)

// ReplicationFailure is an outbox entry a destination refused for good.
type ReplicationFailure struct {
	Seq    uint64
	Reason string // S3's failure reason, e.g. DstBucketNotFound
}

// SetReplicationMarkCmd records a destination region's acknowledged high-water
// mark: every outbox entry at or below Through is applied there, or refused for
// good (Failed, which must be at or below Through). The mark only rises: a lower
// Through changes nothing. A refused entry's version, if it is still there and
// PENDING or COMPLETED, becomes FAILED (S3 aggregates destinations so: one
// failure fails the version). The region leader's shipper commits it as acks
// arrive, so a new leader resumes after the mark (invariant 5).
type SetReplicationMarkCmd struct {
	Dest    string
	Through uint64
	Failed  []ReplicationFailure
}

func (SetReplicationMarkCmd) Op() Op { return OpSetReplicationMark }

func (c SetReplicationMarkCmd) PayloadSize() int { return len(c.Dest) + 16*len(c.Failed) }

func (c SetReplicationMarkCmd) validate() error {
	if c.Dest == "" {
		return fmt.Errorf("%w: replication mark without a destination", ErrInvalidArgument)
	}
	for _, f := range c.Failed {
		if f.Seq == 0 || f.Seq > c.Through {
			return fmt.Errorf("%w: failed outbox entry %d outside the mark %d", ErrInvalidArgument, f.Seq, c.Through)
		}
	}
	return nil
}

func (c SetReplicationMarkCmd) encode(e *encoder) {
	e.str(c.Dest)
	e.uvarint(c.Through)
	e.uvarint(uint64(len(c.Failed)))
	for _, f := range c.Failed {
		e.uvarint(f.Seq)
		e.str(f.Reason)
	}
}

func (c *SetReplicationMarkCmd) decode(d *decoder) {
	*c = SetReplicationMarkCmd{Dest: d.str(), Through: d.uvarint()}
	if n := d.count(2); n > 0 {
		c.Failed = make([]ReplicationFailure, n)
		for i := range c.Failed {
			c.Failed[i] = ReplicationFailure{Seq: d.uvarint(), Reason: d.str()}
		}
	}
}

func (SetReplicationMarkCmd) idempotent() {}

var bktReplMarks = []byte("replmarks")

func (c SetReplicationMarkCmd) apply(a *applier) (Result, error) {
	bk, err := a.tx.CreateBucketIfNotExists(bktReplMarks)
	if err != nil {
		return Result{}, err
	}
	old := uint64(0)
	if v := bk.Get([]byte(c.Dest)); len(v) == 8 {
		old = binary.BigEndian.Uint64(v)
	}
	for _, f := range c.Failed {
		if f.Seq <= old {
			continue // applied before: the version's status is settled
		}
		if err := setOutboxStatus(a.tx, f.Seq, ReplicationStatusFailed); err != nil {
			return Result{}, err
		}
	}
	if c.Through <= old {
		return Result{}, nil
	}
	return Result{}, bk.Put([]byte(c.Dest), binary.BigEndian.AppendUint64(nil, c.Through))
}

// setOutboxStatus sets the replication status of the version outbox entry seq
// names, if the entry and its version are still there and the version's status
// is PENDING, or COMPLETED when to is FAILED. Anything else is left alone.
func setOutboxStatus(tx *bbolt.Tx, seq uint64, to string) error {
	ob := tx.Bucket(bktOutbox)
	if ob == nil {
		return nil
	}
	raw := ob.Get(binary.BigEndian.AppendUint64(nil, seq))
	if raw == nil {
		return nil
	}
	e, err := decodeOutboxEntry(binary.BigEndian.AppendUint64(nil, seq), raw)
	if err != nil {
		return err
	}
	return setVersionStatus(tx, e, to)
}

// setVersionStatus is setOutboxStatus for a decoded entry.
func setVersionStatus(tx *bbolt.Tx, e OutboxEntry, to string) error {
	if e.Kind == OutboxDeleteMarker {
		return nil // delete markers carry no status
	}
	t, err := tables(tx, e.Bucket)
	if errors.Is(err, ErrNoSuchBucket) {
		return nil
	}
	if err != nil {
		return err
	}
	k := versionKey(e.Key, e.VersionID)
	val := t.versions().Get(k)
	if val == nil {
		return nil
	}
	v, err := decodeVersion(e.Bucket, k, val)
	if err != nil {
		return err
	}
	switch {
	case v.ReplicationStatus == ReplicationStatusPending:
	case v.ReplicationStatus == ReplicationStatusCompleted && to == ReplicationStatusFailed:
	default:
		return nil
	}
	v.ReplicationStatus = to
	return t.versions().Put(k, encodeVersion(&v))
}

// ReplicationMarks returns every destination region's acknowledged mark
// (SetReplicationMarkCmd), by region.
func (s *Store) ReplicationMarks() (map[string]uint64, error) {
	out := map[string]uint64{}
	err := s.view(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(bktReplMarks)
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("%w: replication mark %q", errCorrupt, k)
			}
			out[string(k)] = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage: read replication marks: %w", err)
	}
	return out, nil
}

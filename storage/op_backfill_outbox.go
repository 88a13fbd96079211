package storage

import (
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// OpBackfillOutbox is BackfillOutboxCmd's code.
const OpBackfillOutbox Op = 21

// BackfillOutboxCmd queues versions written before a replication rule existed
// (S3's ExistingObjectReplication): each version of Refs still there, not a
// replica and never replicated (replication status "" or FAILED), that the
// bucket's rules select gets an outbox entry, and PENDING if it is not a delete
// marker, as a new write would (a delete marker carries no status, so a page
// applied twice queues its delete markers twice: the destination's apply is
// idempotent). It also records the backfill's progress for
// the bucket (BackfillState): the configuration it runs for (Doc), where the
// next page starts, counts, and whether it is done.
type BackfillOutboxCmd struct {
	Bucket string
	Doc    string // identifies the configuration backfilled (a digest of it)
	Refs   []VersionRef
	// The listing position after Refs, and whether the listing ended.
	NextKeyMarker, NextVersionIDMarker string
	Done                               bool
}

// VersionRef names one version of a key.
type VersionRef struct {
	Key string
	ID  VersionID
}

// BackfillState is a bucket's backfill progress.
type BackfillState struct {
	Doc                                string
	NextKeyMarker, NextVersionIDMarker string
	Scanned, Queued                    uint64
	Done                               bool
}

func (BackfillOutboxCmd) Op() Op { return OpBackfillOutbox }

func (c BackfillOutboxCmd) PayloadSize() int {
	n := len(c.Bucket) + len(c.NextKeyMarker)
	for _, r := range c.Refs {
		n += len(r.Key) + 16
	}
	return n
}

func (c BackfillOutboxCmd) validate() error {
	if c.Bucket == "" || c.Doc == "" {
		return fmt.Errorf("%w: backfill without a bucket or configuration", ErrInvalidArgument)
	}
	return nil
}

func (c BackfillOutboxCmd) encode(e *encoder) {
	e.str(c.Bucket)
	e.str(c.Doc)
	e.uvarint(uint64(len(c.Refs)))
	for _, r := range c.Refs {
		e.str(r.Key)
		e.versionID(r.ID)
	}
	e.str(c.NextKeyMarker)
	e.str(c.NextVersionIDMarker)
	e.bool(c.Done)
}

func (c *BackfillOutboxCmd) decode(d *decoder) {
	*c = BackfillOutboxCmd{Bucket: d.str(), Doc: d.str()}
	if n := d.count(2); n > 0 {
		c.Refs = make([]VersionRef, n)
		for i := range c.Refs {
			c.Refs[i] = VersionRef{Key: d.str(), ID: d.versionID()}
		}
	}
	c.NextKeyMarker = d.str()
	c.NextVersionIDMarker = d.str()
	c.Done = d.bool()
}

var bktBackfill = []byte("backfill")

func (c BackfillOutboxCmd) apply(a *applier) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	st, err := backfillState(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if st.Doc != c.Doc {
		st = BackfillState{Doc: c.Doc}
	}
	vt := t.versions()
	for _, r := range c.Refs {
		st.Scanned++
		k := versionKey(r.Key, r.ID)
		val := vt.Get(k)
		if val == nil {
			continue
		}
		v, err := decodeVersion(c.Bucket, k, val)
		if err != nil {
			return Result{}, err
		}
		if v.ReplicationStatus != "" && v.ReplicationStatus != ReplicationStatusFailed {
			continue
		}
		kind := OutboxPut
		if v.DeleteMarker {
			kind = OutboxDeleteMarker
		}
		if !a.replicates(t, &v, kind) {
			continue
		}
		if !v.DeleteMarker {
			v.ReplicationStatus = ReplicationStatusPending
			if err := vt.Put(k, encodeVersion(&v)); err != nil {
				return Result{}, err
			}
		}
		if err := a.appendOutbox(&v, kind); err != nil { // replicates said so above
			return Result{}, err
		}
		st.Queued++
	}
	st.NextKeyMarker, st.NextVersionIDMarker, st.Done = c.NextKeyMarker, c.NextVersionIDMarker, c.Done
	bk, err := a.tx.CreateBucketIfNotExists(bktBackfill)
	if err != nil {
		return Result{}, err
	}
	e := encoder{}
	e.byte1(recordV1)
	e.str(st.Doc)
	e.str(st.NextKeyMarker)
	e.str(st.NextVersionIDMarker)
	e.uvarint(st.Scanned)
	e.uvarint(st.Queued)
	e.bool(st.Done)
	return Result{}, bk.Put([]byte(c.Bucket), e.b)
}

func backfillState(tx *bbolt.Tx, bucket string) (BackfillState, error) {
	bk := tx.Bucket(bktBackfill)
	if bk == nil {
		return BackfillState{}, nil
	}
	raw := bk.Get([]byte(bucket))
	if raw == nil {
		return BackfillState{}, nil
	}
	d, err := checkVersion(raw)
	if err != nil {
		return BackfillState{}, err
	}
	st := BackfillState{Doc: d.str(), NextKeyMarker: d.str(), NextVersionIDMarker: d.str(), Scanned: d.uvarint(), Queued: d.uvarint(), Done: d.bool()}
	if err := d.done(); err != nil {
		return BackfillState{}, fmt.Errorf("backfill state of %q: %w", bucket, err)
	}
	return st, nil
}

// Backfill returns a bucket's backfill progress (zero if none ran).
func (s *Store) Backfill(bucket string) (BackfillState, error) {
	var st BackfillState
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		st, err = backfillState(tx, bucket)
		return err
	})
	if err != nil && !errors.Is(err, ErrNoSuchBucket) {
		return BackfillState{}, fmt.Errorf("storage: read backfill state: %w", err)
	}
	return st, nil
}

// Backfills returns every bucket's backfill progress, by bucket.
func (s *Store) Backfills() (map[string]BackfillState, error) {
	out := map[string]BackfillState{}
	err := s.view(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(bktBackfill)
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, _ []byte) error {
			st, err := backfillState(tx, string(k))
			out[string(k)] = st
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage: read backfill states: %w", err)
	}
	return out, nil
}

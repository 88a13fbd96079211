package storage

import (
	"encoding/binary"
	"fmt"
)

// OpTrimOutbox is TrimOutboxCmd's code.
const OpTrimOutbox Op = 19

// TrimOutboxCmd deletes the outbox entries with a sequence up to and including
// Through: the changes every destination has acknowledged. The version of each
// entry, if still there with replication status PENDING, becomes COMPLETED (a
// FAILED one stays so). Entries already gone, or
// a Through beyond the last entry, are fine; the sequence counter is kept, so
// sequences are never reused.
type TrimOutboxCmd struct {
	Through uint64
}

func (TrimOutboxCmd) Op() Op { return OpTrimOutbox }

func (TrimOutboxCmd) PayloadSize() int { return 0 }

func (TrimOutboxCmd) validate() error { return nil }

func (c TrimOutboxCmd) encode(e *encoder) { e.uvarint(c.Through) }

func (c *TrimOutboxCmd) decode(d *decoder) { c.Through = d.uvarint() }

func (TrimOutboxCmd) idempotent() {}

func (c TrimOutboxCmd) apply(a *applier) (Result, error) {
	bk := a.tx.Bucket(bktOutbox)
	if bk == nil || c.Through == 0 {
		return Result{}, nil
	}
	cur := bk.Cursor()
	for {
		// Deleting at the cursor moves it: start from the first entry again.
		k, v := cur.First()
		if k == nil {
			return Result{}, nil
		}
		if len(k) != 8 {
			return Result{}, fmt.Errorf("%w: outbox key %x", errCorrupt, k)
		}
		if binary.BigEndian.Uint64(k) > c.Through {
			return Result{}, nil
		}
		if e, err := decodeOutboxEntry(k, v); err != nil {
			return Result{}, err
		} else if err := setVersionStatus(a.tx, e, ReplicationStatusCompleted); err != nil {
			return Result{}, err
		}
		if err := cur.Delete(); err != nil {
			return Result{}, err
		}
	}
}

package storage

import (
	"fmt"
)

// OpDeleteBucket is DeleteBucketCmd's code.
const OpDeleteBucket Op = 2

// DeleteBucketCmd deletes an empty bucket and its configurations. Fails with
// ErrBucketNotEmpty while any version, delete marker or upload remains.
type DeleteBucketCmd struct {
	Name string
}

func (DeleteBucketCmd) Op() Op { return OpDeleteBucket }

func (DeleteBucketCmd) PayloadSize() int { return 0 }

func (DeleteBucketCmd) validate() error { return nil }

func (c DeleteBucketCmd) encode(e *encoder) {
	e.str(c.Name)
}

func (c *DeleteBucketCmd) decode(d *decoder) {
	c.Name = d.str()
}

func (c DeleteBucketCmd) apply(a *applier) (Result, error) {
	t, err := tables(a.tx, c.Name)
	if err != nil {
		return Result{}, err
	}
	if k, _ := t.versions().Cursor().First(); k != nil {
		return fail(fmt.Errorf("%w: %q has object versions", ErrBucketNotEmpty, c.Name))
	}
	if k, _ := t.uploads().Cursor().First(); k != nil {
		return fail(fmt.Errorf("%w: %q has multipart uploads", ErrBucketNotEmpty, c.Name))
	}
	if err := a.tx.Bucket(bktObjects).DeleteBucket([]byte(c.Name)); err != nil {
		return Result{}, err
	}
	return Result{}, a.tx.Bucket(bktBuckets).Delete([]byte(c.Name))
}

package storage

import (
	"fmt"
	"time"
)

// OpReleaseBucket is ReleaseBucketCmd's code.
const OpReleaseBucket Op = 17

// ReleaseBucketCmd gives a bucket name back to the catalog: the entry is deleted
// (and the catalog's version grows by one) only if Region holds it and, when
// CreatedBefore is set, it was reserved before CreatedBefore, so that a late
// release never drops a newer reservation of the same name. Otherwise it is a
// success that changes nothing.
type ReleaseBucketCmd struct {
	Bucket, Region string
	CreatedBefore  time.Time
}

func (ReleaseBucketCmd) Op() Op { return OpReleaseBucket }

func (ReleaseBucketCmd) PayloadSize() int { return 0 }

func (ReleaseBucketCmd) catalogOp() {}

func (c ReleaseBucketCmd) validate() error {
	if c.Bucket == "" {
		return fmt.Errorf("%w: empty bucket name", ErrInvalidArgument)
	}
	return nil
}

func (c ReleaseBucketCmd) encode(e *encoder) {
	e.str(c.Bucket)
	e.str(c.Region)
	e.time(c.CreatedBefore)
}

func (c *ReleaseBucketCmd) decode(d *decoder) {
	*c = ReleaseBucketCmd{Bucket: d.str(), Region: d.str(), CreatedBefore: d.time()}
}

func (c ReleaseBucketCmd) apply(a *applier) (Result, error) {
	cur, held, err := catalogEntry(a.tx, c.Bucket)
	if err != nil || !held {
		return Result{}, err
	}
	if cur.Region != c.Region || (!c.CreatedBefore.IsZero() && !cur.Created.Before(c.CreatedBefore)) {
		return Result{}, nil
	}
	if err := a.tx.Bucket(bktCatalog).Delete([]byte(c.Bucket)); err != nil {
		return Result{}, err
	}
	return Result{}, bumpCatalogVersion(a.tx)
}

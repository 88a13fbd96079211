package storage

import (
	"fmt"
	"time"
)

// OpReserveBucket is ReserveBucketCmd's code.
const OpReserveBucket Op = 16

// ReserveBucketCmd reserves a bucket name in the catalog for Region (applied in the
// control region). A name nobody holds is recorded with Created = At and the
// catalog's version grows by one. A name held already by the same Region and Owner
// is a success that changes nothing (a retry after an unknown outcome); held by
// anyone else, the command fails with ErrBucketAlreadyExists.
type ReserveBucketCmd struct {
	Bucket, Region, Owner string
	At                    time.Time
}

func (ReserveBucketCmd) Op() Op { return OpReserveBucket }

func (ReserveBucketCmd) PayloadSize() int { return 0 }

func (ReserveBucketCmd) catalogOp() {}

func (c ReserveBucketCmd) validate() error {
	if c.Bucket == "" {
		return fmt.Errorf("%w: empty bucket name", ErrInvalidArgument)
	}
	if c.Region == "" {
		return fmt.Errorf("%w: reserving %q for no region", ErrInvalidArgument, c.Bucket)
	}
	return nil
}

func (c ReserveBucketCmd) encode(e *encoder) {
	e.str(c.Bucket)
	e.str(c.Region)
	e.str(c.Owner)
	e.time(c.At)
}

func (c *ReserveBucketCmd) decode(d *decoder) {
	*c = ReserveBucketCmd{Bucket: d.str(), Region: d.str(), Owner: d.str(), At: d.time()}
}

func (c ReserveBucketCmd) stamp(clk Clock) Command {
	stampTime(&c.At, clk)
	return c
}

func (c ReserveBucketCmd) apply(a *applier) (Result, error) {
	cur, held, err := catalogEntry(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if held {
		if cur.Region == c.Region && cur.Owner == c.Owner {
			return Result{}, nil
		}
		return fail(fmt.Errorf("%w: %q is held by region %s", ErrBucketAlreadyExists, c.Bucket, cur.Region))
	}
	bk, err := a.tx.CreateBucketIfNotExists(bktCatalog)
	if err != nil {
		return Result{}, err
	}
	e := CatalogEntry{Bucket: c.Bucket, Region: c.Region, Owner: c.Owner, Created: c.At}
	if err := bk.Put([]byte(c.Bucket), encodeCatalogEntry(e)); err != nil {
		return Result{}, err
	}
	return Result{}, bumpCatalogVersion(a.tx)
}

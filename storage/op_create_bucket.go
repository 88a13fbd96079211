package storage

import (
	"fmt"
	"time"
)

// OpCreateBucket is CreateBucketCmd's code.
const OpCreateBucket Op = 1

// CreateBucketCmd creates a bucket. Fails with ErrBucketAlreadyOwnedByYou if Owner
// already owns it, ErrBucketAlreadyExists if someone else does.
type CreateBucketCmd struct {
	Name, Region, Owner string
	Time                time.Time
}

func (CreateBucketCmd) Op() Op { return OpCreateBucket }

func (CreateBucketCmd) PayloadSize() int { return 0 }

func (c CreateBucketCmd) validate() error {
	if c.Name == "" {
		return fmt.Errorf("%w: empty bucket name", ErrInvalidArgument)
	}
	return nil
}

func (c CreateBucketCmd) encode(e *encoder) {
	e.str(c.Name)
	e.str(c.Region)
	e.str(c.Owner)
	e.time(c.Time)
}

func (c *CreateBucketCmd) decode(d *decoder) {
	*c = CreateBucketCmd{Name: d.str(), Region: d.str(), Owner: d.str(), Time: d.time()}
}

func (c CreateBucketCmd) stamp(clk Clock) Command {
	stampTime(&c.Time, clk)
	return c
}

func (c CreateBucketCmd) apply(a *applier) (Result, error) {
	bk := a.tx.Bucket(bktBuckets)
	if raw := bk.Get([]byte(c.Name)); raw != nil {
		info, err := decodeBucket(c.Name, raw)
		if err != nil {
			return Result{}, err
		}
		if info.Owner == c.Owner {
			return fail(fmt.Errorf("%w: %q", ErrBucketAlreadyOwnedByYou, c.Name))
		}
		return fail(fmt.Errorf("%w: %q", ErrBucketAlreadyExists, c.Name))
	}
	info := BucketInfo{Name: c.Name, Region: c.Region, Owner: c.Owner, CreatedAt: c.Time}
	if err := bk.Put([]byte(c.Name), encodeBucket(info)); err != nil {
		return Result{}, err
	}
	objs := a.tx.Bucket(bktObjects)
	if objs.Bucket([]byte(c.Name)) != nil {
		// Left over from an inconsistent past; a new bucket starts empty.
		if err := objs.DeleteBucket([]byte(c.Name)); err != nil {
			return Result{}, err
		}
	}
	root, err := objs.CreateBucket([]byte(c.Name))
	if err != nil {
		return Result{}, err
	}
	for _, sub := range [][]byte{subVersions, subUploads, subParts, subConfigs} {
		if _, err := root.CreateBucket(sub); err != nil {
			return Result{}, err
		}
	}
	return Result{}, nil
}

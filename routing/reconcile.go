package routing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// RegionBuckets is a region's own bucket list (its store): *node.Member.
type RegionBuckets interface {
	ListBuckets(ctx context.Context, in storage.ListBucketsInput) (storage.ListBucketsResult, error)
}

// ReconcileGrace is how old a catalog entry must be before Reconcile releases
// it for want of a bucket: a CreateBucket reserves the name, then creates the
// bucket, and must not lose its name in between.
const ReconcileGrace = time.Minute

// Reconcile brings the catalog in line with region's store; the region's
// leader runs it now and then. A bucket of the store that the catalog lacks is
// reserved (a store older than the catalog; a conflict with another region's
// claim is reported, not fixed). A catalog entry of region older than grace
// whose bucket the store lacks is released: a CreateBucket that failed after
// its reservation, or a DeleteBucket whose release did not get through. The
// release is conditional on the entry's creation time, so a name reserved again
// since is kept.
func Reconcile(ctx context.Context, cat *Catalog, region string, store RegionBuckets, grace time.Duration, now time.Time) (reserved, released int, err error) {
	if _, _, err := cat.Resolve(ctx, ""); err != nil { // a fresh copy
		return 0, 0, err
	}
	have := map[string]storage.BucketInfo{}
	after := ""
	for {
		page, err := store.ListBuckets(ctx, storage.ListBucketsInput{StartAfter: after, MaxBuckets: 1000})
		if err != nil {
			return 0, 0, fmt.Errorf("reconcile: list the region's buckets: %w", err)
		}
		for _, b := range page.Buckets {
			have[b.Name] = b
			after = b.Name
		}
		if !page.IsTruncated || len(page.Buckets) == 0 {
			break
		}
	}
	var errs []error
	for name, b := range have {
		if e, ok := cat.Lookup(name); ok {
			if e.Region != region {
				errs = append(errs, fmt.Errorf("bucket %q of region %s is held by region %s in the catalog: one of them must go", name, region, e.Region))
			}
			continue
		}
		if _, err := cat.Reserve(ctx, name, region, b.Owner); err != nil {
			errs = append(errs, fmt.Errorf("reserve %q for region %s: %w", name, region, err))
			continue
		}
		reserved++
	}
	for _, e := range cat.Snapshot().Entries {
		if e.Region != region || now.Sub(e.Created) < grace {
			continue
		}
		if _, ok := have[e.Bucket]; ok {
			continue
		}
		if err := cat.Release(ctx, e.Bucket, region, e.Created.Add(time.Nanosecond)); err != nil {
			errs = append(errs, fmt.Errorf("release %q: %w", e.Bucket, err))
			continue
		}
		released++
	}
	return reserved, released, errors.Join(errs...)
}

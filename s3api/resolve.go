package s3api

import (
	"context"
	"fmt"

	"github.com/pangea-s3/pangea/storage"
)

// Resolver places buckets in a planet of regions: between authentication and
// dispatch, the front end asks it where the addressed bucket lives, and either
// serves the request from its Backend (a bucket of its own region) or forwards
// it to a process of the owning region over the internal channel
// (Config.Forward). It also fronts the global catalog of bucket names, which
// CreateBucket and DeleteBucket must go through so that a name is owned by one
// region at most. A Server without a Resolver serves every bucket itself.
//
// Errors follow Backend's rules; an error implementing Retryable (the control
// region or the owning region unreachable) is answered 503.
type Resolver interface {
	// Resolve says where bucket is served. storage.ErrNoSuchBucket when no
	// region owns it.
	Resolve(ctx context.Context, bucket string) (Target, error)
	// Region is the target for a request region must serve (a CreateBucket
	// whose LocationConstraint names it), Local when that is this server's
	// region. A region the planet does not have is ErrUnknownRegion (wrapped).
	Region(ctx context.Context, region string) (Target, error)
	// ReserveBucket claims name for region in the catalog before the bucket is
	// created there: storage.ErrBucketAlreadyExists if another region or owner
	// holds it, storage.ErrBucketAlreadyOwnedByYou if owner holds it elsewhere.
	ReserveBucket(ctx context.Context, name, region, owner string) error
	// CatalogReachable reports (nil) whether the catalog can be changed now; a
	// DeleteBucket asks before deleting, so that it never removes a bucket whose
	// name it then cannot release.
	CatalogReachable(ctx context.Context) error
	// ReleaseBucket gives name back after region deleted its bucket.
	ReleaseBucket(ctx context.Context, name, region string) error
	// ListBuckets lists the catalog's buckets, every region's, as
	// Backend.ListBuckets lists one store's.
	ListBuckets(ctx context.Context, in storage.ListBucketsInput) (storage.ListBucketsResult, error)
}

// Target is where a request is served.
type Target struct {
	// Local: by this server's Backend.
	Local bool
	// Region owns the bucket (or must serve the request).
	Region string
	// Addrs are internal addresses of Region's processes to forward to, best
	// first; a forward tries the next only when nothing reached the previous.
	Addrs []string
}

// ErrUnknownRegion is returned (wrapped) by Resolver.Region for a region the
// planet does not have.
var ErrUnknownRegion = unknownRegionError{}

type unknownRegionError struct{}

func (unknownRegionError) Error() string { return "s3api: no such region in this planet" }

// resolve runs the resolve step for a bucket request: nil target means serve it
// here. A forwarded request is always served here (no second hop).
func (s *Server) resolve(rc *reqCtx) (*Target, error) {
	if s.cfg.Resolver == nil || rc.internal {
		return nil, nil
	}
	t, err := s.cfg.Resolver.Resolve(rc.r.Context(), rc.bucket)
	if err != nil {
		return nil, err
	}
	if t.Local {
		if s.b == nil {
			return nil, fmt.Errorf("s3api: bucket %q resolved to this server, which has no backend", rc.bucket)
		}
		return nil, nil
	}
	return &t, nil
}

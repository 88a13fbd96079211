package routing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// Resolver places buckets for one process of the planet: which region owns a
// bucket (the catalog's cached copy), and which processes of that region to
// send its requests to (the gossip pool: healthy members, the leader first,
// then the nearest). It never waits on the control region on the data path
// unless the cache does not know the bucket.
type Resolver struct {
	dir     Directory
	cat     *Catalog
	region  string   // this process's region; "" for an edge
	regions []string // the planet's regions, the control region first
	local   LocalBuckets

	// Each region's member addresses, computed once per pool change (and at
	// least every placementTTL, for the RTT order) instead of per request.
	mu      sync.Mutex
	changes <-chan struct{} // closed at the first pool change after at
	at      time.Time
	addrs   map[string][]string
}

// placementTTL bounds how long a region's member order (by RTT, which changes
// without a pool change) is reused.
const placementTTL = time.Second

// LocalBuckets is the store of a member's own region (nil for an edge): a
// bucket the catalog's copy does not know yet but the region has (created a
// moment ago) is served here.
type LocalBuckets interface {
	Bucket(ctx context.Context, name string) (storage.BucketInfo, error)
}

// Placement is where a request goes.
type Placement struct {
	// Local: served by this process's own region.
	Local  bool
	Region string
	// Addrs are internal addresses of Region's healthy members, best first.
	Addrs []string
}

// ErrUnknownRegion: the planet has no such region.
var ErrUnknownRegion = errors.New("routing: no such region in this planet")

// NewResolver returns the resolver of a process in region ("" for an edge) of a
// planet with regions (the control region first).
func NewResolver(dir Directory, cat *Catalog, region string, regions []string, local LocalBuckets) *Resolver {
	return &Resolver{dir: dir, cat: cat, region: region, regions: slices.Clone(regions), local: local}
}

// Resolve says where bucket's requests go. storage.ErrNoSuchBucket if no
// region owns it.
func (r *Resolver) Resolve(ctx context.Context, bucket string) (Placement, error) {
	if e, ok := r.cat.Lookup(bucket); ok {
		return r.place(e.Region), nil
	}
	if r.local != nil {
		if _, err := r.local.Bucket(ctx, bucket); err == nil {
			return Placement{Local: true, Region: r.region}, nil
		}
	}
	e, ok, err := r.cat.Resolve(ctx, bucket)
	if err != nil {
		return Placement{}, err
	}
	if !ok {
		if r.local != nil {
			// Let the region answer NoSuchBucket itself, as it always did.
			return Placement{Local: true, Region: r.region}, nil
		}
		return Placement{}, fmt.Errorf("bucket %q: %w", bucket, storage.ErrNoSuchBucket)
	}
	return r.place(e.Region), nil
}

// Region is the placement of a request region must serve; "" picks this
// process's region, or the control region for an edge.
func (r *Resolver) Region(_ context.Context, region string) (Placement, error) {
	if region == "" {
		region = r.region
		if region == "" {
			region = r.regions[0]
		}
	}
	if !slices.Contains(r.regions, region) {
		return Placement{}, fmt.Errorf("%q: %w", region, ErrUnknownRegion)
	}
	return r.place(region), nil
}

func (r *Resolver) place(region string) Placement {
	if region == r.region {
		return Placement{Local: true, Region: region}
	}
	return Placement{Region: region, Addrs: r.memberAddrs(region)}
}

// memberAddrs is MemberAddrs, cached until the pool changes (or placementTTL).
// The slice returned is shared: callers must not modify it.
func (r *Resolver) memberAddrs(region string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	stale := r.addrs == nil || now.Sub(r.at) > placementTTL
	if !stale {
		select {
		case <-r.changes:
			stale = true
		default:
		}
	}
	if stale {
		r.changes = r.dir.Changes() // before reading the state it describes
		r.at, r.addrs = now, make(map[string][]string, len(r.regions))
	}
	if a, ok := r.addrs[region]; ok {
		return a
	}
	a := MemberAddrs(r.dir, region)
	r.addrs[region] = a
	return a
}

// MemberAddrs lists the internal addresses of region's healthy members: the
// leader first (a write goes no further), then by smoothed RTT from here.
func MemberAddrs(d Directory, region string) []string {
	peers := d.Peers()
	var ms []Peer
	for _, p := range peers {
		if p.Region == region && p.Role == RoleMember && p.Health.Healthy() && !p.Self && p.InternalAddr != "" {
			ms = append(ms, p)
		}
	}
	var leader Peer
	hasLeader := false
	for _, rg := range regionsOf(peers) {
		if rg.Name == region {
			leader, hasLeader = rg.Leader, rg.HasLeader
		}
	}
	slices.SortFunc(ms, func(a, b Peer) int {
		if hasLeader && (a.Name == leader.Name) != (b.Name == leader.Name) {
			if a.Name == leader.Name {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(rttOrMax(a), rttOrMax(b)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	addrs := make([]string, len(ms))
	for i, p := range ms {
		addrs[i] = p.InternalAddr
	}
	return addrs
}

func rttOrMax(p Peer) int64 {
	if p.RTT <= 0 {
		return 1 << 62
	}
	return int64(p.RTT)
}

// ReserveBucket claims name for region in the catalog. A name its owner holds
// in another region is storage.ErrBucketAlreadyOwnedByYou, as S3 answers.
func (r *Resolver) ReserveBucket(ctx context.Context, name, region, owner string) error {
	_, err := r.cat.Reserve(ctx, name, region, owner)
	if errors.Is(err, storage.ErrBucketAlreadyExists) {
		if e, ok := r.cat.Lookup(name); ok && e.Owner == owner && e.Region != region {
			return fmt.Errorf("bucket %q is yours in %s: %w", name, e.Region, storage.ErrBucketAlreadyOwnedByYou)
		}
	}
	return err
}

// listRefreshTimeout bounds ListBuckets' wait for the control region's fresh
// catalog before it answers from the cached copy.
const listRefreshTimeout = 2 * time.Second

// CatalogReachable reports whether the control region answers now (a
// linearizable read of the catalog: "" is never a bucket, so Resolve asks).
func (r *Resolver) CatalogReachable(ctx context.Context) error {
	_, _, err := r.cat.Resolve(ctx, "")
	return err
}

// ReleaseBucket gives name back after region deleted its bucket.
func (r *Resolver) ReleaseBucket(ctx context.Context, name, region string) error {
	return r.cat.Release(ctx, name, region, time.Time{})
}

// ListBuckets lists the catalog's buckets (every region's) as a store lists
// its own: by name, after StartAfter, with Prefix and Region, at most
// MaxBuckets (0: all).
func (r *Resolver) ListBuckets(ctx context.Context, in storage.ListBucketsInput) (storage.ListBucketsResult, error) {
	// Fresh from the control region, so that a bucket just created through
	// another process is listed; the cached copy if it does not answer soon.
	rctx, cancel := context.WithTimeout(ctx, listRefreshTimeout)
	_, _, err := r.cat.Resolve(rctx, "")
	cancel()
	if err != nil && ctx.Err() != nil {
		return storage.ListBucketsResult{}, ctx.Err()
	}
	var res storage.ListBucketsResult
	for _, e := range r.cat.Snapshot().Entries { // sorted by name
		if e.Bucket <= in.StartAfter || !strings.HasPrefix(e.Bucket, in.Prefix) || (in.Region != "" && e.Region != in.Region) {
			continue
		}
		if in.MaxBuckets > 0 && len(res.Buckets) == in.MaxBuckets {
			res.IsTruncated = true
			break
		}
		res.Buckets = append(res.Buckets, storage.BucketInfo{Name: e.Bucket, Region: e.Region, Owner: e.Owner, CreatedAt: e.Created})
	}
	return res, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/replication"
	"github.com/pangea-s3/pangea/routing"
	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/s3api"
	"github.com/pangea-s3/pangea/storage"
)

// forwardHeaderTimeout bounds the wait for a forwarded request's answer once it
// is sent: a region cut off mid-request gives a 503 after it, not a hang.
const forwardHeaderTimeout = 10 * time.Second

// planetFront is what a process of the planet (member or edge) adds to its S3
// front end: a cached copy of the bucket catalog, the resolver that places
// buckets with it and the gossip pool, and the internal transports over which
// it forwards requests and calls the control region (both through the cluster
// secret handshake, over dial: the emulated WAN in the lab).
type planetFront struct {
	cat      *routing.Catalog
	res      *routing.Resolver
	picker   *routing.Picker
	fwd      *http.Transport
	catTrans *http.Transport
	stop     context.CancelFunc
	done     chan struct{} // closed when the reconciler and the MRAP completer have stopped
}

// reconcileInterval is how often a region's leader reconciles the catalog with
// its store (routing.Reconcile).
const reconcileInterval = 30 * time.Second

// frontConfig says who the process is.
type frontConfig struct {
	Pool   routing.Directory
	Topo   *topology.Topology
	Region string // "" for an edge
	Secret string
	Dial   node.Dialer
	// Member is the process's region member (nil for an edge); Control says it
	// is a member of the control region, which serves the catalog from it.
	Member  *node.Member
	Control bool
	Logger  *slog.Logger
	// MRAPRouteDelay is how long a change of an MRAP's routes takes to apply
	// here (routing.Picker; AWS takes up to 2 minutes).
	MRAPRouteDelay time.Duration
}

func startFront(ctx context.Context, fc frontConfig) *planetFront {
	f := &planetFront{
		fwd:      node.InternalTransport(fc.Secret, fc.Dial, forwardHeaderTimeout),
		catTrans: node.InternalTransport(fc.Secret, fc.Dial, 0), // long polls
	}
	cc := routing.CatalogConfig{
		Directory: fc.Pool, ControlRegion: fc.Topo.ControlRegion().Name,
		Transport: f.catTrans, Logger: fc.Logger,
	}
	var local routing.LocalBuckets
	if fc.Member != nil {
		local = fc.Member
		if fc.Control {
			cc.Local = fc.Member
		}
	}
	f.cat = routing.NewCatalog(cc)
	f.cat.Start(ctx)
	regions := make([]string, len(fc.Topo.Regions))
	for i, r := range fc.Topo.Regions {
		regions[i] = r.Name
	}
	f.res = routing.NewResolver(fc.Pool, f.cat, fc.Region, regions, local)
	f.picker = routing.NewPicker(fc.Pool, fc.Region, fc.MRAPRouteDelay)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.stop, f.done = cancel, make(chan struct{})
	go func() {
		defer close(f.done)
		if fc.Member == nil {
			return
		}
		var wg sync.WaitGroup
		if fc.Region == fc.Topo.ControlRegion().Name {
			wg.Go(func() { f.completeMRAPs(rctx, fc.Member, fc.Logger) })
		}
		f.reconcile(rctx, fc.Member, fc.Region, fc.Logger)
		wg.Wait()
	}()
	return f
}

// mrapCompleteInterval is how often the control region's leader completes the
// MRAP operations whose propagation delay has passed.
const mrapCompleteInterval = 250 * time.Millisecond

// completeMRAPs completes MRAP operations (routing.CompleteMRAPOperations)
// while m leads the control region, until ctx ends.
func (f *planetFront) completeMRAPs(ctx context.Context, m *node.Member, logger *slog.Logger) {
	t := time.NewTicker(mrapCompleteInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !m.Ready() {
			continue
		}
		n, err := routing.CompleteMRAPOperations(ctx, m, routing.DefaultMRAPPropagation, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("completing multi-region access point operations; retrying", "err", err)
		case n > 0:
			logger.Info("multi-region access point operations completed", "count", n)
		}
	}
}

// reconcile runs routing.Reconcile every reconcileInterval while m leads its
// region, until ctx ends.
func (f *planetFront) reconcile(ctx context.Context, m *node.Member, region string, logger *slog.Logger) {
	t := time.NewTicker(reconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !m.Ready() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, reconcileInterval)
		reserved, released, err := routing.Reconcile(cctx, f.cat, region, m, routing.ReconcileGrace, time.Now())
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("catalog reconciliation incomplete; retrying at the next round", "reserved", reserved, "released", released, "err", err)
		case reserved+released > 0:
			logger.Info("catalog reconciled with the region's buckets", "reserved", reserved, "released", released)
		}
	}
}

// configure makes an S3 front end resolve and forward through f.
func (f *planetFront) configure(c *s3api.Config) {
	c.Resolver = frontResolver{f.res}
	c.Forward = f.fwd
	c.MRAPControl = f.cat
	c.MRAPRouter = frontMRAPs{f}
}

// frontMRAPs routes MRAP requests with the cached catalog and the picker.
type frontMRAPs struct{ f *planetFront }

func (a frontMRAPs) MRAPByAlias(_ context.Context, alias string) (storage.MRAP, bool, error) {
	m, ok := a.f.cat.MRAPByAlias(alias)
	return m, ok, nil
}

// Route orders m's regions with the picker and places each with the
// resolver, whose member orders are computed once per pool change, not per
// request.
func (a frontMRAPs) Route(ctx context.Context, m storage.MRAP) ([]s3api.MRAPHop, error) {
	picked := a.f.picker.Pick(m)
	hops := make([]s3api.MRAPHop, 0, len(picked))
	for _, p := range picked {
		t, err := target(a.f.res.Region(ctx, p.Region))
		if err != nil {
			return nil, err
		}
		hops = append(hops, s3api.MRAPHop{Region: p.Region, Bucket: p.Bucket, Target: t})
	}
	return hops, nil
}

// servePlanetMember opens mc's member and puts it behind the S3 endpoint on s3ln
// (not yet serving) as a process of a planet: its front (fc with the member
// filled in), its internal channel, and its pool's view in its metrics. s3ln is
// closed if the member does not open; the rest is the caller's to clean up.
func servePlanetMember(ctx context.Context, mc node.MemberConfig, fc frontConfig, pool *routing.Pool, id string, s3ln net.Listener, cfg Config, logger *slog.Logger) (*servedMember, error) {
	// The member's replication reads the catalog of its front, which needs the
	// member to start: until the front is there, no destination is located.
	var front atomic.Pointer[planetFront]
	tracker := replication.NewTracker(replication.TrackerConfig{
		SourceRegion: fc.Region, Threshold: cfg.RTCThreshold, Logger: logger,
	})
	mc.Replication = &node.ReplicationConfig{
		BucketRegion: func(ctx context.Context, bucket string) (string, error) {
			f := front.Load()
			if f == nil {
				return "", errors.New("the bucket catalog is not loaded yet")
			}
			return f.bucketRegion(ctx, bucket)
		},
		Addrs:   func(region string) []string { return routing.MemberAddrs(fc.Pool, region) },
		Tracker: tracker,
	}
	member, err := node.OpenMember(mc)
	if err != nil {
		s3ln.Close()
		return nil, err
	}
	fc.Member, fc.Control = member, fc.Region == fc.Topo.ControlRegion().Name
	fc.MRAPRouteDelay = cfg.MRAPRouteDelay
	f := startFront(ctx, fc)
	front.Store(f)
	sm := newServedMember(member, id, s3ln, cfg, logger, f)
	sm.metrics.reg.MustRegister(tracker)
	sm.tracker = tracker
	member.ServeInternal(internalHandler(sm.s3, member, fc.Control, fc.Logger))
	sm.metrics.reg.MustRegister(routing.NewCollector(pool))
	return sm, nil
}

// internalHandler is what a member serves on its internal channel: the
// catalog's calls (control region members only) and forwarded S3 requests.
func internalHandler(s3 *s3api.Server, m *node.Member, control bool, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	if control {
		mux.Handle(routing.CatalogPath, routing.CatalogHandler(m, logger))
	}
	mux.Handle("/", s3.InternalHandler())
	return mux
}

// bucketRegion is the region holding bucket, from the catalog.
func (f *planetFront) bucketRegion(ctx context.Context, bucket string) (string, error) {
	e, ok, err := f.cat.Resolve(ctx, bucket)
	switch {
	case err != nil:
		return "", err
	case !ok:
		return "", fmt.Errorf("bucket %q: %w", bucket, storage.ErrNoSuchBucket)
	}
	return e.Region, nil
}

func (f *planetFront) close() {
	f.stop()
	<-f.done
	f.cat.Close()
	f.fwd.CloseIdleConnections()
	f.catTrans.CloseIdleConnections()
}

// frontResolver adapts routing.Resolver to s3api.Resolver.
type frontResolver struct{ r *routing.Resolver }

func target(p routing.Placement, err error) (s3api.Target, error) {
	if errors.Is(err, routing.ErrUnknownRegion) {
		return s3api.Target{}, errors.Join(err, s3api.ErrUnknownRegion)
	}
	return s3api.Target{Local: p.Local, Region: p.Region, Addrs: p.Addrs}, err
}

func (a frontResolver) Resolve(ctx context.Context, bucket string) (s3api.Target, error) {
	return target(a.r.Resolve(ctx, bucket))
}

func (a frontResolver) Region(ctx context.Context, region string) (s3api.Target, error) {
	return target(a.r.Region(ctx, region))
}

func (a frontResolver) ReserveBucket(ctx context.Context, name, region, owner string) error {
	return a.r.ReserveBucket(ctx, name, region, owner)
}

func (a frontResolver) CatalogReachable(ctx context.Context) error { return a.r.CatalogReachable(ctx) }

func (a frontResolver) ReleaseBucket(ctx context.Context, name, region string) error {
	return a.r.ReleaseBucket(ctx, name, region)
}

func (a frontResolver) ListBuckets(ctx context.Context, in storage.ListBucketsInput) (storage.ListBucketsResult, error) {
	return a.r.ListBuckets(ctx, in)
}

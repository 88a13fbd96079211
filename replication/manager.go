package replication

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/pangea-s3/pangea/proto/replicationpb"
	"github.com/pangea-s3/pangea/replication/rules"
	"github.com/pangea-s3/pangea/storage"
)

// Locator is what the Manager needs of the planet: where buckets live and how to
// reach a region.
type Locator interface {
	// BucketRegion returns the region that holds a bucket (the global catalog);
	// an error if the bucket is unknown or the catalog is not loaded yet.
	BucketRegion(ctx context.Context, bucket string) (string, error)
	// Client returns a Replication client to one member of region, the attempt-th
	// choice (attempts cycle through the region's members, best first).
	Client(region string, attempt int) (replicationpb.ReplicationClient, error)
}

// ManagerConfig configures a Manager: one region leader's shipping.
type ManagerConfig struct {
	Region   string // the source region
	MemberID string
	Term     uint64
	Store    *storage.Store
	// Commit commits storage commands through the region's raft log.
	Commit  func(ctx context.Context, cmds ...storage.Command) ([]storage.Result, error)
	Locator Locator
	// Tracker, if set, follows each operation for the RTC metrics and events
	// (its pending operations are forgotten when the leadership ends: the next
	// leader tracks them again from the outbox).
	Tracker *Tracker
	Logger  *slog.Logger
	// Refresh is how often the buckets' replication configurations are read
	// again and the trim point recomputed (default 2 s). Wake, if set, is
	// signalled as new outbox entries are applied.
	Refresh time.Duration
	Wake    <-chan struct{}
	// Backoff is the first wait after a failed stream (default 200 ms; doubling
	// to 5 s).
	Backoff time.Duration
}

// Manager runs a region leader's shippers: one per destination region that a
// replication rule of a bucket of the region names, each resuming after the
// destination's mark committed in the store. As marks rise it trims the outbox
// to the lowest of them (which settles PENDING versions as COMPLETED).
type Manager struct {
	cfg    ManagerConfig
	logger *slog.Logger

	mu       sync.Mutex
	configs  map[string]*rules.Configuration // source bucket -> its configuration
	regionOf map[string]string               // destination bucket -> its region
	ships    map[string]*shipperRun          // destination region -> its shipper
	wakes    map[string]chan struct{}        // destination region -> its shipper's wake
	trimCh   chan struct{}                   // a mark rose
	backfill map[string]bool                 // source buckets being backfilled now
	// marks are the destinations' marks this manager knows committed: read
	// from the store when a shipper starts, raised as its acks commit (the
	// store may show a committed entry only at its next flush).
	marks map[string]uint64
	bfWG  sync.WaitGroup // backfills running
	// tracked is, per destination, the last outbox entry track has seen (the
	// manager's goroutine only).
	tracked map[string]uint64
}

type shipperRun struct {
	sh     *Shipper
	cancel context.CancelFunc
	done   chan struct{}
}

// NewManager returns a manager; Run runs it for one leadership.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 2 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	return &Manager{
		cfg: cfg, logger: cfg.Logger.With("component", "replication", "region", cfg.Region, "term", cfg.Term),
		configs: map[string]*rules.Configuration{}, regionOf: map[string]string{}, ships: map[string]*shipperRun{},
		wakes: map[string]chan struct{}{}, trimCh: make(chan struct{}, 1), backfill: map[string]bool{},
		marks: map[string]uint64{}, tracked: map[string]uint64{},
	}
}

// Run ships until ctx ends (the leadership with it), then stops every shipper.
func (m *Manager) Run(ctx context.Context) {
	defer m.stopAll()
	t := time.NewTicker(m.cfg.Refresh)
	defer t.Stop()
	for {
		if err := m.refresh(ctx); err != nil && ctx.Err() == nil {
			m.logger.Warn("replication configurations not read; retrying", "err", err)
		}
		m.trim(ctx)
		m.track(ctx)
		if m.cfg.Tracker != nil {
			m.cfg.Tracker.Check(time.Now())
		}
	wait:
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.trimCh:
			m.trim(ctx)
			goto wait
		case <-m.cfg.Wake:
			m.wakeAll()
			m.track(ctx)
			goto wait
		}
	}
}

// Stats returns each destination's shipper progress, by region.
func (m *Manager) Stats() map[string]ShipperStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]ShipperStats, len(m.ships))
	for d, r := range m.ships {
		out[d] = r.sh.Stats()
	}
	return out
}

// refresh reads the configurations of the region's buckets, locates their
// destination buckets, and starts or stops shippers to match.
func (m *Manager) refresh(ctx context.Context) error {
	buckets, err := m.cfg.Store.ListBuckets(ctx)
	if err != nil {
		return err
	}
	configs := map[string]*rules.Configuration{}
	regionOf := map[string]string{}
	var errs []error
	for _, b := range buckets {
		if b.Region != "" && b.Region != m.cfg.Region {
			continue
		}
		doc, err := m.cfg.Store.BucketConfig(ctx, b.Name, storage.ConfigReplication)
		if errors.Is(err, storage.ErrNoSuchConfig) || errors.Is(err, storage.ErrNoSuchBucket) {
			continue
		}
		if err != nil {
			return err
		}
		c, err := rules.Parse(doc)
		if err != nil {
			m.logger.Warn("stored replication configuration does not parse; bucket not replicated", "bucket", b.Name, "err", err)
			continue
		}
		configs[b.Name] = c
		if existingObjects(c) {
			m.maybeBackfill(ctx, b.Name, doc)
		}
		for _, r := range c.Rules {
			dst := r.Destination.BucketName()
			if _, ok := regionOf[dst]; ok {
				continue
			}
			region, err := m.cfg.Locator.BucketRegion(ctx, dst)
			if err != nil {
				errs = append(errs, fmt.Errorf("destination bucket %q of %q: %w", dst, b.Name, err))
				continue
			}
			regionOf[dst] = region
		}
	}
	dests := map[string]bool{}
	for _, region := range regionOf {
		if region != m.cfg.Region {
			dests[region] = true
		}
	}
	m.mu.Lock()
	m.configs, m.regionOf = configs, regionOf
	var stop []*shipperRun
	for d, r := range m.ships {
		if !dests[d] {
			stop = append(stop, r)
			delete(m.ships, d)
			delete(m.wakes, d)
		}
	}
	m.mu.Unlock()
	for _, r := range stop {
		r.cancel()
		<-r.done
	}
	marks, err := m.cfg.Store.ReplicationMarks()
	if err != nil {
		return err
	}
	for _, d := range slices.Sorted(maps.Keys(dests)) {
		m.mu.Lock()
		_, running := m.ships[d]
		m.mu.Unlock()
		if !running && ctx.Err() == nil {
			m.start(ctx, d, marks[d])
		}
	}
	return errors.Join(errs...)
}

// existingObjects reports whether a rule of c asks for existing objects.
func existingObjects(c *rules.Configuration) bool {
	for _, r := range c.Rules {
		if r.Enabled() && r.ExistingObjectReplication != nil && r.ExistingObjectReplication.Status == rules.Enabled {
			return true
		}
	}
	return false
}

// backfillPage is how many versions one BackfillOutbox command covers.
const backfillPage = 256

// maybeBackfill starts the backfill of bucket's existing versions for the
// configuration doc, unless it is done (or running) already. The progress is
// kept in the store, so a new leader resumes it.
func (m *Manager) maybeBackfill(ctx context.Context, bucket string, doc []byte) {
	sum := sha256.Sum256(doc)
	digest := hex.EncodeToString(sum[:8])
	st, err := m.cfg.Store.Backfill(bucket)
	if err != nil || (st.Doc == digest && st.Done) {
		return
	}
	m.mu.Lock()
	if m.backfill[bucket] {
		m.mu.Unlock()
		return
	}
	m.backfill[bucket] = true
	m.mu.Unlock()
	if st.Doc != digest {
		st = storage.BackfillState{Doc: digest}
	}
	m.logger.Info("backfilling existing objects (ExistingObjectReplication)", "bucket", bucket,
		"resume_after_key", st.NextKeyMarker, "scanned", st.Scanned, "queued", st.Queued)
	m.bfWG.Add(1)
	go func() {
		defer m.bfWG.Done()
		defer func() {
			m.mu.Lock()
			delete(m.backfill, bucket)
			m.mu.Unlock()
		}()
		in := storage.ListVersionsInput{KeyMarker: st.NextKeyMarker, VersionIDMarker: st.NextVersionIDMarker, MaxKeys: backfillPage}
		for ctx.Err() == nil {
			page, err := m.cfg.Store.ListObjectVersions(ctx, bucket, in)
			if err != nil {
				m.logger.Warn("backfill: list versions; retrying at the next refresh", "bucket", bucket, "err", err)
				return
			}
			cmd := storage.BackfillOutboxCmd{Bucket: bucket, Doc: digest, Done: !page.IsTruncated,
				NextKeyMarker: page.NextKeyMarker, NextVersionIDMarker: page.NextVersionIDMarker}
			for _, v := range page.Versions {
				cmd.Refs = append(cmd.Refs, storage.VersionRef{Key: v.Key, ID: v.ID})
			}
			res, err := m.cfg.Commit(ctx, cmd)
			if err == nil {
				err = res[0].Err
			}
			if err != nil {
				m.logger.Warn("backfill: queue a page; retrying at the next refresh", "bucket", bucket, "err", err)
				return
			}
			st, _ := m.cfg.Store.Backfill(bucket)
			m.logger.Info("backfill progress", "bucket", bucket, "scanned", st.Scanned, "queued", st.Queued, "done", cmd.Done)
			if cmd.Done {
				return
			}
			in.KeyMarker, in.VersionIDMarker = page.NextKeyMarker, page.NextVersionIDMarker
		}
	}()
}

// route decides where an outbox entry goes in region dest: the rule of the
// entry's bucket, matching its key and tags, of highest priority among those
// whose destination bucket is in dest.
func (m *Manager) route(dest string, e storage.OutboxEntry, v storage.ObjectVersion) (Route, rules.Rule, bool) {
	m.mu.Lock()
	c := m.configs[e.Bucket]
	regionOf := m.regionOf
	m.mu.Unlock()
	if c == nil {
		return Route{}, rules.Rule{}, false
	}
	var tags map[string]string
	if len(v.Meta.Tags) > 0 {
		tags = make(map[string]string, len(v.Meta.Tags))
		for _, t := range v.Meta.Tags {
			tags[t.Key] = t.Value
		}
	}
	replica := v.ReplicationStatus == storage.ReplicationStatusReplica
	for _, r := range c.Match(e.Key, tags) {
		dst := r.Destination.BucketName()
		if regionOf[dst] != dest {
			continue
		}
		switch {
		case e.Kind == storage.OutboxDeleteMarker && !r.ReplicatesDeleteMarkers():
			continue
		case replica && (e.Kind != storage.OutboxMetadata || !r.ReplicatesReplicaModifications()):
			continue // replicas are not replicated again, but for their metadata changes
		}
		// One destination bucket per region: Match returns the rules by
		// priority, so the first that qualifies wins.
		return Route{Bucket: dst, Rule: r.ID}, r, true
	}
	return Route{}, rules.Rule{}, false
}

// start starts the shipper to dest, resuming after mark.
func (m *Manager) start(ctx context.Context, dest string, mark uint64) {
	wake := make(chan struct{}, 1)
	logger := m.logger.With("destination_region", dest)
	tr := m.cfg.Tracker
	m.tracked[dest] = 0 // a restarted shipper's destination is tracked from its mark again
	sh := NewShipper(ShipperConfig{
		SourceRegion: m.cfg.Region, DestRegion: dest, MemberID: m.cfg.MemberID, Term: m.cfg.Term,
		Source: StoreSource{m.cfg.Store}, StartAfter: mark, Logger: m.cfg.Logger, Wake: wake,
		Route: func(e storage.OutboxEntry, v storage.ObjectVersion) (Route, bool) {
			rt, r, ok := m.route(dest, e, v)
			if ok {
				m.pending(dest, e, v, rt, r)
			}
			return rt, ok
		},
		Gone: func(e storage.OutboxEntry) {
			if tr != nil {
				tr.NotTracked(dest, e.Seq, "the version was deleted before it was shipped", time.Now())
			}
		},
		Acked: func(ctx context.Context, seq uint64, failed []storage.ReplicationFailure) error {
			res, err := m.cfg.Commit(ctx, storage.SetReplicationMarkCmd{Dest: dest, Through: seq, Failed: failed})
			if err == nil && res[0].Err != nil {
				err = res[0].Err
			}
			if err != nil {
				return err
			}
			m.mu.Lock()
			m.marks[dest] = max(m.marks[dest], seq)
			m.mu.Unlock()
			if tr != nil {
				now := time.Now()
				for _, f := range failed {
					tr.Failed(dest, f.Seq, f.Reason, now)
				}
				tr.Acked(dest, seq, now)
			}
			select {
			case m.trimCh <- struct{}{}:
			default:
			}
			return nil
		},
	})
	rctx, cancel := context.WithCancel(ctx)
	run := &shipperRun{sh: sh, cancel: cancel, done: make(chan struct{})}
	m.mu.Lock()
	m.ships[dest] = run
	m.wakes[dest] = wake
	m.marks[dest] = max(m.marks[dest], mark)
	m.mu.Unlock()
	logger.Info("replication shipper starts", "resume_after", mark)
	go func() {
		defer close(run.done)
		wait := m.cfg.Backoff
		for attempt := 0; rctx.Err() == nil; attempt++ {
			cli, err := m.cfg.Locator.Client(dest, attempt)
			if err == nil {
				sh.cfg.Client = cli
				before := sh.Stats().AckedSeq
				err = sh.Run(rctx)
				if sh.Stats().AckedSeq > before {
					wait = m.cfg.Backoff // progress: the next failure starts the backoff again
				}
			}
			if rctx.Err() != nil {
				return
			}
			logger.Warn("replication stream to the destination region failed; retrying", "err", err, "retry_in", wait, "attempt", attempt+1)
			select {
			case <-rctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
		}
	}()
}

// pending tells the tracker of an operation routed to dest (again is fine: it
// ignores what it has seen).
func (m *Manager) pending(dest string, e storage.OutboxEntry, v storage.ObjectVersion, rt Route, r rules.Rule) {
	if m.cfg.Tracker == nil {
		return
	}
	m.cfg.Tracker.Pending(Op{
		Dest: dest, Rule: rt.Rule, DestBucket: rt.Bucket, Bucket: e.Bucket, Key: e.Key,
		VersionID: versionIDString(v), Seq: e.Seq, Bytes: v.Size, Written: v.ModTime,
		RTC: r.ReplicationTimeEnabled(),
	})
}

// trackPerCall bounds the outbox entries one track call reads per destination.
const trackPerCall = 4096

// track tells the tracker of the outbox entries each destination's shipper has
// not reached yet: a shipper stalled on a cut link or a full window stops
// reading the outbox, and the backlog, its age and the threshold events must
// cover every operation waiting, not only those sent. Runs on the manager's
// goroutine only (tracked is its own).
func (m *Manager) track(ctx context.Context) {
	if m.cfg.Tracker == nil {
		return
	}
	m.mu.Lock()
	dests := make(map[string]uint64, len(m.ships))
	for d := range m.ships {
		dests[d] = m.marks[d]
	}
	m.mu.Unlock()
	src := StoreSource{m.cfg.Store}
	for d, mark := range dests {
		after := max(m.tracked[d], mark)
		for n := 0; n < trackPerCall && ctx.Err() == nil; {
			es, err := m.cfg.Store.Outbox(after, 256)
			if err != nil || len(es) == 0 {
				break
			}
			for _, e := range es {
				after, n = e.Seq, n+1
				v, err := src.Version(ctx, e)
				if err != nil {
					continue // gone: the shipper reports it when it gets there
				}
				if rt, r, ok := m.route(d, e, v); ok {
					m.pending(d, e, v, rt, r)
				}
			}
		}
		m.tracked[d] = after
	}
}

// trim drops the outbox entries every destination has acknowledged (the lowest
// mark of the running shippers), which settles their versions COMPLETED. With no
// destination at all nothing is trimmed: a configuration whose destinations are
// not located yet keeps its entries.
func (m *Manager) trim(ctx context.Context) {
	m.mu.Lock()
	low := ^uint64(0)
	for d := range m.ships {
		low = min(low, m.marks[d])
	}
	n := len(m.ships)
	m.mu.Unlock()
	if n == 0 {
		return
	}
	es, err := m.cfg.Store.Outbox(0, 1)
	if err != nil || len(es) == 0 || es[0].Seq > low {
		return
	}
	if _, err := m.cfg.Commit(ctx, storage.TrimOutboxCmd{Through: low}); err != nil && ctx.Err() == nil {
		m.logger.Warn("trim the replication outbox", "through", low, "err", err)
	}
}

func (m *Manager) wakeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.wakes {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

func (m *Manager) stopAll() {
	defer m.bfWG.Wait()
	m.mu.Lock()
	runs := slices.Collect(maps.Values(m.ships))
	m.ships = map[string]*shipperRun{}
	m.mu.Unlock()
	for _, r := range runs {
		r.cancel()
		<-r.done
	}
	if m.cfg.Tracker != nil {
		m.cfg.Tracker.Reset()
	}
}

// versionIDString is v's version ID as S3 shows it.
func versionIDString(v storage.ObjectVersion) string {
	if v.IsNull {
		return "null"
	}
	return v.ID.String()
}

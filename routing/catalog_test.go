package routing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/storage"
)

// memCatalog is a CatalogStore in memory with the storage rules, and a switch
// that makes every call fail as a member without a leader does.
type memCatalog struct {
	mu      sync.Mutex
	version uint64
	entries map[string]storage.CatalogEntry
	changed chan struct{} // closed and replaced at every change
	down    error         // if set, every call fails with it
	calls   int
}

func newMemCatalog() *memCatalog {
	return &memCatalog{entries: make(map[string]storage.CatalogEntry), changed: make(chan struct{})}
}

// retryableErr is what a member without a leader answers.
type retryableErr struct{ unknown bool }

func (e retryableErr) Error() string        { return "no raft leader reachable" }
func (e retryableErr) Retryable() bool      { return true }
func (e retryableErr) UnknownOutcome() bool { return e.unknown }

func (m *memCatalog) setDown(err error) {
	m.mu.Lock()
	m.down = err
	m.mu.Unlock()
}

func (m *memCatalog) bump() {
	m.version++
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *memCatalog) ReserveBucket(_ context.Context, name, region, owner string) (storage.CatalogEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.down != nil {
		return storage.CatalogEntry{}, m.down
	}
	if name == "" {
		return storage.CatalogEntry{}, fmt.Errorf("%w: empty bucket name", storage.ErrInvalidArgument)
	}
	if e, ok := m.entries[name]; ok {
		if e.Region == region && e.Owner == owner {
			return e, nil
		}
		return storage.CatalogEntry{}, fmt.Errorf("reserve: %w: held by %s", storage.ErrBucketAlreadyExists, e.Region)
	}
	e := storage.CatalogEntry{Bucket: name, Region: region, Owner: owner, Created: time.Now().UTC()}
	m.entries[name] = e
	m.bump()
	return e, nil
}

func (m *memCatalog) ReleaseBucket(_ context.Context, name, region string, createdBefore time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.down != nil {
		return m.down
	}
	if e, ok := m.entries[name]; ok && e.Region == region && (createdBefore.IsZero() || e.Created.Before(createdBefore)) {
		delete(m.entries, name)
		m.bump()
	}
	return nil
}

func (m *memCatalog) snapshotLocked() storage.CatalogSnapshot {
	s := storage.CatalogSnapshot{Version: m.version}
	for _, e := range m.entries {
		s.Entries = append(s.Entries, e)
	}
	slices.SortFunc(s.Entries, func(a, b storage.CatalogEntry) int { return strings.Compare(a.Bucket, b.Bucket) })
	return s
}

func (m *memCatalog) Catalog(context.Context) (storage.CatalogSnapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.down != nil {
		return storage.CatalogSnapshot{}, m.down
	}
	return m.snapshotLocked(), nil
}

func (m *memCatalog) WatchCatalog(ctx context.Context, after uint64) (storage.CatalogSnapshot, error) {
	for {
		m.mu.Lock()
		if m.down != nil {
			m.mu.Unlock()
			return storage.CatalogSnapshot{}, m.down
		}
		if m.version > after {
			s := m.snapshotLocked()
			m.mu.Unlock()
			return s, nil
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return storage.CatalogSnapshot{}, ctx.Err()
		}
	}
}

// staticDirectory is a Directory of fixed peers.
type staticDirectory struct {
	mu    sync.Mutex
	peers []Peer
}

func (d *staticDirectory) Self() Peer { return Peer{Name: "self", Self: true} }
func (d *staticDirectory) Peers() []Peer {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.peers)
}
func (d *staticDirectory) Peer(name string) (Peer, bool) {
	for _, p := range d.Peers() {
		if p.Name == name {
			return p, true
		}
	}
	return Peer{}, false
}
func (d *staticDirectory) RTT(name string) (time.Duration, bool) {
	p, ok := d.Peer(name)
	return p.RTT, ok && p.RTT > 0
}
func (d *staticDirectory) Changes() <-chan struct{} { return make(chan struct{}) }

// controlPeer is a healthy member of the control region "ctl" at addr.
func controlPeer(name, addr string, rtt time.Duration, leader bool) Peer {
	return Peer{
		Name: name, Health: HealthAlive, RTT: rtt,
		Meta: Meta{Region: "ctl", Role: RoleMember, InternalAddr: addr, Leader: leader},
	}
}

// serveCatalog serves store as a control member would, returning its address.
func serveCatalog(t *testing.T, store CatalogStore) string {
	t.Helper()
	srv := httptest.NewServer(CatalogHandler(store, testLogger(t)))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// silentAddr is an address that accepts connections and never answers: a
// partitioned member.
func silentAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// refusedAddr is an address nobody listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newTestCatalog(t *testing.T, dir Directory, edit func(*CatalogConfig)) *Catalog {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := CatalogConfig{
		Directory: dir, ControlRegion: "ctl", Transport: tr, Logger: testLogger(t),
		CallTimeout: 2 * time.Second, WatchWait: 300 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	c := NewCatalog(cfg)
	t.Cleanup(c.Close)
	return c
}

func isRetryableErr(err error) bool {
	var re interface{ Retryable() bool }
	return errors.As(err, &re) && re.Retryable()
}

// TestCatalog_CacheFollowsWatch: changes made in the control region reach the
// cache through the long-poll, with the nearest member failing and the next one
// taking over.
func TestCatalog_CacheFollowsWatch(t *testing.T) {
	store := newMemCatalog()
	dir := &staticDirectory{peers: []Peer{
		controlPeer("dead", refusedAddr(t), time.Millisecond, false), // nearest, refuses
		controlPeer("m2", serveCatalog(t, store), 5*time.Millisecond, false),
		{Name: "other-region", Health: HealthAlive, Meta: Meta{Region: "eu", Role: RoleMember, InternalAddr: refusedAddr(t)}},
	}}
	cat := newTestCatalog(t, dir, nil)
	cat.Start(t.Context())
	testkit.Eventually(t, 10*time.Second, "the catalog is fresh", func() error {
		if !cat.Fresh() {
			return errors.New("not fresh")
		}
		return nil
	})

	ctx := t.Context()
	if _, err := store.ReserveBucket(ctx, "logs", "eu", "alice"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the cache has logs", func() error {
		if e, ok := cat.Lookup("logs"); !ok || e.Region != "eu" {
			return fmt.Errorf("lookup: %+v %v", e, ok)
		}
		return nil
	})
	if err := store.ReleaseBucket(ctx, "logs", "eu", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ReserveBucket(ctx, "media", "us", "bob"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the cache follows the release and the new reservation", func() error {
		s := cat.Snapshot()
		if s.Version != 3 || len(s.Entries) != 1 || s.Entries[0].Bucket != "media" {
			return fmt.Errorf("snapshot %+v", s)
		}
		return nil
	})
	if !cat.Fresh() {
		t.Fatal("not fresh while the control region answers")
	}

	// The control region goes silent: the cache stays, Fresh turns false.
	store.setDown(retryableErr{})
	testkit.Eventually(t, 10*time.Second, "the catalog reports itself stale", func() error {
		if cat.Fresh() {
			return errors.New("still fresh")
		}
		return nil
	})
	if _, ok := cat.Lookup("media"); !ok {
		t.Fatal("the cache lost an entry while the control region was down")
	}
	store.setDown(nil)
	if _, err := store.ReserveBucket(ctx, "after", "us", "bob"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the cache recovers", func() error {
		if _, ok := cat.Lookup("after"); !ok || !cat.Fresh() {
			return errors.New("not yet")
		}
		return nil
	})
}

// TestCatalog_ResolveMiss: a name the cache does not have is looked up in the
// control region once, and then cached; an unknown name is reported absent.
func TestCatalog_ResolveMiss(t *testing.T) {
	store := newMemCatalog()
	if _, err := store.ReserveBucket(t.Context(), "data", "eu", "alice"); err != nil {
		t.Fatal(err)
	}
	dir := &staticDirectory{peers: []Peer{controlPeer("m1", serveCatalog(t, store), time.Millisecond, true)}}
	cat := newTestCatalog(t, dir, nil) // not started: only Resolve fills the cache
	if _, ok := cat.Lookup("data"); ok {
		t.Fatal("found before any fetch")
	}
	e, ok, err := cat.Resolve(t.Context(), "data")
	if err != nil || !ok || e.Region != "eu" || e.Owner != "alice" {
		t.Fatalf("Resolve(data) = %+v %v %v", e, ok, err)
	}
	if got, ok := cat.Lookup("data"); !ok || got != e {
		t.Fatalf("not cached after Resolve: %+v %v", got, ok)
	}
	store.mu.Lock()
	before := store.calls
	store.mu.Unlock()
	if _, ok, err := cat.Resolve(t.Context(), "data"); err != nil || !ok {
		t.Fatal(err)
	}
	store.mu.Lock()
	after := store.calls
	store.mu.Unlock()
	if after != before {
		t.Fatalf("a cache hit asked the control region (%d calls)", after-before)
	}
	if _, ok, err := cat.Resolve(t.Context(), "nothing"); err != nil || ok {
		t.Fatalf("Resolve(nothing) = %v %v", ok, err)
	}
}

// TestCatalog_ReserveConflictAcrossRegions: two regions race for the same names
// through their own Catalog clients, concurrently; each name goes to exactly one,
// the other gets ErrBucketAlreadyExists across the HTTP hop, and releases free
// the names.
func TestCatalog_ReserveConflictAcrossRegions(t *testing.T) {
	store := newMemCatalog()
	addr := serveCatalog(t, store)
	dir := &staticDirectory{peers: []Peer{
		controlPeer("follower", addr, time.Millisecond, false),
		controlPeer("leader", addr, 9*time.Millisecond, true),
	}}
	eu := newTestCatalog(t, dir, nil)
	us := newTestCatalog(t, dir, nil)

	const names = 20
	type result struct {
		region, name string
		err          error
	}
	results := make(chan result, 2*names)
	var wg sync.WaitGroup
	for i := range names {
		name := fmt.Sprintf("bucket-%02d", i)
		for region, cat := range map[string]*Catalog{"eu": eu, "us": us} {
			wg.Go(func() {
				_, err := cat.Reserve(t.Context(), name, region, "owner-"+region)
				results <- result{region, name, err}
			})
		}
	}
	wg.Wait()
	close(results)
	winners := make(map[string]string)
	for r := range results {
		switch {
		case r.err == nil:
			if w, ok := winners[r.name]; ok {
				t.Fatalf("%s reserved by %s and %s", r.name, w, r.region)
			}
			winners[r.name] = r.region
		case !errors.Is(r.err, storage.ErrBucketAlreadyExists):
			t.Fatalf("%s for %s: %v, want ErrBucketAlreadyExists", r.name, r.region, r.err)
		case isRetryableErr(r.err):
			t.Fatalf("a conflict says retry: %v", r.err)
		}
	}
	if len(winners) != names {
		t.Fatalf("%d names reserved, want %d", len(winners), names)
	}
	for name, region := range winners {
		cat := map[string]*Catalog{"eu": eu, "us": us}[region]
		if e, ok := cat.Lookup(name); !ok || e.Region != region {
			t.Fatalf("the winner's cache lacks %s: %+v", name, e)
		}
		// A retry by the winner succeeds unchanged.
		if _, err := cat.Reserve(t.Context(), name, region, "owner-"+region); err != nil {
			t.Fatalf("retry of %s: %v", name, err)
		}
		if err := cat.Release(t.Context(), name, region, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if _, ok := cat.Lookup(name); ok {
			t.Fatalf("%s still cached after its release", name)
		}
	}
	if s, _ := store.Catalog(t.Context()); len(s.Entries) != 0 {
		t.Fatalf("entries left after every release: %+v", s.Entries)
	}
	if _, err := us.Reserve(t.Context(), "", "us", "o"); !errors.Is(err, storage.ErrInvalidArgument) {
		t.Fatalf("empty name: %v, want ErrInvalidArgument", err)
	}
}

// TestCatalog_UnreachableControlRegionIsRetryable: silent and refusing members,
// or members that answer without a leader, give a retryable error naming the
// control region within the call timeout, never a hang.
func TestCatalog_UnreachableControlRegionIsRetryable(t *testing.T) {
	const timeout = 600 * time.Millisecond
	noLeader := newMemCatalog()
	noLeader.setDown(retryableErr{unknown: true})
	cases := map[string][]Peer{
		"silent and refused": {
			controlPeer("silent", silentAddr(t), time.Millisecond, true),
			controlPeer("refused", refusedAddr(t), 2*time.Millisecond, false),
		},
		"no leader": {controlPeer("m1", serveCatalog(t, noLeader), time.Millisecond, true)},
		"no member": nil,
	}
	for name, peers := range cases {
		t.Run(name, func(t *testing.T) {
			cat := newTestCatalog(t, &staticDirectory{peers: peers}, func(c *CatalogConfig) { c.CallTimeout = timeout })
			calls := map[string]func() error{
				"reserve": func() error { _, err := cat.Reserve(t.Context(), "b", "eu", "o"); return err },
				"release": func() error { return cat.Release(t.Context(), "b", "eu", time.Time{}) },
				"resolve": func() error { _, _, err := cat.Resolve(t.Context(), "b"); return err },
			}
			for op, call := range calls {
				start := time.Now()
				err := call()
				took := time.Since(start)
				if took > timeout+time.Second {
					t.Errorf("%s took %v with a timeout of %v", op, took, timeout)
				}
				var ue *CatalogUnavailableError
				if !errors.As(err, &ue) || !ue.Retryable() || !errors.Is(err, ErrControlUnreachable) {
					t.Fatalf("%s: %v, want a retryable CatalogUnavailableError", op, err)
				}
				if !strings.Contains(err.Error(), "control region") || !strings.Contains(err.Error(), "retry") {
					t.Errorf("%s: message %q does not say the control region is unreachable", op, err)
				}
				if name == "no leader" && op == "reserve" && !ue.UnknownOutcome() {
					t.Errorf("reserve answered with an unknown outcome lost it: %v", err)
				}
				if name == "no leader" && !strings.Contains(err.Error(), "no raft leader") {
					t.Errorf("%s: the member's reason is lost: %v", op, err)
				}
			}
		})
	}
}

// TestCatalog_LocalStore: a process that is itself a control member calls its
// member directly, and its watch follows it.
func TestCatalog_LocalStore(t *testing.T) {
	store := newMemCatalog()
	cat := newTestCatalog(t, &staticDirectory{}, func(c *CatalogConfig) { c.Local = store })
	cat.Start(t.Context())
	if _, err := cat.Reserve(t.Context(), "x", "ctl", "o"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ReserveBucket(t.Context(), "y", "eu", "o"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the watch sees y", func() error {
		if _, ok := cat.Lookup("y"); !ok || !cat.Fresh() {
			return errors.New("not yet")
		}
		return nil
	})
	if _, err := cat.Reserve(t.Context(), "y", "ctl", "o"); !errors.Is(err, storage.ErrBucketAlreadyExists) {
		t.Fatalf("conflict through the local member: %v", err)
	}
	store.setDown(retryableErr{})
	if _, _, err := cat.Resolve(t.Context(), "z"); !isRetryableErr(err) {
		t.Fatalf("local member without a leader: %v, want retryable", err)
	}
}

// TestCatalogHandler_WatchAnswersAfterWait: a watch with no change answers the
// current snapshot once its wait is over; one with a change answers at once.
func TestCatalogHandler_WatchAnswersAfterWait(t *testing.T) {
	store := newMemCatalog()
	if _, err := store.ReserveBucket(t.Context(), "a", "eu", "o"); err != nil {
		t.Fatal(err)
	}
	addr := serveCatalog(t, store)
	cat := newTestCatalog(t, &staticDirectory{}, nil)
	for _, after := range []uint64{0, 1} {
		var w catalogWireSnapshot
		err := cat.do(t.Context(), addr, http.MethodGet, fmt.Sprintf("watch?after=%d&wait=100", after), nil, &w)
		if err != nil || w.Version != 1 || len(w.Entries) != 1 || w.Entries[0].Bucket != "a" {
			t.Fatalf("watch after %d: %+v %v", after, w, err)
		}
	}
	var w catalogWireSnapshot
	if err := cat.do(t.Context(), addr, http.MethodGet, "watch?after=x", nil, &w); !errors.Is(err, storage.ErrInvalidArgument) {
		t.Fatalf("bad after: %v", err)
	}
}

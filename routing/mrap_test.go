package routing

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/storage"
)

// storeCatalog is a control region of one member without raft: a real
// storage.Store that applies each command at once, stamped with the local
// clock, and wakes the catalog's watchers after every apply.
type storeCatalog struct {
	s *storage.Store

	mu      sync.Mutex
	changed chan struct{}
}

var (
	_ CatalogStore = (*storeCatalog)(nil)
	_ MRAPStore    = (*storeCatalog)(nil)
)

type wallClock struct{}

func (wallClock) NextVersion() (storage.VersionID, time.Time) {
	now := time.Now()
	return storage.VersionID{Time: uint64(now.UnixNano()) << 16}, now
}
func (wallClock) Now() time.Time { return time.Now().UTC() }

func newStoreCatalog(t *testing.T) *storeCatalog {
	t.Helper()
	s, err := storage.Open(filepath.Join(t.TempDir(), "store.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &storeCatalog{s: s, changed: make(chan struct{})}
}

func (sc *storeCatalog) apply(c storage.Command) error {
	res := sc.s.Apply(storage.Stamp([]storage.Command{c}, wallClock{}))[0]
	sc.mu.Lock()
	close(sc.changed)
	sc.changed = make(chan struct{})
	sc.mu.Unlock()
	return res.Err
}

func (sc *storeCatalog) ReserveBucket(_ context.Context, name, region, owner string) (storage.CatalogEntry, error) {
	if err := sc.apply(storage.ReserveBucketCmd{Bucket: name, Region: region, Owner: owner}); err != nil {
		return storage.CatalogEntry{}, err
	}
	e, _, err := sc.s.CatalogLookup(name)
	return e, err
}

func (sc *storeCatalog) ReleaseBucket(_ context.Context, name, region string, createdBefore time.Time) error {
	return sc.apply(storage.ReleaseBucketCmd{Bucket: name, Region: region, CreatedBefore: createdBefore})
}

func (sc *storeCatalog) Catalog(context.Context) (storage.CatalogSnapshot, error) {
	return sc.s.Catalog()
}

func (sc *storeCatalog) WatchCatalog(ctx context.Context, after uint64) (storage.CatalogSnapshot, error) {
	for {
		sc.mu.Lock()
		ch := sc.changed
		sc.mu.Unlock()
		if sc.s.CatalogVersion() > after {
			return sc.s.Catalog()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return storage.CatalogSnapshot{}, ctx.Err()
		}
	}
}

func (sc *storeCatalog) opByToken(account, clientToken string) (storage.MRAPOperation, error) {
	o, ok, err := sc.s.MRAPOperationByToken(account, clientToken)
	if err == nil && !ok {
		err = storage.ErrNoSuchAsyncRequest
	}
	return o, err
}

func (sc *storeCatalog) CreateMRAP(_ context.Context, tokenARN, clientToken string, m storage.MRAP) (storage.MRAPOperation, error) {
	if err := sc.apply(storage.PutMRAPCmd{MRAP: m, TokenARN: tokenARN, ClientToken: clientToken}); err != nil {
		return storage.MRAPOperation{}, err
	}
	return sc.opByToken(m.Account, clientToken)
}

func (sc *storeCatalog) DeleteMRAP(_ context.Context, account, name, tokenARN, clientToken string) (storage.MRAPOperation, error) {
	if err := sc.apply(storage.DeleteMRAPCmd{Account: account, Name: name, TokenARN: tokenARN, ClientToken: clientToken}); err != nil {
		return storage.MRAPOperation{}, err
	}
	return sc.opByToken(account, clientToken)
}

func (sc *storeCatalog) PutMRAPPolicy(_ context.Context, account, name, policy, tokenARN, clientToken string) (storage.MRAPOperation, error) {
	if err := sc.apply(storage.PutMRAPPolicyCmd{Account: account, Name: name, Policy: policy, TokenARN: tokenARN, ClientToken: clientToken}); err != nil {
		return storage.MRAPOperation{}, err
	}
	return sc.opByToken(account, clientToken)
}

func (sc *storeCatalog) SubmitMRAPRoutes(_ context.Context, account, alias string, routes []storage.MRAPRoute) error {
	return sc.apply(storage.SubmitMRAPRoutesCmd{Account: account, Alias: alias, Routes: routes})
}

func (sc *storeCatalog) CompleteMRAPOperation(_ context.Context, tokenARN, code, msg string) error {
	return sc.apply(storage.CompleteMRAPOperationCmd{TokenARN: tokenARN, ErrorCode: code, ErrorMessage: msg})
}

func (sc *storeCatalog) MRAPOperation(_ context.Context, tokenARN string) (storage.MRAPOperation, error) {
	o, ok, err := sc.s.MRAPOperation(tokenARN)
	if err == nil && !ok {
		err = fmt.Errorf("%w: %s", storage.ErrNoSuchAsyncRequest, tokenARN)
	}
	return o, err
}

func (sc *storeCatalog) MRAPOperations(context.Context) ([]storage.MRAPOperation, error) {
	return sc.s.MRAPOperations()
}

const acct = "123456789012"

func mrapOf(name string, buckets ...string) storage.MRAP {
	m := storage.MRAP{Name: name}
	for _, b := range buckets {
		m.Regions = append(m.Regions, storage.MRAPRegion{Bucket: b})
	}
	return m
}

// completeAll completes every operation in flight (as if the delay had passed).
func completeAll(t *testing.T, store MRAPOperationStore, want int) {
	t.Helper()
	ctx := context.Background()
	// Not yet: the operations are younger than the delay.
	if n, err := CompleteMRAPOperations(ctx, store, time.Hour, time.Now()); err != nil || n != 0 {
		t.Fatalf("early completion: %d, %v", n, err)
	}
	if n, err := CompleteMRAPOperations(ctx, store, 0, time.Now().Add(2*DefaultMRAPPropagation)); err != nil || n != want {
		t.Fatalf("completed %d operations (%v), want %d", n, err, want)
	}
}

// TestMRAPCatalog: the MRAP management calls through a Catalog client against
// a CatalogHandler over real sockets, the operations completed as the control
// region's leader does it, and a second process's cache following the MRAPs.
func TestMRAPCatalog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := newStoreCatalog(t)
	for _, b := range [][2]string{{"b-use1", "us-east-1"}, {"b-euw1", "eu-west-1"}, {"b-use1-bis", "us-east-1"}, {"b-aps1", "ap-south-1"}} {
		if _, err := store.ReserveBucket(ctx, b[0], b[1], "o"); err != nil {
			t.Fatal(err)
		}
	}
	dir := &staticDirectory{peers: []Peer{controlPeer("m1", serveCatalog(t, store), time.Millisecond, true)}}
	cat := newTestCatalog(t, dir, nil)
	watcher := newTestCatalog(t, dir, nil)
	watcher.Start(ctx)

	// Create: IN_PROGRESS and CREATING, then READY once completed.
	op, err := cat.CreateMRAP(ctx, acct, "tok-1", mrapOf("one", "b-use1", "b-euw1"))
	if err != nil {
		t.Fatal(err)
	}
	if op.Status != storage.MRAPRequestInProgress || op.Operation != storage.MRAPOpCreate ||
		!strings.HasPrefix(op.TokenARN, "arn:aws:s3:us-west-2:"+acct+":async-request/mrap/create/") {
		t.Fatalf("create operation %+v", op)
	}
	m, err := cat.MRAP(ctx, acct, "one")
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != storage.MRAPCreating || !mrapAliasRE.MatchString(m.Alias) || len(m.Alias) != 18 || len(m.Regions) != 2 ||
		m.Regions[0] != (storage.MRAPRegion{Region: "eu-west-1", Bucket: "b-euw1", TrafficDial: 100}) ||
		m.Regions[1] != (storage.MRAPRegion{Region: "us-east-1", Bucket: "b-use1", TrafficDial: 100}) {
		t.Fatalf("created MRAP %+v", m)
	}
	// The same client token again: the same operation.
	again, err := cat.CreateMRAP(ctx, acct, "tok-1", mrapOf("one", "b-use1", "b-euw1"))
	if err != nil || again.TokenARN != op.TokenARN {
		t.Fatalf("retried create: %+v, %v; want %s", again, err, op.TokenARN)
	}
	completeAll(t, store, 1)
	if m, err := cat.MRAP(ctx, acct, "one"); err != nil || m.Status != storage.MRAPReady {
		t.Fatalf("after completion: %+v, %v", m, err)
	}
	if o, err := cat.MRAPOperation(ctx, acct, op.TokenARN); err != nil || o.Status != storage.MRAPRequestSucceeded {
		t.Fatalf("describe: %+v, %v", o, err)
	}
	if _, err := cat.MRAPOperation(ctx, "210987654321", op.TokenARN); !errors.Is(err, storage.ErrNoSuchAsyncRequest) {
		t.Fatalf("describe by another account: %v", err)
	}
	if _, err := cat.MRAPOperation(ctx, acct, op.TokenARN+"x"); !errors.Is(err, storage.ErrNoSuchAsyncRequest) {
		t.Fatalf("describe unknown: %v", err)
	}

	// The second process's cache learns the alias through its watch.
	testkit.Eventually(t, 10*time.Second, "the watcher caches the MRAP", func() error {
		if got, ok := watcher.MRAPByAlias(m.Alias); !ok || got.Name != "one" || got.Status != storage.MRAPReady {
			return fmt.Errorf("by alias: %+v %v", got, ok)
		}
		return nil
	})

	// Refusals.
	for _, tc := range []struct {
		what  string
		token string
		m     storage.MRAP
		want  error
	}{
		{"token reused", "tok-1", mrapOf("two", "b-use1"), storage.ErrInvalidMRAP},
		{"duplicate name", "tok-2", mrapOf("one", "b-aps1"), storage.ErrMRAPAlreadyExists},
		{"unknown bucket", "tok-3", mrapOf("two", "nope"), storage.ErrInvalidMRAP},
		{"two buckets in one region", "tok-4", mrapOf("two", "b-use1", "b-use1-bis"), storage.ErrInvalidMRAP},
		{"bad name", "tok-5", mrapOf("Two_", "b-use1"), storage.ErrInvalidMRAP},
		{"no region", "tok-6", mrapOf("two"), storage.ErrInvalidMRAP},
		{"18 regions", "tok-7", mrapOf("two", strings.Split(strings.Repeat("b-use1,", 18), ",")[:18]...), storage.ErrInvalidMRAP},
	} {
		if _, err := cat.CreateMRAP(ctx, acct, tc.token, tc.m); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.what, err, tc.want)
		}
	}
	if _, err := cat.MRAP(ctx, acct, "two"); !errors.Is(err, storage.ErrNoSuchMRAP) {
		t.Fatalf("refused MRAP exists: %v", err)
	}

	// List, by name, per account.
	if _, err := cat.CreateMRAP(ctx, acct, "tok-8", mrapOf("alpha", "b-aps1")); err != nil {
		t.Fatal(err)
	}
	list, err := cat.MRAPs(ctx, acct)
	if err != nil || len(list) != 2 || list[0].Name != "alpha" || list[1].Name != "one" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if list, err := cat.MRAPs(ctx, "210987654321"); err != nil || len(list) != 0 {
		t.Fatalf("another account's list: %+v, %v", list, err)
	}
	completeAll(t, store, 1)

	// Policy: proposed, then established.
	pop, err := cat.PutMRAPPolicy(ctx, acct, "tok-9", "one", `{"Version":"2012-10-17"}`)
	if err != nil || pop.Operation != storage.MRAPOpPutPolicy || !strings.Contains(pop.TokenARN, "/mrap/put-policy/") {
		t.Fatalf("put policy: %+v, %v", pop, err)
	}
	if m, _ := cat.MRAP(ctx, acct, "one"); m.ProposedPolicy != `{"Version":"2012-10-17"}` || m.Policy != "" {
		t.Fatalf("proposed policy: %+v", m)
	}
	completeAll(t, store, 1)
	if m, _ := cat.MRAP(ctx, acct, "one"); m.ProposedPolicy != "" || m.Policy != `{"Version":"2012-10-17"}` {
		t.Fatalf("established policy: %+v", m)
	}
	if _, err := cat.PutMRAPPolicy(ctx, acct, "tok-10", "nope", "{}"); !errors.Is(err, storage.ErrNoSuchMRAP) {
		t.Fatalf("policy of unknown: %v", err)
	}

	// Routes, by ARN or alias.
	if err := cat.SubmitMRAPRoutes(ctx, acct, m.ARN(), []storage.MRAPRoute{{Region: "us-east-1", TrafficDial: 0}}); err != nil {
		t.Fatal(err)
	}
	if err := cat.SubmitMRAPRoutes(ctx, acct, m.Alias, []storage.MRAPRoute{{Bucket: "b-euw1", TrafficDial: 0}}); !errors.Is(err, storage.ErrInvalidMRAP) {
		t.Fatalf("all passive: %v", err)
	}
	if err := cat.SubmitMRAPRoutes(ctx, acct, m.Alias, []storage.MRAPRoute{{Bucket: "b-aps1", TrafficDial: 100}}); !errors.Is(err, storage.ErrInvalidMRAP) {
		t.Fatalf("bucket not in the MRAP: %v", err)
	}
	if err := cat.SubmitMRAPRoutes(ctx, "210987654321", m.ARN(), []storage.MRAPRoute{{Region: "us-east-1", TrafficDial: 100}}); !errors.Is(err, storage.ErrNoSuchMRAP) {
		t.Fatalf("another account's ARN: %v", err)
	}
	if err := cat.SubmitMRAPRoutes(ctx, acct, "arn:aws:s3:us-east-1:"+acct+":accesspoint/x", nil); !errors.Is(err, storage.ErrInvalidMRAP) {
		t.Fatalf("a regional access point ARN: %v", err)
	}
	if got, _ := cat.MRAP(ctx, acct, "one"); got.Regions[0].TrafficDial != 100 || got.Regions[1].TrafficDial != 0 {
		t.Fatalf("routes: %+v", got.Regions)
	}

	// Delete: DELETING, then gone; the name is free, with a new alias.
	dop, err := cat.DeleteMRAP(ctx, acct, "tok-11", "one")
	if err != nil || dop.Operation != storage.MRAPOpDelete || !strings.Contains(dop.TokenARN, "/mrap/delete/") {
		t.Fatalf("delete: %+v, %v", dop, err)
	}
	if got, _ := cat.MRAP(ctx, acct, "one"); got.Status != storage.MRAPDeleting {
		t.Fatalf("deleting: %+v", got)
	}
	if again, err := cat.DeleteMRAP(ctx, acct, "tok-11", "one"); err != nil || again.TokenARN != dop.TokenARN {
		t.Fatalf("retried delete: %+v, %v", again, err)
	}
	completeAll(t, store, 1)
	if _, err := cat.MRAP(ctx, acct, "one"); !errors.Is(err, storage.ErrNoSuchMRAP) {
		t.Fatalf("deleted MRAP: %v", err)
	}
	if _, err := cat.DeleteMRAP(ctx, acct, "tok-12", "one"); !errors.Is(err, storage.ErrNoSuchMRAP) {
		t.Fatalf("delete again: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, "the watcher drops the deleted MRAP", func() error {
		if _, ok := watcher.MRAPByAlias(m.Alias); ok {
			return errors.New("still cached")
		}
		return nil
	})
	if _, err := cat.CreateMRAP(ctx, acct, "tok-13", mrapOf("one", "b-use1")); err != nil {
		t.Fatal(err)
	}
	if m2, err := cat.MRAP(ctx, acct, "one"); err != nil || m2.Alias == m.Alias {
		t.Fatalf("re-created: %+v, %v (old alias %s)", m2, err, m.Alias)
	}
}

// TestMRAPCatalog_AliasTaken: a creation whose alias was used before is
// retried with a new alias.
func TestMRAPCatalog_AliasTaken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := newStoreCatalog(t)
	if _, err := store.ReserveBucket(ctx, "b", "us-east-1", "o"); err != nil {
		t.Fatal(err)
	}
	taken := &aliasTakenOnce{storeCatalog: store}
	dir := &staticDirectory{peers: []Peer{controlPeer("m1", serveCatalog(t, taken), time.Millisecond, true)}}
	cat := newTestCatalog(t, dir, nil)
	if _, err := cat.CreateMRAP(ctx, acct, "t", mrapOf("one", "b")); err != nil {
		t.Fatal(err)
	}
	if n := taken.calls.Load(); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
}

// aliasTakenOnce refuses the first creation's alias as used before.
type aliasTakenOnce struct {
	*storeCatalog
	calls atomic.Int32
}

func (a *aliasTakenOnce) CreateMRAP(ctx context.Context, tokenARN, clientToken string, m storage.MRAP) (storage.MRAPOperation, error) {
	if a.calls.Add(1) == 1 {
		return storage.MRAPOperation{}, fmt.Errorf("%w: %q", storage.ErrMRAPAliasTaken, m.Alias)
	}
	return a.storeCatalog.CreateMRAP(ctx, tokenARN, clientToken, m)
}

func TestParseMRAP(t *testing.T) {
	for _, tc := range []struct {
		in, alias string
		err       error
	}{
		{"mfzwi23gnjvgw.mrap", "mfzwi23gnjvgw.mrap", nil},
		{"arn:aws:s3::" + acct + ":accesspoint/mfzwi23gnjvgw.mrap", "mfzwi23gnjvgw.mrap", nil},
		{"arn:aws:s3::210987654321:accesspoint/mfzwi23gnjvgw.mrap", "", storage.ErrNoSuchMRAP},
		{"arn:aws:s3:us-east-1:" + acct + ":accesspoint/ap", "", storage.ErrInvalidMRAP},
		{"my-bucket", "", storage.ErrInvalidMRAP},
		{"", "", storage.ErrInvalidMRAP},
	} {
		alias, err := ParseMRAP(acct, tc.in)
		if alias != tc.alias || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Fatalf("ParseMRAP(%q) = %q, %v; want %q, %v", tc.in, alias, err, tc.alias, tc.err)
		}
	}
}

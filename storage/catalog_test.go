package storage

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func mustCatalog(t *testing.T, s *Store) CatalogSnapshot {
	t.Helper()
	snap, err := s.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	if v := s.CatalogVersion(); v != snap.Version {
		t.Fatalf("CatalogVersion %d, Catalog says %d", v, snap.Version)
	}
	return snap
}

// TestCatalog_ReserveAndRelease walks the catalog's rules: a free name is
// reserved, a retry by the same region and owner changes nothing, anyone else
// conflicts, a release only drops an entry its region holds (and, with
// CreatedBefore, only an older one), and the version counts changes only.
func TestCatalog_ReserveAndRelease(t *testing.T) {
	h := newHarness(t)
	t1 := time.Unix(1_800_000_000, 0).UTC()
	t2 := t1.Add(time.Minute)

	if snap := mustCatalog(t, h.s); snap.Version != 0 || len(snap.Entries) != 0 {
		t.Fatalf("new store: catalog %+v", snap)
	}
	h.mustApply(ReserveBucketCmd{Bucket: "zeta", Region: "eu", Owner: "o2", At: t1})
	h.mustApply(ReserveBucketCmd{Bucket: "alpha", Region: "us", Owner: "o1", At: t1})
	want := CatalogSnapshot{Version: 2, Entries: []CatalogEntry{
		{Bucket: "alpha", Region: "us", Owner: "o1", Created: t1},
		{Bucket: "zeta", Region: "eu", Owner: "o2", Created: t1},
	}}
	if got := mustCatalog(t, h.s); !reflect.DeepEqual(got, want) {
		t.Fatalf("catalog %+v, want %+v", got, want)
	}

	// A retry (a later time) succeeds and changes nothing.
	h.mustApply(ReserveBucketCmd{Bucket: "alpha", Region: "us", Owner: "o1", At: t2})
	if got := mustCatalog(t, h.s); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a retried reservation: %+v", got)
	}
	// Another region, or another owner in the same region, conflicts.
	for _, c := range []ReserveBucketCmd{
		{Bucket: "alpha", Region: "eu", Owner: "o1", At: t2},
		{Bucket: "alpha", Region: "us", Owner: "o3", At: t2},
	} {
		if err := h.apply(c).Err; !errors.Is(err, ErrBucketAlreadyExists) {
			t.Fatalf("%+v: %v, want ErrBucketAlreadyExists", c, err)
		}
	}
	for _, c := range []ReserveBucketCmd{{Region: "us"}, {Bucket: "x"}} {
		if err := h.apply(c).Err; !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("%+v: %v, want ErrInvalidArgument", c, err)
		}
	}
	if got := mustCatalog(t, h.s); !reflect.DeepEqual(got, want) {
		t.Fatalf("after refused reservations: %+v", got)
	}

	// Releases that must not drop anything: absent, held by another region,
	// reserved at or after CreatedBefore.
	for _, c := range []ReleaseBucketCmd{
		{Bucket: "nothing", Region: "us"},
		{Bucket: "alpha", Region: "eu"},
		{Bucket: "alpha", Region: "us", CreatedBefore: t1},
	} {
		h.mustApply(c)
	}
	if got := mustCatalog(t, h.s); !reflect.DeepEqual(got, want) {
		t.Fatalf("after releases that match nothing: %+v", got)
	}
	h.mustApply(ReleaseBucketCmd{Bucket: "alpha", Region: "us", CreatedBefore: t2})
	h.mustApply(ReleaseBucketCmd{Bucket: "zeta", Region: "eu"})
	if got := mustCatalog(t, h.s); got.Version != 4 || len(got.Entries) != 0 {
		t.Fatalf("after both releases: %+v", got)
	}
	// A released name is free for anyone.
	h.mustApply(ReserveBucketCmd{Bucket: "alpha", Region: "eu", Owner: "o9", At: t2})
	got := mustCatalog(t, h.s)
	if e, ok := got.Lookup("alpha"); !ok || e.Region != "eu" || got.Version != 5 {
		t.Fatalf("alpha after re-reservation: %+v %v (version %d)", e, ok, got.Version)
	}
	if _, ok := got.Lookup("zeta"); ok {
		t.Fatal("zeta found after its release")
	}
	if e, ok, err := h.s.CatalogLookup("alpha"); err != nil || !ok || e.Owner != "o9" || !e.Created.Equal(t2) {
		t.Fatalf("CatalogLookup(alpha) = %+v %v %v", e, ok, err)
	}
	if _, ok, err := h.s.CatalogLookup("zeta"); err != nil || ok {
		t.Fatalf("CatalogLookup(zeta) = %v %v after its release", ok, err)
	}
}

// TestCatalog_StampsReservationTime: a reservation without a time gets the
// stamper's, as CreateBucket does.
func TestCatalog_StampsReservationTime(t *testing.T) {
	h := newHarness(t)
	clk := fixedClock(time.Unix(1_800_000_123, 0).UTC())
	cmds := Stamp([]Command{ReserveBucketCmd{Bucket: "b", Region: "r", Owner: "o"}}, clk)
	h.mustApply(cmds[0])
	if e, ok := mustCatalog(t, h.s).Lookup("b"); !ok || !e.Created.Equal(clk.Now()) {
		t.Fatalf("entry %+v %v, want Created %v", e, ok, clk.Now())
	}
}

type fixedClock time.Time

func (c fixedClock) NextVersion() (VersionID, time.Time) { return VersionID{Time: 1}, time.Time(c) }
func (c fixedClock) Now() time.Time                      { return time.Time(c) }

// TestCatalog_SurvivesReopenAndSnapshot: the catalog and its version are in the
// file, so a reopened store and a store restored from a snapshot have them.
func TestCatalog_SurvivesReopenAndSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openTestStore(t, path)
	at := time.Unix(1_800_000_000, 0).UTC()
	for _, c := range []Command{
		ReserveBucketCmd{Bucket: "a", Region: "us", Owner: "o", At: at},
		ReserveBucketCmd{Bucket: "b", Region: "eu", Owner: "o", At: at},
		ReleaseBucketCmd{Bucket: "a", Region: "us"},
	} {
		if err := s.Apply([]Command{c})[0].Err; err != nil {
			t.Fatal(err)
		}
	}
	want := mustCatalog(t, s)
	if want.Version != 3 || len(want.Entries) != 1 {
		t.Fatalf("catalog %+v", want)
	}
	var snap bytes.Buffer
	if err := s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, path)
	if got := mustCatalog(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("reopened: %+v, want %+v", got, want)
	}

	other := newTestStore(t)
	if err := other.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	if got := mustCatalog(t, other); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored: %+v, want %+v", got, want)
	}
	// And a restore replaces a catalog, it does not merge into it.
	s.Apply([]Command{ReserveBucketCmd{Bucket: "c", Region: "us", Owner: "o", At: at}})
	snap.Reset()
	if err := other.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	if got := mustCatalog(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored over a newer catalog: %+v, want %+v", got, want)
	}
}

func TestCatalog_ChangesCatalog(t *testing.T) {
	for _, c := range sampleCommands() {
		var want bool
		switch c.(type) {
		case ReserveBucketCmd, ReleaseBucketCmd, PutMRAPCmd, DeleteMRAPCmd, PutMRAPPolicyCmd,
			CompleteMRAPOperationCmd, SubmitMRAPRoutesCmd:
			want = true
		}
		if got := ChangesCatalog(c); got != want {
			t.Errorf("ChangesCatalog(%v) = %v", c.Op(), got)
		}
	}
}

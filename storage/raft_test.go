package storage

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestStore_ApplyIndexedRecordsIndexAndRefusesReplay(t *testing.T) {
	s := newTestStore(t)
	if got, err := s.AppliedIndex(); err != nil || got != 0 {
		t.Fatalf("AppliedIndex of a new store = %d, %v", got, err)
	}
	mk := &CreateBucketCmd{Name: "b", Region: "r", Owner: "o", Time: time.Unix(1, 0)}
	res, err := s.ApplyIndexed(5, []Command{*mk})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("ApplyIndexed: %v %+v", err, res)
	}
	if got, _ := s.AppliedIndex(); got != 5 {
		t.Fatalf("AppliedIndex = %d, want 5", got)
	}
	// A replay of the same entry (or any older one) writes nothing and says so.
	for _, idx := range []uint64{5, 3} {
		res, err := s.ApplyIndexed(idx, []Command{DeleteBucketCmd{Name: "b"}})
		if !errors.Is(err, ErrAlreadyApplied) {
			t.Fatalf("replay of %d: err %v, want ErrAlreadyApplied", idx, err)
		}
		_ = res
	}
	if _, err := s.Bucket(t.Context(), "b"); err != nil {
		t.Fatalf("replayed delete was applied: %v", err)
	}
	// An entry without commands still advances the index.
	if res, err := s.ApplyIndexed(9, nil); err != nil || len(res) != 0 {
		t.Fatalf("empty entry: %v %v", res, err)
	}
	if got, _ := s.AppliedIndex(); got != 9 {
		t.Fatalf("AppliedIndex = %d, want 9", got)
	}
	// Business errors stay per command and still record the index.
	res, err = s.ApplyIndexed(10, []Command{*mk})
	if err != nil || !errors.Is(res[0].Err, ErrBucketAlreadyOwnedByYou) {
		t.Fatalf("duplicate create: %v %+v", err, res)
	}
	if got, _ := s.AppliedIndex(); got != 10 {
		t.Fatalf("AppliedIndex = %d, want 10", got)
	}
}

func TestStore_MaxHLCTracksEveryMintedID(t *testing.T) {
	h := newHarness(t)
	if got, _ := h.s.MaxHLC(); got != 0 {
		t.Fatalf("MaxHLC of a new store = %d", got)
	}
	h.createBucket("b")
	v := h.put("b", "k", []byte("x"))
	if got, _ := h.s.MaxHLC(); got != v.ID.Time {
		t.Fatalf("MaxHLC = %d, want the put's %d", got, v.ID.Time)
	}
	// A rejected command's ID counts too: the value bounds every ID minted.
	big := VersionID{Time: v.ID.Time + 1<<40, Region: 1, Seq: 1}
	res := h.apply(PutObjectCmd{Bucket: "nope", Key: "k", ID: big, Time: HLCTime(big.Time)})
	if !errors.Is(res.Err, ErrNoSuchBucket) {
		t.Fatalf("put into missing bucket: %v", res.Err)
	}
	if got, _ := h.s.MaxHLC(); got != big.Time {
		t.Fatalf("MaxHLC = %d, want %d", got, big.Time)
	}
	// A smaller ID never lowers it.
	h.del("b", "k", "")
	if got, _ := h.s.MaxHLC(); got != big.Time {
		t.Fatalf("MaxHLC went down to %d", got)
	}
}

func TestStore_SnapshotViewIsConsistentAndRestorable(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.put("b", "before", compressible(ChunkSize+3))
	if _, err := h.s.ApplyIndexed(7, nil); err != nil {
		t.Fatal(err)
	}
	want := dump(t, h.s)

	view, err := h.s.BeginSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if view.AppliedIndex() != 7 {
		t.Fatalf("view index %d, want 7", view.AppliedIndex())
	}
	// Writes after the view was taken must not show in it. They run in another
	// goroutine: the view holds the store's read lock only, so Apply proceeds.
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.put("b", "after", []byte("later"))
		h.s.ApplyIndexed(8, nil)
	}()
	<-done
	var buf bytes.Buffer
	if _, err := view.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	view.Release()
	view.Release() // idempotent

	other := openTestStore(t, filepath.Join(t.TempDir(), "other.db"))
	if err := other.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, other); got != want {
		t.Fatalf("restored view differs from the state when it was taken:\n%s\nwant:\n%s", got, want)
	}
	if idx, _ := other.AppliedIndex(); idx != 7 {
		t.Fatalf("restored index %d, want 7", idx)
	}
	if _, err := other.Object(t.Context(), "b", "after", ""); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("write after the view leaked into it: %v", err)
	}
}

func TestStore_BeginSnapshotOnClosedStore(t *testing.T) {
	s := newTestStore(t)
	s.Close()
	if _, err := s.BeginSnapshot(); !errors.Is(err, ErrClosed) {
		t.Fatalf("err %v, want ErrClosed", err)
	}
	if _, err := s.ApplyIndexed(1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("err %v, want ErrClosed", err)
	}
}

package node

import (
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/pangea-s3/pangea/storage"
)

func fileSnapshots(t *testing.T) *raft.FileSnapshotStore {
	t.Helper()
	fs, err := raft.NewFileSnapshotStoreWithLogger(t.TempDir(), 2, newHCLog(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// saveSnapshot stores data as a snapshot at index, as raft does with one received
// from a leader.
func saveSnapshot(t *testing.T, snaps raft.SnapshotStore, index uint64, data io.Reader) {
	t.Helper()
	sink, err := snaps.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(sink, data); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLiveSnapshots_MarkerOnDiskStoreOnTheWire takes a snapshot the way raft does
// (FSM.Snapshot, then Persist into a sink of the store), checks that only the
// marker is written, then opens it after more entries were applied: the stream is
// the store as it is now (its length announced exactly), and a store restored from
// it holds the same versions and the newer applied index.
func TestLiveSnapshots_MarkerOnDiskStoreOnTheWire(t *testing.T) {
	log := testLog(t)
	st := openStore(t, filepath.Join(t.TempDir(), "a.db"))
	f, err := newFSM(st, slog.New(slog.DiscardHandler), func(err error) { t.Fatal(err) }, storage.LatestFormat)
	if err != nil {
		t.Fatal(err)
	}
	f.ApplyBatch(log[:4]) // up to index 5
	snaps := &liveSnapshots{files: fileSnapshots(t), store: st}

	fsnap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink, err := snaps.Create(raft.SnapshotVersionMax, 5, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsnap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	fsnap.Release()
	list, err := snaps.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %v, %v", list, err)
	}
	if list[0].Size != int64(len(liveMarker)) {
		t.Fatalf("snapshot on disk is %d bytes, want the %d-byte marker", list[0].Size, len(liveMarker))
	}

	f.ApplyBatch(log[4:]) // up to index 7, after the snapshot
	meta, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if meta.Index != 5 || int64(len(data)) != meta.Size {
		t.Fatalf("opened snapshot: index %d size %d, stream %d bytes; want index 5 and the size of the stream", meta.Index, meta.Size, len(data))
	}

	st2 := openStore(t, filepath.Join(t.TempDir(), "b.db"))
	f2, err := newFSM(st2, slog.New(slog.DiscardHandler), func(err error) { t.Fatal(err) }, storage.LatestFormat)
	if err != nil {
		t.Fatal(err)
	}
	if err := f2.Restore(io.NopCloser(strings.NewReader(string(data)))); err != nil {
		t.Fatal(err)
	}
	if got := f2.applied.Load(); got != 7 {
		t.Errorf("restored store applied index %d, want 7 (the store when opened, not the snapshot's 5)", got)
	}
	if a, b := versionsOf(t, st, "bkt"), versionsOf(t, st2, "bkt"); !slices.Equal(a, b) || len(a) == 0 {
		t.Errorf("restored versions %v, want %v", b, a)
	}
	// raft replays 6 and 7 after installing a snapshot at 5: nothing changes.
	f2.ApplyBatch(log[4:])
	if a, b := versionsOf(t, st, "bkt"), versionsOf(t, st2, "bkt"); !slices.Equal(a, b) {
		t.Errorf("after replay of 6..7: versions %v, want %v", b, a)
	}
}

// TestRecoverStore covers the start-up check of a store against the newest
// snapshot: behind a received snapshot it is restored from it, behind its own live
// snapshot it is an error that says what to do, at or ahead of it nothing happens.
func TestRecoverStore(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	log := testLog(t)
	src := openStore(t, filepath.Join(t.TempDir(), "src.db"))
	f, err := newFSM(src, discard, func(err error) { t.Fatal(err) }, storage.LatestFormat)
	if err != nil {
		t.Fatal(err)
	}
	f.ApplyBatch(log)
	view, err := src.BeginSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := view.WriteTo(pw)
		view.Release()
		pw.CloseWithError(err)
	}()
	received := fileSnapshots(t)
	saveSnapshot(t, received, 7, pr)

	t.Run("behind a received snapshot", func(t *testing.T) {
		st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
		if err := recoverStore(st, received, discard); err != nil {
			t.Fatal(err)
		}
		if idx, _ := st.AppliedIndex(); idx != 7 {
			t.Errorf("applied index %d after recovery, want 7", idx)
		}
		if a, b := versionsOf(t, src, "bkt"), versionsOf(t, st, "bkt"); !slices.Equal(a, b) {
			t.Errorf("recovered versions %v, want %v", b, a)
		}
	})
	t.Run("behind its own live snapshot", func(t *testing.T) {
		st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
		own := fileSnapshots(t)
		saveSnapshot(t, own, 7, strings.NewReader(string(liveMarker)))
		err := recoverStore(st, own, discard)
		if err == nil || !strings.Contains(err.Error(), "remove this member's data directory") {
			t.Fatalf("recoverStore: %v, want the store-behind error", err)
		}
	})
	t.Run("ahead of the snapshot", func(t *testing.T) {
		own := fileSnapshots(t)
		saveSnapshot(t, own, 6, strings.NewReader(string(liveMarker)))
		if err := recoverStore(src, own, discard); err != nil {
			t.Fatal(err)
		}
		if idx, _ := src.AppliedIndex(); idx != 7 {
			t.Errorf("applied index %d, want 7 untouched", idx)
		}
	})
}

package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"github.com/pangea-s3/pangea/storage"
)

// liveMarker is the whole content of a snapshot this member took of its own store.
// Such a snapshot holds no data: the store file is durable at or beyond the
// snapshot's index already, so copying it would only cost a full write of the
// store every SnapshotThreshold entries. When raft opens the snapshot to send it to
// a lagging member, liveSnapshots streams the store as it is at that moment instead.
// A bbolt file starts with a page ID (eight zero bytes), so a marker is never taken
// for a database.
var liveMarker = []byte("PANGEA-LIVE-SNAPSHOT 1\n")

// liveSnapshots is the member's raft.SnapshotStore: raft's file snapshot store
// (which keeps the metadata, and the data of snapshots received from a leader)
// with live snapshots on top.
//
// Sending a live snapshot streams a view of the store taken when raft opens it, at
// an applied index J no lower than the snapshot's index I. That is safe: every entry
// up to J is committed (only committed entries are applied), the receiver records J
// inside the store it restores, and the entries I+1..J that raft replays after the
// snapshot are skipped by the applier (fsm.ApplyBatch ignores indexes it has
// applied), as after any restart.
type liveSnapshots struct {
	files *raft.FileSnapshotStore
	store *storage.Store
}

var _ raft.SnapshotStore = (*liveSnapshots)(nil)

func (s *liveSnapshots) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	return s.files.Create(version, index, term, configuration, configurationIndex, trans)
}

func (s *liveSnapshots) List() ([]*raft.SnapshotMeta, error) { return s.files.List() }

// Open returns a received snapshot as stored, and a live one as a stream of the
// store's current state (meta.Size set to the stream's exact length, which raft
// sends ahead of the data).
func (s *liveSnapshots) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, live, err := openSnapshotFile(s.files, id)
	if err != nil || !live {
		return meta, rc, err
	}
	view, err := s.store.BeginSnapshot()
	if err != nil {
		return nil, nil, fmt.Errorf("open live snapshot %s: %w", id, err)
	}
	if view.AppliedIndex() < meta.Index {
		view.Release()
		return nil, nil, fmt.Errorf("open live snapshot %s: %w", id, errStoreBehind(view.AppliedIndex(), meta.Index))
	}
	m := *meta
	m.Size = view.Size()
	pr, pw := io.Pipe()
	go func() {
		_, err := view.WriteTo(pw)
		view.Release()
		pw.CloseWithError(err) // nil: EOF for the reader
	}()
	return &m, pr, nil
}

// openSnapshotFile opens a snapshot of the file store and tells whether it is a
// live marker (then the returned reader is nil and already closed).
func openSnapshotFile(files raft.SnapshotStore, id string) (*raft.SnapshotMeta, io.ReadCloser, bool, error) {
	meta, rc, err := files.Open(id)
	if err != nil {
		return nil, nil, false, err
	}
	br := bufio.NewReader(rc)
	head, err := br.Peek(len(liveMarker))
	if err != nil && !errors.Is(err, io.EOF) {
		rc.Close()
		return nil, nil, false, fmt.Errorf("read snapshot %s: %w", id, err)
	}
	if bytes.Equal(head, liveMarker) {
		rc.Close()
		return meta, nil, true, nil
	}
	return meta, struct {
		io.Reader
		io.Closer
	}{br, rc}, false, nil
}

func errStoreBehind(applied, index uint64) error {
	return fmt.Errorf("the store has applied up to log index %d but its own snapshot says %d: "+
		"store.db was replaced or lost; remove this member's data directory and add it to the region again", applied, index)
}

// markerSnapshot is the FSMSnapshot of a live snapshot: it persists the marker only.
type markerSnapshot struct{}

func (markerSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(liveMarker); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (markerSnapshot) Release() {}

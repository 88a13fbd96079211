package raftbolt

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore_LogsRoundTripAndSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := openTest(t, path)
	if first, _ := s.FirstIndex(); first != 0 {
		t.Fatalf("empty FirstIndex %d", first)
	}
	at := time.Unix(1700000000, 123).UTC()
	var logs []*raft.Log
	for i := uint64(1); i <= 10; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: i / 3, Type: raft.LogCommand, Data: []byte{byte(i), 0, 1}, AppendedAt: at})
	}
	logs[4].Extensions = []byte("ext")
	logs[5].Type = raft.LogConfiguration
	logs[6].Data = nil
	logs[7].AppendedAt = time.Time{}
	if err := s.StoreLogs(logs[:9]); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLog(logs[9]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, path)
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 1 || last != 10 {
		t.Fatalf("indexes %d..%d, want 1..10", first, last)
	}
	for _, want := range logs {
		var got raft.Log
		if err := s.GetLog(want.Index, &got); err != nil {
			t.Fatal(err)
		}
		if got.AppendedAt.Equal(want.AppendedAt) {
			got.AppendedAt = want.AppendedAt
		}
		if !reflect.DeepEqual(&got, want) {
			t.Fatalf("entry %d: got %+v want %+v", want.Index, got, *want)
		}
	}
	if err := s.DeleteRange(1, 4); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := s.GetLog(3, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("deleted entry: %v", err)
	}
	if first, _ := s.FirstIndex(); first != 5 {
		t.Fatalf("FirstIndex after truncation %d, want 5", first)
	}
	if err := s.DeleteRange(8, 10); err != nil {
		t.Fatal(err)
	}
	if last, _ := s.LastIndex(); last != 7 {
		t.Fatalf("LastIndex after suffix truncation %d, want 7", last)
	}
}

func TestStore_Stable(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "raft.db"))
	if v, err := s.Get([]byte("missing")); err != nil || len(v) != 0 {
		t.Fatalf("missing key: %q %v", v, err)
	}
	if v, err := s.GetUint64([]byte("missing")); err != nil || v != 0 {
		t.Fatalf("missing number: %d %v", v, err)
	}
	if err := s.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get([]byte("k")); !bytes.Equal(v, []byte("v")) {
		t.Fatalf("Get %q", v)
	}
	if err := s.SetUint64([]byte("term"), 42); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.GetUint64([]byte("term")); v != 42 {
		t.Fatalf("GetUint64 %d", v)
	}
	if _, err := s.GetUint64([]byte("k")); err == nil {
		t.Fatal("GetUint64 of a 1-byte value did not fail")
	}
}

func FuzzDecodeLog(f *testing.F) {
	f.Add(encodeLog(nil, &raft.Log{Term: 3, Type: raft.LogCommand, Data: []byte("abc"), Extensions: []byte("x")}))
	f.Add(encodeLog(nil, &raft.Log{}))
	f.Add([]byte{1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l raft.Log
		if err := decodeLog(b, &l); err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes (one spelling per entry),
		// except the appended-at time, which round-trips through UnixNano.
		again := encodeLog(nil, &l)
		var l2 raft.Log
		if err := decodeLog(again, &l2); err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if !reflect.DeepEqual(l, l2) {
			t.Fatalf("round trip: %+v vs %+v", l, l2)
		}
	})
}

// TestStore_BigEntries checks entries stored as nested buckets: round trip, mixed
// with plain ones in ranges, replaced by the other kind, and deleted by range.
func TestStore_BigEntries(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "raft.db"))
	big := bytes.Repeat([]byte("chunk!"), (bigEntry/6)+100)
	var logs []*raft.Log
	for i := uint64(1); i <= 6; i++ {
		data := []byte{byte(i)}
		if i%2 == 0 {
			data = append(append([]byte(nil), big...), byte(i))
		}
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: data})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	for _, want := range logs {
		var got raft.Log
		if err := s.GetLog(want.Index, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", want.Index, err)
		}
		if !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("entry %d: %d bytes back, want %d", want.Index, len(got.Data), len(want.Data))
		}
	}
	// Replace a big entry by a small one and a small one by a big one.
	swap := []*raft.Log{
		{Index: 2, Term: 2, Type: raft.LogCommand, Data: []byte("small")},
		{Index: 3, Term: 2, Type: raft.LogCommand, Data: big},
	}
	if err := s.StoreLogs(swap); err != nil {
		t.Fatalf("overwrite with the other kind: %v", err)
	}
	for _, want := range swap {
		var got raft.Log
		if err := s.GetLog(want.Index, &got); err != nil || !bytes.Equal(got.Data, want.Data) || got.Term != 2 {
			t.Fatalf("entry %d after overwrite: term %d, %d bytes, err %v", want.Index, got.Term, len(got.Data), err)
		}
	}
	if err := s.DeleteRange(1, 4); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 6; i++ {
		var got raft.Log
		err := s.GetLog(i, &got)
		if gone := errors.Is(err, raft.ErrLogNotFound); gone != (i <= 4) {
			t.Fatalf("entry %d after DeleteRange(1,4): err %v", i, err)
		}
	}
	if first, _ := s.FirstIndex(); first != 5 {
		t.Fatalf("FirstIndex %d, want 5", first)
	}
	if last, _ := s.LastIndex(); last != 6 {
		t.Fatalf("LastIndex %d, want 6", last)
	}
}

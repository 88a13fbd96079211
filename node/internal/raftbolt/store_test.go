package raftbolt

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
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
	big := bytes.Repeat([]byte("chunk!"), (bigValue/6)+100)
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

// TestStore_MatchesModel drives appends, overwrites and range deletions at random
// and checks every index, the bounds, and a reopened file against a plain map.
func TestStore_MatchesModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := openTest(t, path)
	model := map[uint64]raft.Log{}
	rng := rand.New(rand.NewPCG(1, 2))
	entry := func(i, term uint64) *raft.Log {
		n := rng.IntN(3000) // both sides of bigValue once gathered into a run
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(i + uint64(j))
		}
		return &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: data}
	}
	bounds := func() (lo, hi uint64) {
		for i := range model {
			if lo == 0 || i < lo {
				lo = i
			}
			hi = max(hi, i)
		}
		return lo, hi
	}
	check := func(step int) {
		t.Helper()
		lo, hi := bounds()
		first, err1 := s.FirstIndex()
		last, err2 := s.LastIndex()
		if err1 != nil || err2 != nil || first != lo || last != hi {
			t.Fatalf("step %d: bounds %d..%d (%v %v), want %d..%d", step, first, last, err1, err2, lo, hi)
		}
		for i := uint64(0); i <= hi+2; i++ {
			var got raft.Log
			err := s.GetLog(i, &got)
			want, ok := model[i]
			if !ok {
				if !errors.Is(err, raft.ErrLogNotFound) {
					t.Fatalf("step %d: entry %d should be absent: %v", step, i, err)
				}
				continue
			}
			if err != nil || got.Index != i || got.Term != want.Term || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("step %d: entry %d: term %d, %d bytes, err %v; want term %d, %d bytes", step, i, got.Term, len(got.Data), err, want.Term, len(want.Data))
			}
		}
	}
	var next uint64 = 1
	for step := range 300 {
		switch op := rng.IntN(10); {
		case op < 6: // append a batch
			var batch []*raft.Log
			for range 1 + rng.IntN(40) {
				l := entry(next, uint64(step))
				batch = append(batch, l)
				model[next] = *l
				next++
			}
			if err := s.StoreLogs(batch); err != nil {
				t.Fatal(err)
			}
		case op < 8 && next > 1: // rewrite some stored indexes
			from := 1 + rng.Uint64N(next-1)
			var batch []*raft.Log
			for i := from; i < min(next, from+1+rng.Uint64N(10)); i++ {
				l := entry(i, uint64(step))
				batch = append(batch, l)
				model[i] = *l
			}
			if err := s.StoreLogs(batch); err != nil {
				t.Fatal(err)
			}
		case next > 1: // delete a range
			lo := 1 + rng.Uint64N(next)
			hi := lo + rng.Uint64N(60)
			if err := s.DeleteRange(lo, hi); err != nil {
				t.Fatal(err)
			}
			for i := lo; i <= hi; i++ {
				delete(model, i)
			}
		}
		check(step)
		if step%50 == 49 {
			s.Close()
			s = openTest(t, path)
			check(step)
		}
	}
}

// TestStore_MigratesOldLayout opens a file written with one entry per key (plain
// values and nested buckets) and finds every entry, now in runs.
func TestStore_MigratesOldLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []*raft.Log
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(bktOldLogs)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bktStable); err != nil {
			return err
		}
		for _, i := range []uint64{3, 4, 5, 9, 10} { // a gap, as after old truncations
			l := &raft.Log{Index: i, Term: 2, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, int(i)*4000)}
			want = append(want, l)
			v := encodeLog(nil, l)
			if i%2 == 0 { // the old layout kept big entries in a nested bucket
				nb, err := b.CreateBucket(indexKey(i))
				if err != nil {
					return err
				}
				if err := nb.Put(valueKey, v); err != nil {
					return err
				}
				continue
			}
			if err := b.Put(indexKey(i), v); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := openTest(t, path)
	if first, _ := s.FirstIndex(); first != 3 {
		t.Fatalf("FirstIndex %d, want 3", first)
	}
	if last, _ := s.LastIndex(); last != 10 {
		t.Fatalf("LastIndex %d, want 10", last)
	}
	for _, w := range want {
		var got raft.Log
		if err := s.GetLog(w.Index, &got); err != nil || !bytes.Equal(got.Data, w.Data) {
			t.Fatalf("entry %d after migration: %d bytes, %v", w.Index, len(got.Data), err)
		}
	}
	var l raft.Log
	if err := s.GetLog(7, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("entry in the gap: %v", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bktOldLogs) != nil {
			return errors.New("old bucket still there")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStore_OneRunPerBatch checks the point of the layout: a batch is one key.
func TestStore_OneRunPerBatch(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "raft.db"))
	for b := range 3 {
		var batch []*raft.Log
		for i := range 50 {
			batch = append(batch, &raft.Log{Index: uint64(b*50 + i + 1), Term: 1, Data: make([]byte, 4096)})
		}
		if err := s.StoreLogs(batch); err != nil {
			t.Fatal(err)
		}
	}
	var keys int
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bktRuns).ForEach(func(k, v []byte) error { keys++; return nil })
	})
	if err != nil || keys != 3 {
		t.Fatalf("%d keys for 3 batches (%v)", keys, err)
	}
}

func FuzzRun(f *testing.F) {
	var w runWriter
	for i := uint64(5); i < 8; i++ {
		w.add(i, encodeLog(nil, &raft.Log{Term: 1, Data: []byte{byte(i)}}))
	}
	w.cut()
	f.Add(w.done[0].value) // a well-formed run of three entries
	f.Add([]byte{runV2, 0})
	f.Add([]byte{runV2, 2, 1})
	f.Fuzz(func(t *testing.T, v []byte) {
		r, err := parseRun(indexKey(5), v)
		if err != nil {
			return
		}
		n := uint64(0)
		err = r.each(func(i uint64, e []byte) bool {
			if i != r.first+n {
				t.Fatalf("entry %d at position %d", i, n)
			}
			n++
			var l raft.Log
			_ = decodeLog(e, &l)
			return true
		})
		if err == nil && n != r.count {
			t.Fatalf("%d entries of %d without an error", n, r.count)
		}
	})
}

// StoreLogs encodes entries in place into room sized by logSize: a wrong size
// would corrupt the run, so the two must agree for every entry.
func FuzzLogSize(f *testing.F) {
	f.Add(uint64(0), uint8(0), int64(0), []byte(nil), []byte(nil))
	f.Add(uint64(1)<<63, uint8(255), int64(math.MinInt64), make([]byte, 200), []byte{1})
	f.Add(uint64(127), uint8(3), int64(-1), []byte("x"), make([]byte, 128))
	f.Add(uint64(128), uint8(1), int64(1_700_000_000_000_000_000), make([]byte, 16384), []byte(nil))
	f.Fuzz(func(t *testing.T, term uint64, typ uint8, at int64, data, ext []byte) {
		l := &raft.Log{Term: term, Type: raft.LogType(typ), Data: data, Extensions: ext}
		if at != math.MinInt64 {
			l.AppendedAt = time.Unix(0, at)
		}
		enc := encodeLog(nil, l)
		if got := logSize(l); got != len(enc) {
			t.Fatalf("logSize %d, encoding %d bytes", got, len(enc))
		}
		var back raft.Log
		if err := decodeLog(enc, &back); err != nil {
			t.Fatal(err)
		}
		if back.Term != term || back.Type != l.Type || !bytes.Equal(back.Data, data) || !bytes.Equal(back.Extensions, ext) {
			t.Fatalf("round trip: %+v", back)
		}
	})
}

// A batch larger than maxRun is cut into several runs, each sized up front from
// the entries still to come; every entry reads back whole.
func TestStore_BatchOverMaxRun(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "raft.db"))
	var logs []*raft.Log
	for i := uint64(10); i < 17; i++ {
		data := bytes.Repeat([]byte{byte(i)}, maxRun/3+int(i))
		logs = append(logs, &raft.Log{Index: i, Term: 3, Type: raft.LogCommand, Data: data, AppendedAt: time.Unix(0, int64(i))})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	var runs int
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bktRuns).ForEach(func(k, v []byte) error { runs++; return nil })
	})
	if err != nil || runs < 2 {
		t.Fatalf("%d runs for %d bytes of entries (%v)", runs, 7*maxRun/3, err)
	}
	for _, want := range logs {
		var got raft.Log
		if err := s.GetLog(want.Index, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", want.Index, err)
		}
		if !bytes.Equal(got.Data, want.Data) || got.Term != 3 || !got.AppendedAt.Equal(want.AppendedAt) {
			t.Fatalf("entry %d: %d bytes, term %d, at %v", want.Index, len(got.Data), got.Term, got.AppendedAt)
		}
	}
}

// BenchmarkStoreLogs appends batches of 64 entries of 4 KiB (a loaded region's
// batch of small PUTs), without fsync: the CPU cost of encoding and storing.
func BenchmarkStoreLogs(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "raft.db"), true)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := bytes.Repeat([]byte("4KiB"), 1024)
	logs := make([]*raft.Log, 64)
	next, first := uint64(1), uint64(1)
	b.SetBytes(int64(len(logs) * len(data)))
	b.ReportAllocs()
	for b.Loop() {
		for i := range logs {
			logs[i] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
			next++
		}
		if err := s.StoreLogs(logs); err != nil {
			b.Fatal(err)
		}
		if next-first > 4096+1024 { // compact as raft does: keep 1024 entries
			if err := s.DeleteRange(first, next-1024-1); err != nil {
				b.Fatal(err)
			}
			first = next - 1024
		}
	}
}

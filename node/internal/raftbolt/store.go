package raftbolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"

	"github.com/pangea-s3/pangea/storage"
)

// Layout of the file:
//
//	runs:   key = u64 big-endian index of the first entry of a run of consecutive
//	        entries, usually one StoreLogs call (one raft batch)
//	        value = 0x02 | uvarint count | count x (uvarint len | entry)
//	        where entry = 0x01 | uvarint term | byte type | varint appended-at unix ns
//	                      (math.MinInt64 for the zero time) | uvarint len | data
//	                      | uvarint len | extensions
//	        A value over bigValue bytes is kept in a nested bucket of its own, under
//	        the key 'e' (see putValue).
//	stable: key = the raft key as is, value = the raw bytes raft stored
//	        (SetUint64 stores 8 bytes big-endian)
//
// Files written before runs existed hold one entry per key in a bucket "logs";
// Open moves them into runs.
var (
	bktRuns    = []byte("runs")
	bktStable  = []byte("stable")
	bktOldLogs = []byte("logs")
)

const (
	logV1 = 1
	runV2 = 2
	// maxRun caps the encoded entries of one run, so that trimming a run that
	// straddles a DeleteRange bound rewrites at most this much.
	maxRun = 1 << 20
)

// errCorrupt is wrapped by every decoding failure of a stored log entry.
var errCorrupt = errors.New("raftbolt: corrupt log entry")

// Store implements raft.LogStore and raft.StableStore. It is safe for concurrent use.
type Store struct {
	db *bbolt.DB
}

var (
	_ raft.LogStore    = (*Store)(nil)
	_ raft.StableStore = (*Store)(nil)
)

// Open opens or creates the file at path. noSync skips fsync (tests only: a crash
// can lose entries raft believes durable, which breaks raft's guarantees).
func Open(path string, noSync bool) (*Store, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        5 * time.Second,
		NoSync:         noSync,
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("raftbolt: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bktRuns, bktStable} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return migrate(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("raftbolt: open %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// migrate moves the entries of a file written before runs existed (one entry per
// key in "logs") into runs, in the transaction that opens the file.
func migrate(tx *bbolt.Tx) error {
	old := tx.Bucket(bktOldLogs)
	if old == nil {
		return nil
	}
	var w runWriter
	c := old.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return fmt.Errorf("%w: key %x in logs", errCorrupt, k)
		}
		if err := w.add(binary.BigEndian.Uint64(k), valueOf(old, k, v)); err != nil {
			return err
		}
	}
	if err := w.flush(tx.Bucket(bktRuns)); err != nil {
		return err
	}
	return tx.DeleteBucket(bktOldLogs)
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

func indexKey(i uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], i)
	return k[:]
}

// run is one stored run: entries first .. first+count-1, encoded back to back in
// body, each behind its uvarint length.
type run struct {
	first uint64
	count uint64
	body  []byte
}

func parseRun(k, v []byte) (run, error) {
	if len(k) != 8 || len(v) < 1 || v[0] != runV2 {
		return run{}, fmt.Errorf("%w: run %x: format %x", errCorrupt, k, v[:min(1, len(v))])
	}
	count, n := binary.Uvarint(v[1:])
	if n <= 0 || count == 0 {
		return run{}, fmt.Errorf("%w: run %x: count", errCorrupt, k)
	}
	return run{first: binary.BigEndian.Uint64(k), count: count, body: v[1+n:]}, nil
}

func (r run) last() uint64 { return r.first + r.count - 1 }

// each calls fn for every entry of r in order, with its index and encoded bytes,
// until fn returns false. A body that does not hold count entries is corrupt.
func (r run) each(fn func(index uint64, entry []byte) bool) error {
	b := r.body
	for i := uint64(0); i < r.count; i++ {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return fmt.Errorf("%w: run %d: entry %d", errCorrupt, r.first, r.first+i)
		}
		if !fn(r.first+i, b[k:k+int(n)]) {
			return nil
		}
		b = b[k+int(n):]
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: run %d: %d trailing bytes", errCorrupt, r.first, len(b))
	}
	return nil
}

// runWriter gathers encoded entries into runs: a new run starts at a gap in the
// indexes or when the current one reaches maxRun bytes. Each run is built in place
// as its stored value: its header (format and count) goes into room kept in front
// of the entries once the count is known, so a batch is copied once.
type runWriter struct {
	first, next uint64
	count       uint64
	value       []byte // runHeaderMax bytes of room, then the entries
	done        []storedRun
	started     bool
	want        int // bytes of entries (with their length prefixes) still to come, if announced
}

// storedRun is a finished run: its key's index and its value.
type storedRun struct {
	first uint64
	value []byte
}

// runHeaderMax is the room kept for a run's header: the format byte and the count.
const runHeaderMax = 1 + binary.MaxVarintLen64

func (w *runWriter) add(index uint64, entry []byte) error {
	if err := w.start(index, len(entry)); err != nil {
		return err
	}
	w.value = append(w.value, entry...)
	return nil
}

// start makes index the next entry, size bytes long, and appends its length
// prefix; the caller then appends exactly size bytes of entry to w.value. A new
// run's value is allocated for the want bytes still announced (capped at one
// run), so a batch is encoded into its run without the value ever regrowing.
func (w *runWriter) start(index uint64, size int) error {
	if w.started && index < w.next {
		return fmt.Errorf("raftbolt: entries out of order: %d after %d", index, w.next-1)
	}
	if w.count > 0 && (index != w.next || len(w.value)-runHeaderMax >= maxRun) {
		w.cut()
	}
	w.started = true
	need := binary.MaxVarintLen32 + size
	if w.count == 0 {
		w.first = index
		w.value = make([]byte, runHeaderMax, runHeaderMax+max(need, min(w.want, maxRun+need)))
	}
	w.want -= uvarintLen(uint64(size)) + size
	w.value = binary.AppendUvarint(w.value, uint64(size))
	w.count++
	w.next = index + 1
	return nil
}

func (w *runWriter) cut() {
	if w.count > 0 {
		hdr := binary.AppendUvarint([]byte{runV2}, w.count)
		start := runHeaderMax - len(hdr)
		copy(w.value[start:], hdr)
		w.done = append(w.done, storedRun{first: w.first, value: w.value[start:]})
	}
	w.value, w.count = nil, 0
}

// flush writes the gathered runs into b.
func (w *runWriter) flush(b *bbolt.Bucket) error {
	w.cut()
	for _, r := range w.done {
		if err := putValue(b, indexKey(r.first), r.value); err != nil {
			return err
		}
	}
	w.done = nil
	return nil
}

// floor moves c to the last key at or below index; nil if there is none.
func floor(c *bbolt.Cursor, index uint64) (k, v []byte) {
	k, v = c.Seek(indexKey(index))
	switch {
	case k == nil:
		return c.Last()
	case binary.BigEndian.Uint64(k) == index:
		return k, v
	default:
		return c.Prev()
	}
}

// runAt returns the run holding index, if any.
func runAt(b *bbolt.Bucket, index uint64) (run, bool, error) {
	k, v := floor(b.Cursor(), index)
	if k == nil {
		return run{}, false, nil
	}
	r, err := parseRun(k, valueOf(b, k, v))
	if err != nil {
		return run{}, false, err
	}
	return r, index >= r.first && index <= r.last(), nil
}

// FirstIndex returns the first index written, 0 for no entries.
func (s *Store) FirstIndex() (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(bktRuns).Cursor().First(); len(k) == 8 {
			idx = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return idx, err
}

// LastIndex returns the last index written, 0 for no entries.
func (s *Store) LastIndex() (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		idx, err = lastIndex(tx.Bucket(bktRuns))
		return err
	})
	return idx, err
}

func lastIndex(b *bbolt.Bucket) (uint64, error) {
	k, v := b.Cursor().Last()
	if k == nil {
		return 0, nil
	}
	r, err := parseRun(k, valueOf(b, k, v))
	if err != nil {
		return 0, err
	}
	return r.last(), nil
}

// DropResident gives back the pages of the file's memory map that this process
// touched (opening the file scans it; reads and appends touch more): they stay in
// the page cache, and the log's resident part stays about what one call's period
// touched (storage.DropResidentPages).
func (s *Store) DropResident() error {
	err := s.db.View(func(tx *bbolt.Tx) error {
		storage.DropResidentPages(tx)
		return nil
	})
	if err != nil {
		return fmt.Errorf("raftbolt: %w", err)
	}
	return nil
}

// GetLog reads the entry at index into log, or returns raft.ErrLogNotFound.
func (s *Store) GetLog(index uint64, log *raft.Log) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		r, ok, err := runAt(tx.Bucket(bktRuns), index)
		if err != nil {
			return err
		}
		if !ok {
			return raft.ErrLogNotFound
		}
		var entry []byte
		err = r.each(func(i uint64, e []byte) bool {
			if i == index {
				entry = e
				return false
			}
			return true
		})
		if err == nil && entry == nil {
			err = fmt.Errorf("%w: run %d ends before entry %d", errCorrupt, r.first, index)
		}
		if err == nil {
			err = decodeLog(entry, log)
		}
		if err != nil {
			return fmt.Errorf("raftbolt: entry %d: %w", index, err)
		}
		log.Index = index
		// Copied out: a large entry (a body chunk) need not stay resident in this
		// process for as long as the log keeps it.
		storage.DropMapped(tx, entry)
		return nil
	})
}

// StoreLog stores one entry.
func (s *Store) StoreLog(log *raft.Log) error { return s.StoreLogs([]*raft.Log{log}) }

// StoreLogs stores entries in one transaction (one fsync), normally as one run.
// Entries that replace stored ones (raft rewriting a conflicting suffix) replace
// them one for one, as with any key-value log store.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bktRuns)
		last, err := lastIndex(b)
		if err != nil {
			return err
		}
		lo, hi := logs[0].Index, logs[0].Index
		for _, l := range logs {
			lo, hi = min(lo, l.Index), max(hi, l.Index)
		}
		if lo <= last {
			if err := deleteRange(b, lo, hi); err != nil {
				return err
			}
		}
		var w runWriter
		for _, l := range logs {
			n := logSize(l)
			w.want += uvarintLen(uint64(n)) + n
		}
		for _, l := range logs {
			if err := w.start(l.Index, logSize(l)); err != nil {
				return err
			}
			w.value = encodeLog(w.value, l)
		}
		return w.flush(b)
	})
}

// DeleteRange deletes the entries from min to max inclusive.
func (s *Store) DeleteRange(min, max uint64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return deleteRange(tx.Bucket(bktRuns), min, max)
	})
}

// deleteRange removes every run that overlaps [lo, hi] and writes back the entries
// of those runs that lie outside it.
func deleteRange(b *bbolt.Bucket, lo, hi uint64) error {
	if lo > hi {
		return nil
	}
	var hit []run
	c := b.Cursor()
	// Start at the run holding lo, or the one before it, which may reach into the range.
	k, v := floor(c, lo)
	if k == nil {
		k, v = c.First()
	}
	for ; k != nil; k, v = c.Next() {
		r, err := parseRun(k, valueOf(b, k, v))
		if err != nil {
			return err
		}
		if r.first > hi {
			break
		}
		if r.last() < lo {
			continue
		}
		if r.first >= lo && r.last() <= hi {
			r.body = nil // wholly deleted: nothing to keep, nothing to copy
		} else {
			// bbolt memory is only valid until the bucket changes: copy what is kept.
			r.body = append([]byte(nil), r.body...)
		}
		hit = append(hit, r)
	}
	var w runWriter
	for _, r := range hit {
		if err := deleteValue(b, indexKey(r.first)); err != nil {
			return err
		}
		if r.body == nil {
			continue
		}
		var addErr error
		err := r.each(func(i uint64, e []byte) bool {
			if i < lo || i > hi {
				addErr = w.add(i, e)
			}
			return addErr == nil
		})
		if err = errors.Join(err, addErr); err != nil {
			return err
		}
	}
	return w.flush(b)
}

// Set stores a stable value.
func (s *Store) Set(key, val []byte) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bktStable).Put(key, append([]byte(nil), val...))
	})
}

// Get returns a stable value, or an empty slice if the key was never set.
func (s *Store) Get(key []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bktStable).Get(key); v != nil {
			out = append([]byte{}, v...)
		}
		return nil
	})
	return out, err
}

// SetUint64 stores a stable number.
func (s *Store) SetUint64(key []byte, val uint64) error {
	return s.Set(key, indexKey(val))
}

// GetUint64 returns a stable number, or 0 if the key was never set.
func (s *Store) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil || len(v) == 0 {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raftbolt: stable key %q holds %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// logSize is the length of encodeLog's encoding of l.
func logSize(l *raft.Log) int {
	return 1 + uvarintLen(l.Term) + 1 + varintLen(appendedAt(l)) +
		uvarintLen(uint64(len(l.Data))) + len(l.Data) +
		uvarintLen(uint64(len(l.Extensions))) + len(l.Extensions)
}

// appendedAt is l.AppendedAt as stored: Unix nanoseconds, math.MinInt64 for the zero time.
func appendedAt(l *raft.Log) int64 {
	if l.AppendedAt.IsZero() {
		return math.MinInt64
	}
	return l.AppendedAt.UnixNano()
}

func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

func varintLen(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	return uvarintLen(ux)
}

func encodeLog(b []byte, l *raft.Log) []byte {
	b = append(b, logV1)
	b = binary.AppendUvarint(b, l.Term)
	b = append(b, byte(l.Type))
	b = binary.AppendVarint(b, appendedAt(l))
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	b = append(b, l.Data...)
	b = binary.AppendUvarint(b, uint64(len(l.Extensions)))
	b = append(b, l.Extensions...)
	return b
}

// decodeLog fills l from v, copying byte fields out of v (bbolt memory is only
// valid inside its transaction). It never panics on malformed input.
func decodeLog(v []byte, l *raft.Log) error {
	if len(v) < 1 || v[0] != logV1 {
		return fmt.Errorf("%w: format %x", errCorrupt, v[:min(1, len(v))])
	}
	v = v[1:]
	term, n := binary.Uvarint(v)
	if n <= 0 {
		return errCorrupt
	}
	v = v[n:]
	if len(v) < 1 {
		return errCorrupt
	}
	typ := raft.LogType(v[0])
	v = v[1:]
	at, n := binary.Varint(v)
	if n <= 0 {
		return errCorrupt
	}
	v = v[n:]
	data, v, ok := lenBytes(v)
	if !ok {
		return errCorrupt
	}
	ext, v, ok := lenBytes(v)
	if !ok || len(v) != 0 {
		return errCorrupt
	}
	l.Term, l.Type = term, typ
	l.Data, l.Extensions = data, ext
	l.AppendedAt = time.Time{}
	if at != math.MinInt64 {
		l.AppendedAt = time.Unix(0, at)
	}
	return nil
}

// lenBytes reads a uvarint length and that many bytes (copied; nil when empty).
func lenBytes(v []byte) (out, rest []byte, ok bool) {
	n, k := binary.Uvarint(v)
	if k <= 0 || n > uint64(len(v)-k) {
		return nil, nil, false
	}
	v = v[k:]
	if n > 0 {
		out = append([]byte(nil), v[:n]...)
	}
	return out, v[n:], true
}

// Values above bigValue bytes (runs of body chunks) are kept in a nested bucket of
// their own, under valueKey. bbolt rewrites every value of a leaf it modifies and
// never splits a leaf of four or fewer elements, so a run stored as a plain value
// next to the previous runs would be copied and written again on each of the next
// few appends. In a bucket of its own a run is written once.
const bigValue = 1 << 10

var valueKey = []byte{'e'}

func putValue(b *bbolt.Bucket, key, val []byte) error {
	if len(val) <= bigValue {
		return b.Put(key, val)
	}
	nb, err := b.CreateBucket(key)
	if err != nil {
		return err
	}
	return nb.Put(valueKey, val)
}

// valueOf returns the value under k, v being what a cursor gave for k (nil for a
// nested bucket).
func valueOf(b *bbolt.Bucket, k, v []byte) []byte {
	if v != nil {
		return v
	}
	if nb := b.Bucket(k); nb != nil {
		return nb.Get(valueKey)
	}
	return nil
}

func deleteValue(b *bbolt.Bucket, key []byte) error {
	if b.Bucket(key) != nil {
		return b.DeleteBucket(key)
	}
	return b.Delete(key)
}

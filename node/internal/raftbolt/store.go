package raftbolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
)

// Layout of the file:
//
//	logs:   key = u64 big-endian log index
//	        value = 0x01 | uvarint term | byte type | varint appended-at unix ns
//	                (math.MinInt64 for the zero time) | uvarint len | data
//	                | uvarint len | extensions
//	stable: key = the raft key as is, value = the raw bytes raft stored
//	        (SetUint64 stores 8 bytes big-endian)
var (
	bktLogs   = []byte("logs")
	bktStable = []byte("stable")
)

const logV1 = 1

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
		for _, b := range [][]byte{bktLogs, bktStable} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("raftbolt: open %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

func indexKey(i uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], i)
	return k[:]
}

// FirstIndex returns the first index written, 0 for no entries.
func (s *Store) FirstIndex() (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(bktLogs).Cursor().First(); len(k) == 8 {
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
		if k, _ := tx.Bucket(bktLogs).Cursor().Last(); len(k) == 8 {
			idx = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return idx, err
}

// GetLog reads the entry at index into log, or returns raft.ErrLogNotFound.
func (s *Store) GetLog(index uint64, log *raft.Log) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		v := getEntry(tx.Bucket(bktLogs), indexKey(index))
		if v == nil {
			return raft.ErrLogNotFound
		}
		if err := decodeLog(v, log); err != nil {
			return fmt.Errorf("raftbolt: entry %d: %w", index, err)
		}
		log.Index = index
		return nil
	})
}

// StoreLog stores one entry.
func (s *Store) StoreLog(log *raft.Log) error { return s.StoreLogs([]*raft.Log{log}) }

// StoreLogs stores entries in one transaction (one fsync).
func (s *Store) StoreLogs(logs []*raft.Log) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bktLogs)
		var buf []byte
		for _, l := range logs {
			buf = encodeLog(buf[:0], l)
			// bbolt keeps a reference to the value until commit: give it its own copy.
			if err := putEntry(b, indexKey(l.Index), append([]byte(nil), buf...)); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteRange deletes the entries from min to max inclusive.
func (s *Store) DeleteRange(min, max uint64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bktLogs)
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(indexKey(min)); k != nil; k, _ = c.Next() {
			if binary.BigEndian.Uint64(k) > max {
				break
			}
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			if err := deleteEntry(b, k); err != nil {
				return err
			}
		}
		return nil
	})
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

func encodeLog(b []byte, l *raft.Log) []byte {
	b = append(b, logV1)
	b = binary.AppendUvarint(b, l.Term)
	b = append(b, byte(l.Type))
	at := int64(math.MinInt64)
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	b = binary.AppendVarint(b, at)
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

// Entries above bigEntry bytes (body chunks, up to 1 MiB) are kept in a nested bucket
// of their own, under entryKey. bbolt rewrites every value of a leaf it modifies and
// never splits a leaf of four or fewer elements, so appending a 1 MiB entry next to
// plain 1 MiB values re-copied and re-wrote up to four of them on every append.
const bigEntry = 16 << 10

var entryKey = []byte{'e'}

func putEntry(b *bbolt.Bucket, key, val []byte) error {
	// raft may store an index again after a conflict; the old entry can be of the
	// other kind (plain value or nested bucket), which bbolt would refuse to replace.
	if b.Bucket(key) != nil || b.Get(key) != nil {
		if err := deleteEntry(b, key); err != nil {
			return err
		}
	}
	if len(val) <= bigEntry {
		return b.Put(key, val)
	}
	nb, err := b.CreateBucketIfNotExists(key)
	if err != nil {
		return err
	}
	return nb.Put(entryKey, val)
}

func getEntry(b *bbolt.Bucket, key []byte) []byte {
	if v := b.Get(key); v != nil {
		return v
	}
	if nb := b.Bucket(key); nb != nil {
		return nb.Get(entryKey)
	}
	return nil
}

func deleteEntry(b *bbolt.Bucket, key []byte) error {
	if b.Bucket(key) != nil {
		return b.DeleteBucket(key)
	}
	return b.Delete(key)
}

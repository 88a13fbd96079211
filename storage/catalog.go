package storage

import (
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// The global bucket catalog: which region owns each bucket name. Only the control
// region's store holds entries (ReserveBucket, ReleaseBucket); every other store
// has an empty catalog at version 0. Schema: SCHEMA.md, `catalog`.

// keyCatalogVersion holds the catalog's version (recordV1 | u64); absent: 0.
var keyCatalogVersion = []byte("catalogversion")

// CatalogEntry is the reservation of one bucket name by the region that owns it.
type CatalogEntry struct {
	Bucket  string
	Region  string
	Owner   string
	Created time.Time
}

// CatalogSnapshot is the whole catalog at one version. Entries are sorted by
// Bucket, MRAPs by Account then Name (mrap_catalog.go). Version grows by one
// with every change (a reservation or a release, any change of an MRAP or of
// its operations); commands that change nothing leave it as it was. The MRAPs'
// asynchronous operations are not part of it: they are asked of the control
// region (Store.MRAPOperation).
type CatalogSnapshot struct {
	Version uint64
	Entries []CatalogEntry
	MRAPs   []MRAP
}

// Lookup finds the entry of bucket (binary search: Entries are sorted).
func (s CatalogSnapshot) Lookup(bucket string) (CatalogEntry, bool) {
	lo, hi := 0, len(s.Entries)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.Entries[mid].Bucket < bucket {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(s.Entries) && s.Entries[lo].Bucket == bucket {
		return s.Entries[lo], true
	}
	return CatalogEntry{}, false
}

// catalogOp marks the operations that may change the catalog.
type catalogOp interface {
	catalogOp()
}

// ChangesCatalog reports whether c is an operation that may change the catalog, so
// that a member can tell watchers of the catalog after applying it.
func ChangesCatalog(c Command) bool {
	_, ok := c.(catalogOp)
	return ok
}

func encodeCatalogEntry(e CatalogEntry) []byte {
	enc := encoder{b: make([]byte, 0, 32+len(e.Region)+len(e.Owner))}
	enc.byte1(recordV1)
	enc.str(e.Region)
	enc.str(e.Owner)
	enc.time(e.Created)
	return enc.b
}

func decodeCatalogEntry(bucket string, v []byte) (CatalogEntry, error) {
	d, err := checkVersion(v)
	if err != nil {
		return CatalogEntry{}, err
	}
	e := CatalogEntry{Bucket: bucket, Region: d.str(), Owner: d.str(), Created: d.time()}
	if err := d.done(); err != nil {
		return CatalogEntry{}, fmt.Errorf("catalog entry %q: %w", bucket, err)
	}
	return e, nil
}

// catalogEntry reads the entry of bucket in tx; ok is false if there is none.
func catalogEntry(tx *bbolt.Tx, bucket string) (CatalogEntry, bool, error) {
	bk := tx.Bucket(bktCatalog)
	if bk == nil {
		return CatalogEntry{}, false, nil
	}
	raw := bk.Get([]byte(bucket))
	if raw == nil {
		return CatalogEntry{}, false, nil
	}
	e, err := decodeCatalogEntry(bucket, raw)
	return e, err == nil, err
}

// bumpCatalogVersion records one more change of the catalog.
func bumpCatalogVersion(tx *bbolt.Tx) error {
	return writeMetaU64(tx, keyCatalogVersion, readMetaU64(tx, keyCatalogVersion)+1)
}

// Catalog returns the whole catalog and its version, read in one transaction.
func (s *Store) Catalog() (CatalogSnapshot, error) {
	var snap CatalogSnapshot
	err := s.view(func(tx *bbolt.Tx) error {
		snap.Version = readMetaU64(tx, keyCatalogVersion)
		var err error
		if snap.MRAPs, err = readMRAPs(tx); err != nil {
			return err
		}
		bk := tx.Bucket(bktCatalog)
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			e, err := decodeCatalogEntry(string(k), v)
			if err != nil {
				return err
			}
			snap.Entries = append(snap.Entries, e)
			return nil
		})
	})
	if err != nil {
		return CatalogSnapshot{}, fmt.Errorf("storage: read catalog: %w", err)
	}
	return snap, nil
}

// CatalogVersion returns the catalog's version (0 if it never changed, or if the
// store is closed): one read of the meta bucket.
func (s *Store) CatalogVersion() uint64 {
	var v uint64
	s.view(func(tx *bbolt.Tx) error {
		v = readMetaU64(tx, keyCatalogVersion)
		return nil
	})
	return v
}

// CatalogLookup returns the catalog's entry of bucket; ok is false if the name is
// free.
func (s *Store) CatalogLookup(bucket string) (e CatalogEntry, ok bool, err error) {
	err = s.view(func(tx *bbolt.Tx) error {
		e, ok, err = catalogEntry(tx, bucket)
		return err
	})
	if err != nil {
		return CatalogEntry{}, false, fmt.Errorf("storage: read catalog: %w", err)
	}
	return e, ok, nil
}

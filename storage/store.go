package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrClosed is returned by every method of a closed Store.
var ErrClosed = errors.New("storage: store closed")

// ErrBlobMissing is returned (wrapped) when a body chunk a version points to is not in
// the database: the version was removed while its body was being read.
var ErrBlobMissing = errors.New("storage: body chunk missing")

// Options configures Open.
type Options struct {
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
	// NoSync skips fsync on commit. Only for tests and benchmarks: a crash can lose or
	// corrupt acknowledged writes.
	NoSync bool
	// MmapSize is the address space reserved for the file (0: DefaultMmapSize). A
	// commit that grows the file past it must remap, and a remap waits for every
	// read transaction to end: while a snapshot streams to a lagging member (one long
	// read transaction), that would stall every write of the member. Only address
	// space: Linux neither allocates memory nor grows the file for it.
	MmapSize int64
}

// DefaultMmapSize is the address space reserved for a store on 64-bit systems:
// stores up to this size never remap (see Options.MmapSize). If the system refuses
// the reservation (a ulimit on address space), Open falls back to fallbackMmapSize.
const DefaultMmapSize = 64 << 30

const fallbackMmapSize = 1 << 30

// Store is the bbolt-backed state of one region member. Reads are safe for
// concurrent use; writes go through Apply. The schema is in SCHEMA.md.
type Store struct {
	path   string
	opts   Options
	logger *slog.Logger

	// mu guards db: every read, Apply and Snapshot hold it shared; Restore and Close
	// hold it exclusively because they swap or close the database under everyone.
	mu sync.RWMutex
	db *bbolt.DB

	// pendMu guards the write transaction ApplyDeferred keeps open until Flush, and
	// the log index it has reached. Lock order: mu, then pendMu.
	pendMu    sync.Mutex
	pend      *bbolt.Tx
	pendIndex uint64
	// pendErr is the failure that rolled back a pending transaction. From then on
	// ApplyDeferred and Flush refuse: committing later entries would record an
	// applied index above the lost ones, and a replay from the log would skip them.
	// Only reopening the store (or Restore) clears it.
	pendErr error

	// chunkBufs holds ChunkSize read buffers of object readers that were closed
	// (*[]byte): a GET of a big object then allocates no chunk buffer.
	chunkBufs sync.Pool
}

// Open opens (creating if needed) the database file at path and checks its format
// version (ErrUnsupportedFormatVersion if it was written by an incompatible release).
func Open(path string, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{path: path, opts: opts, logger: logger.With("component", "storage")}
	db, err := s.openDB(path)
	if err != nil {
		return nil, err
	}
	s.db = db
	s.logger.Debug("store opened", "path", path, "no_sync", opts.NoSync)
	return s, nil
}

func (s *Store) openDB(path string) (*bbolt.DB, error) {
	bo := &bbolt.Options{
		Timeout:        5 * time.Second,
		NoSync:         s.opts.NoSync,
		FreelistType:   bbolt.FreelistMapType,
		NoFreelistSync: true,
		NoStatistics:   true,
	}
	if bits.UintSize == 64 {
		bo.InitialMmapSize = DefaultMmapSize
		if s.opts.MmapSize > 0 {
			bo.InitialMmapSize = int(s.opts.MmapSize)
		}
	}
	db, err := bbolt.Open(path, 0o600, bo)
	if err != nil && bo.InitialMmapSize > fallbackMmapSize && !errors.Is(err, berrors.ErrTimeout) {
		// Most likely the reservation was refused (RLIMIT_AS): try a smaller one.
		want := bo.InitialMmapSize
		bo.InitialMmapSize = fallbackMmapSize
		var err2 error
		if db, err2 = bbolt.Open(path, 0o600, bo); err2 == nil {
			s.logger.Warn("could not reserve address space for the store; writes may pause while a snapshot is sent",
				"path", path, "wanted_bytes", want, "reserved_bytes", bo.InitialMmapSize, "err", err)
			err = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	if err := db.Update(initSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	return db, nil
}

// initSchema creates the top-level buckets of a new database and checks the format
// version of an existing one.
func initSchema(tx *bbolt.Tx) error {
	meta := tx.Bucket(bktMeta)
	if meta != nil {
		v := meta.Get(keyFormat)
		switch {
		case len(v) == 1 && v[0] == formatV1:
			// Nothing moves: format 2 reads format 1's chunks where they are.
			if err := meta.Put(keyFormat, []byte{formatVersion}); err != nil {
				return err
			}
		case len(v) != 1 || v[0] != formatVersion:
			return fmt.Errorf("%w: database format %x, want %d", ErrUnsupportedFormatVersion, v, formatVersion)
		}
	} else {
		if tx.Bucket(bktBuckets) != nil {
			return fmt.Errorf("%w: database without format version", ErrUnsupportedFormatVersion)
		}
		m, err := tx.CreateBucket(bktMeta)
		if err != nil {
			return err
		}
		if err := m.Put(keyFormat, []byte{formatVersion}); err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bktBuckets, bktObjects, bktChunks, bktStaged, bktCatalog, bktOutbox} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the database. It waits for reads in progress.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	s.pendMu.Lock()
	var ferr error
	if s.pendErr == nil { // after a loss nothing is pending, and the failure was reported
		_, ferr = s.flushLocked()
	}
	s.pendMu.Unlock()
	err := errors.Join(ferr, s.db.Close())
	s.db = nil
	if err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// Abandon closes the database as a crash of the process would leave it: the
// pending transaction of ApplyDeferred is rolled back instead of committed, so the
// file keeps only what Flush (or an Apply) made durable, and a reopened store
// reports the applied index of the last commit. It is for tests that simulate a
// crash (a member must then replay its raft log); a real shutdown calls Close. Like
// Close, it waits for reads in progress, and every later call fails with ErrClosed.
func (s *Store) Abandon() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	s.pendMu.Lock()
	if s.pend != nil {
		s.pend.Rollback()
		s.pend, s.pendIndex = nil, 0
	}
	s.pendMu.Unlock()
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("storage: abandon: %w", err)
	}
	return nil
}

// view runs fn in one read transaction.
func (s *Store) view(fn func(tx *bbolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	return s.db.View(fn)
}

// Snapshot writes a consistent copy of the whole database to w (bbolt Tx.WriteTo in
// a read transaction: writes continue meanwhile). The copy is a bbolt file that
// Restore, or Open, accepts.
func (s *Store) Snapshot(w io.Writer) error {
	v, err := s.BeginSnapshot()
	if err != nil {
		return err
	}
	defer v.Release()
	_, err = v.WriteTo(w)
	return err
}

// Restore replaces all state with a snapshot read from r. The snapshot is written to a
// temporary file and checked first, so a bad snapshot leaves the current state intact.
func (s *Store) Restore(r io.Reader) error {
	tmp := s.path + ".restore"
	if err := writeFileSync(tmp, r); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("storage: restore: %w", err)
	}
	// Validate (and migrate the schema of) the snapshot before touching the live file.
	check, err := s.openDB(tmp)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("storage: restore: %w", err)
	}
	if err := check.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("storage: restore: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		os.Remove(tmp)
		return ErrClosed
	}
	// Entries applied but not flushed, or lost to a failure, are superseded by the
	// snapshot.
	s.pendMu.Lock()
	if s.pend != nil {
		s.pend.Rollback()
		s.pend, s.pendIndex = nil, 0
	}
	s.pendErr = nil
	s.pendMu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("storage: restore: close current: %w", err)
	}
	s.db = nil
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("storage: restore: %w", err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("storage: restore: %w", err)
	}
	db, err := s.openDB(s.path)
	if err != nil {
		return fmt.Errorf("storage: restore: reopen: %w", err)
	}
	s.db = db
	s.logger.Info("store restored from snapshot", "path", s.path)
	return nil
}

func writeFileSync(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// MaxObjectSize is the largest body PutObject and UploadPart accept (S3's 5 GiB).
const MaxObjectSize int64 = 5 << 30

// Defaults for the staged-blob garbage collector.
const (
	DefaultGCGrace    = 15 * time.Minute
	DefaultGCInterval = 5 * time.Minute
)

// LocalConfig configures a single-node backend.
type LocalConfig struct {
	Dir    string       // data directory; the store is <Dir>/store.db
	Region string       // the region this node serves, e.g. "us-east-1"
	Logger *slog.Logger // nil discards
	NoSync bool         // skip fsync (tests and benchmarks only)
	Now    func() time.Time

	// GCGrace is how long a staged blob may stay unreferenced before the collector
	// discards it; GCInterval is how often the collector runs. Zero: the defaults.
	GCGrace, GCInterval time.Duration
	// Batch bounds group-commit batches. Zero values: the defaults.
	Batch BatchOptions
	// Upload is the slowest a request body may arrive: an upload that falls behind
	// is cut with ErrUploadTooSlow (400 RequestTimeout). Zero fields: the defaults
	// (see UploadPace).
	Upload UploadPace

	// wrapApplier lets tests observe or hold batches on their way to the store.
	wrapApplier func(Applier) Applier
}

// Local is the single-node Backend: every write is prepared here (blob IDs and
// encoded chunks decided up front, version IDs and times stamped right before the
// commit), handed to a BatchCommitter, and its Result awaited; reads go straight to
// the store. It implements s3api.Backend.
type Local struct {
	*backend
	cfg       LocalConfig
	now       func() time.Time
	committer *BatchCommitter
	stamper   *stamper

	gcStop chan struct{}
	gcDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// OpenLocal opens (or creates) the store in cfg.Dir and starts the committer and
// the staged-blob collector.
func OpenLocal(cfg LocalConfig) (*Local, error) {
	if cfg.Dir == "" {
		return nil, errors.New("node: LocalConfig.Dir is empty")
	}
	if cfg.Region == "" {
		return nil, errors.New("node: LocalConfig.Region is empty")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.GCGrace <= 0 {
		cfg.GCGrace = DefaultGCGrace
	}
	if cfg.GCInterval <= 0 {
		cfg.GCInterval = DefaultGCInterval
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("node: create data dir: %w", err)
	}
	logger := cfg.Logger.With("component", "node", "region", cfg.Region)
	st, err := storage.Open(filepath.Join(cfg.Dir, "store.db"), storage.Options{Logger: cfg.Logger, NoSync: cfg.NoSync})
	if err != nil {
		return nil, fmt.Errorf("node: open store: %w", err)
	}
	// Never mint below an ID already in the store, even if the wall clock stepped
	// back across the restart.
	maxHLC, err := st.MaxHLC()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("node: open store: %w", err)
	}
	var applier Applier = st
	if cfg.wrapApplier != nil {
		applier = cfg.wrapApplier(st)
	}
	stp := newStamper(cfg.Region, cfg.Now)
	stp.hlc.Observe(maxHLC)
	committer := NewBatchCommitter(applier, cfg.Batch, logger)
	l := &Local{
		backend:   newBackend(cfg.Region, logger, st, stampingCommitter{s: stp, c: committer}, nil),
		cfg:       cfg,
		now:       cfg.Now,
		committer: committer,
		stamper:   stp,
		gcStop:    make(chan struct{}),
		gcDone:    make(chan struct{}),
	}
	l.pace = cfg.Upload.withDefaults()
	go gcLoop(l.gcStop, l.gcDone, cfg.GCInterval, l.CollectGarbage, st.DropResident, func(err error) {
		l.logger.Warn("staged blob collection failed", "err", err)
	})
	logger.Info("node opened", "dir", cfg.Dir, "no_sync", cfg.NoSync)
	return l, nil
}

// Close stops the collector, applies every write already submitted, and closes the
// store. Writes submitted afterwards fail with ErrClosed.
func (l *Local) Close() error {
	l.closeOnce.Do(func() {
		close(l.gcStop)
		<-l.gcDone
		l.committer.Close()
		l.closeErr = l.store.Close()
	})
	return l.closeErr
}

// Stats reports group-commit counters.
func (l *Local) Stats() CommitStats { return l.committer.Stats() }

// Region returns the region this node serves.
func (l *Local) Region() string { return l.region }

// stamp returns a time from the node's clock (tests build commands with it).
func (l *Local) stamp() time.Time { return l.stamper.time() }

// CollectGarbage discards blobs that were staged more than GCGrace ago and are
// still referenced by no version or part: the remains of uploads that died mid-
// stream or whose best-effort discard failed. Blobs of uploads still streaming in
// this process are skipped whatever their age. It returns how many were discarded.
func (l *Local) CollectGarbage(ctx context.Context) (int, error) {
	n, err := l.collectGarbage(ctx, l.now().Add(-l.cfg.GCGrace), l.isActive)
	if n > 0 {
		l.logger.Info("discarded abandoned staged blobs", "count", n, "grace", l.cfg.GCGrace)
	}
	return n, err
}

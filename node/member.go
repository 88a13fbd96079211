package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"

	"github.com/pangea-s3/pangea/node/internal/raftbolt"
	"github.com/pangea-s3/pangea/proto/regionpb"
	"github.com/pangea-s3/pangea/proto/replicationpb"
	"github.com/pangea-s3/pangea/replication"
	"github.com/pangea-s3/pangea/storage"
)

// Member is one member of a region: a raft replica of the region's store that
// serves S3 (it implements s3api.Backend). Writes are prepared where they arrive
// (bodies cut into chunks, each chunk its own log entry) and proposed to the raft
// log by the leader, which stamps version IDs and times; followers forward to the
// leader over authenticated gRPC. Reads pass a read barrier that makes them
// linearizable on every member. See DESIGN.md.
type Member struct {
	*backend
	cfg       MemberConfig
	logger    *slog.Logger
	addr      string // advertised cluster address
	secret    []byte
	now       func() time.Time
	stamper   *stamper
	fsm       *fsm
	raft      *raft.Raft
	raftRef   atomic.Pointer[raft.Raft] // m.raft for the transport, which raft may call before NewRaft returns
	pastAddrs sync.Map                  // raft.ServerID → raft.ServerAddress resolved from the configuration (ServerAddr)
	logStore  *raftbolt.Store
	transport *raft.NetworkTransport
	mux       *clusterMux
	dialer    *clusterDialer
	grpcSrv   *grpc.Server
	receiver  *replication.Receiver
	manager   atomic.Pointer[replication.Manager] // while leading, with replication
	peers     *peerPool
	reads     *readIndexer
	book      map[raft.ServerID]raft.ServerAddress

	formatChecks atomic.Uint64 // see FormatChecks
	leaders      leaderWatch   // leader changes (watchLeader), for calls to the leader

	notifyCh  chan bool
	readyCh   chan uint64 // prepareLeadership → watchLeadership: the leader generation now ready
	leadMu    sync.Mutex
	leaderGen uint64 // guarded by leadMu
	ready     atomic.Bool

	closed   atomic.Bool
	stopCtx  context.Context
	stopFunc context.CancelFunc
	wg       sync.WaitGroup
	gcStop   chan struct{}
	gcDone   chan struct{}

	closeOnce sync.Once
	closeErr  error

	// halted is closed by halt (a storage failure, or the member's removal), after
	// haltErr is set: the member stopped by itself.
	halted  chan struct{}
	haltErr error
}

// OpenMember opens (or creates) a member's state in cfg.Dir, starts listening on
// the cluster address and joins raft: bootstrapping the region from Peers on a
// first start, rejoining it with its persisted state on a restart.
func OpenMember(cfg MemberConfig) (*Member, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	logger := cfg.Logger.With("component", "node", "region", cfg.Region, "member", cfg.ID)
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "snapshots"), 0o755); err != nil {
		return nil, fmt.Errorf("node: create data dir: %w", err)
	}
	m := &Member{
		cfg:      cfg,
		logger:   logger,
		secret:   []byte(cfg.Secret),
		now:      cfg.Now,
		stamper:  newStamper(cfg.Region, cfg.Now),
		notifyCh: make(chan bool, 16),
		readyCh:  make(chan uint64),
		gcStop:   make(chan struct{}),
		halted:   make(chan struct{}),
		gcDone:   make(chan struct{}),
		book:     make(map[raft.ServerID]raft.ServerAddress),
	}
	for _, p := range cfg.Peers {
		m.book[raft.ServerID(p.ID)] = raft.ServerAddress(p.Addr)
	}
	m.stopCtx, m.stopFunc = context.WithCancel(context.Background())
	var cleanup []func()
	if cfg.Listener != nil {
		cleanup = append(cleanup, func() { cfg.Listener.Close() })
	}
	fail := func(err error) (*Member, error) {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
		m.stopFunc()
		return nil, err
	}

	st, err := storage.Open(filepath.Join(cfg.Dir, "store.db"), storage.Options{Logger: cfg.Logger, NoSync: cfg.NoSync})
	if err != nil {
		return fail(fmt.Errorf("node: open store: %w", err))
	}
	cleanup = append(cleanup, func() { st.Close() })
	logs, err := raftbolt.Open(filepath.Join(cfg.Dir, "raft.db"), cfg.NoSync)
	if err != nil {
		return fail(fmt.Errorf("node: open raft log: %w", err))
	}
	cleanup = append(cleanup, func() { logs.Close() })
	m.logStore = logs
	hlog := newHCLog(logger)
	files, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(cfg.Dir, "snapshots"), 2, hlog)
	if err != nil {
		return fail(fmt.Errorf("node: open snapshots: %w", err))
	}
	if err := recoverStore(st, files, logger); err != nil {
		return fail(err)
	}
	snaps := &liveSnapshots{files: files, store: st}
	m.fsm, err = newFSM(st, logger, m.fatal, cfg.Format)
	if err != nil {
		return fail(fmt.Errorf("node: open store: %w", err))
	}
	// The entries past the store's applied index are replayed into it from the log once
	// raft runs: what the store had not committed yet (it lags the log by up to
	// CommitDelay) when the process stopped. The count here is an upper bound (the
	// last index includes configuration and no-op entries, and a follower's tail that
	// was never committed may be replaced instead); the fsm counts the command entries
	// it really replays and logs them once done ("replayed raft log entries").
	if last, err := logs.LastIndex(); err == nil {
		applied := m.AppliedIndex()
		logger.Info("replaying raft log entries not yet in the store", "entries", max(last, applied)-applied, "store_applied", applied, "last_log", last)
		if last > applied {
			m.fsm.replayTo = last
		}
	}
	if cfg.CommitDelay >= 0 {
		m.fsm.flusher = startFlusher(cfg.CommitDelay, m.fsm.flush)
		cleanup = append(cleanup, m.fsm.flusher.stop)
	}
	m.backend = newBackend(cfg.Region, logger, st, m, m.readBarrier)
	m.backend.pace = cfg.Upload.withDefaults()

	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.ClusterAddr); err != nil {
			return fail(fmt.Errorf("node: listen on cluster address %s: %w", cfg.ClusterAddr, err))
		}
	}
	m.addr = cfg.AdvertiseAddr
	if m.addr == "" {
		if a, ok := m.book[raft.ServerID(cfg.ID)]; ok {
			m.addr = string(a)
		} else {
			m.addr = ln.Addr().String()
		}
	}
	m.book[raft.ServerID(cfg.ID)] = raft.ServerAddress(m.addr)
	m.mux = newClusterMux(ln, advertisedAddr(m.addr), m.secret, logger)
	cleanup = append(cleanup, m.mux.close)
	m.dialer = &clusterDialer{dial: cfg.Dial, secret: m.secret, conns: &connSet{}}
	cleanup = append(cleanup, m.dialer.conns.closeAll)
	m.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		ServerAddressProvider: m,
		Logger:                hlog,
		Stream:                &raftStream{chanListener: m.mux.raft, dialer: m.dialer, stop: m.stopCtx},
		MaxPool:               3,
		Timeout:               10 * time.Second,
	})
	cleanup = append(cleanup, func() { m.transport.Close() })
	m.peers = newPeerPool(m.dialer)
	cleanup = append(cleanup, m.peers.close)

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.Raft.Heartbeat
	rc.ElectionTimeout = cfg.Raft.Election
	rc.LeaderLeaseTimeout = cfg.Raft.LeaderLease
	rc.CommitTimeout = cfg.Raft.Commit
	rc.MaxAppendEntries = cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	rc.NoSnapshotRestoreOnStart = true
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.ShutdownOnRemove = true
	rc.NotifyCh = m.notifyCh
	rc.Logger = hlog
	if err := raft.ValidateConfig(rc); err != nil {
		return fail(fmt.Errorf("node: raft config: %w", err))
	}

	has, err := raft.HasExistingState(logs, logs, snaps)
	if err != nil {
		return fail(fmt.Errorf("node: read raft state: %w", err))
	}
	if !has && !cfg.Join {
		servers := []raft.Server{{ID: raft.ServerID(cfg.ID), Address: raft.ServerAddress(m.addr), Suffrage: raft.Voter}}
		if len(cfg.Peers) > 0 {
			servers = servers[:0]
			for _, p := range cfg.Peers {
				servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr), Suffrage: raft.Voter})
			}
		}
		if err := raft.BootstrapCluster(rc, logs, logs, snaps, m.transport, raft.Configuration{Servers: servers}); err != nil {
			return fail(fmt.Errorf("node: bootstrap region: %w", err))
		}
		logger.Info("bootstrapped region", "members", len(servers))
	}
	cache, err := raftbolt.NewCache(logs, logCacheEntries, logCacheMaxData)
	if err != nil {
		return fail(err)
	}
	r, err := raft.NewRaft(rc, m.fsm, cache, logs, snaps, m.transport)
	if err != nil {
		return fail(fmt.Errorf("node: start raft: %w", err))
	}
	m.raft = r
	m.raftRef.Store(r)
	cleanup = append(cleanup, func() { r.Shutdown().Error() })
	if m.HaltErr() != nil {
		go r.Shutdown() // fatal ran before raftRef was set
	}

	m.reads = &readIndexer{fetch: m.fetchReadIndex, base: m.stopCtx, timeout: cfg.LeaderWait}
	m.grpcSrv = grpc.NewServer(grpc.MaxRecvMsgSize(maxMessageSize), grpc.MaxSendMsgSize(maxMessageSize))
	regionpb.RegisterRegionServer(m.grpcSrv, &regionServer{m: m})
	m.receiver = replication.NewReceiver(m.ReplicaSink(), logger, replication.ReceiverOptions{MemberID: cfg.ID, Applied: cfg.ReplicaApplied})
	replicationpb.RegisterReplicationServer(m.grpcSrv, m.receiver)
	m.wg.Add(5)
	go func() {
		defer m.wg.Done()
		m.grpcSrv.Serve(m.mux.grpc)
	}()
	go m.watchLeader()
	go m.watchLeadership()
	go m.watchRemoval()
	go func() {
		defer m.wg.Done()
		gcLoop(m.gcStop, m.gcDone, cfg.GCInterval, m.CollectGarbage, m.dropResident, func(err error) {
			m.logger.Warn("staged blob collection failed", "err", err)
		})
	}()
	logger.Info("member started", "dir", cfg.Dir, "cluster_addr", m.addr, "applied_index", m.fsm.applied.Load(), "no_sync", cfg.NoSync)
	return m, nil
}

// recoverStore brings the store up to the newest raft snapshot when it is behind
// it. raft is told not to restore its snapshot on start (a store that is ahead must
// not be rolled back, and live snapshots hold no data), so this is where a member
// that crashed while installing a snapshot received from the leader (the snapshot
// was saved, the store not yet replaced) finishes the job. A store behind a live
// snapshot of its own lost data it had made durable: that is an error.
func recoverStore(st *storage.Store, snaps raft.SnapshotStore, logger *slog.Logger) error {
	idx, err := st.AppliedIndex()
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	list, err := snaps.List()
	if err != nil || len(list) == 0 || list[0].Index <= idx {
		return err
	}
	meta, rc, live, err := openSnapshotFile(snaps, list[0].ID)
	if err != nil {
		return fmt.Errorf("node: open snapshot %s: %w", list[0].ID, err)
	}
	if live {
		return fmt.Errorf("node: %w", errStoreBehind(idx, meta.Index))
	}
	defer rc.Close()
	if err := st.Restore(rc); err != nil {
		return fmt.Errorf("node: restore snapshot %s: %w", meta.ID, err)
	}
	logger.Warn("store was behind the newest raft snapshot; restored it", "snapshot", meta.ID, "index", meta.Index, "store_index", idx)
	return nil
}

// ServerAddr resolves a raft server ID through the address book (Peers and this
// member), so a member whose address changed across a restart is still reached.
// Other IDs (members added at run time) resolve to their address in the raft
// configuration, or, once removed from it, to the address it last had there: raft
// makes a last RPC to a member it has just removed. raft logs a warning on every
// RPC whose ID resolves to an error.
func (m *Member) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	if a, ok := m.book[id]; ok {
		return a, nil
	}
	if r := m.raftRef.Load(); r != nil {
		for _, s := range r.GetConfiguration().Configuration().Servers {
			if s.ID == id {
				if a, ok := m.pastAddrs.Load(id); !ok || a != s.Address { // per RPC: write only on change
					m.pastAddrs.Store(id, s.Address)
				}
				return s.Address, nil
			}
		}
	}
	if a, ok := m.pastAddrs.Load(id); ok {
		return a.(raft.ServerAddress), nil
	}
	return "", fmt.Errorf("node: %s is neither in the address book nor in the region's configuration", id)
}

// The raft log cache keeps the last logCacheEntries entries of up to
// logCacheMaxData bytes in memory (4 KiB PUTs, metadata), at most 16 MiB per
// member; body chunks are read back from the log file (raftbolt.Cache).
const (
	logCacheEntries = 512
	logCacheMaxData = 32 << 10
)

// dropResident gives back the pages of the store's and the raft log's maps that
// the member touched (gcLoop calls it every residentTrimEvery).
func (m *Member) dropResident() error {
	return errors.Join(m.store.DropResident(), m.logStore.DropResident())
}

// Close stops the member abruptly, as a crash would but with the files closed
// cleanly: no leadership transfer, every cluster connection broken. State on disk
// is kept; OpenMember with the same Dir resumes it.
func (m *Member) Close() error { return m.stop(false) }

// Crash stops the member as a crash of its process would. It exists for tests of
// crash recovery (the nodetest harness's Cluster.Crash); nothing else should call
// it. It is Close except for the store: entries applied but not yet committed to
// it (the flusher's pending transaction, see MemberConfig.CommitDelay) are rolled
// back, not committed (storage.Store.Abandon), and the flusher stops without its
// last commit. The raft log holds those entries, so OpenMember with the same Dir
// finds the store behind the log and replays them.
func (m *Member) Crash() error { return m.stop(true) }

// stop is Close, or Crash when crash is set. Only the first call of either acts;
// later calls return its error.
func (m *Member) stop(crash bool) error {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		close(m.gcStop)
		m.stopFunc()
		m.grpcSrv.Stop()
		if err := m.raft.Shutdown().Error(); err != nil {
			m.logger.Warn("raft shutdown", "err", err)
		}
		m.transport.Close()
		m.mux.close()
		m.dialer.conns.closeAll()
		m.peers.close()
		m.wg.Wait()
		// raft has stopped applying: nothing more joins the pending transaction.
		if fl := m.fsm.flusher; fl != nil {
			if crash {
				fl.halt()
			} else {
				fl.stop()
			}
		}
		err1 := m.logStore.Close()
		var err2 error
		if crash {
			err2 = m.store.Abandon()
		} else {
			err2 = m.store.Close()
		}
		m.closeErr = errors.Join(err1, err2)
		if crash {
			m.logger.Info("member stopped as a crash would (Crash): uncommitted store entries dropped")
		} else {
			m.logger.Info("member stopped")
		}
	})
	return m.closeErr
}

// ID returns the member's raft server ID.
func (m *Member) ID() string { return m.cfg.ID }

// Region returns the region the member belongs to.
func (m *Member) Region() string { return m.cfg.Region }

// ClusterAddr returns the advertised cluster address.
func (m *Member) ClusterAddr() string { return m.addr }

// IsLeader reports whether this member is the raft leader right now.
func (m *Member) IsLeader() bool { return !m.closed.Load() && m.raft.State() == raft.Leader }

// Ready reports whether this member leads and has applied every entry of earlier
// terms, which is when it stamps writes and serves reads as leader.
func (m *Member) Ready() bool { return m.IsLeader() && m.ready.Load() }

// Leader returns the current leader's ID and cluster address as this member knows
// them ("" if none).
func (m *Member) Leader() (id, addr string) {
	a, i := m.raft.LeaderWithID()
	if a2, ok := m.book[i]; ok {
		a = a2
	}
	return string(i), string(a)
}

// AppliedIndex returns the last raft log index reflected in the local store.
func (m *Member) AppliedIndex() uint64 { return m.fsm.applied.Load() }

// FirstLogIndex returns the first index still in the local raft log (entries
// before it were compacted into a snapshot); 0 if the log is empty.
func (m *Member) FirstLogIndex() uint64 {
	idx, err := m.logStore.FirstIndex()
	if err != nil {
		return 0
	}
	return idx
}

// SnapshotRestores counts the snapshots this Member installed into its store
// since it was opened (a member far behind the leader catches up through one).
func (m *Member) SnapshotRestores() uint64 { return m.fsm.restores.Load() }

// Store returns the member's local store (tests compare replicas through it).
func (m *Member) Store() *storage.Store { return m.store }

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

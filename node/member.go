package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"

	"github.com/pangea-s3/pangea/node/internal/raftbolt"
	"github.com/pangea-s3/pangea/proto/regionpb"
	"github.com/pangea-s3/pangea/storage"
)

// Peer names one member of a region: its raft server ID and its cluster address.
type Peer struct {
	ID   string
	Addr string
}

// RaftTimeouts are hashicorp/raft's timing knobs. Zero fields take the defaults of
// DefaultRaftTimeouts.
type RaftTimeouts struct {
	Heartbeat   time.Duration // follower without contact this long starts an election
	Election    time.Duration // candidate without a result this long retries
	LeaderLease time.Duration // leader without a quorum this long steps down (<= Heartbeat)
	Commit      time.Duration // idle leader heartbeat for commit propagation
}

// DefaultRaftTimeouts suits a LAN: a dead leader is replaced within about 1-1.5 s
// (heartbeat timeout, randomised up to twice, plus one election round).
//
// The leader lease equals the heartbeat timeout. A shorter lease only makes a
// leader that missed a few heartbeat replies (a CPU-starved moment) step down
// before any follower would have started an election, an outage for nothing:
// reads are linearized by a quorum round (VerifyLeader) and writes by the log, so
// no guarantee rests on the lease. With 250 ms, leaders under a 1 MiB upload
// overload stepped down a few times a minute.
func DefaultRaftTimeouts() RaftTimeouts {
	return RaftTimeouts{Heartbeat: 500 * time.Millisecond, Election: 500 * time.Millisecond, LeaderLease: 500 * time.Millisecond, Commit: 20 * time.Millisecond}
}

// LabRaftTimeouts is the faster profile of `pangea lab` (one machine, loopback).
func LabRaftTimeouts() RaftTimeouts {
	return RaftTimeouts{Heartbeat: 200 * time.Millisecond, Election: 200 * time.Millisecond, LeaderLease: 200 * time.Millisecond, Commit: 10 * time.Millisecond}
}

func (t RaftTimeouts) withDefaults() RaftTimeouts {
	d := DefaultRaftTimeouts()
	if t.Heartbeat <= 0 {
		t.Heartbeat = d.Heartbeat
	}
	if t.Election <= 0 {
		t.Election = d.Election
	}
	if t.LeaderLease <= 0 {
		t.LeaderLease = min(d.LeaderLease, t.Heartbeat)
	}
	if t.Commit <= 0 {
		t.Commit = d.Commit
	}
	return t
}

// MemberConfig configures a region member.
type MemberConfig struct {
	Dir    string // data directory: store.db, raft.db, snapshots/
	Region string // e.g. "us-east-1"
	ID     string // raft server ID, unique and stable within the region

	// ClusterAddr is where raft and gRPC listen (one port, multiplexed), e.g.
	// "10.0.0.5:7000" or "127.0.0.1:0". Listener, if set, is used instead (the test
	// harness binds every port before starting any member). AdvertiseAddr is the
	// address peers dial; default: this member's entry in Peers, else the bound address.
	ClusterAddr   string
	Listener      net.Listener
	AdvertiseAddr string

	// Peers is the static member list of a region's first start, this member
	// included. Empty: a single-member region that bootstraps itself. Peers also
	// serve as the address book: raft dials a server ID at the address given here,
	// so members may change addresses across restarts.
	Peers []Peer
	// Join starts a member that is new to an existing region: it does not
	// bootstrap and waits to be added (pangea ctl add, or Member.AddMember).
	Join bool

	// Secret is the cluster secret every raft and gRPC connection must prove. Empty
	// is allowed only for a single-member region (a random one is used).
	Secret string

	Logger *slog.Logger
	NoSync bool // skip fsync on the store and the raft log (tests only)
	Now    func() time.Time

	GCGrace, GCInterval time.Duration

	Raft              RaftTimeouts
	SnapshotThreshold uint64        // log entries between snapshots; default 4096
	SnapshotInterval  time.Duration // how often to check the threshold; default 30 s
	TrailingLogs      uint64        // entries kept after a snapshot; default 1024
	MaxAppendEntries  int           // entries per append RPC and per leader batch; default 32 (see withDefaults)
	// CommitDelay is how long applied entries wait for more to share the store
	// commit (their answers do not wait: the raft log holds them, and a reader
	// waiting for them has them committed at once). Default 50 ms; negative: commit
	// every batch at once.
	CommitDelay time.Duration

	// LeaderWait bounds how long a request waits for a reachable leader (elections,
	// forwarding retries) and for a read barrier before answering 503. Default 5 s.
	LeaderWait time.Duration
	// ApplyTimeout bounds the enqueueing of a proposal on the leader. Default 5 s.
	ApplyTimeout time.Duration

	// Dial opens raw connections to cluster addresses (the harness injects faults
	// here). Default: TCP.
	Dial Dialer

	// Format is the newest region format this member may apply: default (0)
	// storage.LatestFormat, what the binary knows. Tests set an older one to play a
	// member running an older binary. FormatCheck is how often a leader asks the
	// voters whether it may raise the region's format (default DefaultFormatCheck).
	// See format.go.
	Format      storage.Format
	FormatCheck time.Duration
}

// Member is one member of a region: a raft replica of the region's store that
// serves S3 (it implements s3api.Backend). Writes are prepared where they arrive
// (bodies cut into chunks, each chunk its own log entry) and proposed to the raft
// log by the leader, which stamps version IDs and times; followers forward to the
// leader over authenticated gRPC. Reads pass a read barrier that makes them
// linearizable on every member. See DESIGN.md.
type Member struct {
	*backend
	cfg     MemberConfig
	logger  *slog.Logger
	addr    string // advertised cluster address
	secret  []byte
	now     func() time.Time
	stamper *stamper
	fsm     *fsm
	// stopFlusher stops the fsm's flusher (nil without one); Close calls it after
	// raft has stopped applying and before the store closes.
	stopFlusher func()
	raft        *raft.Raft
	raftRef     atomic.Pointer[raft.Raft] // m.raft for the transport, which raft may call before NewRaft returns
	pastAddrs   sync.Map                  // raft.ServerID → raft.ServerAddress resolved from the configuration (ServerAddr)
	logStore    *raftbolt.Store
	transport   *raft.NetworkTransport
	mux         *clusterMux
	dialer      *clusterDialer
	grpcSrv     *grpc.Server
	peers       *peerPool
	reads       *readIndexer
	book        map[raft.ServerID]raft.ServerAddress

	formatChecks atomic.Uint64 // see FormatChecks

	notifyCh  chan bool
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
	// CommitDelay) when the process stopped. The count is an upper bound: the last
	// index includes configuration entries and a new leader's no-op entries, and a
	// follower's tail that was never committed may be replaced instead.
	if last, err := logs.LastIndex(); err == nil {
		applied := m.AppliedIndex()
		logger.Info("replaying raft log entries not yet in the store", "entries", max(last, applied)-applied, "store_applied", applied, "last_log", last)
	}
	if cfg.CommitDelay >= 0 {
		m.stopFlusher = m.fsm.startFlusher(cfg.CommitDelay)
		cleanup = append(cleanup, m.stopFlusher)
	}
	m.backend = newBackend(cfg.Region, logger, st, m, m.readBarrier)

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
	m.wg.Add(4)
	go func() {
		defer m.wg.Done()
		m.grpcSrv.Serve(m.mux.grpc)
	}()
	go m.watchLeadership()
	go m.watchRemoval()
	go func() {
		defer m.wg.Done()
		gcLoop(m.gcStop, m.gcDone, cfg.GCInterval, m.CollectGarbage, func(err error) {
			m.logger.Warn("staged blob collection failed", "err", err)
		})
	}()
	logger.Info("member started", "dir", cfg.Dir, "cluster_addr", m.addr, "applied_index", m.fsm.applied.Load(), "no_sync", cfg.NoSync)
	return m, nil
}

func (c *MemberConfig) setDefaults() error {
	switch {
	case c.Dir == "":
		return errors.New("node: MemberConfig.Dir is empty")
	case c.Region == "":
		return errors.New("node: MemberConfig.Region is empty")
	case c.ID == "":
		return errors.New("node: MemberConfig.ID is empty")
	}
	if len(c.Peers) > 0 {
		self := false
		seen := map[string]bool{}
		for _, p := range c.Peers {
			if p.ID == "" || p.Addr == "" {
				return fmt.Errorf("node: peer %+v: want ID and address", p)
			}
			if seen[p.ID] {
				return fmt.Errorf("node: peer %q listed twice", p.ID)
			}
			seen[p.ID] = true
			self = self || p.ID == c.ID
		}
		if !self && !c.Join {
			return fmt.Errorf("node: peers must include this member (%q)", c.ID)
		}
	}
	if c.Secret == "" {
		if len(c.Peers) > 1 || c.Join {
			return errors.New("node: a cluster secret is required for a region of several members")
		}
		var b [32]byte
		rand.Read(b[:])
		c.Secret = fmt.Sprintf("%x", b)
	}
	if c.ClusterAddr == "" && c.Listener == nil {
		c.ClusterAddr = "127.0.0.1:0"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.GCGrace <= 0 {
		c.GCGrace = DefaultGCGrace
	}
	if c.GCInterval <= 0 {
		c.GCInterval = DefaultGCInterval
	}
	c.Raft = c.Raft.withDefaults()
	// A member's own snapshot is a marker (the store is its state, see
	// snapshots.go); the threshold sets how often the log is compacted. Before live
	// snapshots each one copied the whole store: every 4096 entries, that took ~9%
	// of a loaded region's CPU. Log entries are cheap to keep.
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 4096
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = 30 * time.Second
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 1024
	}
	// Entries per append RPC and per leader log write. Entries can be 1 MiB body
	// chunks, and a member catching up through the log receives full batches: at
	// 128 a 3-member region's heap grew by ~700 MiB while one member caught up on a
	// 192 MiB backlog, at 32 by 150-295 MiB (TestRegion_LargeUploadMemoryIsBounded).
	// The lab's 4 KiB PUT rate at 128 clients was the same at 32 as at 128 within
	// noise; 16 cost ~10%.
	if c.MaxAppendEntries <= 0 {
		c.MaxAppendEntries = 32
	}
	if c.CommitDelay == 0 {
		c.CommitDelay = 50 * time.Millisecond
	}
	if c.LeaderWait <= 0 {
		c.LeaderWait = 5 * time.Second
	}
	if c.ApplyTimeout <= 0 {
		c.ApplyTimeout = 5 * time.Second
	}
	if c.Dial == nil {
		c.Dial = defaultDial
	}
	if c.Format == 0 {
		c.Format = storage.LatestFormat
	}
	if c.Format > storage.LatestFormat {
		return fmt.Errorf("node: MemberConfig.Format %d is newer than this binary's %d", c.Format, storage.LatestFormat)
	}
	if c.FormatCheck <= 0 {
		c.FormatCheck = DefaultFormatCheck
	}
	return nil
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

// fatal stops a member whose store can no longer apply the log.
func (m *Member) fatal(err error) {
	if m.closed.Swap(true) {
		return
	}
	if errors.Is(err, ErrUnreadableEntry) {
		m.logger.Error("member stopping: the region's log holds an entry this binary cannot apply; upgrade this member's binary, then restart it: it replays its raft log from that entry", "err", err)
	} else {
		m.logger.Error("member stopping after a storage failure; fix the disk (space, permissions, errors in the system log), then restart the member: it replays its raft log and catches up", "err", err)
	}
	m.halt(err)
}

// removed stops the member after its removal from the region.
func (m *Member) removed() {
	if m.closed.Swap(true) {
		return
	}
	m.logger.Warn("member stopping: the region's configuration no longer lists it; stop this process, or clear its data and add it again (start it with --join, then pangea ctl add)")
	m.halt(ErrRemoved)
}

// halt stops the member by itself (closed already set): Halted closes, HaltErr
// returns err, requests get retryable errors until Close.
func (m *Member) halt(err error) {
	m.haltErr = err
	close(m.halted)
	m.stopFunc() // ends raft's dials and read rounds, so that Shutdown returns soon
	// raft may apply (and fail) before NewRaft has returned: then OpenMember, which
	// checks halted after publishing raftRef, shuts it down.
	if r := m.raftRef.Load(); r != nil {
		go r.Shutdown()
	}
}

// Halted is closed when the member has stopped by itself, after a storage failure
// or its removal from the region (HaltErr says which: ErrRemoved). It keeps
// answering 503 until closed. A process running one member should exit: after a
// storage failure so that its supervisor restarts it once the disk is fixed.
func (m *Member) Halted() <-chan struct{} { return m.halted }

// HaltErr returns why the member stopped by itself (a storage failure, or
// ErrRemoved), or nil.
func (m *Member) HaltErr() error {
	select {
	case <-m.halted:
		return m.haltErr
	default:
		return nil
	}
}

// The raft log cache keeps the last logCacheEntries entries of up to
// logCacheMaxData bytes in memory (4 KiB PUTs, metadata), at most 16 MiB per
// member; body chunks are read back from the log file (raftbolt.Cache).
const (
	logCacheEntries = 512
	logCacheMaxData = 32 << 10
)

// readyWait bounds a readiness check: one read-index round and the apply it waits for.
// Under a heavy upload load (lab, 128 clients of 1 MiB PUTs) checks took 0.34 s at the
// median and a few of 42 exceeded 1 s: 2 s keeps a busy member ready, while a member
// without a leader, cut off or catching up still fails it.
const readyWait = 2 * time.Second

// Liveness reports why the member can no longer serve at all (stopped after a
// storage failure, removed from the region, or closed), or nil. Only a restart (or,
// once removed, being added again) helps a member that is not live.
func (m *Member) Liveness() error {
	if err := m.HaltErr(); err != nil {
		if errors.Is(err, ErrRemoved) {
			return fmt.Errorf("%w: stop it, or clear its data and add it again", err)
		}
		if errors.Is(err, ErrUnreadableEntry) {
			return fmt.Errorf("stopped at a log entry its binary cannot apply (upgrade it, then restart it): %w", err)
		}
		return fmt.Errorf("stopped after a storage failure (fix the disk, then restart it): %w", err)
	}
	if m.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Readiness reports nil when the member serves reads and writes without waiting: it
// is live, a leader confirmed the region's commit index within readyWait, and this
// member has applied up to it. Otherwise it says which of these failed (no leader,
// cut off from the leader, catching up). Concurrent checks share read-index rounds
// with reads, so a flood of (unauthenticated) checks costs one round at a time.
func (m *Member) Readiness(ctx context.Context) error {
	if err := m.Liveness(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	idx, err := m.reads.index(ctx)
	if err != nil {
		leader, _ := m.Leader()
		if leader == "" {
			leader = "none known"
		}
		return fmt.Errorf("no leader confirmed the region's commit index within %s (leader: %s): %w", readyWait, leader, err)
	}
	if err := m.fsm.waitApplied(ctx, idx); err != nil {
		return fmt.Errorf("catching up: applied index %d of %d: %w", m.fsm.applied.Load(), idx, err)
	}
	return nil
}

// Close stops the member abruptly, as a crash would but with the files closed
// cleanly: no leadership transfer, every cluster connection broken. State on disk
// is kept; OpenMember with the same Dir resumes it.
func (m *Member) Close() error {
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
		if m.stopFlusher != nil {
			m.stopFlusher()
		}
		err1 := m.logStore.Close()
		err2 := m.store.Close()
		m.closeErr = errors.Join(err1, err2)
		m.logger.Info("member stopped")
	})
	return m.closeErr
}

// TransferLeadership hands leadership to another voter if this one leads and has
// one (a graceful stop does it first, so writes pause for one round trip instead of an
// election timeout).
func (m *Member) TransferLeadership() error {
	if !m.IsLeader() {
		return nil
	}
	voters := 0
	for _, s := range m.raft.GetConfiguration().Configuration().Servers {
		if s.Suffrage == raft.Voter && string(s.ID) != m.cfg.ID {
			voters++
		}
	}
	if voters == 0 {
		return nil // a region of one: nobody to hand over to
	}
	return m.raft.LeadershipTransfer().Error()
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

// watchLeadership follows raft's leadership notifications. On winning an election
// the member is not ready at once: prepareLeadership first makes sure every entry of
// earlier terms is applied and the HLC is past every ID they carry.
func (m *Member) watchLeadership() {
	defer m.wg.Done()
	for {
		select {
		case <-m.stopCtx.Done():
			return
		case leader := <-m.notifyCh:
			m.leadMu.Lock()
			m.leaderGen++
			gen := m.leaderGen
			m.ready.Store(false)
			m.leadMu.Unlock()
			if leader {
				m.logger.Info("won leadership", "term", m.raft.CurrentTerm())
				m.wg.Add(1)
				go m.prepareLeadership(gen)
			} else {
				m.logger.Info("lost leadership")
			}
		}
	}
}

// watchRemoval stops the member once the region no longer lists it. raft shuts a
// removed member down only when that member applies its own removal, which needs
// a commit index it is seldom sent: the leader stops replicating to it as soon as
// the change commits. It would otherwise stay a follower of no leader, forwarding
// writes and failing reads after LeaderWait. A removal that is not committed yet
// can still be undone by a new leader, which then keeps sending to this member:
// so the member stops only when its latest configuration leaves it out and no
// leader has been heard from over two checks in a row. A removed leader commits its
// own removal and raft shuts it down; its configuration stays readable, and the
// same check stops the member (TestHarness_RemovedLeaderStops).
func (m *Member) watchRemoval() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.Raft.Heartbeat)
	defer t.Stop()
	strikes := 0
	for {
		select {
		case <-m.stopCtx.Done():
			return
		case <-t.C:
		}
		f := m.raft.GetConfiguration()
		if f.Error() != nil {
			continue
		}
		servers := f.Configuration().Servers
		listed := slices.ContainsFunc(servers, func(s raft.Server) bool { return s.ID == raft.ServerID(m.cfg.ID) })
		if leader, _ := m.raft.LeaderWithID(); len(servers) == 0 || listed || leader != "" {
			strikes = 0
			continue
		}
		if strikes++; strikes >= 2 {
			m.removed()
			return
		}
	}
}

// prepareLeadership commits an empty entry in the new term. When it is applied,
// so is every entry before it (raft commits earlier terms' entries only through
// one of the current term), and the store's MaxHLC bounds every version ID ever
// minted: the clock observes it, so the new leader's IDs exceed the old leader's
// even if this machine's clock is behind. The empty entry also gives the read
// barrier an applied index to reach in the new term (raft's own no-op entry never
// reaches the FSM).
func (m *Member) prepareLeadership(gen uint64) {
	defer m.wg.Done()
	entry, _ := encodeSubmission(nil)
	for {
		if m.stopCtx.Err() != nil || !m.sameGen(gen) {
			return
		}
		f := m.raft.Apply(entry, m.cfg.ApplyTimeout)
		err := m.futureErr(f)
		if err == nil {
			// The store must hold every entry up to this one, committed, before its
			// MaxHLC is read.
			if err := m.fsm.waitApplied(m.stopCtx, f.Index()); err != nil {
				return
			}
			break
		}
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrRaftShutdown) {
			return
		}
		m.logger.Warn("leader barrier entry failed; retrying", "err", err)
		select {
		case <-m.stopCtx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	maxHLC, err := m.store.MaxHLC()
	if err != nil {
		m.logger.Error("read max HLC", "err", err)
		return
	}
	m.stamper.hlc.Observe(maxHLC)
	m.leadMu.Lock()
	if m.leaderGen == gen {
		m.ready.Store(true)
		m.logger.Info("leader ready", "term", m.raft.CurrentTerm(), "applied_index", m.fsm.applied.Load())
		m.wg.Add(1)
		go m.raiseFormat(gen)
	}
	m.leadMu.Unlock()
}

func (m *Member) sameGen(gen uint64) bool {
	m.leadMu.Lock()
	defer m.leadMu.Unlock()
	return m.leaderGen == gen
}

// waitReady waits until this member is a ready leader. errNotLeader: it is not (or
// no longer) the leader.
func (m *Member) waitReady(ctx context.Context) error {
	for {
		if !m.IsLeader() {
			return errNotLeader
		}
		if m.ready.Load() {
			return nil
		}
		select {
		case <-ctx.Done():
			return unavailable(ErrNoLeader, fmt.Errorf("new leader not ready: %w", ctx.Err()))
		case <-time.After(2 * time.Millisecond):
		}
	}
}

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

// ---- write path ----

// Commit implements Committer for the member: on the leader it proposes the
// commands to the raft log, elsewhere it forwards them to the leader. It waits up
// to LeaderWait for a leader to exist and answer.
//
// Errors: a RetryableError wrapping ErrNoLeader or ErrClosed (nothing applied), or
// wrapping ErrUnknownOutcome (the entry may or may not commit); a context error if
// ctx ended before anything was sent. Submissions made only of idempotent commands
// (storage.IsIdempotent: PutChunk, DiscardBlob) are retried through unknown outcomes too.
func (m *Member) Commit(ctx context.Context, cmds ...storage.Command) ([]storage.Result, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	idempotent := true
	for _, c := range cmds {
		if !storage.IsIdempotent(c) {
			idempotent = false
		}
	}
	wctx, cancel := context.WithTimeout(ctx, m.cfg.LeaderWait)
	defer cancel()
	backoff := 5 * time.Millisecond
	for {
		if m.closed.Load() {
			return nil, unavailable(ErrClosed, nil)
		}
		res, err := m.commitOnce(ctx, cmds)
		if err == nil {
			return res, nil
		}
		var re *RetryableError
		retry := errors.Is(err, errNotLeader) || errors.Is(err, ErrNoLeader) ||
			(idempotent && errors.As(err, &re) && re.Unknown)
		if !retry {
			return nil, err
		}
		if perr := pause(wctx, backoff); perr != nil {
			if errors.As(err, &re) && re.Unknown {
				return nil, err
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("commit: %w", ctx.Err())
			}
			if errors.Is(err, errNotLeader) {
				err = fmt.Errorf("leader changed repeatedly: %w", err)
			}
			return nil, unavailable(ErrNoLeader, err)
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

// commitOnce makes one attempt on the leader or through it.
func (m *Member) commitOnce(ctx context.Context, cmds []storage.Command) ([]storage.Result, error) {
	if m.IsLeader() {
		return m.propose(ctx, cmds)
	}
	id, addr := m.Leader()
	if addr == "" || id == m.cfg.ID {
		return nil, unavailable(ErrNoLeader, nil)
	}
	return m.forward(ctx, addr, cmds)
}

// propose stamps the commands with the leader's clock and appends them to the log
// as one entry, then waits for the entry to be applied on this (leader) replica.
func (m *Member) propose(ctx context.Context, cmds []storage.Command) ([]storage.Result, error) {
	if err := m.waitReady(ctx); err != nil {
		return nil, err
	}
	if err := m.checkFormat(cmds); err != nil {
		return nil, err
	}
	// Stamp copies: a proposal that fails before reaching the log leaves cmds
	// unstamped, for the next leader to stamp with its own clock.
	entry, err := encodeSubmission(storage.Stamp(cmds, m.stamper))
	if err != nil {
		return nil, fmt.Errorf("encode submission: %w", err)
	}
	f := m.raft.Apply(entry, m.cfg.ApplyTimeout)
	// Once enqueued, the future resolves within the leader lease even if a quorum is
	// gone (the leader steps down: ErrLeadershipLost), so waiting here is bounded
	// and gives a true answer whenever one exists; only the member's stop ends the
	// wait early, with an unknown outcome.
	if err := m.futureErr(f); err != nil {
		return nil, applyError(err)
	}
	switch r := f.Response().(type) {
	case []storage.Result:
		if len(r) != len(cmds) {
			return nil, unknownOutcome(fmt.Errorf("log entry answered %d results for %d commands", len(r), len(cmds)))
		}
		return r, nil
	case error:
		return nil, r
	default:
		return nil, unknownOutcome(fmt.Errorf("unexpected FSM response %T", r))
	}
}

// futureErr waits for f's outcome, or for the member to stop (Close, or a storage
// failure): raft answers no future still queued for its leader loop or its FSM when
// it shuts down, and a request waiting on one kept a halted member's HTTP server
// from shutting down for its whole timeout. A future that never resolves keeps its
// waiting goroutine, which ends with the process.
func (m *Member) futureErr(f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-m.stopCtx.Done():
		select {
		case err := <-done: // answered meanwhile: the true outcome wins
			return err
		default:
			return raft.ErrRaftShutdown
		}
	}
}

// applyError classifies a failed raft.Apply. ErrNotLeader and ErrEnqueueTimeout
// come before the entry is in the log: nothing happened, the caller may retry.
// Anything later (ErrLeadershipLost, ErrRaftShutdown while in flight) leaves the
// entry's fate to the next leader: the outcome is unknown.
func applyError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return errNotLeader
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return unavailable(ErrNoLeader, err)
	default:
		return unknownOutcome(err)
	}
}

// forward sends the commands to the leader at addr.
func (m *Member) forward(ctx context.Context, addr string, cmds []storage.Command) ([]storage.Result, error) {
	pc, err := m.peers.ready(ctx, addr, m.cfg.Raft.Heartbeat*2)
	if err != nil {
		// Nothing was sent: the leader we know of is unreachable (dead or cut off).
		return nil, unavailable(ErrNoLeader, err)
	}
	enc, err := marshalCommands(cmds)
	if err != nil {
		return nil, fmt.Errorf("encode submission: %w", err)
	}
	resp, err := pc.rpc.Commit(ctx, &regionpb.Submission{Commands: enc})
	if err != nil {
		// The request may have reached the leader and been applied.
		return nil, unknownOutcome(fmt.Errorf("forward to leader %s: %w", addr, err))
	}
	if e := resp.GetError(); e != nil {
		err := errorFromPB(e)
		if errors.Is(err, errNotLeader) {
			return nil, errNotLeader
		}
		return nil, err
	}
	if len(resp.GetResults()) != len(cmds) {
		return nil, unknownOutcome(fmt.Errorf("leader answered %d results for %d commands", len(resp.GetResults()), len(cmds)))
	}
	return resultsFromPB(resp.GetResults()), nil
}

// ---- read path ----

// readBarrier makes the next local read linearizable: it learns a commit index
// that covers every write acknowledged before the read began (from the leader,
// which confirms with a quorum that it still leads) and waits until the local store
// has applied it. Concurrent reads share one confirmation round.
func (m *Member) readBarrier(ctx context.Context) error {
	if m.closed.Load() {
		return unavailable(ErrClosed, nil)
	}
	wctx, cancel := context.WithTimeout(ctx, m.cfg.LeaderWait)
	defer cancel()
	idx, err := m.reads.index(wctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return unavailable(ErrNoLeader, fmt.Errorf("read barrier: %w", err))
	}
	if err := m.fsm.waitApplied(wctx, idx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return unavailable(ErrNoLeader, fmt.Errorf("read barrier: waiting to apply index %d (at %d): %w", idx, m.fsm.applied.Load(), err))
	}
	return nil
}

// fetchReadIndex runs one read-index round: locally on the leader, by RPC
// elsewhere, retrying through elections until ctx ends.
func (m *Member) fetchReadIndex(ctx context.Context) (uint64, error) {
	var last error = ErrNoLeader
	for {
		if m.closed.Load() {
			return 0, ErrClosed
		}
		if m.IsLeader() {
			idx, err := m.leaderReadIndex(ctx)
			if err == nil {
				return idx, nil
			}
			last = err
		} else if id, addr := m.Leader(); addr != "" && id != m.cfg.ID {
			idx, err := m.remoteReadIndex(ctx, addr)
			if err == nil {
				return idx, nil
			}
			last = err
		}
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			return 0, fmt.Errorf("%w (last: %v)", err, last)
		}
	}
}

// leaderReadIndex is the read index on the leader: the commit index, then a
// heartbeat round proving that no other leader could have committed more.
func (m *Member) leaderReadIndex(ctx context.Context) (uint64, error) {
	if err := m.waitReady(ctx); err != nil {
		return 0, err
	}
	idx := m.raft.CommitIndex()
	if err := m.raft.VerifyLeader().Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return 0, errNotLeader
		}
		return 0, err
	}
	return idx, nil
}

func (m *Member) remoteReadIndex(ctx context.Context, addr string) (uint64, error) {
	pc, err := m.peers.ready(ctx, addr, m.cfg.Raft.Heartbeat*2)
	if err != nil {
		return 0, err
	}
	resp, err := pc.rpc.ReadIndex(ctx, &regionpb.ReadIndexRequest{})
	if err != nil {
		return 0, err
	}
	if e := resp.GetError(); e != nil {
		return 0, errorFromPB(e)
	}
	return resp.GetIndex(), nil
}

// readIndexer coalesces read-index rounds: a read joins the next round to start
// (never one already running, whose index may predate a write acknowledged just
// before the read began), and one round serves every read waiting for it.
type readIndexer struct {
	fetch   func(context.Context) (uint64, error)
	base    context.Context
	timeout time.Duration

	mu      sync.Mutex
	next    *readRound
	running bool
}

type readRound struct {
	done  chan struct{}
	index uint64
	err   error
}

func (r *readIndexer) index(ctx context.Context) (uint64, error) {
	r.mu.Lock()
	rd := r.next
	if rd == nil {
		rd = &readRound{done: make(chan struct{})}
		r.next = rd
	}
	if !r.running {
		r.running = true
		go r.loop()
	}
	r.mu.Unlock()
	select {
	case <-rd.done:
		return rd.index, rd.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (r *readIndexer) loop() {
	for {
		r.mu.Lock()
		rd := r.next
		r.next = nil
		if rd == nil {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(r.base, r.timeout)
		rd.index, rd.err = r.fetch(ctx)
		cancel()
		close(rd.done)
	}
}

// ---- garbage collection ----

// CollectGarbage discards staged blobs older than GCGrace that no member is still
// streaming. It runs on the ready leader only (elsewhere it returns 0) and discards
// through the log, so every replica drops the same blobs.
func (m *Member) CollectGarbage(ctx context.Context) (int, error) {
	if !m.Ready() {
		return 0, nil
	}
	remote := m.remoteActiveBlobs(ctx)
	skip := func(id storage.BlobID) bool {
		_, ok := remote[id]
		return ok || m.isActive(id)
	}
	n, err := m.collectGarbage(ctx, m.now().Add(-m.cfg.GCGrace), skip)
	if n > 0 {
		m.logger.Info("discarded abandoned staged blobs", "count", n, "grace", m.cfg.GCGrace)
	}
	return n, err
}

// remoteActiveBlobs asks every other member which blobs it is staging. A member
// that does not answer cannot commit its uploads either, so it is skipped.
func (m *Member) remoteActiveBlobs(ctx context.Context) map[storage.BlobID]struct{} {
	out := make(map[storage.BlobID]struct{})
	f := m.raft.GetConfiguration()
	if f.Error() != nil {
		return out
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == m.cfg.ID {
			continue
		}
		addr := string(s.Address)
		if a, ok := m.book[s.ID]; ok {
			addr = string(a)
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		pc, err := m.peers.ready(cctx, addr, time.Second)
		if err == nil {
			var resp *regionpb.ActiveBlobsResponse
			if resp, err = pc.rpc.ActiveBlobs(cctx, &regionpb.ActiveBlobsRequest{}); err == nil {
				for _, b := range resp.GetBlobs() {
					if len(b) == len(storage.BlobID{}) {
						out[storage.BlobID(b)] = struct{}{}
					}
				}
			}
		}
		cancel()
		if err != nil {
			m.logger.Debug("active blobs of a member unknown", "member", s.ID, "err", err)
		}
	}
	return out
}

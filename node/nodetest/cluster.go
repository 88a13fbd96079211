package nodetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/node/internal/raftbolt"
	"github.com/pangea-s3/pangea/s3api"
	"github.com/pangea-s3/pangea/s3api/auth"
	"github.com/pangea-s3/pangea/storage"
)

// Options configures a test cluster. Zero values take the defaults.
type Options struct {
	Regions        []string // default {"us-east-1"}
	NodesPerRegion int      // default 3
	Secret         string   // cluster secret; default a fixed test secret
	AccessKey      string   // S3 credentials of every node; default "pangea"
	SecretKey      string   // default "pangea-secret"

	// Logger receives every member's logs; nil: Warn and above through t.Log
	// (shown only for failing tests).
	Logger *slog.Logger
	NoSync bool

	SnapshotThreshold uint64
	SnapshotInterval  time.Duration // default 200 ms in tests, so thresholds are checked often
	TrailingLogs      uint64
	// Raft timeouts; zero fields: TestRaftTimeouts.
	Raft       node.RaftTimeouts
	LeaderWait time.Duration // default 5 s

	GCGrace, GCInterval time.Duration
	// Now is every member's clock; nil: time.Now.
	Now func() time.Time
	// EditMember, if set, changes each member's configuration at every start and
	// restart (before RestartWith's edit): how a test hooks every member, e.g. its
	// OnLeadership callback.
	EditMember func(n *Node, cfg *node.MemberConfig)
}

// TestRaftTimeouts is the harness's default raft profile: elections within a few
// hundred milliseconds, slack enough for a loaded two-core CI machine.
func TestRaftTimeouts() node.RaftTimeouts {
	return node.RaftTimeouts{Heartbeat: 250 * time.Millisecond, Election: 250 * time.Millisecond, LeaderLease: 250 * time.Millisecond, Commit: 10 * time.Millisecond}
}

// Cluster is a set of regions of members running in the test process.
type Cluster struct {
	// AccessKey and SecretKey are the S3 credentials every node accepts.
	AccessKey, SecretKey string
	// Secret is the cluster secret of every region.
	Secret string
	// Net carries every cluster connection; Partition, Blackhole, Freeze and Heal
	// drive it.
	Net *Network

	t    testing.TB
	opts Options
	base string // data folder of every node
	log  *slog.Logger

	mu      sync.Mutex
	regions map[string][]*Node
}

// Node is one member with its S3 endpoint. Member changes on Restart.
type Node struct {
	ID, Region  string
	S3URL       string // http://127.0.0.1:port, stable across restarts
	ClusterAddr string // stable across restarts
	Member      *node.Member

	dir     string
	s3Addr  string
	peers   []node.Peer
	join    bool
	httpSrv *http.Server
	running bool
}

// Start starts opts.Regions x opts.NodesPerRegion members on 127.0.0.1 ports and
// returns once every member runs (not once leaders are elected: use Leader). Every
// member is closed when the test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if len(opts.Regions) == 0 {
		opts.Regions = []string{"us-east-1"}
	}
	if opts.NodesPerRegion <= 0 {
		opts.NodesPerRegion = 3
	}
	if opts.Secret == "" {
		opts.Secret = "nodetest-cluster-secret"
	}
	if opts.AccessKey == "" {
		opts.AccessKey = "pangea"
	}
	if opts.SecretKey == "" {
		opts.SecretKey = "pangea-secret"
	}
	if opts.SnapshotInterval <= 0 {
		opts.SnapshotInterval = 200 * time.Millisecond
	}
	d := TestRaftTimeouts()
	if opts.Raft.Heartbeat <= 0 {
		opts.Raft.Heartbeat = d.Heartbeat
	}
	if opts.Raft.Election <= 0 {
		opts.Raft.Election = d.Election
	}
	if opts.Raft.LeaderLease <= 0 {
		opts.Raft.LeaderLease = min(d.LeaderLease, opts.Raft.Heartbeat)
	}
	if opts.Raft.Commit <= 0 {
		opts.Raft.Commit = d.Commit
	}
	c := &Cluster{
		AccessKey: opts.AccessKey, SecretKey: opts.SecretKey, Secret: opts.Secret,
		Net: NewNetwork(), t: t, opts: opts, regions: make(map[string][]*Node),
	}
	var lw *testLogWriter
	c.log = opts.Logger
	if c.log == nil {
		lw = &testLogWriter{t: t}
		c.log = slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	// The data folder is made before the cleanup that stops the nodes is registered:
	// cleanups run last-in first-out, so the folder is removed only after every node
	// has stopped writing to it.
	c.base = t.TempDir()
	t.Cleanup(func() {
		c.mu.Lock()
		var all []*Node
		for _, ns := range c.regions {
			all = append(all, ns...)
		}
		c.mu.Unlock()
		var wg sync.WaitGroup
		for _, n := range all {
			wg.Go(func() { c.Kill(n) })
		}
		wg.Wait()
		if lw != nil {
			lw.stop()
		}
	})

	base := c.base
	for _, region := range opts.Regions {
		nodes := make([]*Node, opts.NodesPerRegion)
		var peers []node.Peer
		var cls, s3ls []net.Listener
		for i := range nodes {
			cl, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("nodetest: listen: %v", err)
			}
			sl, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("nodetest: listen: %v", err)
			}
			cls, s3ls = append(cls, cl), append(s3ls, sl)
			n := &Node{
				ID: fmt.Sprintf("n%d", i+1), Region: region,
				ClusterAddr: cl.Addr().String(), s3Addr: sl.Addr().String(),
				dir: filepath.Join(base, region, fmt.Sprintf("n%d", i+1)),
			}
			n.S3URL = "http://" + n.s3Addr
			nodes[i] = n
			peers = append(peers, node.Peer{ID: n.ID, Addr: n.ClusterAddr})
			c.Net.Register(netKey(n), n.ClusterAddr)
		}
		for i, n := range nodes {
			n.peers = peers
			if err := c.start(n, cls[i], s3ls[i], nil); err != nil {
				t.Fatalf("nodetest: start %s/%s: %v", region, n.ID, err)
			}
		}
		c.mu.Lock()
		c.regions[region] = nodes
		c.mu.Unlock()
	}
	return c
}

func netKey(n *Node) string { return n.Region + "/" + n.ID }

// start opens n's member on the given listeners and serves S3 on s3l. edit, if
// not nil, changes the member's configuration first.
func (c *Cluster) start(n *Node, cl, s3l net.Listener, edit func(*node.MemberConfig)) error {
	cfg := node.MemberConfig{
		Dir: n.dir, Region: n.Region, ID: n.ID,
		Listener: cl, AdvertiseAddr: n.ClusterAddr,
		Peers: n.peers, Join: n.join, Secret: c.opts.Secret,
		Logger: c.log.With("node", n.ID), NoSync: c.opts.NoSync,
		GCGrace: c.opts.GCGrace, GCInterval: c.opts.GCInterval,
		Raft: c.opts.Raft, SnapshotThreshold: c.opts.SnapshotThreshold, SnapshotInterval: c.opts.SnapshotInterval,
		TrailingLogs: c.opts.TrailingLogs, LeaderWait: c.opts.LeaderWait,
		Dial: c.Net.Dialer(netKey(n)), Now: c.opts.Now,
	}
	if c.opts.EditMember != nil {
		c.opts.EditMember(n, &cfg)
	}
	if edit != nil {
		edit(&cfg)
	}
	m, err := node.OpenMember(cfg)
	if err != nil {
		cl.Close()
		s3l.Close()
		return err
	}
	h := s3api.New(s3api.Config{
		Region:      n.Region,
		Credentials: auth.StaticCredentials{c.AccessKey: c.SecretKey},
		Logger:      c.log.With("node", n.ID),
	}, m)
	srv := &http.Server{Handler: h, ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelDebug)}
	go srv.Serve(s3l)
	c.mu.Lock()
	n.Member, n.httpSrv, n.running = m, srv, true
	c.mu.Unlock()
	return nil
}

// Nodes returns the members of a region, in ID order.
func (c *Cluster) Nodes(region string) []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.regions[region]...)
}

// Running reports whether n is running (not killed).
func (c *Cluster) Running(n *Node) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.running
}

// Leader polls until a running member of region leads and is ready to serve (it
// has applied every earlier term's entries), and returns it. With several
// candidates (an old leader that has not noticed a partition yet) the one of the
// highest term wins.
func (c *Cluster) Leader(ctx context.Context, region string) (*Node, error) {
	var found *Node
	err := testkit.Poll(ctx, func() error {
		found = nil
		var term uint64
		for _, n := range c.Nodes(region) {
			c.mu.Lock()
			m, running := n.Member, n.running
			c.mu.Unlock()
			if !running || !m.Ready() {
				continue
			}
			if st := m.Status(); found == nil || st.Term > term {
				found, term = n, st.Term
			}
		}
		if found == nil {
			return errors.New("no ready leader")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("nodetest: no leader in %s: %w", region, err)
	}
	return found, nil
}

// Kill stops n abruptly: its S3 endpoint and cluster connections close at once,
// raft stops without handing leadership over. Its data stays for Restart. Killing
// a stopped node does nothing.
func (c *Cluster) Kill(n *Node) { c.stop(n, false) }

// Crash stops n as a crash of its process would (node.Member.Crash): as Kill, but
// what its store applied and had not committed yet is lost, so Restart finds the
// store behind the raft log and replays the log over it (DiskState shows the gap
// before the restart). Crashing a stopped node does nothing.
func (c *Cluster) Crash(n *Node) { c.stop(n, true) }

func (c *Cluster) stop(n *Node, crash bool) {
	c.mu.Lock()
	if !n.running {
		c.mu.Unlock()
		return
	}
	n.running = false
	srv, m := n.httpSrv, n.Member
	c.mu.Unlock()
	srv.Close()
	stop, what := m.Close, "close"
	if crash {
		stop, what = m.Crash, "crash"
	}
	if err := stop(); err != nil {
		c.t.Logf("nodetest: %s %s: %v", what, n.ID, err)
	}
}

// DiskState is what a stopped member's files hold.
type DiskState struct {
	StoreApplied uint64 // the store's applied index: the last log entry it reflects
	LogFirst     uint64 // first and last index in the raft log (0 if empty)
	LogLast      uint64
}

// DiskState reads the store and raft log files of a stopped node, e.g. to see how
// far its store lags its log after Crash: on Restart the member replays the
// entries above StoreApplied that the region has committed.
func (c *Cluster) DiskState(n *Node) (DiskState, error) {
	if c.Running(n) {
		return DiskState{}, fmt.Errorf("nodetest: %s is running", n.ID)
	}
	var ds DiskState
	st, err := storage.Open(filepath.Join(n.dir, "store.db"), storage.Options{NoSync: true})
	if err != nil {
		return ds, err
	}
	ds.StoreApplied, err = st.AppliedIndex()
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ds, err
	}
	logs, err := raftbolt.Open(filepath.Join(n.dir, "raft.db"), true)
	if err != nil {
		return ds, err
	}
	defer logs.Close()
	if ds.LogFirst, err = logs.FirstIndex(); err != nil {
		return ds, err
	}
	ds.LogLast, err = logs.LastIndex()
	return ds, err
}

// Restart starts a killed (or crashed) node again on the same data directory and addresses.
func (c *Cluster) Restart(n *Node) error { return c.RestartWith(n, nil) }

// RestartWith is Restart with the member's configuration changed by edit: how a
// test gives one member its own clock or raft timeouts, which Options sets for
// every member alike.
func (c *Cluster) RestartWith(n *Node, edit func(*node.MemberConfig)) error {
	c.mu.Lock()
	running := n.running
	c.mu.Unlock()
	if running {
		return fmt.Errorf("nodetest: %s is running", n.ID)
	}
	cl, err := listenAgain(n.ClusterAddr)
	if err != nil {
		return err
	}
	s3l, err := listenAgain(n.s3Addr)
	if err != nil {
		cl.Close()
		return err
	}
	return c.start(n, cl, s3l, edit)
}

// listenAgain binds addr, retrying briefly: a port just released can take a moment
// to become bindable again.
func listenAgain(addr string) (net.Listener, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ln net.Listener
	err := testkit.Poll(ctx, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nodetest: listen on %s again: %w", addr, err)
	}
	return ln, nil
}

// AddNode starts a new, empty member of region that waits to be added (Join): the
// test adds it with node.Client.AddMember (what `pangea ctl add` does) or
// Member.AddMember.
func (c *Cluster) AddNode(region string) (*Node, error) {
	c.mu.Lock()
	existing := c.regions[region]
	c.mu.Unlock()
	if len(existing) == 0 {
		return nil, fmt.Errorf("nodetest: no region %s", region)
	}
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s3l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cl.Close()
		return nil, err
	}
	id := fmt.Sprintf("n%d", len(existing)+1)
	n := &Node{
		ID: id, Region: region, ClusterAddr: cl.Addr().String(), s3Addr: s3l.Addr().String(),
		dir: filepath.Join(c.base, "added", region, id), join: true,
	}
	n.S3URL = "http://" + n.s3Addr
	n.peers = append(append([]node.Peer(nil), existing[0].peers...), node.Peer{ID: n.ID, Addr: n.ClusterAddr})
	c.Net.Register(netKey(n), n.ClusterAddr)
	if err := c.start(n, cl, s3l, nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.regions[region] = append(c.regions[region], n)
	c.mu.Unlock()
	return n, nil
}

// Partition splits the cluster: only nodes within the same group can talk (raft
// and gRPC); nodes in no group are isolated. S3 endpoints stay reachable.
func (c *Cluster) Partition(groups ...[]*Node) {
	keys := make([][]string, len(groups))
	for i, g := range groups {
		for _, n := range g {
			keys[i] = append(keys[i], netKey(n))
		}
	}
	c.Net.Partition(keys...)
}

// Blackhole is Partition by dropped packets (Network.Blackhole): connections across
// groups stay open and carry nothing, new ones hang, until Heal.
func (c *Cluster) Blackhole(groups ...[]*Node) {
	keys := make([][]string, len(groups))
	for i, g := range groups {
		for _, n := range g {
			keys[i] = append(keys[i], netKey(n))
		}
	}
	c.Net.Blackhole(keys...)
}

// Heal removes every partition (Partition and Blackhole).
func (c *Cluster) Heal() { c.Net.Heal() }

// Freeze makes n look to the other members like a process stopped by SIGSTOP
// (Network.Freeze): its cluster connections stay open and carry nothing until
// Thaw. Its S3 endpoint keeps answering.
func (c *Cluster) Freeze(n *Node) { c.Net.Freeze(netKey(n)) }

// Thaw undoes Freeze: n's connections deliver what was sent meanwhile.
func (c *Cluster) Thaw(n *Node) { c.Net.Thaw(netKey(n)) }

// testLogWriter sends log lines to t.Log until the test's cleanup stops it
// (goroutines may log after the test returned; t.Log would panic then).
type testLogWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func (w *testLogWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

var _ io.Writer = (*testLogWriter)(nil)

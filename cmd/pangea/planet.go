package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/labfile"
	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/routing"
	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/routing/wan"
	"github.com/pangea-s3/pangea/storage"
)

// planet is the lab: every member of every region of a topology in this process,
// on loopback, their cluster links and gossip crossing one emulated WAN. Each
// region is its own raft group; all members share one gossip pool. The planet
// serves its members' S3 endpoints itself, and the admin API stops and starts
// members (stopMember, startMember) while it runs.
type planet struct {
	topo    *topology.Topology
	net     *wan.Net
	cfg     Config
	regions []*planetRegion // in topology order: the first is the control region
	edges   []*edgeProc     // in topology order: the first is the global endpoint
	logger  *slog.Logger
	// errs receives a member's S3 serving error (never nil): the lab ends on it.
	errs chan error

	// ops serialises the operations that stop or start members, and stop.
	ops sync.Mutex
	// mu guards every member's running state (servedMember, pool, announcer).
	mu      sync.Mutex
	stopped bool
}

type planetRegion struct {
	topology.Region
	members []*planetMember // n1, n2, ...
}

// planetMember is one region member with its S3 endpoint and its gossip. Its
// addresses are fixed at the first start: a restart binds them again, so lab.json
// and the region's peer list stay true.
type planetMember struct {
	id          string
	region      *planetRegion
	ep          *wan.Endpoint
	peers       []node.Peer // the region's initial configuration
	clusterAddr string
	s3Addr      string
	url         string // of the S3 endpoint
	gossipAddr  string // of the first start: a restart binds it again if it is free

	// Guarded by planet.mu; nil while the member is stopped.
	*servedMember
	pool      *routing.Pool
	announcer *leaderAnnouncer
}

func (m *planetMember) name() string { return m.region.Name + "/" + m.id }

// startPlanet starts topo's members: S3 endpoints on consecutive ports from
// cfg.Addr across all members in topology order (all ephemeral with port 0),
// cluster and gossip listeners ephemeral on 127.0.0.1 (members find each other by
// ID, so a restart on new ports keeps working), fast lab raft timeouts, data under
// <data>/<region>/<id>, and serves their S3 endpoints. It returns once every
// region has a leader, or after labLeaderWait (requests wait for one anyway).
func startPlanet(ctx context.Context, cfg Config, topo *topology.Topology, logger *slog.Logger) (*planet, error) {
	host, portStr, _ := net.SplitHostPort(cfg.Addr) // validated
	basePort, _ := strconv.Atoi(portStr)
	p := &planet{topo: topo, net: wan.New(topo, wan.Options{Logger: logger}), cfg: cfg, logger: logger}
	n := 0
	for _, r := range topo.Regions {
		n += r.Members
	}
	p.errs = make(chan error, n)
	ok := false
	defer func() {
		if !ok {
			p.stop()
		}
	}()
	var seeds []string // the first member's gossip address
	// S3 ports: the edges' first (the first edge is the global endpoint), then
	// every member's, region by region.
	next := len(topo.Edges)
	for _, r := range topo.Regions {
		pr := &planetRegion{Region: r}
		p.regions = append(p.regions, pr)
		ep, err := p.net.Endpoint(r.Location)
		if err != nil {
			return nil, fmt.Errorf("lab region %s: %w", r.Name, err)
		}
		// Bind every cluster listener first: the peer list names them all.
		lns := make([]net.Listener, r.Members)
		peers := make([]node.Peer, r.Members)
		closeLns := func() {
			for _, l := range lns {
				if l != nil {
					l.Close()
				}
			}
		}
		for i := range lns {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				closeLns()
				return nil, fmt.Errorf("lab region %s: cluster listener: %w", r.Name, err)
			}
			lns[i] = l
			peers[i] = node.Peer{ID: fmt.Sprintf("n%d", i+1), Addr: l.Addr().String()}
		}
		for i, peer := range peers {
			s3Port := 0
			if basePort != 0 {
				s3Port = basePort + next
			}
			next++
			s3Addr := net.JoinHostPort(host, strconv.Itoa(s3Port))
			s3ln, err := net.Listen("tcp", s3Addr)
			if err != nil {
				closeLns()
				return nil, fmt.Errorf("lab member %s/%s: listen on %s: %w (is another process using the port? pick another with --addr)", r.Name, peer.ID, s3Addr, err)
			}
			pm := &planetMember{id: peer.ID, region: pr, ep: ep, peers: peers, clusterAddr: peer.Addr, s3Addr: s3ln.Addr().String(), url: cfg.endpoint(s3ln.Addr())}
			pr.members = append(pr.members, pm)
			ln := lns[i]
			lns[i] = nil // owned by startMember from here on
			if err := p.startMember(ctx, pm, s3ln, ln, seeds); err != nil {
				closeLns()
				return nil, err
			}
			if seeds == nil {
				seeds = []string{pm.gossipAddr}
			}
		}
	}
	for i, e := range topo.Edges {
		if err := p.startEdge(ctx, e, host, basePort, i, seeds); err != nil {
			return nil, err
		}
	}
	p.awaitReady(ctx, seeds)
	ok = true
	return p, nil
}

// startEdge starts the i-th edge of the topology, its S3 endpoint on port
// basePort+i (ephemeral with 0).
func (p *planet) startEdge(ctx context.Context, e topology.Edge, host string, basePort, i int, seeds []string) error {
	ep, err := p.net.Endpoint(e.Location)
	if err != nil {
		return fmt.Errorf("lab edge %s: %w", e.Name, err)
	}
	port := 0
	if basePort != 0 {
		port = basePort + i
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("lab edge %s: listen on %s: %w (is another process using the port? pick another with --addr)", e.Name, addr, err)
	}
	ep2, err := startEdge(ctx, edgeSpec{
		Name: e.Name, Location: e.Location, Topo: p.topo, EP: ep, Ln: ln,
		BindAddr: "127.0.0.1", Seeds: seeds, Cfg: p.cfg, Logger: p.logger,
	}, p.errs)
	if err != nil {
		return fmt.Errorf("lab %w", err)
	}
	p.mu.Lock()
	p.edges = append(p.edges, ep2)
	p.mu.Unlock()
	return nil
}

// startMember starts pm on its bound S3 listener s3ln and cluster listener
// clusterLn (both closed on failure): its gossip pool (on pm.gossipAddr if it
// has one and it is free), the raft member on its data, and S3 serving. The pool
// joins seeds in the background (startPlanet joins every pool itself: nil).
// It is the lab's startup of a member, at first and on a restart.
func (p *planet) startMember(ctx context.Context, pm *planetMember, s3ln, clusterLn net.Listener, seeds []string) error {
	r := pm.region
	cfg := p.cfg
	rcfg := cfg
	rcfg.Region = r.Name
	rlogger := p.logger.With("region", r.Name)
	mlogger := rlogger.With("member", pm.id)
	gc := gossipConfig{
		Name: pm.name(), Region: r.Name, Location: r.Location,
		S3Endpoint: cfg.endpoint(s3ln.Addr()), ClusterAddr: pm.clusterAddr, Secret: cfg.ClusterSecret,
		BindAddr: "127.0.0.1", Seeds: seeds, Logger: p.logger, // the pool names itself in its logs
	}
	// The pool starts before the member, so that no leadership event is lost.
	var pool *routing.Pool
	var err error
	if pm.gossipAddr != "" {
		if _, port, perr := net.SplitHostPort(pm.gossipAddr); perr == nil {
			gc.BindPort, _ = strconv.Atoi(port)
			pool, err = startGossip(ctx, gc, pm.ep)
		}
	}
	if pool == nil {
		gc.BindPort = 0 // first start, or the old port is taken
		pool, err = startGossip(ctx, gc, pm.ep)
	}
	if err != nil {
		s3ln.Close()
		clusterLn.Close()
		return fmt.Errorf("lab member %s: %w", pm.name(), err)
	}
	announcer := newLeaderAnnouncer(pool, mlogger)
	mc := node.MemberConfig{
		Dir: filepath.Join(cfg.DataDir, r.Name, pm.id), Region: r.Name, ID: pm.id,
		Listener: clusterLn, Peers: pm.peers, Secret: cfg.ClusterSecret,
		Logger: p.logger, NoSync: cfg.NoFsync, // the member adds its region and ID
		Raft: node.LabRaftTimeouts(), Upload: cfg.uploadPace(),
		OnLeadership: announcer.onLeadership,
	}
	if hook := cfg.replicaApplied; hook != nil {
		mc.ReplicaApplied = func(source string, v storage.ObjectVersion, at time.Time) { hook(r.Name, source, v, at) }
	}
	wireWAN(&mc, pm.ep)
	fc := frontConfig{Pool: pool, Topo: p.topo, Region: r.Name, Secret: cfg.ClusterSecret, Dial: pm.ep.DialTCP, Logger: mlogger}
	sm, err := servePlanetMember(ctx, mc, fc, pool, pm.id, s3ln, rcfg, rlogger)
	if err != nil {
		mc.Listener.Close()
		announcer.close()
		_ = pool.Close()
		return fmt.Errorf("lab member %s: %w", pm.name(), err)
	}
	p.mu.Lock()
	pm.servedMember, pm.pool, pm.announcer = sm, pool, announcer
	pm.gossipAddr = pool.GossipAddr()
	p.mu.Unlock()
	go func() {
		if err := sm.serve(); err != nil {
			select {
			case p.errs <- fmt.Errorf("lab member %s: %w", pm.name(), err):
			default: // one error already ends the lab
			}
		}
	}()
	if len(seeds) > 0 {
		go func() {
			jctx, cancel := context.WithTimeout(context.Background(), gossipJoinTimeout)
			defer cancel()
			// On failure the pool keeps trying its seeds in the background.
			if err := pool.Join(jctx, seeds); err != nil && !errors.Is(err, routing.ErrClosed) {
				mlogger.Warn("restarted lab member has not joined the gossip pool yet", "err", err)
			}
		}()
	}
	return nil
}

// restartMember starts a stopped member again on its data, S3 and cluster
// addresses: it rejoins its raft group and, through the running members' gossip
// addresses, the pool. Starting a running member does nothing.
func (p *planet) restartMember(ctx context.Context, pm *planetMember) error {
	p.mu.Lock()
	running, stopped := pm.servedMember != nil, p.stopped
	var seeds []string
	for _, o := range p.allMembers() {
		if o != pm && o.servedMember != nil {
			seeds = append(seeds, o.pool.GossipAddr())
		}
	}
	p.mu.Unlock()
	if stopped {
		return errors.New("the lab is stopping")
	}
	if running {
		return nil
	}
	s3ln, err := net.Listen("tcp", pm.s3Addr)
	if err != nil {
		return fmt.Errorf("lab member %s: S3 listener on %s: %w", pm.name(), pm.s3Addr, err)
	}
	cln, err := net.Listen("tcp", pm.clusterAddr)
	if err != nil {
		s3ln.Close()
		return fmt.Errorf("lab member %s: cluster listener on %s: %w", pm.name(), pm.clusterAddr, err)
	}
	return p.startMember(ctx, pm, s3ln, cln, seeds)
}

// stopMember stops a running member abruptly, as a crash of its process would
// (its files are closed cleanly): its S3 endpoint refuses connections at once,
// its pool closes without leaving (the others find it dead by probing), its raft
// stops without handing leadership over. Stopping a stopped member does nothing.
func (p *planet) stopMember(pm *planetMember) {
	p.mu.Lock()
	sm, pool, announcer := pm.servedMember, pm.pool, pm.announcer
	pm.servedMember, pm.pool, pm.announcer = nil, nil, nil
	p.mu.Unlock()
	if sm == nil {
		return
	}
	sm.srv.Close()
	if err := pool.Close(); err != nil && !errors.Is(err, routing.ErrClosed) {
		p.logger.Warn("close gossip pool", "member", pm.name(), "err", err)
	}
	announcer.close()
	sm.front.close()
	if err := sm.member.Close(); err != nil {
		p.logger.Error("close member", "member", pm.name(), "err", err)
	}
	p.logger.Info("lab member stopped (admin API)", "member", pm.name())
}

// allMembers lists every member, running or not, region by region.
func (p *planet) allMembers() []*planetMember {
	var ms []*planetMember
	for _, r := range p.regions {
		ms = append(ms, r.members...)
	}
	return ms
}

// awaitReady joins every pool to the seeds and waits, within labLeaderWait, for
// the joins and for a leader in every region.
func (p *planet) awaitReady(ctx context.Context, seeds []string) {
	wctx, cancel := context.WithTimeout(ctx, labLeaderWait)
	defer cancel()
	var wg sync.WaitGroup
	for _, m := range p.members() {
		wg.Go(func() {
			jctx, cancel := context.WithTimeout(wctx, gossipJoinTimeout)
			defer cancel()
			// On failure the pool keeps trying its seeds in the background.
			if err := m.pool.Join(jctx, seeds); err != nil {
				p.logger.Warn("lab member has not joined the gossip pool yet", "member", m.pool.Self().Name, "err", err)
			}
		})
	}
	defer wg.Wait()
	for {
		leaderless := ""
		for _, r := range p.regions {
			ready := false
			for _, m := range r.members {
				ready = ready || m.member.Ready()
			}
			if !ready {
				leaderless = r.Name
				break
			}
		}
		if leaderless == "" {
			return
		}
		select {
		case <-wctx.Done():
			p.logger.Warn("lab region has no leader yet; requests wait for one", "region", leaderless, "waited", labLeaderWait)
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// members lists every running member, region by region.
func (p *planet) members() []*planetMember {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ms []*planetMember
	for _, m := range p.allMembers() {
		if m.servedMember != nil {
			ms = append(ms, m)
		}
	}
	return ms
}

// served lists the running members' S3 endpoints.
func (p *planet) served() []*servedMember {
	var ms []*servedMember
	for _, m := range p.members() {
		ms = append(ms, m.servedMember)
	}
	return ms
}

// stop stops the running members (S3 endpoints first, then raft), then has every
// pool leave: a member's last leadership event reaches gossip before its pool
// goes. Members stopped through the admin API stay stopped.
func (p *planet) stop() {
	p.ops.Lock()
	defer p.ops.Unlock()
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	running := p.members()
	var served []*servedMember
	for _, m := range running {
		served = append(served, m.servedMember)
	}
	p.mu.Lock()
	edges := p.edges
	p.mu.Unlock()
	ectx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	var ewg sync.WaitGroup
	for _, e := range edges {
		ewg.Go(func() { e.stop(ectx) })
	}
	ewg.Wait()
	cancel()
	stopMembers(served, p.logger, false)
	var wg sync.WaitGroup
	for _, m := range running {
		wg.Go(func() {
			m.announcer.close()
			leaveGossip(m.pool, p.logger)
		})
	}
	wg.Wait()
}

// labFile is the lab.json of the planet: the first region's first member is the
// global endpoint until the global (MRAP-routing) endpoint exists.
func (p *planet) labFile(cfg Config) labfile.File {
	lf := labfile.File{
		Endpoints:     labfile.Endpoints{Regions: map[string][]string{}},
		AccessKey:     cfg.AccessKey,
		SecretKey:     cfg.SecretKey,
		ClusterSecret: cfg.ClusterSecret,
		ClusterAddrs:  map[string][]string{},
		GossipAddrs:   map[string][]string{},
		ControlRegion: p.topo.ControlRegion().Name,
	}
	for _, r := range p.regions {
		for _, m := range r.members {
			lf.Endpoints.Regions[r.Name] = append(lf.Endpoints.Regions[r.Name], m.url)
			lf.ClusterAddrs[r.Name] = append(lf.ClusterAddrs[r.Name], m.clusterAddr)
			lf.GossipAddrs[r.Name] = append(lf.GossipAddrs[r.Name], m.gossipAddr)
		}
	}
	lf.Endpoints.Global = p.regions[0].members[0].url
	p.mu.Lock()
	for _, e := range p.edges {
		lf.Edges = append(lf.Edges, labfile.Edge{Name: e.name, Location: e.location, URL: e.url})
	}
	p.mu.Unlock()
	if len(lf.Edges) > 0 {
		lf.Endpoints.Global = lf.Edges[0].URL // the edge at the first location
	}
	return lf
}

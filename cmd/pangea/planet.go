package main

import (
	"context"
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
)

// planet is the lab: every member of every region of a topology in this process,
// on loopback, their cluster links and gossip crossing one emulated WAN. Each
// region is its own raft group; all members share one gossip pool.
type planet struct {
	topo    *topology.Topology
	net     *wan.Net
	regions []*planetRegion // in topology order: the first is the control region
	logger  *slog.Logger
}

type planetRegion struct {
	topology.Region
	members []*planetMember // n1, n2, ...
}

// planetMember is one region member with its S3 endpoint and its gossip.
type planetMember struct {
	*servedMember
	id        string
	pool      *routing.Pool
	announcer *leaderAnnouncer
}

// startPlanet starts topo's members: S3 endpoints on consecutive ports from
// cfg.Addr across all members in topology order (all ephemeral with port 0),
// cluster and gossip listeners ephemeral on 127.0.0.1 (members find each other by
// ID, so a restart on new ports keeps working), fast lab raft timeouts, data under
// <data>/<region>/<id>. It returns once every region has a leader, or after
// labLeaderWait (requests wait for one anyway).
func startPlanet(ctx context.Context, cfg Config, topo *topology.Topology, logger *slog.Logger) (*planet, error) {
	host, portStr, _ := net.SplitHostPort(cfg.Addr) // validated
	basePort, _ := strconv.Atoi(portStr)
	p := &planet{topo: topo, net: wan.New(topo, wan.Options{Logger: logger}), logger: logger}
	ok := false
	defer func() {
		if !ok {
			p.stop()
		}
	}()
	var seeds []string // the first member's gossip address
	next := 0          // index of the next member across the planet, for its S3 port
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
		rcfg := cfg
		rcfg.Region = r.Name
		rlogger := logger.With("region", r.Name)
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
			mlogger := rlogger.With("member", peer.ID)
			// The pool starts before the member, so that no leadership event is lost.
			pool, err := startGossip(ctx, gossipConfig{
				Name: r.Name + "/" + peer.ID, Region: r.Name, Location: r.Location,
				S3Endpoint: endpointURL(s3ln.Addr()), ClusterAddr: peer.Addr, Secret: cfg.ClusterSecret,
				BindAddr: "127.0.0.1", Seeds: seeds, Logger: logger, // the pool names itself in its logs
			}, ep)
			if err != nil {
				s3ln.Close()
				closeLns()
				return nil, fmt.Errorf("lab member %s/%s: %w", r.Name, peer.ID, err)
			}
			if seeds == nil {
				seeds = []string{pool.GossipAddr()}
			}
			pm := &planetMember{id: peer.ID, pool: pool, announcer: newLeaderAnnouncer(pool, mlogger)}
			pr.members = append(pr.members, pm)
			mc := node.MemberConfig{
				Dir: filepath.Join(cfg.DataDir, r.Name, peer.ID), Region: r.Name, ID: peer.ID,
				Listener: lns[i], Peers: peers, Secret: cfg.ClusterSecret,
				Logger: logger, NoSync: cfg.NoFsync, // the member adds its region and ID
				Raft: node.LabRaftTimeouts(), Upload: cfg.uploadPace(),
				OnLeadership: pm.announcer.onLeadership,
			}
			wireWAN(&mc, ep, mlogger)
			lns[i] = nil // owned by the member from here on
			sm, err := startMemberOn(func() (regionMember, error) { return node.OpenMember(mc) }, peer.ID, s3ln, rcfg, rlogger)
			if err != nil {
				closeLns()
				return nil, fmt.Errorf("lab member %s/%s: %w", r.Name, peer.ID, err)
			}
			pm.servedMember = sm
		}
	}
	p.awaitReady(ctx, seeds)
	ok = true
	return p, nil
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

// members lists every started member, region by region.
func (p *planet) members() []*planetMember {
	var ms []*planetMember
	for _, r := range p.regions {
		for _, m := range r.members {
			if m.servedMember != nil {
				ms = append(ms, m)
			}
		}
	}
	return ms
}

// served lists the members' S3 endpoints, for serving.
func (p *planet) served() []*servedMember {
	var ms []*servedMember
	for _, m := range p.members() {
		ms = append(ms, m.servedMember)
	}
	return ms
}

// stop stops the members (S3 endpoints first, then raft), then has every pool
// leave: a member's last leadership event reaches gossip before its pool goes.
func (p *planet) stop() {
	stopMembers(p.served(), p.logger, false)
	var wg sync.WaitGroup
	for _, r := range p.regions {
		for _, m := range r.members {
			wg.Go(func() {
				m.announcer.close()
				leaveGossip(m.pool, p.logger)
			})
		}
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
			lf.ClusterAddrs[r.Name] = append(lf.ClusterAddrs[r.Name], m.member.ClusterAddr())
			lf.GossipAddrs[r.Name] = append(lf.GossipAddrs[r.Name], m.pool.GossipAddr())
		}
	}
	lf.Endpoints.Global = p.regions[0].members[0].url
	return lf
}

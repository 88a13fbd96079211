package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/adminapi"
	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/routing"
	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/routing/wan"
)

// Planet mode of `pangea node`, and the flags of `pangea edge`.
//
// A node given --seeds joins a planet as one of the lab's members does, but as a
// process of its own (a container, a machine): it starts its gossip pool at its
// location, advertises its region, S3 endpoint and cluster address there, tells
// the pool when it leads, and sends its raft and gRPC links through the emulated
// WAN of its location (wireWAN), so that links between processes at different
// locations pay the topology's latency, as in the lab. Every process of a planet
// must run with the same topology (file or built-in default) and cluster secret.
//
// A planet node also answers the lab admin API's status read on its S3 port,
// under planetStatusPrefix, signed with the cluster secret: its own view of the
// planet (`pangea ctl --admin http://HOST:PORT/_pangea/admin status`), and its
// own replication (`... replication`).

// defaultGossipPort is memberlist's customary port, the default of --gossip-addr.
const defaultGossipPort = 7946

// planetStatusPrefix is where a planet node serves the admin API's status. No S3
// request is shadowed: "_pangea" is not a valid bucket name.
const planetStatusPrefix = "/_pangea/admin"

// bindPlanetFlags registers the planet flags of `node` (edge false) or `edge` on
// fs, with defaults from the environment.
func bindPlanetFlags(fs *flag.FlagSet, e env, c *Config, edge bool) error {
	seeds, err := parseSeeds(e("PANGEA_SEEDS"))
	if err != nil {
		return fmt.Errorf("PANGEA_SEEDS: %w", err)
	}
	c.Seeds = seeds
	locHelp, gossipHelp, seedsHelp := "`location` of this node in the topology (env PANGEA_LOCATION; default: its region's)",
		"gossip (memberlist) bind `host:port`, UDP and TCP; a host name is resolved to the IP the others are told, so use one they can reach, such as the container's hostname (env PANGEA_GOSSIP_ADDR; default: --cluster-addr's host, port 7946)",
		"gossip addresses (`host:port,...`) of planet processes to join; given, the node joins the planet: gossip, leadership in the pool, its links through the emulated WAN (env PANGEA_SEEDS)"
	if edge {
		locHelp = "`location` of this edge in the topology (env PANGEA_LOCATION; required)"
		gossipHelp = "gossip (memberlist) bind `host:port`, UDP and TCP; a host name is resolved to the IP the others are told (env PANGEA_GOSSIP_ADDR; default: --addr's host, port 7946)"
		seedsHelp = "gossip addresses (`host:port,...`) of planet processes to join (env PANGEA_SEEDS; required)"
	}
	fs.StringVar(&c.Location, "location", e.str("PANGEA_LOCATION", ""), locHelp)
	if !edge { // the lab registers its own --topology
		fs.StringVar(&c.TopologyFile, "topology", e.str("PANGEA_TOPOLOGY", ""), "YAML `file` of the planet, the same for every process (env PANGEA_TOPOLOGY; default: the built-in us-east-1, eu-west-1, ap-southeast-2)")
	}
	fs.Var(seedsFlag{&c.Seeds}, "seeds", seedsHelp)
	fs.StringVar(&c.GossipAddr, "gossip-addr", e.str("PANGEA_GOSSIP_ADDR", ""), gossipHelp)
	s3Help := "S3 endpoint `URL` the other processes are told, such as http://us-east-1-n1:9000 (env PANGEA_ADVERTISE_S3; default: from --addr, with --cluster-addr's host when --addr listens on all interfaces)"
	if edge {
		s3Help = "S3 endpoint `URL` the other processes are told, such as http://edge-us-east-1:9000 (env PANGEA_ADVERTISE_S3; default: from --addr)"
	}
	fs.StringVar(&c.AdvertiseS3, "advertise-s3", e.str("PANGEA_ADVERTISE_S3", ""), s3Help)
	return nil
}

// parseSeeds parses "host:port,host:port".
func parseSeeds(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		host, port, err := net.SplitHostPort(item)
		if err != nil || host == "" {
			return nil, fmt.Errorf("seed %q: want host:port, a process's gossip address (port %d by default)", item, defaultGossipPort)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("seed %q: port must be a number 1-65535", item)
		}
		if !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	return out, nil
}

// seedsFlag is --seeds: a comma list parsed as it is set.
type seedsFlag struct{ s *[]string }

func (f seedsFlag) String() string {
	if f.s == nil {
		return ""
	}
	return strings.Join(*f.s, ",")
}

func (f seedsFlag) Set(v string) error {
	s, err := parseSeeds(v)
	if err != nil {
		return err
	}
	*f.s = s
	return nil
}

// nodePlanet validates the planet flags of a node and returns the planet it
// joins, or nil without --seeds (a node alone, as before planets existed).
func (c Config) nodePlanet() (*topology.Topology, error) {
	if len(c.Seeds) == 0 {
		var given []string
		for _, f := range []struct{ name, v string }{{"--location", c.Location}, {"--topology", c.TopologyFile}, {"--gossip-addr", c.GossipAddr}, {"--advertise-s3", c.AdvertiseS3}} {
			if f.v != "" {
				given = append(given, f.name)
			}
		}
		if len(given) > 0 {
			return nil, fmt.Errorf("%s join a planet: give --seeds too (PANGEA_SEEDS: gossip addresses of other processes), or drop them", strings.Join(given, ", "))
		}
		return nil, nil
	}
	if c.Standalone {
		return nil, errors.New("--standalone cannot join a planet: drop --seeds (PANGEA_SEEDS), or drop --standalone to run a region member")
	}
	topo, err := c.planetCommon()
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(topo.Regions, func(r topology.Region) bool { return r.Name == c.Region })
	if i < 0 {
		var names []string
		for _, r := range topo.Regions {
			names = append(names, r.Name)
		}
		return nil, fmt.Errorf("region %q is not in the topology %s: its regions are %s (--region or PANGEA_REGION)", c.Region, c.topologyName(), strings.Join(names, ", "))
	}
	return topo, nil
}

// edgePlanet validates the flags of an edge and returns its planet.
func (c Config) edgePlanet() (*topology.Topology, error) {
	if len(c.Seeds) == 0 {
		return nil, errors.New("an edge joins a planet: give --seeds (PANGEA_SEEDS: gossip addresses of planet processes)")
	}
	if c.Location == "" {
		return nil, errors.New("an edge stands at a location: give --location (PANGEA_LOCATION), one of the topology's")
	}
	return c.planetCommon()
}

// planetCommon checks what a node and an edge share: the secret, the topology,
// the location, the gossip address and the advertised S3 URL.
func (c Config) planetCommon() (*topology.Topology, error) {
	if c.ClusterSecret == "" {
		return nil, errors.New("a planet's gossip is keyed by the cluster secret: set PANGEA_CLUSTER_SECRET (or --cluster-secret), the same for every process")
	}
	topo := topology.Default()
	if c.TopologyFile != "" {
		t, err := topology.Load(c.TopologyFile)
		if err != nil {
			return nil, fmt.Errorf("--topology: %w", err)
		}
		topo = t
	}
	if c.Location != "" && !topo.HasLocation(c.Location) {
		return nil, fmt.Errorf("location %q is not in the topology %s: its locations are %s (--location or PANGEA_LOCATION)", c.Location, c.topologyName(), strings.Join(topo.Locations, ", "))
	}
	if c.GossipAddr != "" {
		if _, port, err := net.SplitHostPort(c.GossipAddr); err != nil {
			return nil, fmt.Errorf("gossip address %q: want HOST:PORT such as 0.0.0.0:%d (--gossip-addr or PANGEA_GOSSIP_ADDR)", c.GossipAddr, defaultGossipPort)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("gossip address %q: port must be a number 0-65535 (0 picks a free port)", c.GossipAddr)
		}
	}
	if c.AdvertiseS3 != "" {
		u, err := url.Parse(c.AdvertiseS3)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("advertised S3 endpoint %q: want a URL such as http://us-east-1-n1:9000 (--advertise-s3 or PANGEA_ADVERTISE_S3)", c.AdvertiseS3)
		}
	}
	return topo, nil
}

func (c Config) topologyName() string {
	if c.TopologyFile != "" {
		return c.TopologyFile
	}
	return "(built-in default)"
}

// planetLocation is where the node stands: --location, else its region's.
func (c Config) planetLocation(topo *topology.Topology) string {
	if c.Location != "" {
		return c.Location
	}
	for _, r := range topo.Regions {
		if r.Name == c.Region {
			return r.Location
		}
	}
	return "" // nodePlanet checked the region
}

// gossipBind resolves where gossip binds: --gossip-addr, else the host of
// fallback (the cluster address, or an edge's S3 address) on defaultGossipPort.
// A host name is resolved to one IP, which memberlist advertises; an empty host
// is every interface (memberlist then advertises a private IP of its choice).
func (c Config) gossipBind(ctx context.Context, fallback string) (ip string, port int, err error) {
	host, portStr := "", strconv.Itoa(defaultGossipPort)
	if c.GossipAddr != "" {
		host, portStr, _ = net.SplitHostPort(c.GossipAddr) // validated
	} else if h, _, err := net.SplitHostPort(fallback); err == nil {
		host = h
	}
	port, _ = strconv.Atoi(portStr)
	if host == "" {
		return "0.0.0.0", port, nil
	}
	if parsed := net.ParseIP(host); parsed != nil {
		return parsed.String(), port, nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(addrs) == 0 {
		return "", 0, fmt.Errorf("gossip address: resolve %q: %v (--gossip-addr or PANGEA_GOSSIP_ADDR)", host, err)
	}
	for _, a := range addrs { // IPv4 first: compose networks are IPv4
		if a.IP.To4() != nil {
			return a.IP.String(), port, nil
		}
	}
	return addrs[0].IP.String(), port, nil
}

// advertisedS3 is the S3 URL the others are told: --advertise-s3, else the bound
// address, with host's in place of an all-interfaces one.
func advertisedS3(cfg Config, bound net.Addr, host string) string {
	if cfg.AdvertiseS3 != "" {
		return strings.TrimSuffix(cfg.AdvertiseS3, "/")
	}
	if t, ok := bound.(*net.TCPAddr); ok && t.IP.IsUnspecified() && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			return "http://" + net.JoinHostPort(host, strconv.Itoa(t.Port))
		}
	}
	return cfg.endpoint(bound)
}

// planetNode is a node's place in its planet: its gossip pool, its leadership
// announcer and the status it serves.
type planetNode struct {
	sm        *servedMember
	topo      *topology.Topology
	net       *wan.Net
	location  string
	pool      *routing.Pool
	announcer *leaderAnnouncer
	verify    *adminapi.Verifier
	logger    *slog.Logger

	cancelJoin context.CancelFunc
	joined     chan struct{}
}

// startPlanetNode opens the region member of cfg as a process of topo's planet
// and binds its S3 endpoint (not yet serving): its cluster links through the
// emulated WAN at its location, its gossip pool (started first, so that no
// leadership event is lost) joining cfg.Seeds in the background, and the status
// read on its S3 port. Stop it with stop after the member is closed.
func (c *cli) startPlanetNode(ctx context.Context, cfg Config, topo *topology.Topology, logger *slog.Logger) (*planetNode, error) {
	loc := cfg.planetLocation(topo)
	wn := wan.New(topo, wan.Options{Logger: logger})
	ep, err := wn.Endpoint(loc)
	if err != nil {
		return nil, err
	}
	mc := memberConfig(cfg, logger)
	cln, err := net.Listen("tcp", mc.ClusterAddr)
	if err != nil {
		return nil, fmt.Errorf("cluster listener on %s: %w (--cluster-addr)", mc.ClusterAddr, err)
	}
	// The cluster address the others dial: this member's peer entry, else the
	// configured one, else the bound one.
	clusterAddr := cln.Addr().String()
	if h, p, err := net.SplitHostPort(mc.ClusterAddr); err == nil && h != "" && p != "0" && !net.ParseIP(h).IsUnspecified() {
		clusterAddr = mc.ClusterAddr
	}
	for _, p := range cfg.Peers {
		if p.ID == cfg.ID {
			clusterAddr = p.Addr
		}
	}
	gossipIP, gossipPort, err := cfg.gossipBind(ctx, clusterAddr)
	if err != nil {
		cln.Close()
		return nil, err
	}
	s3ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		cln.Close()
		return nil, fmt.Errorf("listen on %s: %w (is another process using the port? pick another with --addr)", cfg.Addr, err)
	}
	clusterHost, _, _ := net.SplitHostPort(clusterAddr)
	s3URL := advertisedS3(cfg, s3ln.Addr(), clusterHost)
	pool, err := startGossip(ctx, gossipConfig{
		Name: cfg.Region + "/" + cfg.ID, Region: cfg.Region, Location: loc,
		S3Endpoint: s3URL, ClusterAddr: clusterAddr, Secret: cfg.ClusterSecret,
		BindAddr: gossipIP, BindPort: gossipPort, Seeds: cfg.Seeds, Logger: logger,
	}, ep)
	if err != nil {
		cln.Close()
		s3ln.Close()
		return nil, err
	}
	announcer := newLeaderAnnouncer(pool, logger)
	mc.Listener, mc.OnLeadership = cln, announcer.onLeadership
	wireWAN(&mc, ep)
	fc := frontConfig{Pool: pool, Topo: topo, Region: cfg.Region, Secret: cfg.ClusterSecret, Dial: ep.DialTCP, Logger: logger}
	sm, err := servePlanetMember(ctx, mc, fc, pool, cfg.ID, s3ln, cfg, logger)
	if err != nil {
		mc.Listener.Close()
		announcer.close()
		_ = pool.Close()
		return nil, err
	}
	jctx, cancel := context.WithTimeout(context.Background(), gossipJoinTimeout)
	pn := &planetNode{
		sm: sm, topo: topo, net: wn, location: loc, pool: pool, announcer: announcer,
		verify: adminapi.NewVerifier(cfg.ClusterSecret, nil), logger: logger,
		cancelJoin: cancel, joined: make(chan struct{}),
	}
	sm.srv.Handler = pn.withStatus(sm.srv.Handler)
	go func() {
		defer close(pn.joined)
		defer cancel()
		// On failure the pool keeps trying its seeds in the background.
		if err := pool.Join(jctx, cfg.Seeds); err != nil && !errors.Is(err, routing.ErrClosed) {
			logger.Warn("not joined to the planet's gossip pool yet; retrying in the background", "seeds", cfg.Seeds, "err", err)
		}
	}()
	fmt.Fprintf(c.stdout, "pangea node: planet member %s at location %s: gossip %s, seeds %s, S3 advertised as %s, cluster %s\n",
		cfg.Region+"/"+cfg.ID, loc, pool.GossipAddr(), strings.Join(cfg.Seeds, ","), s3URL, clusterAddr)
	return pn, nil
}

// stop gossips the member's last leadership state and leaves the pool. Call it
// once the member is closed.
func (pn *planetNode) stop() {
	pn.cancelJoin()
	<-pn.joined
	pn.announcer.close()
	leaveGossip(pn.pool, pn.logger)
}

// withStatus serves the admin API's status and replication reads under
// planetStatusPrefix, and hands every other request to next.
func (pn *planetNode) withStatus(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, planetStatusPrefix)
		if !ok || (rest != "" && rest[0] != '/') {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, adminapi.MaxBody))
		if err != nil {
			writeAdminError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: %v (at most %d bytes)", err, adminapi.MaxBody))
			return
		}
		if err := pn.verify.Verify(r.Header.Get("Authorization"), r.Method, r.URL.RequestURI(), body); err != nil {
			code := http.StatusForbidden
			if errors.Is(err, adminapi.ErrUnauthenticated) {
				code = http.StatusUnauthorized
			}
			pn.logger.Warn("status request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			writeAdminError(w, code, err.Error())
			return
		}
		op, err := adminapi.ParseRequest(r.Method, rest, body)
		switch {
		case errors.Is(err, adminapi.ErrNotFound):
			writeAdminError(w, http.StatusNotFound, err.Error())
		case errors.Is(err, adminapi.ErrMethod):
			writeAdminError(w, http.StatusMethodNotAllowed, err.Error())
		case err != nil:
			writeAdminError(w, http.StatusBadRequest, err.Error())
		case op.Kind == adminapi.OpReplication:
			writeAdminJSON(w, http.StatusOK, pn.replication(r.Context()))
		case op.Kind != adminapi.OpStatus:
			writeAdminError(w, http.StatusNotImplemented, "a planet node serves the status and its replication only: chaos controls act on the lab's emulated WAN (pangea lab)")
		default:
			writeAdminJSON(w, http.StatusOK, pn.status())
		}
	})
}

// status is the planet as this node sees it: the members its pool knows, region
// by region in topology order (raft state for itself only, leadership from
// gossip for the others), and every pair of locations with the RTT this node
// measures to the members at the other end (pairs without this node's location
// have no sample).
func (pn *planetNode) status() adminapi.Status {
	self := pn.pool.Self()
	st := adminapi.Status{Viewer: self.Name, ControlRegion: pn.topo.ControlRegion().Name}
	catalogStatus(&st, pn.sm.front.cat)
	peers := pn.pool.Peers() // sorted by name
	for _, r := range pn.topo.Regions {
		rs := adminapi.Region{Name: r.Name, Location: r.Location, Down: true}
		for _, p := range peers {
			if p.Role != routing.RoleMember || p.Region != r.Name {
				continue
			}
			ms := adminapi.Member{
				ID: strings.TrimPrefix(p.Name, r.Name+"/"), S3: p.S3Endpoint, Cluster: p.InternalAddr, Gossip: p.GossipAddr,
				Running: p.Health.Healthy(), RaftState: "-", Health: p.Health.String(), GossipLead: p.Leader,
			}
			ms.Leader = ms.Running && p.Leader
			if p.Self {
				if nm, ok := pn.sm.member.(*node.Member); ok {
					ms.RaftState = nm.Status().State
				}
				ms.Leader = pn.sm.member.Ready()
			}
			if ms.Running {
				rs.Down = false
			}
			if ms.Leader {
				rs.Leader = ms.ID
			}
			rs.Members = append(rs.Members, ms)
		}
		st.Regions = append(st.Regions, rs)
	}
	for _, p := range peers {
		if p.Role == routing.RoleEdge {
			st.Edges = append(st.Edges, adminapi.Edge{Name: p.Name, Location: p.Location, S3: p.S3Endpoint, Health: p.Health.String()})
		}
	}
	measured := rttSamples{}
	measured.add(pn.pool)
	st.Links = linkStatuses(pn.topo, pn.net, measured)
	return st
}

// edgeCmd is `pangea edge`: it parses and checks an edge's flags, then runs it
// (runEdge, edge.go).
func (c *cli) edgeCmd(ctx context.Context, args []string) int {
	fs := c.newFlagSet("edge", "Serve an edge: an S3 endpoint at --location that stores nothing, joins the planet's\n"+
		"gossip pool (--seeds) and forwards every request to the region that owns the bucket.\n"+
		"PANGEA_CLUSTER_SECRET must be the planet's.")
	e := c.getenv
	d := DefaultConfig()
	cfg := d
	cfg.AccessKey, cfg.SecretKey = e.str("PANGEA_ACCESS_KEY", d.AccessKey), e.str("PANGEA_SECRET_KEY", d.SecretKey)
	fs.StringVar(&cfg.Addr, "addr", e.str("PANGEA_ADDR", d.Addr), "S3 listen `host:port`; port 0 picks a free port (env PANGEA_ADDR)")
	fs.StringVar(&cfg.BaseDomain, "base-domain", e.str("PANGEA_BASE_DOMAIN", d.BaseDomain), "`domain` for virtual-host-style requests (env PANGEA_BASE_DOMAIN)")
	fs.StringVar(&cfg.LogLevel, "log-level", e.str("PANGEA_LOG_LEVEL", d.LogLevel), "log `level`: debug, info, warn, error (env PANGEA_LOG_LEVEL)")
	fs.StringVar(&cfg.TopologyFile, "topology", e.str("PANGEA_TOPOLOGY", ""), "YAML `file` of the planet, the same for every process (env PANGEA_TOPOLOGY; default: the built-in us-east-1, eu-west-1, ap-southeast-2)")
	fs.StringVar(&cfg.ClusterSecret, "cluster-secret", e.str("PANGEA_CLUSTER_SECRET", ""), "the planet's cluster `secret` (env PANGEA_CLUSTER_SECRET, preferred: flags show in ps)")
	if err := bindPlanetFlags(fs, e, &cfg, true); err != nil {
		fmt.Fprintf(c.stderr, "pangea edge: %v\n", err)
		return 2
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(c.stderr, "pangea edge: %v\n", err)
		return 2
	}
	topo, err := cfg.edgePlanet()
	if err != nil {
		fmt.Fprintf(c.stderr, "pangea edge: %v\n", err)
		return 2
	}
	level, _ := parseLevel(cfg.LogLevel) // validated
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
	if err := c.runEdge(ctx, cfg, topo, logger); err != nil {
		fmt.Fprintf(c.stderr, "pangea edge: %v\n", err)
		return 1
	}
	return 0
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/labfile"
	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/replication"
	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/s3api"
	"github.com/pangea-s3/pangea/s3api/auth"
)

// Server timeouts. There is deliberately no ReadTimeout or WriteTimeout: they bound
// the whole body, and a 5 GiB upload or download over a slow link must not be cut.
// An upload body that stalls or crawls is cut by the node's upload pace instead
// (--upload-min-rate, --upload-stall: node.UploadPace), whatever its length.
const (
	readHeaderTimeout = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 20 * time.Second
)

func (c *cli) serveCmd(ctx context.Context, args []string, lab bool) int {
	name, synopsis := "node", "Serve one region member: the S3 API over a raft replica of the region in --data.\n"+
		"First start of a 3-member region: --id n1 --cluster-addr 10.0.0.1:7000 --peers n1=10.0.0.1:7000,n2=...,n3=...\n"+
		"with PANGEA_CLUSTER_SECRET set on every member. Without --peers: a single-member region."
	if lab {
		name, synopsis = "lab", "Run the lab on loopback: every member of every region of a planet in this process, their links\n"+
			"delayed as between continents (default: us-east-1, eu-west-1, ap-southeast-2, 3 members each),\nand print its endpoints and credentials."
	}
	fs := c.newFlagSet(name, synopsis)
	cfg, err := bindServeFlags(fs, c.getenv, lab)
	if err != nil {
		fmt.Fprintf(c.stderr, "pangea %s: %v\n", name, err)
		return 2
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "regions" || f.Name == "nodes-per-region" {
			cfg.sizeFlags = append(cfg.sizeFlags, f.Name)
		}
	})
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(c.stderr, "pangea %s: %v\n", name, err)
		return 2
	}
	var topo *topology.Topology
	if lab {
		topo, err = cfg.labTopology()
	} else {
		topo, err = cfg.nodePlanet() // nil: a node outside any planet
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "pangea %s: %v\n", name, err)
		return 2
	}
	if err := c.serve(ctx, *cfg, lab, topo); err != nil {
		fmt.Fprintf(c.stderr, "pangea %s: %v\n", name, err)
		return 1
	}
	return 0
}

// serve runs a region member (node; in topo's planet if topo is set) or the lab's
// planet (topo) until ctx ends, then stops gracefully: new connections are
// refused, requests in flight get shutdownTimeout to finish, a leading member
// hands leadership over, then every member is closed.
func (c *cli) serve(ctx context.Context, cfg Config, lab bool, topo *topology.Topology) error {
	level, _ := parseLevel(cfg.LogLevel) // validated
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
	mode := "node"
	if lab {
		mode = "lab"
		if cfg.ClusterSecret == "" {
			var b [24]byte
			rand.Read(b[:])
			cfg.ClusterSecret = hex.EncodeToString(b[:])
		}
	}
	fmt.Fprintf(c.stdout, "pangea %s: %s\n", mode, cfg.redacted(lab))
	if err := cfg.loadServerTLS(); err != nil {
		return err
	}
	inProcess := 1 // members served by this process
	if lab {
		inProcess = 0
		for _, r := range topo.Regions {
			inProcess += r.Members
		}
		if n, ok := labProcs(c.getenv("GOMAXPROCS"), runtime.NumCPU(), inProcess); ok {
			prev := runtime.GOMAXPROCS(n)
			defer runtime.GOMAXPROCS(prev)
			logger.Info("GOMAXPROCS raised for the lab's members", "gomaxprocs", n, "override", "GOMAXPROCS")
		}
	}
	defer memoryPolicy(cfg, inProcess, c.getenv, logger)()
	trimCtx, stopTrim := context.WithCancel(ctx)
	defer stopTrim()
	go newIdleTrimmer().run(trimCtx, trimEvery, logger)

	if cfg.DebugAddr != "" {
		stop, err := serveDebug(cfg.DebugAddr, logger)
		if err != nil {
			return err
		}
		defer stop()
	}

	// A lab.json left by a process that died names a port nobody listens on.
	if err := labfile.Remove(cfg.DataDir); err != nil {
		return err
	}
	var (
		members []*servedMember
		pl      *planet
		err     error
	)
	if lab {
		pl, err = startPlanet(ctx, cfg, topo, logger)
		if err == nil {
			members = pl.served()
		}
	} else {
		var m *servedMember
		if cfg.Standalone {
			m, err = startStandalone(cfg, logger)
		} else if topo != nil {
			var pn *planetNode
			if pn, err = c.startPlanetNode(ctx, cfg, topo, logger); err == nil {
				m = pn.sm
				defer pn.stop() // after stopMembers, deferred below: the member's last event goes out
			}
		} else {
			mc := memberConfig(cfg, logger)
			m, err = startMember(func() (regionMember, error) { return node.OpenMember(mc) }, mc.ID, cfg.Addr, cfg, logger)
		}
		members = []*servedMember{m}
	}
	if err != nil {
		return err
	}
	served := make(chan error, len(members))
	if lab {
		served = pl.errs // the planet serves its members, restarted ones too
		defer pl.stop()
	} else {
		for _, m := range members {
			go func() { served <- m.serve() }()
		}
		defer stopMembers(members, logger, true)
	}

	var lf labfile.File
	if lab {
		lf = pl.labFile(cfg)
		addr := cfg.AdminAddr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		admin, err := startAdmin(addr, pl, cfg.ClusterSecret, logger)
		if err != nil {
			return err
		}
		defer admin.close() // before the planet stops (deferred earlier)
		lf.Admin = admin.URL()
		lf.AccountID = s3api.AccountID
		lf.TLSCA = cfg.tlsCAFile
		if cfg.ProxyAddr != "" {
			px, err := startMRAPProxy(ctx, proxyConfig{Addr: cfg.ProxyAddr, CADir: filepath.Join(cfg.DataDir, "proxy-ca"),
				Target: lf.Endpoints.Global, Logger: logger})
			if err != nil {
				return err
			}
			defer px.Close()
			lf.Proxy, lf.CABundle = px.URL(), px.CAFile()
		}
		names := slices.Clone(pl.topo.MRAPs)
		if cfg.LabMRAP != "" && !slices.Contains(names, cfg.LabMRAP) {
			names = append(names, cfg.LabMRAP)
		}
		for _, name := range names {
			m, err := setupLabMRAP(ctx, pl, cfg, lf, name, c.stdout)
			if err != nil {
				return fmt.Errorf("%w (the lab's regions did not answer in time; see the log above, or start without --mrap or the topology's mraps)", err)
			}
			lf.MRAPs = append(lf.MRAPs, m)
		}
	} else {
		lf = labfile.File{
			Endpoints: labfile.Endpoints{Global: members[0].url, Regions: map[string][]string{cfg.Region: {members[0].url}}},
			AccessKey: cfg.AccessKey,
			SecretKey: cfg.SecretKey,
		}
		if !cfg.Standalone { // a standalone node has no cluster address
			lf.ClusterAddrs = map[string][]string{cfg.Region: {members[0].member.ClusterAddr()}}
		}
	}
	if err := labfile.Write(cfg.DataDir, lf); err != nil {
		return err
	}
	defer func() {
		if err := labfile.Remove(cfg.DataDir); err != nil {
			logger.Warn("remove lab.json", "err", err)
		}
	}()
	logger.Info("listening", "endpoints", lf.Endpoints.Regions, "lab_json", labfile.Path(cfg.DataDir))
	switch {
	case lab:
		c.printBanner(cfg, pl, lf)
	case cfg.Standalone:
		fmt.Fprintf(c.stdout, "pangea node: serving %s on %s (standalone, no raft; lab.json: %s)\n",
			cfg.Region, members[0].url, labfile.Path(cfg.DataDir))
	default:
		fmt.Fprintf(c.stdout, "pangea node: serving %s on %s (member %s, cluster address %s; lab.json: %s)\n",
			cfg.Region, members[0].url, cfg.ID, members[0].member.ClusterAddr(), labfile.Path(cfg.DataDir))
	}

	// A lab's member that halts stays down (the others go on, as in a real region);
	// a node's halt ends the process: with status 1 after a storage failure, so that
	// its supervisor restarts it, and 0 once the region has removed it.
	var halted <-chan struct{}
	if !lab {
		halted = members[0].member.Halted()
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
		return nil
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-halted:
		if errors.Is(members[0].member.HaltErr(), node.ErrRemoved) {
			fmt.Fprintf(c.stdout, "pangea node: member %s was removed from region %s; exiting. To serve again, clear %s and start it with --join, then pangea ctl add it\n",
				cfg.ID, cfg.Region, cfg.DataDir)
			return nil
		}
		if herr := members[0].member.HaltErr(); errors.Is(herr, node.ErrUnreadableEntry) {
			return fmt.Errorf("member %s stopped: %w; its region runs a newer Pangea: install that version, then start pangea node again: it replays its raft log from that entry",
				cfg.ID, herr)
		}
		return fmt.Errorf("member %s stopped after a storage failure: %w; fix the disk (free space, permissions, I/O errors in the system log), then start pangea node again: it replays its raft log and catches up with the region",
			cfg.ID, members[0].member.HaltErr())
	}
}

// regionMember is what serving needs of a member: node.Member, or node.Local
// (standalone) through the standalone adapter.
type regionMember interface {
	s3api.Backend
	ClusterAddr() string
	Ready() bool
	TransferLeadership() error
	// Halted is closed when the member stopped by itself (HaltErr says why).
	Halted() <-chan struct{}
	HaltErr() error
	Close() error
}

var (
	_ regionMember = (*node.Member)(nil)
	_ regionMember = standalone{}
)

// standalone adapts node.Local: no cluster, always ready, nobody to hand over to.
type standalone struct{ *node.Local }

func (standalone) ClusterAddr() string       { return "" }
func (standalone) Ready() bool               { return true }
func (standalone) TransferLeadership() error { return nil }
func (standalone) Halted() <-chan struct{}   { return nil } // store errors fail requests, not the node
func (standalone) HaltErr() error            { return nil }

// startStandalone opens node.Local in the data folder and binds its S3 endpoint.
func startStandalone(cfg Config, logger *slog.Logger) (*servedMember, error) {
	open := func() (regionMember, error) {
		l, err := node.OpenLocal(localConfig(cfg, logger))
		if err != nil {
			return nil, err
		}
		return standalone{l}, nil
	}
	return startMember(open, cfg.ID, cfg.Addr, cfg, logger)
}

// servedMember is a region member with its S3 endpoint.
type servedMember struct {
	member regionMember
	srv    *http.Server
	ln     net.Listener
	url    string
	// metrics is what the endpoint serves at s3api.MetricsPath (metrics.go).
	metrics *memberMetrics
	// s3 is the S3 front end; front, in a planet, its catalog and resolver
	// (closed with the member), nil outside one.
	s3    *s3api.Server
	front *planetFront
	// tracker follows the member's replication (RTC metrics and events) in a
	// planet, nil outside one.
	tracker *replication.Tracker
}

func (m *servedMember) serve() error {
	var err error
	if m.srv.TLSConfig != nil {
		err = m.srv.ServeTLS(m.ln, "", "") // HTTPS, and HTTP/2 for the clients that offer it
	} else {
		err = m.srv.Serve(m.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// memberConfig is the node.MemberConfig of `pangea node`.
func memberConfig(cfg Config, logger *slog.Logger) node.MemberConfig {
	clusterAddr := cfg.ClusterAddr
	if clusterAddr == "" {
		clusterAddr = "127.0.0.1:0"
		for _, p := range cfg.Peers {
			if p.ID == cfg.ID {
				clusterAddr = p.Addr
			}
		}
	}
	return node.MemberConfig{
		Dir: cfg.DataDir, Region: cfg.Region, ID: cfg.ID,
		ClusterAddr: clusterAddr, Peers: cfg.Peers, Join: cfg.Join, Secret: cfg.ClusterSecret,
		Logger: logger, NoSync: cfg.NoFsync, Upload: cfg.uploadPace(),
	}
}

// localConfig is the node.LocalConfig of `pangea node --standalone`.
func localConfig(cfg Config, logger *slog.Logger) node.LocalConfig {
	return node.LocalConfig{Dir: cfg.DataDir, Region: cfg.Region, Logger: logger, NoSync: cfg.NoFsync, Upload: cfg.uploadPace()}
}

// startMember opens a member and binds its S3 endpoint on s3Addr (not yet serving).
func startMember(open func() (regionMember, error), id, s3Addr string, cfg Config, logger *slog.Logger) (*servedMember, error) {
	m, err := open()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", s3Addr)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("listen on %s: %w (is another process using the port? pick another with --addr)", s3Addr, err)
	}
	return newServedMember(m, id, ln, cfg, logger, nil), nil
}

// startMemberOn opens a member for the S3 endpoint already bound on ln (not yet
// serving); ln is closed if the member does not open.
func startMemberOn(open func() (regionMember, error), id string, ln net.Listener, cfg Config, logger *slog.Logger) (*servedMember, error) {
	m, err := open()
	if err != nil {
		ln.Close()
		return nil, err
	}
	return newServedMember(m, id, ln, cfg, logger, nil), nil
}

// newServedMember puts member m behind the S3 API on ln, for cfg.Region.
func newServedMember(m regionMember, id string, ln net.Listener, cfg Config, logger *slog.Logger, front *planetFront) *servedMember {
	mm, mlog := newMemberMetrics(m), logger.With("member", id)
	sc := s3api.Config{
		Region:         cfg.Region,
		BaseDomain:     cfg.BaseDomain,
		Credentials:    auth.StaticCredentials{cfg.AccessKey: cfg.SecretKey},
		Logger:         mlog,
		Metrics:        mm.s3,
		MetricsHandler: mm.handler(mlog),
	}
	if front != nil {
		front.configure(&sc)
	}
	handler := s3api.New(sc, m)
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if cfg.serverTLS != nil {
		srv.TLSConfig = cfg.serverTLS.Clone()
	}
	return &servedMember{member: m, srv: srv, ln: ln, url: cfg.endpoint(ln.Addr()), metrics: mm, s3: handler, front: front}
}

// labLeaderWait bounds how long the lab waits for its regions to elect a leader
// before announcing itself (requests would wait for one anyway).
const labLeaderWait = 10 * time.Second

// stopMembers shuts the S3 endpoints down gracefully, hands leadership over if
// asked (a lone production member whose peers keep serving), and closes the members.
func stopMembers(members []*servedMember, logger *slog.Logger, transfer bool) {
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, m := range members {
		if err := m.srv.Shutdown(sctx); err != nil {
			logger.Warn("graceful shutdown incomplete, closing connections", "err", err)
			m.srv.Close()
		}
	}
	for _, m := range members {
		if transfer {
			if err := m.member.TransferLeadership(); err != nil {
				logger.Warn("leadership transfer", "err", err)
			}
		}
		if m.front != nil {
			m.front.close()
		}
		if err := m.member.Close(); err != nil {
			logger.Error("close member", "err", err)
		}
	}
	logger.Info("stopped")
}

// endpointURL turns the bound address into a URL clients can reach: a wildcard
// listen address is reached through loopback.
func endpointURL(a net.Addr) string {
	host, port := "127.0.0.1", "0"
	if t, ok := a.(*net.TCPAddr); ok {
		port = strconv.Itoa(t.Port)
		if !t.IP.IsUnspecified() {
			host = t.IP.String()
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

func (c *cli) printBanner(cfg Config, pl *planet, lf labfile.File) {
	labJSON := labfile.Path(cfg.DataDir)
	if abs, err := filepath.Abs(labJSON); err == nil {
		labJSON = abs
	}
	var b strings.Builder
	members := 0
	for _, r := range pl.regions {
		members += len(r.members)
	}
	fmt.Fprintf(&b, "\n  Pangea lab is running: %d region(s), %d members, in this process.\n\n", len(pl.regions), members)
	for i, r := range pl.regions {
		role := ""
		if i == 0 {
			role = ", control region"
		}
		fmt.Fprintf(&b, "    region %s (at %s%s) with %d members\n", r.Name, r.Location, role, len(r.members))
		for _, m := range r.members {
			fmt.Fprintf(&b, "      %-4s %s   cluster %s\n", m.id, m.url, m.member.ClusterAddr())
		}
	}
	if len(lf.Edges) > 0 {
		b.WriteString("\n    edges (store nothing; send each request to its bucket's region)\n")
		for _, e := range lf.Edges {
			fmt.Fprintf(&b, "      %-20s %s   at %s\n", e.Name, e.URL, e.Location)
		}
	}
	if len(pl.topo.Links) > 0 {
		b.WriteString("\n    emulated round-trip times (raft, gRPC, gossip and forwarded requests between locations pay them)\n")
		for _, l := range pl.topo.Links {
			fmt.Fprintf(&b, "      %-16s <-> %-16s %v\n", l.Between[0], l.Between[1], l.RTT)
		}
	}
	region0 := pl.regions[0].Name
	url := lf.Endpoints.Global
	where := region0 + " n1"
	if len(lf.Edges) > 0 {
		where = "the edge at " + lf.Edges[0].Location
	}
	fmt.Fprintf(&b, `
    endpoint     %s  (%s)
    access key   %s
    secret key   %s
    lab.json     %s

  One bucket namespace: a bucket lives in one region (its LocationConstraint, by
  default the region of the endpoint that created it, the control region through
  an edge), and every endpoint serves every bucket, forwarding to its region.
  Sign requests for the bucket's region.

  Try it:

    export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=%s
    aws --endpoint-url %s s3 mb s3://my-bucket
    aws --endpoint-url %s s3 cp ./some-file s3://my-bucket/
    aws --endpoint-url %s s3 ls s3://my-bucket

  Planet status: pangea ctl --lab %s status   (chaos: latency, partition, heal, region-down, ...)
  Region status: pangea ctl --cluster-addr %s --cluster-secret <cluster_secret from lab.json> status
  Readiness:     curl %s%s  (every member answers it)

`, url, where, cfg.AccessKey, cfg.SecretKey, labJSON,
		cfg.AccessKey, cfg.SecretKey, region0, url, url, url, cfg.DataDir, lf.ClusterAddrs[region0][0], url, s3api.HealthReadyPath)
	for _, m := range lf.MRAPs {
		fmt.Fprintf(&b, `  Multi-Region Access Point %s (account %s):
    ARN     %s
    alias   %s  (as a bucket, path style, signed with SigV4, through any endpoint:
            aws --endpoint-url %s s3 ls s3://%s)

`, m.Name, lf.AccountID, m.ARN, m.Alias, url, m.Alias)
	}
	if lf.TLSCA != "" {
		fmt.Fprintf(&b, `  HTTPS (and HTTP/2): the endpoints' certificate chains to the lab's CA:
    export AWS_CA_BUNDLE=%s     (curl --cacert, boto3 verify=, Go RootCAs)

`, lf.TLSCA)
	}
	if lf.Proxy != "" {
		fmt.Fprintf(&b, `  Proxy mode (unmodified clients: MRAP ARNs, SigV4A, S3 Control; docs/mrap-clients.md):
    export HTTPS_PROXY=%s AWS_CA_BUNDLE=%s NO_PROXY=127.0.0.1,localhost

`, lf.Proxy, lf.CABundle)
	}
	b.WriteString("  Press Ctrl-C to stop.\n\n")
	fmt.Fprint(c.stdout, b.String())
}

// serveDebug serves Go's profiler on addr until the returned stop is called.
func serveDebug(addr string, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listener on %s (--debug-addr): %w", addr, err)
	}
	// No /debug/pprof/cmdline: the command line can hold --cluster-secret.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	go srv.Serve(ln)
	logger.Info("profiler listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { srv.Close() }, nil
}

// labProcs is the GOMAXPROCS of a lab running members in one process: as many Ps
// as the members would have as separate processes (CPUs x members), unless the
// GOMAXPROCS variable is set (ok false: leave it). Each member blocks in fdatasync
// in its raft log, its store and its flusher; a goroutine in a blocking syscall
// keeps its P until the runtime takes it back, so with only one P per CPU for three
// members the runnable work waits behind the disk. Measured on 2 CPUs (4 KiB PUT,
// load spread over 3 members): 6 Ps against 2 gave +28% at 16 clients and +30% at
// 128; a single member per process gains little, so pangea node keeps Go's default.
func labProcs(env string, cpus, members int) (int, bool) {
	if env != "" {
		return 0, false
	}
	return max(cpus, cpus*members), true
}

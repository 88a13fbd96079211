package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/storage"
)

// Config is the configuration of `pangea node` and `pangea lab`.
type Config struct {
	DataDir    string // where the store and lab.json live
	Addr       string // HOST:PORT to listen on; port 0 picks a free port
	Region     string // the region this node serves
	BaseDomain string // virtual-host-style requests: <bucket>.<BaseDomain>
	LogLevel   string // debug, info, warn, error
	NoFsync    bool   // skip fsync: faster, loses acknowledged writes on power loss
	AccessKey  string
	SecretKey  string
	// DebugAddr, if set, serves Go's profiler (/debug/pprof/) on HOST:PORT.
	DebugAddr string
	// AdminAddr is where the lab serves its admin API (chaos controls and
	// status, signed with the cluster secret): loopback only; port 0 picks one.
	AdminAddr string

	// Region membership (node): this member's raft ID, its cluster address (raft and
	// gRPC, one port), the static peer list of the region's first start (self
	// included; empty: a single-member region), whether it joins an existing region,
	// and the cluster secret every internal connection must prove.
	ID            string
	ClusterAddr   string
	Peers         []node.Peer
	Join          bool
	ClusterSecret string
	// Standalone serves one node without raft (node.Local): the fastest single
	// node, but it cannot later grow into a region.
	Standalone bool

	// UploadMinRate (bytes per second; 0: no minimum) and UploadStall: an upload
	// that falls further than UploadStall behind UploadMinRate is cut with 400
	// RequestTimeout (node.UploadPace).
	UploadMinRate int64
	UploadStall   time.Duration

	// GCPercent and MemoryLimit set the process's garbage collector (memory.go):
	// GCPercent as GOGC does; MemoryLimit a soft limit in bytes, 0 for the memory
	// formula (autoMemoryLimit), -1 for none. GOGC and GOMEMLIMIT in the
	// environment win over both.
	GCPercent   int
	MemoryLimit int64

	// RTCThreshold is the replication time threshold of rules with
	// ReplicationTime enabled (S3's is 15 minutes; tests and demos lower it).
	RTCThreshold time.Duration
	// MRAPRouteDelay is how long an MRAP route change takes to apply in each
	// process (AWS: up to 2 minutes).
	MRAPRouteDelay time.Duration
	// LabMRAP, for pangea lab, names an MRAP to make at start-up over a bucket
	// in every region (labmrap.go); "" for none.
	LabMRAP string
	// TLSCert and TLSKey are the S3 endpoints' certificate and key (PEM files):
	// they speak HTTPS (and HTTP/2) instead of HTTP. LabTLS, for pangea lab,
	// mints a certificate from a CA kept in the data directory instead.
	TLSCert, TLSKey string
	LabTLS          bool
	// serverTLS is the endpoints' TLS configuration (loadServerTLS), nil for
	// plain HTTP; tlsCAFile the lab's CA certificate file.
	serverTLS *tls.Config
	tlsCAFile string
	// ProxyAddr, for pangea lab, is where proxy mode listens (proxy.go): an
	// HTTPS proxy for AWS S3 and S3 Control host names with a generated CA, so
	// that unmodified clients reach the lab; "" for none.
	ProxyAddr string

	// Lab only: the planet is TopologyFile's, or else Regions regions of the
	// built-in catalog with NodesPerRegion members each (each member with its own
	// S3 endpoint). sizeFlags names those of --regions and --nodes-per-region
	// given on the command line, which a topology file excludes.
	NodesPerRegion int
	Regions        int
	TopologyFile   string
	sizeFlags      []string

	// Planet mode (node with Seeds, and edge; nodeplanet.go): the location the
	// process stands at (node default: its region's in the topology), the gossip
	// addresses of other processes to join, the gossip bind address (node
	// default: the cluster address's host, port 7946) and the S3 endpoint URL the
	// others are told (default: from the S3 listen address). TopologyFile is the
	// planet's (default: topology.Default).
	Location    string
	Seeds       []string
	GossipAddr  string
	AdvertiseS3 string

	// replicaApplied, if set, is told by the lab's members (planet.go) of each
	// version their receiver stored in region, replicated from source
	// (node.MemberConfig.ReplicaApplied): `pangea bench replication` measures lag
	// with it. Nil everywhere else.
	replicaApplied func(region, source string, v storage.ObjectVersion, at time.Time)
}

// DefaultConfig returns the defaults: a lab on 127.0.0.1:9000 with data in
// ./pangea-data and the well-known lab credentials.
func DefaultConfig() Config {
	return Config{
		DataDir:    "./pangea-data",
		Addr:       "127.0.0.1:9000",
		Region:     "us-east-1",
		BaseDomain: "localhost",
		LogLevel:   "info",
		AccessKey:  "pangea",
		SecretKey:  "pangea-secret",

		UploadMinRate: node.DefaultUploadMinRate,
		UploadStall:   node.DefaultUploadStall,
		GCPercent:     defaultGCPercent,
		RTCThreshold:  15 * time.Minute,

		MRAPRouteDelay: time.Second,

		ID:             "n1",
		NodesPerRegion: 3,
		Regions:        3,
	}
}

// Validate reports the first problem with c, saying what to change.
func (c Config) Validate() error {
	if strings.TrimSpace(c.DataDir) == "" {
		return errors.New("data directory is empty: pass --data DIR or set PANGEA_DATA")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("listen address %q: want HOST:PORT such as 127.0.0.1:9000 (--addr or PANGEA_ADDR)", c.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("listen address %q: port must be a number 0-65535 (0 picks a free port)", c.Addr)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Errorf("listen address %q: host %q is neither an IP address nor a host name", c.Addr, host)
	}
	if !validRegion(c.Region) {
		return fmt.Errorf("region %q: use lower-case letters, digits and hyphens, such as us-east-1 (--region or PANGEA_REGION)", c.Region)
	}
	if !validHostname(c.BaseDomain) {
		return fmt.Errorf("base domain %q: want a host name such as localhost or s3.example.internal (--base-domain or PANGEA_BASE_DOMAIN)", c.BaseDomain)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.AccessKey == "" || strings.ContainsAny(c.AccessKey, " /\t\n") {
		return fmt.Errorf("access key %q: must be non-empty without spaces or slashes (PANGEA_ACCESS_KEY)", c.AccessKey)
	}
	if c.SecretKey == "" {
		return errors.New("secret key is empty: set PANGEA_SECRET_KEY")
	}
	if !validMemberID(c.ID) {
		return fmt.Errorf("member id %q: use letters, digits, '-' and '_' (--id or PANGEA_ID)", c.ID)
	}
	if c.ClusterAddr != "" {
		if _, port, err := net.SplitHostPort(c.ClusterAddr); err != nil {
			return fmt.Errorf("cluster address %q: want HOST:PORT (--cluster-addr or PANGEA_CLUSTER_ADDR)", c.ClusterAddr)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("cluster address %q: port must be a number 0-65535", c.ClusterAddr)
		}
	}
	if c.DebugAddr != "" {
		host, _, err := net.SplitHostPort(c.DebugAddr)
		if err != nil {
			return fmt.Errorf("debug address %q: want HOST:PORT such as 127.0.0.1:6060 (--debug-addr or PANGEA_DEBUG_ADDR)", c.DebugAddr)
		}
		if !loopbackHost(host) {
			return fmt.Errorf("debug address %q: the profiler has no authentication, so it listens on loopback only (127.0.0.1, ::1 or localhost); reach it from elsewhere through an SSH tunnel", c.DebugAddr)
		}
	}
	if c.AdminAddr != "" {
		host, _, err := net.SplitHostPort(c.AdminAddr)
		if err != nil {
			return fmt.Errorf("admin address %q: want HOST:PORT such as 127.0.0.1:0 (--admin-addr or PANGEA_ADMIN_ADDR)", c.AdminAddr)
		}
		if !loopbackHost(host) {
			return fmt.Errorf("admin address %q: the lab's admin API listens on loopback only (127.0.0.1, ::1 or localhost)", c.AdminAddr)
		}
	}
	if c.GCPercent < 10 {
		return fmt.Errorf("gc percent %d: want 10 or more (--gc-percent or PANGEA_GC_PERCENT)", c.GCPercent)
	}
	if c.MemoryLimit < -1 {
		return fmt.Errorf("memory limit %d: want a size, auto or none (--memory-limit or PANGEA_MEMORY_LIMIT)", c.MemoryLimit)
	}
	if c.UploadMinRate < 0 {
		return fmt.Errorf("upload minimum rate %d: want bytes per second, 0 for no minimum (--upload-min-rate or PANGEA_UPLOAD_MIN_RATE)", c.UploadMinRate)
	}
	if c.UploadStall <= 0 {
		return fmt.Errorf("upload stall %v: want a duration such as 20s (--upload-stall or PANGEA_UPLOAD_STALL)", c.UploadStall)
	}
	if c.LabMRAP != "" && !topology.ValidLabMRAPName(c.LabMRAP) {
		return fmt.Errorf("MRAP name %q: want 3 to 50 characters of a-z, 0-9 and -, not starting or ending with - (--mrap or PANGEA_LAB_MRAP)", c.LabMRAP)
	}
	if c.MRAPRouteDelay < 0 {
		return fmt.Errorf("MRAP route delay %v: want a duration, 0 or more (--mrap-route-delay or PANGEA_MRAP_ROUTE_DELAY)", c.MRAPRouteDelay)
	}
	if c.RTCThreshold <= 0 {
		return fmt.Errorf("replication time threshold %v: want a duration such as 15m, S3's (--rtc-threshold or PANGEA_RTC_THRESHOLD)", c.RTCThreshold)
	}
	if c.Standalone && (len(c.Peers) > 0 || c.Join || c.ClusterAddr != "") {
		return errors.New("--standalone runs without raft: drop --peers, --join and --cluster-addr, or drop --standalone to run a region member")
	}
	if len(c.Peers) > 0 {
		self := false
		for _, p := range c.Peers {
			self = self || p.ID == c.ID
		}
		if !self && !c.Join {
			return fmt.Errorf("--peers must include this member's id %q (or pass --join to join an existing region)", c.ID)
		}
	}
	if (len(c.Peers) > 1 || c.Join) && c.ClusterSecret == "" {
		return errors.New("a region of several members needs a cluster secret: set PANGEA_CLUSTER_SECRET or --cluster-secret")
	}
	if c.NodesPerRegion < 1 || c.NodesPerRegion > 9 {
		return fmt.Errorf("nodes per region %d: use 1 to 9 (--nodes-per-region)", c.NodesPerRegion)
	}
	if c.Regions < 1 || c.Regions > maxLabRegions {
		return fmt.Errorf("regions %d: use 1 to %d (--regions; other shapes need --topology FILE)", c.Regions, maxLabRegions)
	}
	if c.TopologyFile != "" && len(c.sizeFlags) > 0 {
		return fmt.Errorf("--%s cannot be combined with --topology: the topology file gives the regions and their members", c.sizeFlags[0])
	}
	return nil
}

// maxLabRegions is the size of topology.Sized's built-in catalog.
const maxLabRegions = 8

// labTopology is the lab's planet: the topology file's, else the built-in
// catalog's first Regions regions of NodesPerRegion members (topology.Default
// with the default flags).
func (c Config) labTopology() (*topology.Topology, error) {
	if c.TopologyFile != "" {
		t, err := topology.Load(c.TopologyFile)
		if err != nil {
			return nil, fmt.Errorf("--topology: %w", err)
		}
		return t, nil
	}
	t, err := topology.Sized(c.Regions, c.NodesPerRegion)
	if err != nil {
		return nil, fmt.Errorf("--regions %d --nodes-per-region %d: %w", c.Regions, c.NodesPerRegion, err)
	}
	return t, nil
}

// uploadPace is the node's UploadPace: a minimum rate of 0 means none.
func (c Config) uploadPace() node.UploadPace {
	p := node.UploadPace{MinRate: c.UploadMinRate, Stall: c.UploadStall}
	if p.MinRate == 0 {
		p.MinRate = -1
	}
	return p
}

// loopbackHost reports whether host names only this machine: "localhost" or a
// loopback IP. The empty host (all interfaces) is not.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validMemberID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// parsePeers parses "id=host:port,id=host:port".
func parsePeers(s string) ([]node.Peer, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []node.Peer
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || !validMemberID(id) {
			return nil, fmt.Errorf("peer %q: want id=host:port", item)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("peer %q: address %q is not host:port", item, addr)
		}
		if seen[id] {
			return nil, fmt.Errorf("peer %q listed twice", id)
		}
		seen[id] = true
		out = append(out, node.Peer{ID: id, Addr: addr})
	}
	return out, nil
}

// peersFlag is --peers: a comma list parsed as it is set.
type peersFlag struct{ p *[]node.Peer }

func (f peersFlag) String() string {
	if f.p == nil {
		return ""
	}
	var parts []string
	for _, p := range *f.p {
		parts = append(parts, p.ID+"="+p.Addr)
	}
	return strings.Join(parts, ",")
}

func (f peersFlag) Set(v string) error {
	ps, err := parsePeers(v)
	if err != nil {
		return err
	}
	*f.p = ps
	return nil
}

// Redacted renders c for the start-up log with the secret hidden.
func (c Config) Redacted() string { return c.redacted(false) }

// redacted is Redacted for a node, or for the lab (only the fields a lab uses).
func (c Config) redacted(lab bool) string {
	fsync := "on"
	if c.NoFsync {
		fsync = "off"
	}
	secret := "<none>"
	if c.ClusterSecret != "" {
		secret = "<redacted>"
	}
	limit := "auto"
	if c.MemoryLimit != 0 {
		limit = formatLimit(c.MemoryLimit)
	}
	common := fmt.Sprintf("data=%s addr=%s region=%s base_domain=%s log_level=%s fsync=%s upload_min_rate=%d upload_stall=%v gc_percent=%d memory_limit=%s access_key=%s secret_key=<redacted>",
		c.DataDir, c.Addr, c.Region, c.BaseDomain, c.LogLevel, fsync, c.UploadMinRate, c.UploadStall, c.GCPercent, limit, c.AccessKey)
	if lab {
		if c.TopologyFile != "" {
			return common + fmt.Sprintf(" topology=%s cluster_secret=%s", c.TopologyFile, secret)
		}
		return common + fmt.Sprintf(" regions=%d nodes_per_region=%d cluster_secret=%s", c.Regions, c.NodesPerRegion, secret)
	}
	if c.Standalone {
		return common + " standalone=true"
	}
	return common + fmt.Sprintf(" id=%s cluster_addr=%s peers=%s join=%v cluster_secret=%s",
		c.ID, c.ClusterAddr, peersFlag{&c.Peers}.String(), c.Join, secret)
}

func validRegion(s string) bool {
	if s == "" || len(s) > 63 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: use debug, info, warn or error (--log-level or PANGEA_LOG_LEVEL)", s)
	}
	return l, nil
}

// env reads PANGEA_* variables for flag defaults. Flags given on the command line
// win over the environment, which wins over the built-in defaults.
type env func(string) string

func (e env) str(name, def string) string {
	if v := e(name); v != "" {
		return v
	}
	return def
}

// boolean returns the variable as a bool; a malformed value is an error rather
// than silently false, since these switches trade durability for speed.
func (e env) boolean(name string, def bool) (bool, error) {
	v := e(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", name, v)
	}
	return b, nil
}

// int64 returns the variable as an integer; a malformed value is an error.
func (e env) int64(name string, def int64) (int64, error) {
	v := e(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a whole number", name, v)
	}
	return n, nil
}

// duration returns the variable as a duration; a malformed value is an error.
func (e env) duration(name string, def time.Duration) (time.Duration, error) {
	v := e(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a duration such as 20s", name, v)
	}
	return d, nil
}

// bindServeFlags registers the flags shared by `node` and `lab` on fs, with
// defaults from the environment, and returns the config they fill. lab mode
// omits the flags a lab fixes itself.
func bindServeFlags(fs *flag.FlagSet, e env, lab bool) (*Config, error) {
	d := DefaultConfig()
	c := &Config{AccessKey: e.str("PANGEA_ACCESS_KEY", d.AccessKey), SecretKey: e.str("PANGEA_SECRET_KEY", d.SecretKey)}
	noFsync, err := e.boolean("PANGEA_NO_FSYNC", d.NoFsync)
	if err != nil {
		return nil, err
	}
	fs.StringVar(&c.DataDir, "data", e.str("PANGEA_DATA", d.DataDir), "data `directory` (env PANGEA_DATA)")
	fs.StringVar(&c.Addr, "addr", e.str("PANGEA_ADDR", d.Addr), "listen `host:port`; port 0 picks a free port (env PANGEA_ADDR)")
	fs.StringVar(&c.LogLevel, "log-level", e.str("PANGEA_LOG_LEVEL", d.LogLevel), "log `level`: debug, info, warn, error (env PANGEA_LOG_LEVEL)")
	fs.BoolVar(&c.NoFsync, "no-fsync", noFsync, "do not fsync writes: faster, but a crash can lose acknowledged writes (env PANGEA_NO_FSYNC)")
	fs.StringVar(&c.DebugAddr, "debug-addr", e.str("PANGEA_DEBUG_ADDR", ""), "serve Go's profiler (/debug/pprof/) on `host:port`, loopback only (env PANGEA_DEBUG_ADDR)")
	minRate, err := e.int64("PANGEA_UPLOAD_MIN_RATE", d.UploadMinRate)
	if err != nil {
		return nil, err
	}
	stall, err := e.duration("PANGEA_UPLOAD_STALL", d.UploadStall)
	if err != nil {
		return nil, err
	}
	fs.Int64Var(&c.UploadMinRate, "upload-min-rate", minRate, "slowest upload in `bytes` per second, 0 for none: one further behind it than --upload-stall is cut with 400 RequestTimeout (env PANGEA_UPLOAD_MIN_RATE)")
	fs.DurationVar(&c.UploadStall, "upload-stall", stall, "how far an upload may fall behind --upload-min-rate, so how long it may send nothing (env PANGEA_UPLOAD_STALL)")
	rtc, err := e.duration("PANGEA_RTC_THRESHOLD", d.RTCThreshold)
	if err != nil {
		return nil, err
	}
	routeDelay, err := e.duration("PANGEA_MRAP_ROUTE_DELAY", d.MRAPRouteDelay)
	if err != nil {
		return nil, err
	}
	fs.DurationVar(&c.MRAPRouteDelay, "mrap-route-delay", routeDelay, "how long a change of a multi-region access point's routes (SubmitMultiRegionAccessPointRoutes) takes to apply in each process; AWS takes up to 2m (env PANGEA_MRAP_ROUTE_DELAY)")
	fs.DurationVar(&c.RTCThreshold, "rtc-threshold", rtc, "replication time threshold of rules with ReplicationTime: an operation not replicated within it is OperationMissedThreshold (S3's is 15m; lower it to see the events) (env PANGEA_RTC_THRESHOLD)")
	fs.StringVar(&c.TLSCert, "tls-cert", e.str("PANGEA_TLS_CERT", ""), "PEM `file` of the S3 endpoints' TLS certificate (chain): with --tls-key they speak HTTPS and HTTP/2 (env PANGEA_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", e.str("PANGEA_TLS_KEY", ""), "PEM `file` of its private key (env PANGEA_TLS_KEY)")
	gcPercent, err := e.int64("PANGEA_GC_PERCENT", int64(d.GCPercent))
	if err != nil {
		return nil, err
	}
	c.MemoryLimit, err = parseMemoryLimit(e.str("PANGEA_MEMORY_LIMIT", "auto"))
	if err != nil {
		return nil, fmt.Errorf("PANGEA_MEMORY_LIMIT=%w", err)
	}
	fs.IntVar(&c.GCPercent, "gc-percent", int(gcPercent), "the collector's pace as GOGC: the heap may grow this `percent` over the live heap, up to --memory-limit (env PANGEA_GC_PERCENT; GOGC wins)")
	fs.Func("memory-limit", "soft memory `limit` of the process: auto (48MiB + 8 body budgets per member), none, or a size such as 512MiB (env PANGEA_MEMORY_LIMIT; GOMEMLIMIT wins)", func(v string) error {
		n, err := parseMemoryLimit(v)
		c.MemoryLimit = n
		return err
	})
	c.ClusterSecret = e.str("PANGEA_CLUSTER_SECRET", "")
	c.ID, c.NodesPerRegion, c.Regions = d.ID, d.NodesPerRegion, d.Regions
	if lab {
		c.Region = d.Region
		c.BaseDomain = d.BaseDomain
		fs.IntVar(&c.NodesPerRegion, "nodes-per-region", d.NodesPerRegion, "members per region, each with its own S3 endpoint on consecutive ports from --addr (across all regions)")
		fs.IntVar(&c.Regions, "regions", d.Regions, fmt.Sprintf("number of regions, the first %d of the built-in catalog: us-east-1 (the control region), eu-west-1, ap-southeast-2, ...", maxLabRegions))
		fs.StringVar(&c.AdminAddr, "admin-addr", e.str("PANGEA_ADMIN_ADDR", "127.0.0.1:0"), "serve the admin API (chaos controls, status; signed with the cluster secret) on `host:port`, loopback only; port 0 picks one, written to lab.json as \"admin\" (env PANGEA_ADMIN_ADDR)")
		fs.StringVar(&c.TopologyFile, "topology", e.str("PANGEA_TOPOLOGY", ""), "YAML `file` of the planet: locations, round-trip times, regions and their members (env PANGEA_TOPOLOGY; excludes --regions and --nodes-per-region)")
		labTLS, err := e.boolean("PANGEA_TLS", false)
		if err != nil {
			return nil, err
		}
		fs.BoolVar(&c.LabTLS, "tls", labTLS, "serve the lab's S3 endpoints over HTTPS (and HTTP/2) with a certificate for localhost and 127.0.0.1 from a CA kept in the data directory (tls/ca.pem; lab.json \"tls_ca\"): clients trust it with AWS_CA_BUNDLE (env PANGEA_TLS)")
		fs.StringVar(&c.ProxyAddr, "proxy", e.str("PANGEA_PROXY", ""), "serve proxy mode on `host:port` (loopback; port 0 picks one): an HTTPS proxy that takes CONNECT for AWS S3, S3 Control and MRAP host names only and terminates TLS with a CA it generates in the data directory, so that unmodified clients reach the lab with HTTPS_PROXY and AWS_CA_BUNDLE; lab.json lists \"proxy\" and \"ca_bundle\" (env PANGEA_PROXY)")
		fs.StringVar(&c.LabMRAP, "mrap", e.str("PANGEA_LAB_MRAP", ""), "make a multi-region access point of this `name` at start-up, over a versioned bucket <name>-<region> in every region replicating to the others; lab.json lists its alias and ARN (env PANGEA_LAB_MRAP)")
	} else {
		fs.StringVar(&c.Region, "region", e.str("PANGEA_REGION", d.Region), "`region` this node serves (env PANGEA_REGION)")
		fs.StringVar(&c.BaseDomain, "base-domain", e.str("PANGEA_BASE_DOMAIN", d.BaseDomain), "`domain` for virtual-host-style requests (env PANGEA_BASE_DOMAIN)")
		fs.StringVar(&c.ID, "id", e.str("PANGEA_ID", d.ID), "this member's `id` within its region, stable across restarts (env PANGEA_ID)")
		fs.StringVar(&c.ClusterAddr, "cluster-addr", e.str("PANGEA_CLUSTER_ADDR", ""), "internal raft+gRPC listen `host:port` (env PANGEA_CLUSTER_ADDR; default: this member's --peers address, or 127.0.0.1:0 alone)")
		if peers, err := parsePeers(e("PANGEA_PEERS")); err != nil {
			return nil, fmt.Errorf("PANGEA_PEERS: %w", err)
		} else {
			c.Peers = peers
		}
		fs.Var(peersFlag{&c.Peers}, "peers", "region members of the first start, self included: `id=host:port,...` (env PANGEA_PEERS; empty: a single-member region)")
		join, err := e.boolean("PANGEA_JOIN", false)
		if err != nil {
			return nil, err
		}
		fs.BoolVar(&c.Join, "join", join, "join an existing region instead of bootstrapping one: wait for `pangea ctl add` (env PANGEA_JOIN)")
		standalone, err := e.boolean("PANGEA_STANDALONE", false)
		if err != nil {
			return nil, err
		}
		fs.BoolVar(&c.Standalone, "standalone", standalone, "serve one node without raft (fastest single node; cannot grow into a region later) (env PANGEA_STANDALONE)")
		fs.StringVar(&c.ClusterSecret, "cluster-secret", c.ClusterSecret, "shared `secret` of the region's internal channels (env PANGEA_CLUSTER_SECRET, preferred: flags show in ps)")
		if err := bindPlanetFlags(fs, e, c, false); err != nil {
			return nil, err
		}
	}
	return c, nil
}

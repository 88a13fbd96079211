package routing

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures a Pool. Start it from DefaultConfig: the timing knobs' zero
// values are refused by Validate.
type Config struct {
	// Name identifies the process in the pool; it must be unique there and
	// stable across restarts (a restart takes over its old entry).
	Name         string
	Region       string
	Location     string
	Role         Role
	S3Endpoint   string
	InternalAddr string

	// BindAddr and BindPort are where gossip listens (UDP and TCP, same port)
	// when Transport is nil. Port 0 picks a free one: Pool.GossipAddr tells it.
	BindAddr string
	BindPort int
	// AdvertiseAddr (an IP) and AdvertisePort, when set, are what the others
	// are told to reach us at, in place of the bound address (containers, NAT).
	AdvertiseAddr string
	AdvertisePort int

	// Seeds are gossip addresses ("host:port") of processes to join. Start
	// does not wait for them: the pool keeps trying them in the background
	// while it knows no other live process (Join waits).
	Seeds []string

	// Secret is the cluster secret. The gossip key is derived from it, so a
	// process without it can neither read nor inject gossip.
	Secret []byte

	// Transport, when set, carries gossip in place of memberlist's UDP/TCP
	// NetTransport (the WAN emulation wraps one to delay and cut links).
	// BindAddr and BindPort are then unused; the pool shuts it down on Close.
	Transport memberlist.NodeAwareTransport

	// Logger receives the pool's and memberlist's logs. Nil discards them.
	Logger *slog.Logger

	Timing Timing
}

// Timing holds the failure detector's and gossip's knobs. DefaultTiming
// explains the defaults; DESIGN.md the reasoning.
type Timing struct {
	// ProbeInterval is how often the pool probes one peer (round robin).
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for its ack before asking
	// others to probe indirectly. It must exceed the largest RTT in the pool.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a peer stays suspect before it is declared
	// dead: SuspicionMult * max(1, log10(n)) * ProbeInterval.
	SuspicionMult int
	// SuspicionMaxTimeoutMult scales the suspicion timeout used while no other
	// process has confirmed the suspicion.
	SuspicionMaxTimeoutMult int
	// AwarenessMaxMultiplier bounds how much a process that sees its own
	// probes fail (it may be the one cut off) slows its probing.
	AwarenessMaxMultiplier int
	// GossipInterval is how often queued broadcasts (state changes) are sent
	// to GossipNodes random peers. An idle pool has nothing queued.
	GossipInterval time.Duration
	GossipNodes    int
	// PushPullInterval is the period of the full state exchange with one
	// random peer (anti-entropy).
	PushPullInterval time.Duration
	// StreamTimeout bounds dialing and using a TCP stream (join, push/pull).
	StreamTimeout time.Duration
	// ReconnectInterval is how often the pool tries to rejoin failed peers
	// (memberlist never probes a dead peer again: without this a healed
	// partition would stay split) and, while alone, its seeds.
	ReconnectInterval time.Duration
	// GossipToTheDead is how long memberlist keeps gossiping to a peer it
	// declared dead (it may only be partitioned); after that only the
	// reconnect loop brings it back.
	GossipToTheDead time.Duration
	// ReconnectTimeout is how long a failed peer stays listed (as dead) and
	// tried again; LeftTimeout how long one that left stays listed.
	ReconnectTimeout time.Duration
	LeftTimeout      time.Duration
	// RTTSmoothing is the weight of a new RTT sample in the peer's moving
	// average, in (0, 1].
	RTTSmoothing float64
}

// DefaultTiming is tuned for the emulated planet: RTTs up to 250 ms, a dozen
// processes, all of them possibly in one Go process on a small machine.
func DefaultTiming() Timing {
	return Timing{
		// One probe a second per process is memberlist's LAN default and what
		// keeps detection within seconds; it costs one small encrypted UDP
		// exchange per process per second.
		ProbeInterval: 1 * time.Second,
		// 600 ms: the largest emulated RTT (250 ms) plus jitter and a loaded
		// scheduler, with a margin of more than 2x. It leaves 400 ms of the
		// interval for indirect probes through nearer peers and the TCP
		// fallback.
		ProbeTimeout: 600 * time.Millisecond,
		// Suspect for 3 * max(1, log10(n)) * 1 s (3 s up to 10 processes,
		// 3.2 s for 12), confirmed by others or not: time for a slow but
		// alive peer to refute across the WAN (a few gossip rounds of 250 ms
		// plus an RTT), short enough that a silent one is dead within a few
		// seconds. Waiting longer without confirmation (memberlist's
		// default 6x) would leave a process cut off alone, which nobody can
		// confirm, seeing the others alive for half a minute. A false
		// verdict costs little: the reconnect loop rejoins the peer within
		// ReconnectInterval.
		SuspicionMult:           3,
		SuspicionMaxTimeoutMult: 1,
		// A process whose probes fail slows its probing by at most 2x (not
		// memberlist's 8x): it must still probe each peer in turn to see a
		// partition, and one probe per second is cheap.
		AwarenessMaxMultiplier: 2,
		// 250 ms: a change reaches 12 processes in about a second. Ticks with
		// nothing queued cost a wake-up, not a packet.
		GossipInterval: 250 * time.Millisecond,
		GossipNodes:    3,
		// Full state (a dozen metas, < 8 KiB) every 10 s with one random
		// peer. It repairs what gossip lost: an alive message is sent only
		// RetransmitMult * log10(n) times, so a process that missed a
		// newcomer's learns of it here, within a couple of intervals.
		PushPullInterval: 10 * time.Second,
		StreamTimeout:    5 * time.Second,
		// A healed partition rejoins within 3 s; a failed peer costs one
		// dial per 3 s.
		ReconnectInterval: 3 * time.Second,
		// Not memberlist's 30 s, which is longer than a probe round.
		GossipToTheDead:  15 * time.Second,
		ReconnectTimeout: 24 * time.Hour,
		LeftTimeout:      5 * time.Minute,
		RTTSmoothing:     0.25,
	}
}

// DefaultConfig returns a Config with the default timing, role member, and
// gossip on all interfaces at memberlist's customary port 7946.
func DefaultConfig() Config {
	return Config{
		Role:     RoleMember,
		BindAddr: "0.0.0.0",
		BindPort: 7946,
		Timing:   DefaultTiming(),
	}
}

// Validate reports the first problem with c, or nil.
func (c *Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("routing: config: Name is empty")
	case c.Region == "":
		return errors.New("routing: config: Region is empty")
	case c.Location == "":
		return errors.New("routing: config: Location is empty")
	case c.Role != RoleMember && c.Role != RoleEdge:
		return fmt.Errorf("routing: config: unknown Role %d", c.Role)
	case len(c.Secret) == 0:
		return errors.New("routing: config: Secret is empty (gossip must be authenticated)")
	case c.Transport == nil && net.ParseIP(c.BindAddr) == nil:
		return fmt.Errorf("routing: config: BindAddr %q is not an IP address", c.BindAddr)
	case c.BindPort < 0 || c.BindPort > 65535:
		return fmt.Errorf("routing: config: BindPort %d out of range", c.BindPort)
	case c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil:
		return fmt.Errorf("routing: config: AdvertiseAddr %q is not an IP address", c.AdvertiseAddr)
	case c.AdvertisePort < 0 || c.AdvertisePort > 65535:
		return fmt.Errorf("routing: config: AdvertisePort %d out of range", c.AdvertisePort)
	}
	for _, s := range c.Seeds {
		if _, port, err := net.SplitHostPort(s); err != nil {
			return fmt.Errorf("routing: config: seed %q: %w", s, err)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Errorf("routing: config: seed %q: bad port", s)
		}
	}
	// The largest meta this process can advertise (leader, both times set)
	// must fit memberlist's limit, or UpdateNode would panic later.
	probe := c.meta(time.Now())
	probe.Leader, probe.Leaving, probe.LeaderSince = true, true, time.Now()
	if n := len(encodeMeta(probe)); n > memberlist.MetaMaxSize {
		return fmt.Errorf("routing: config: node meta is %d bytes, memberlist allows %d (shorten region, location or addresses)", n, memberlist.MetaMaxSize)
	}
	return c.Timing.validate()
}

func (t *Timing) validate() error {
	switch {
	case t.ProbeInterval <= 0 || t.ProbeTimeout <= 0:
		return errors.New("routing: config: ProbeInterval and ProbeTimeout must be positive")
	case t.ProbeTimeout >= t.ProbeInterval:
		// memberlist waits for indirect acks until the interval ends.
		return fmt.Errorf("routing: config: ProbeTimeout %v must be below ProbeInterval %v", t.ProbeTimeout, t.ProbeInterval)
	case t.SuspicionMult < 1 || t.SuspicionMaxTimeoutMult < 1 || t.AwarenessMaxMultiplier < 1:
		return errors.New("routing: config: SuspicionMult, SuspicionMaxTimeoutMult and AwarenessMaxMultiplier must be at least 1")
	case t.GossipInterval <= 0 || t.GossipNodes < 1:
		return errors.New("routing: config: GossipInterval and GossipNodes must be positive")
	case t.PushPullInterval <= 0:
		return errors.New("routing: config: PushPullInterval must be positive")
	case t.StreamTimeout <= 0:
		return errors.New("routing: config: StreamTimeout must be positive")
	case t.ReconnectInterval <= 0 || t.ReconnectTimeout <= 0 || t.LeftTimeout <= 0 || t.GossipToTheDead <= 0:
		return errors.New("routing: config: ReconnectInterval, ReconnectTimeout, LeftTimeout and GossipToTheDead must be positive")
	case !(t.RTTSmoothing > 0 && t.RTTSmoothing <= 1):
		return fmt.Errorf("routing: config: RTTSmoothing %v not in (0, 1]", t.RTTSmoothing)
	}
	return nil
}

// LogValue implements slog.LogValuer: the effective config, for the start-up
// log, with the secret redacted.
func (c Config) LogValue() slog.Value {
	t := c.Timing
	return slog.GroupValue(
		slog.String("name", c.Name), slog.String("region", c.Region),
		slog.String("location", c.Location), slog.String("role", c.Role.String()),
		slog.String("s3_endpoint", c.S3Endpoint), slog.String("internal_addr", c.InternalAddr),
		slog.String("bind", net.JoinHostPort(c.BindAddr, strconv.Itoa(c.BindPort))),
		slog.String("advertise", net.JoinHostPort(c.AdvertiseAddr, strconv.Itoa(c.AdvertisePort))),
		slog.Any("seeds", c.Seeds), slog.Bool("custom_transport", c.Transport != nil),
		slog.String("secret", "[redacted]"),
		slog.Duration("probe_interval", t.ProbeInterval), slog.Duration("probe_timeout", t.ProbeTimeout),
		slog.Int("suspicion_mult", t.SuspicionMult), slog.Int("suspicion_max_timeout_mult", t.SuspicionMaxTimeoutMult),
		slog.Int("awareness_max_multiplier", t.AwarenessMaxMultiplier),
		slog.Duration("gossip_interval", t.GossipInterval), slog.Int("gossip_nodes", t.GossipNodes),
		slog.Duration("push_pull_interval", t.PushPullInterval), slog.Duration("stream_timeout", t.StreamTimeout),
		slog.Duration("reconnect_interval", t.ReconnectInterval), slog.Duration("reconnect_timeout", t.ReconnectTimeout),
		slog.Duration("left_timeout", t.LeftTimeout), slog.Float64("rtt_smoothing", t.RTTSmoothing),
	)
}

// meta is the Meta c describes, for a process started at started.
func (c *Config) meta(started time.Time) Meta {
	return Meta{
		Region:       c.Region,
		Location:     c.Location,
		Role:         c.Role,
		S3Endpoint:   c.S3Endpoint,
		InternalAddr: c.InternalAddr,
		Started:      started,
	}
}

// gossipKeyInfo names the gossip key's use in its derivation: another use of
// the cluster secret derives another key.
const gossipKeyInfo = "pangea memberlist v1"

// gossipKey derives memberlist's AES-256 key from the cluster secret.
func gossipKey(secret []byte) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, secret, nil, gossipKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("routing: derive gossip key: %w", err)
	}
	return k, nil
}

// memberlistConfig translates c for memberlist, starting from its LAN
// defaults. The delegates are set by the caller.
func (c *Config) memberlistConfig() (*memberlist.Config, error) {
	key, err := gossipKey(c.Secret)
	if err != nil {
		return nil, err
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.Name
	mc.Transport = c.Transport
	mc.BindAddr = c.BindAddr
	mc.BindPort = c.BindPort
	mc.AdvertiseAddr = c.AdvertiseAddr
	mc.AdvertisePort = c.AdvertisePort
	if c.AdvertisePort == 0 {
		mc.AdvertisePort = c.BindPort
	}
	mc.SecretKey = key
	// Refuse (and never send) unencrypted gossip: encryption with a key only
	// the secret's holders can derive is what authenticates a peer.
	mc.GossipVerifyIncoming = true
	mc.GossipVerifyOutgoing = true
	mc.ProbeInterval = c.Timing.ProbeInterval
	mc.ProbeTimeout = c.Timing.ProbeTimeout
	mc.SuspicionMult = c.Timing.SuspicionMult
	mc.SuspicionMaxTimeoutMult = c.Timing.SuspicionMaxTimeoutMult
	mc.AwarenessMaxMultiplier = c.Timing.AwarenessMaxMultiplier
	mc.GossipInterval = c.Timing.GossipInterval
	mc.GossipNodes = c.Timing.GossipNodes
	mc.PushPullInterval = c.Timing.PushPullInterval
	mc.TCPTimeout = c.Timing.StreamTimeout
	mc.GossipToTheDeadTime = c.Timing.GossipToTheDead
	// A name is unique, so a dead peer announcing itself from a new address is
	// that process restarted (on another port, say): let it take its entry
	// back at once rather than refusing it as a conflict.
	mc.DeadNodeReclaimTime = time.Nanosecond
	// memberlist's TCP-first DNS lookup of seed names is for Consul's DNS;
	// without a resolv.conf path it falls back to Go's resolver, which is all
	// Pangea's seeds (IPs, container names) need.
	mc.DNSConfigPath = ""
	return mc, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/routing"
	"github.com/pangea-s3/pangea/routing/wan"
)

// This file is the per-process wiring of a region member into the planet: its
// cluster links through the emulated WAN, its gossip pool, and its leadership
// advertised in the pool. The lab runs it once per member; `pangea node` can run
// it once for itself (with --location and --seeds) without change.

// Bounds on gossip calls made on behalf of raft or shutdown: none may hold them up.
const (
	leaderGossipTimeout = 2 * time.Second
	gossipLeaveTimeout  = time.Second
	gossipJoinTimeout   = 10 * time.Second
)

// wireWAN makes mc's cluster traffic cross the emulated WAN as a process at ep's
// location: raft and gRPC connections it dials or accepts between locations are
// delayed by the link (none inside a location). Connections without the WAN
// preamble (pangea ctl, standing outside the planet) are served undelayed and
// still face the cluster handshake (wan.Endpoint.ListenMixed). mc.Listener must
// be set.
func wireWAN(mc *node.MemberConfig, ep *wan.Endpoint) {
	mc.Listener = ep.ListenMixed(mc.Listener)
	mc.Dial = ep.DialTCP
}

// gossipConfig is what a member advertises in the gossip pool.
type gossipConfig struct {
	Name       string // unique in the pool, stable: "<region>/<id>"
	Region     string
	Location   string
	S3Endpoint string
	// ClusterAddr is the member's raft+gRPC address (routing's InternalAddr).
	ClusterAddr string
	Secret      string
	// BindAddr is the gossip IP; port 0 picks a free one.
	BindAddr string
	BindPort int
	Seeds    []string
	Logger   *slog.Logger
	// Edge: the process is an edge (stores nothing), not a region member.
	Edge bool
}

// startGossip starts the member's gossip pool with its UDP/TCP transport wrapped
// by ep, so that probes (and so the RTTs the pool measures) cross the emulated WAN.
// It does not wait for the seeds: see joinGossip.
func startGossip(ctx context.Context, gc gossipConfig, ep *wan.Endpoint) (*routing.Pool, error) {
	inner, err := netTransport(gc.BindAddr, gc.BindPort, gc.Logger)
	if err != nil {
		return nil, err
	}
	rc := routing.DefaultConfig()
	rc.Name, rc.Region, rc.Location = gc.Name, gc.Region, gc.Location
	rc.Role = routing.RoleMember
	if gc.Edge {
		rc.Role = routing.RoleEdge
	}
	rc.S3Endpoint, rc.InternalAddr = gc.S3Endpoint, gc.ClusterAddr
	rc.Secret = []byte(gc.Secret)
	rc.Seeds = gc.Seeds
	rc.Logger = gc.Logger
	// Unused with a Transport, but logged with the config: say where it is bound.
	rc.BindAddr, rc.BindPort = gc.BindAddr, inner.GetAutoBindPort()
	// The pool owns the transport from here on and shuts it down on Close; the
	// wrapper keeps draining inner's channels until inner's Shutdown returns.
	rc.Transport = ep.MemberlistTransport(inner)
	pool, err := routing.Start(ctx, rc)
	if err != nil {
		_ = rc.Transport.Shutdown()
		return nil, fmt.Errorf("gossip %s: %w", gc.Name, err)
	}
	return pool, nil
}

// netTransport binds memberlist's UDP+TCP transport. With port 0 the TCP port is
// chosen first and its UDP twin may be taken: a few attempts find a free pair.
func netTransport(addr string, port int, logger *slog.Logger) (*memberlist.NetTransport, error) {
	var err error
	attempts := 1
	if port == 0 {
		attempts = 10
	}
	for range attempts {
		var nt *memberlist.NetTransport
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{addr},
			BindPort:  port,
			Logger:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		})
		if err == nil {
			return nt, nil
		}
	}
	return nil, fmt.Errorf("gossip transport on %s: %w", net.JoinHostPort(addr, fmt.Sprint(port)), err)
}

// leaderAnnouncer advertises a member's leadership in its pool. raft's callback
// must return at once, and SetLeader waits for gossip, so the callback only
// records the latest state and one goroutine gossips it: a quick lose-win-lose
// is coalesced into its final state, never reordered.
type leaderAnnouncer struct {
	pool   *routing.Pool
	logger *slog.Logger

	mu      sync.Mutex
	want    bool
	pending bool

	wake chan struct{} // buffered 1: a pending state to gossip
	stop chan struct{}
	done chan struct{}
}

func newLeaderAnnouncer(pool *routing.Pool, logger *slog.Logger) *leaderAnnouncer {
	a := &leaderAnnouncer{
		pool: pool, logger: logger,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go a.run()
	return a
}

// onLeadership is the member's node.MemberConfig.OnLeadership.
func (a *leaderAnnouncer) onLeadership(_ context.Context, ev node.LeadershipEvent) {
	a.mu.Lock()
	a.want, a.pending = ev.Leader, true
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default: // already signalled; run reads the latest state
	}
}

func (a *leaderAnnouncer) run() {
	defer close(a.done)
	for {
		select {
		case <-a.wake:
			a.flush()
		case <-a.stop:
			a.flush() // the member's last event (it stopped leading) goes out too
			return
		}
	}
}

func (a *leaderAnnouncer) flush() {
	a.mu.Lock()
	want, pending := a.want, a.pending
	a.pending = false
	a.mu.Unlock()
	if !pending {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaderGossipTimeout)
	defer cancel()
	// An error leaves the flag set locally; push/pull anti-entropy spreads it.
	if err := a.pool.SetLeader(ctx, want); err != nil && !errors.Is(err, routing.ErrClosed) {
		a.logger.Debug("gossip leadership", "leader", want, "err", err)
	}
}

// close gossips the last pending state and stops the goroutine. Call it after
// the member is closed (its final event is in) and before the pool leaves.
func (a *leaderAnnouncer) close() {
	close(a.stop)
	<-a.done
}

// leaveGossip leaves the pool politely within gossipLeaveTimeout (the others
// list the member as left, not failed) and closes it in any case.
func leaveGossip(pool *routing.Pool, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), gossipLeaveTimeout)
	defer cancel()
	if err := pool.Leave(ctx); err != nil && !errors.Is(err, routing.ErrClosed) {
		logger.Debug("leave gossip pool", "err", err)
	}
	if err := pool.Close(); err != nil && !errors.Is(err, routing.ErrClosed) {
		logger.Warn("close gossip pool", "err", err)
	}
}

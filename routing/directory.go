package routing

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Directory is the global tier as its consumers see it: who is where, how far,
// who is healthy. Pool implements it; consumers (the Picker, edges, ctl
// status) depend on this interface so that tests can feed them a fake.
type Directory interface {
	// Self is this process as the others see it.
	Self() Peer
	// Peers is every process known, this one included, sorted by name. Failed
	// ones stay listed (HealthDead) until ReconnectTimeout, departed ones
	// (HealthLeft) until LeftTimeout.
	Peers() []Peer
	// Peer is the named process, if known.
	Peer(name string) (Peer, bool)
	// RTT is the smoothed round-trip time to the named peer, false until a
	// probe of it has completed.
	RTT(name string) (time.Duration, bool)
	// Changes returns a channel closed at the next change of membership,
	// health or metadata after the call (not at RTT updates, which are
	// continuous: read RTT when needed). Call it, read the state, then wait.
	Changes() <-chan struct{}
}

// Health is a peer's state as memberlist's failure detector sees it.
type Health uint8

const (
	// HealthAlive: answering probes (directly or through others).
	HealthAlive Health = iota
	// HealthSuspect: our own probe of it failed; memberlist declares it dead
	// unless it refutes in time. Suspicion raised by other processes is not
	// visible through memberlist's API, so a peer may go from alive to dead.
	HealthSuspect
	// HealthDead: declared failed. The pool keeps trying to reach it, so a
	// partition that heals, or a restart, makes it alive again.
	HealthDead
	// HealthLeft: it left the pool on purpose.
	HealthLeft
)

// String returns "alive", "suspect", "dead" or "left".
func (h Health) String() string {
	switch h {
	case HealthAlive:
		return "alive"
	case HealthSuspect:
		return "suspect"
	case HealthDead:
		return "dead"
	case HealthLeft:
		return "left"
	default:
		return fmt.Sprintf("health(%d)", uint8(h))
	}
}

// Healthy reports whether requests may be sent to a peer in state h: alive, or
// suspected but not yet declared dead (suspicion is often a lost packet).
func (h Health) Healthy() bool { return h == HealthAlive || h == HealthSuspect }

// Peer is one process of the pool.
type Peer struct {
	Name string
	Meta
	// GossipAddr is the peer's memberlist address ("ip:port").
	GossipAddr string
	Health     Health
	// HealthSince is when Health last changed, by our clock.
	HealthSince time.Time
	// RTT is the smoothed round-trip time to it, 0 if unknown (and for Self).
	RTT time.Duration
	// Self marks this process's own entry.
	Self bool
}

// Region summarizes one region's processes.
type Region struct {
	Name    string
	Members []Peer // role member, sorted by name
	Edges   []Peer // role edge, sorted by name
	Healthy int    // healthy members
	// Leader is the healthy member claiming the lead (the latest claim if
	// several do); HasLeader is false when none does.
	Leader    Peer
	HasLeader bool
}

// Regions groups d's peers by region, sorted by region name.
func Regions(d Directory) []Region {
	return regionsOf(d.Peers())
}

func regionsOf(peers []Peer) []Region {
	byName := map[string]*Region{}
	var names []string
	for _, p := range peers {
		if p.Region == "" {
			continue // meta unreadable (another format version)
		}
		r := byName[p.Region]
		if r == nil {
			r = &Region{Name: p.Region}
			byName[p.Region] = r
			names = append(names, p.Region)
		}
		if p.Role == RoleEdge {
			r.Edges = append(r.Edges, p)
			continue
		}
		r.Members = append(r.Members, p)
		if !p.Health.Healthy() {
			continue
		}
		r.Healthy++
		if p.Leader && (!r.HasLeader || laterClaim(p, r.Leader)) {
			r.Leader, r.HasLeader = p, true
		}
	}
	slices.Sort(names)
	out := make([]Region, 0, len(names))
	for _, n := range names {
		out = append(out, *byName[n])
	}
	return out
}

// laterClaim reports whether a's claim to lead is more recent than b's (by
// LeaderSince, then name for determinism).
func laterClaim(a, b Peer) bool {
	if c := a.LeaderSince.Compare(b.LeaderSince); c != 0 {
		return c > 0
	}
	return strings.Compare(a.Name, b.Name) > 0
}

// RegionLeader returns the healthy member of region that claims the lead (the
// latest claim if several do), if any.
func RegionLeader(d Directory, region string) (Peer, bool) {
	for _, r := range Regions(d) {
		if r.Name == region {
			return r.Leader, r.HasLeader
		}
	}
	return Peer{}, false
}

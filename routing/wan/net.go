package wan

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pangea-s3/pangea/routing/topology"
)

// Link is the emulated path between two distinct locations, the same in both
// directions.
type Link struct {
	// Latency is the one-way delay added to every byte and packet.
	Latency time.Duration
	// Jitter is the most added at random (uniformly in [0, Jitter)) to the
	// one-way delay. Bytes of one stream are never reordered by it.
	Jitter time.Duration
	// Loss is the probability, in [0, 1), that a memberlist packet is
	// dropped. Streams are reliable and lose nothing.
	Loss float64
	// Bandwidth caps each direction of each connection in bytes per second;
	// 0 means unlimited.
	Bandwidth int64
	// Cut stops all traffic both ways without an error: bytes are held until
	// the link heals, packets are dropped, new connections wait.
	Cut bool
}

// ErrBadLink is wrapped by the errors of Set, Partition and Heal.
var ErrBadLink = errors.New("wan: bad link")

func (l Link) validate() error {
	switch {
	case l.Latency < 0:
		return fmt.Errorf("%w: negative latency %v", ErrBadLink, l.Latency)
	case l.Jitter < 0:
		return fmt.Errorf("%w: negative jitter %v", ErrBadLink, l.Jitter)
	case math.IsNaN(l.Loss) || l.Loss < 0 || l.Loss >= 1:
		return fmt.Errorf("%w: loss %v is outside [0, 1)", ErrBadLink, l.Loss)
	case l.Bandwidth < 0:
		return fmt.Errorf("%w: negative bandwidth %d", ErrBadLink, l.Bandwidth)
	}
	return nil
}

// FromTopology converts a topology link: the one-way latency is half the
// round-trip time, so that a round trip through two delayed receives takes
// the configured RTT.
func FromTopology(l topology.Link) Link {
	return Link{Latency: l.RTT / 2, Jitter: l.Jitter, Loss: l.Loss, Bandwidth: l.Bandwidth}
}

// Options tunes a Net. The zero value is usable.
type Options struct {
	// Logger receives the package's debug and warning messages; nil discards
	// them.
	Logger *slog.Logger
	// Seed seeds the source of jitter and loss, so that a test can repeat a
	// run; 0 picks an unpredictable seed.
	Seed uint64
	// HandshakeTimeout bounds reading a peer's preamble, and a dial whose
	// context has no deadline; 0 means 10 s.
	HandshakeTimeout time.Duration
	// HoldTimeout bounds how long an accepted connection waits for a cut link
	// to heal before it is closed; 0 means 30 s.
	HoldTimeout time.Duration
}

// Net is the link table of an emulated WAN, safe for concurrent use. In the
// lab one Net is shared by every process's Endpoint; across containers each
// process has its own copy, kept in step by whoever changes links (the admin
// API). A change takes effect on existing connections for every byte that
// has not yet been delivered, and on new ones at once.
type Net struct {
	logger           *slog.Logger
	handshakeTimeout time.Duration
	holdTimeout      time.Duration

	mu    sync.Mutex // serialises writers of state
	state atomic.Pointer[netState]

	rngMu sync.Mutex
	rng   *rand.Rand
}

// netState is an immutable snapshot: readers load it without a lock, and
// wait on changed, which is closed when a newer snapshot replaces it.
type netState struct {
	links   map[[2]string]Link
	changed chan struct{}
}

// New returns a Net with a link for every pair of t's locations (t may be
// nil for an empty table; a pair without a link is not delayed).
func New(t *topology.Topology, opts Options) *Net {
	seed := opts.Seed
	if seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
		seed = binary.LittleEndian.Uint64(b[:])
	}
	n := &Net{
		logger:           opts.Logger,
		handshakeTimeout: opts.HandshakeTimeout,
		holdTimeout:      opts.HoldTimeout,
		rng:              rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	if n.logger == nil {
		n.logger = slog.New(slog.DiscardHandler)
	}
	if n.handshakeTimeout <= 0 {
		n.handshakeTimeout = 10 * time.Second
	}
	if n.holdTimeout <= 0 {
		n.holdTimeout = 30 * time.Second
	}
	links := make(map[[2]string]Link)
	if t != nil {
		for _, l := range t.Links {
			links[pairKey(l.Between[0], l.Between[1])] = FromTopology(l)
		}
	}
	n.state.Store(&netState{links: links, changed: make(chan struct{})})
	return n
}

// Link returns the link between a and b (in either order) and whether the
// table has one. Two names for the same location have no link.
func (n *Net) Link(a, b string) (Link, bool) {
	l, ok := n.state.Load().links[pairKey(a, b)]
	return l, ok
}

// Set replaces the link between two distinct locations, adding it if the
// table had none.
func (n *Net) Set(a, b string, l Link) error {
	if err := l.validate(); err != nil {
		return err
	}
	return n.update(a, b, func(Link) Link { return l })
}

// Partition cuts the link between a and b, keeping its other settings for
// when it heals.
func (n *Net) Partition(a, b string) error {
	return n.update(a, b, func(l Link) Link { l.Cut = true; return l })
}

// Heal restores a cut link; bytes held while it was cut flow again.
func (n *Net) Heal(a, b string) error {
	return n.update(a, b, func(l Link) Link { l.Cut = false; return l })
}

func (n *Net) update(a, b string, f func(Link) Link) error {
	if !topology.ValidName(a) || !topology.ValidName(b) {
		return fmt.Errorf("%w: location names %q and %q", ErrBadLink, a, b)
	}
	if a == b {
		// Connections inside a location pass straight through (see
		// Endpoint), so a link there would have nothing to act on.
		return fmt.Errorf("%w: %q to itself: traffic inside a location is not emulated", ErrBadLink, a)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	old := n.state.Load()
	links := make(map[[2]string]Link, len(old.links)+1)
	for k, v := range old.links {
		links[k] = v
	}
	key := pairKey(a, b)
	links[key] = f(links[key])
	n.state.Store(&netState{links: links, changed: make(chan struct{})})
	close(old.changed)
	n.logger.Debug("wan: link changed", "a", key[0], "b", key[1], "link", links[key])
	return nil
}

// delay draws the one-way delay of l: its latency plus a jitter sample.
func (n *Net) delay(l Link) time.Duration {
	if l.Jitter <= 0 {
		return l.Latency
	}
	n.rngMu.Lock()
	j := n.rng.Int64N(int64(l.Jitter))
	n.rngMu.Unlock()
	return l.Latency + time.Duration(j)
}

// lose draws whether a packet on l is lost.
func (n *Net) lose(l Link) bool {
	if l.Loss <= 0 {
		return false
	}
	n.rngMu.Lock()
	x := n.rng.Float64()
	n.rngMu.Unlock()
	return x < l.Loss
}

// waitPath waits for d, then for as long as the link key is cut. It is how a
// connection set-up message crosses the emulated link.
func (n *Net) waitPath(ctx context.Context, key [2]string, d time.Duration) error {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		st := n.state.Load()
		if !st.links[key].Cut {
			return nil
		}
		select {
		case <-st.changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// serialization is how long l's bandwidth cap takes to send size bytes.
func serialization(l Link, size int) time.Duration {
	if l.Bandwidth <= 0 || size <= 0 {
		return 0
	}
	return time.Duration(float64(size) / float64(l.Bandwidth) * float64(time.Second))
}

// pairKey orders a pair so that (a, b) and (b, a) are the same key.
func pairKey(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

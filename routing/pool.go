package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrClosed is returned by the calls of a Pool that has been closed (or has
// left).
var ErrClosed = errors.New("routing: pool closed")

// Pool is this process's place in the global gossip pool: it advertises the
// process's Meta, learns everyone else's, and tracks their health and RTT
// through memberlist's probes. It implements Directory. A process has one;
// a test or the lab may run many in one Go process (Pool has no global state).
type Pool struct {
	cfg    Config
	logger *slog.Logger
	ml     *memberlist.Memberlist
	// gossipAddr is read once at Start: the *Node that memberlist's
	// LocalNode returns is rewritten, unlocked for its readers, by every
	// UpdateNode.
	gossipAddr string

	// metaMu guards meta; updateMu serializes its broadcasts, so that the meta
	// memberlist reads in NodeMeta is the one being broadcast.
	metaMu   sync.Mutex
	meta     Meta
	updateMu sync.Mutex

	viv *vivaldi

	mu      sync.Mutex
	peers   map[string]*peerState // others, by name
	changed chan struct{}         // closed at the next change
	left    bool                  // Leave has begun
	closed  bool

	// lifeMu serializes Leave and Close: memberlist panics on a leave after
	// its shutdown.
	lifeMu sync.Mutex
	stop   chan struct{}
	wg     sync.WaitGroup
}

// peerState is what the pool knows of another process.
type peerState struct {
	meta    Meta
	metaErr error // the last meta could not be decoded
	addr    string
	health  Health
	since   time.Time
	rtt     time.Duration // smoothed; 0 until the first probe completes
	// measuring: a first ping of the peer is on its way (measure).
	measuring bool
}

var _ Directory = (*Pool)(nil)

// Start creates this process's pool member, listening for gossip, and returns
// without waiting for the seeds: it keeps trying them in the background while
// it knows no other live process. Join waits for them.
func Start(ctx context.Context, cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("routing: start: %w", err)
	}
	cfg.Seeds = slices.Clone(cfg.Seeds)
	cfg.Secret = slices.Clone(cfg.Secret)
	logger := cfg.Logger
	if logger == nil {
		logger = discardLogger()
	}
	p := &Pool{
		cfg:     cfg,
		logger:  logger.With("pool", cfg.Name),
		meta:    cfg.meta(nowMilli()),
		viv:     newVivaldi(rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))),
		peers:   map[string]*peerState{},
		changed: make(chan struct{}),
		stop:    make(chan struct{}),
	}
	mc, err := cfg.memberlistConfig()
	if err != nil {
		return nil, err
	}
	d := &delegate{p: p}
	mc.Delegate = d
	mc.Events = d
	mc.Ping = d
	mc.Logger = newMemberlistLogger(p.logger, p.observeLog)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("routing: start memberlist: %w", err)
	}
	p.ml = ml
	local := ml.LocalNode()
	p.gossipAddr = net.JoinHostPort(local.Addr.String(), strconv.Itoa(int(local.Port)))
	p.logger.Info("gossip pool started", "gossip_addr", p.GossipAddr(), "region", cfg.Region, "location", cfg.Location, "role", cfg.Role.String())
	p.logger.Debug("gossip pool configuration", "config", cfg)
	p.wg.Add(1)
	go p.maintain()
	return p, nil
}

// GossipAddr is the address ("ip:port") the others reach this process's
// gossip at: what another process puts in its seeds.
func (p *Pool) GossipAddr() string { return p.gossipAddr }

// Join contacts seeds ("host:port" gossip addresses; this process's own is
// skipped) until one answers, retrying until ctx ends. A seed list naming only
// this process succeeds at once: it is the first of its pool. One attempt may
// outlast ctx by up to Timing.StreamTimeout, which memberlist does not cut.
func (p *Pool) Join(ctx context.Context, seeds []string) error {
	seeds = p.otherSeeds(seeds)
	if len(seeds) == 0 {
		return nil
	}
	wait := 100 * time.Millisecond
	for {
		if p.isClosed() {
			return ErrClosed
		}
		n, err := p.ml.Join(seeds)
		if n > 0 {
			p.logger.Info("joined gossip pool", "seeds_reached", n)
			return nil
		}
		p.logger.Debug("join attempt failed", "seeds", seeds, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("routing: join %v: %w (last attempt: %v)", seeds, ctx.Err(), err)
		case <-p.stop:
			t.Stop()
			return ErrClosed
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// otherSeeds is seeds without this process's own gossip address.
func (p *Pool) otherSeeds(seeds []string) []string {
	self := p.GossipAddr()
	var out []string
	for _, s := range seeds {
		if s != self {
			out = append(out, s)
		}
	}
	return out
}

// SetLeader advertises whether this process leads its region. The change is
// applied at once; SetLeader waits (within ctx, or StreamTimeout without a
// deadline) until memberlist has gossiped it. An error means the gossip is not
// done yet: the change stays, and anti-entropy spreads it.
func (p *Pool) SetLeader(ctx context.Context, leader bool) error {
	return p.UpdateMeta(ctx, func(m *Meta) {
		if leader && !m.Leader {
			m.LeaderSince = nowMilli()
		}
		if !leader {
			m.LeaderSince = time.Time{}
		}
		m.Leader = leader
	})
}

// UpdateMeta changes what this process advertises (Started and Leaving are
// the pool's own and kept) and gossips it, waiting like SetLeader.
func (p *Pool) UpdateMeta(ctx context.Context, change func(*Meta)) error {
	p.updateMu.Lock()
	defer p.updateMu.Unlock()
	p.mu.Lock()
	gone := p.closed || p.left
	p.mu.Unlock()
	if gone {
		return ErrClosed
	}
	p.metaMu.Lock()
	m := p.meta
	change(&m)
	m.Started, m.Leaving = p.meta.Started, p.meta.Leaving
	if n := len(encodeMeta(m)); n > memberlist.MetaMaxSize {
		p.metaMu.Unlock()
		return fmt.Errorf("routing: update meta: %d bytes, memberlist allows %d", n, memberlist.MetaMaxSize)
	}
	p.meta = m
	p.metaMu.Unlock()
	p.notify()
	return p.broadcastMeta(ctx)
}

// broadcastMeta gossips the current meta. Call with updateMu held.
func (p *Pool) broadcastMeta(ctx context.Context) error {
	timeout := p.cfg.Timing.StreamTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return fmt.Errorf("routing: gossip meta: %w", context.DeadlineExceeded)
	}
	if err := p.ml.UpdateNode(timeout); err != nil {
		return fmt.Errorf("routing: gossip meta: %w", err)
	}
	return nil
}

// Leave announces that this process leaves the pool, so that the others list
// it as left (not failed) and stop trying to reach it, then closes the pool.
// It waits, within ctx, for the announcements to be gossiped.
func (p *Pool) Leave(ctx context.Context) error {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	p.updateMu.Lock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.updateMu.Unlock()
		return ErrClosed
	}
	p.left = true
	p.mu.Unlock()
	// memberlist reports a departure and a failure alike (NotifyLeave, with the
	// state private): flag the meta first, so the others can tell.
	p.metaMu.Lock()
	p.meta.Leaving = true
	p.metaMu.Unlock()
	berr := p.broadcastMeta(ctx)
	p.updateMu.Unlock()
	// Announce the departure even if the flag is not fully gossiped: the
	// others then see a failure, but at once rather than after suspicion.
	timeout := p.cfg.Timing.StreamTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	lerr := p.ml.Leave(timeout)
	err := errors.Join(berr, lerr, p.closeLocked())
	if err != nil {
		err = fmt.Errorf("routing: leave: %w", err)
	}
	p.logger.Info("left gossip pool", "err", err)
	return err
}

// Close stops this process's gossip without announcing it: the others see it
// fail. Leave is the polite way out. Close is idempotent.
func (p *Pool) Close() error {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	return p.closeLocked()
}

// closeLocked closes the pool; call with lifeMu held.
func (p *Pool) closeLocked() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	p.wg.Wait() // no reconnect dial may run after the shutdown
	var err error
	if serr := p.ml.Shutdown(); serr != nil {
		err = fmt.Errorf("routing: shutdown memberlist: %w", serr)
	}
	p.notify()
	return err
}

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Self implements Directory. A pool closed without leaving reports itself
// dead, as the others will see it.
func (p *Pool) Self() Peer {
	p.metaMu.Lock()
	m := p.meta
	p.metaMu.Unlock()
	p.mu.Lock()
	health := HealthAlive
	switch {
	case p.left:
		health = HealthLeft
	case p.closed:
		health = HealthDead // as the others will see it
	}
	p.mu.Unlock()
	return Peer{Name: p.cfg.Name, Meta: m, GossipAddr: p.GossipAddr(), Health: health, Self: true}
}

// Peers implements Directory.
func (p *Pool) Peers() []Peer {
	self := p.Self()
	p.mu.Lock()
	out := make([]Peer, 0, len(p.peers)+1)
	now := time.Now()
	for name, ps := range p.peers {
		out = append(out, p.peerLocked(name, ps, now))
	}
	p.mu.Unlock()
	out = append(out, self)
	slices.SortFunc(out, func(a, b Peer) int { return cmpString(a.Name, b.Name) })
	return out
}

// Peer implements Directory.
func (p *Pool) Peer(name string) (Peer, bool) {
	if name == p.cfg.Name {
		return p.Self(), true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.peers[name]
	if !ok {
		return Peer{}, false
	}
	return p.peerLocked(name, ps, time.Now()), true
}

// RTT implements Directory.
func (p *Pool) RTT(name string) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.peers[name]
	if !ok || ps.rtt <= 0 {
		return 0, false
	}
	return ps.rtt, true
}

// EstimateRTT estimates the RTT between the processes named a and b (either
// may be this one) from their network coordinates, including pairs this
// process never measures. It is false until both coordinates are known: a
// peer's arrives in the ack of this process's first probe of it. Prefer RTT
// for a peer of this process: it is measured.
func (p *Pool) EstimateRTT(a, b string) (time.Duration, bool) {
	key := func(n string) string {
		if n == p.cfg.Name {
			return ""
		}
		return n
	}
	ca, oka := p.viv.coord(key(a))
	cb, okb := p.viv.coord(key(b))
	if !oka || !okb {
		return 0, false
	}
	return ca.DistanceTo(cb), true
}

// Changes implements Directory.
func (p *Pool) Changes() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

func (p *Pool) peerLocked(name string, ps *peerState, now time.Time) Peer {
	h := ps.health
	// memberlist does not tell us when a suspect refutes; past the longest
	// suspicion it would have been declared dead, so it must have.
	if h == HealthSuspect && now.Sub(ps.since) > p.maxSuspicionLocked() {
		h = HealthAlive
	}
	return Peer{Name: name, Meta: ps.meta, GossipAddr: ps.addr, Health: h, HealthSince: ps.since, RTT: ps.rtt}
}

// maxSuspicionLocked is the longest a peer stays suspect before memberlist
// declares it dead (its formula), plus a probe interval of slack.
func (p *Pool) maxSuspicionLocked() time.Duration {
	t := p.cfg.Timing
	scale := math.Max(1, math.Log10(float64(len(p.peers)+1)))
	base := time.Duration(float64(t.SuspicionMult) * scale * float64(t.ProbeInterval))
	return time.Duration(t.SuspicionMaxTimeoutMult)*base + t.ProbeInterval
}

// notify wakes the Changes waiters.
func (p *Pool) notify() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notifyLocked()
}

func (p *Pool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// setHealthLocked moves ps to h and reports whether that is a change.
func setHealthLocked(ps *peerState, h Health) bool {
	if ps.health == h {
		return false
	}
	ps.health, ps.since = h, time.Now()
	return true
}

// nodeEvent records memberlist's news about n. alive is false for
// NotifyLeave.
func (p *Pool) nodeEvent(n *memberlist.Node, alive bool) {
	if n.Name == p.cfg.Name {
		return
	}
	meta, metaErr := decodeMeta(n.Meta)
	addr := net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, known := p.peers[n.Name]
	if !known {
		ps = &peerState{health: HealthDead, since: time.Now()}
		p.peers[n.Name] = ps
	}
	restarted := known && metaErr == nil && !meta.Started.Equal(ps.meta.Started)
	if metaErr == nil {
		ps.meta, ps.metaErr = meta, nil
	} else if ps.metaErr == nil {
		// Logged once per peer: a newer format, or not a Pangea process.
		ps.metaErr = metaErr
		p.logger.Warn("peer advertises meta we cannot read", "peer", n.Name, "err", metaErr)
	}
	ps.addr = addr
	h := HealthAlive
	if !alive {
		h = HealthDead
		if meta.Leaving {
			h = HealthLeft
		}
	}
	if restarted {
		// A new process, perhaps elsewhere: measure afresh.
		ps.rtt = 0
		p.viv.forget(n.Name)
	}
	if h == HealthAlive && ps.rtt == 0 && !ps.measuring && p.ml != nil {
		// Measure a new peer at once rather than at its turn in memberlist's
		// probe round (a round of N peers takes N probe intervals): routing by
		// RTT, an MRAP's nearest region, wants it from the first requests.
		ps.measuring = true
		target := &net.UDPAddr{IP: n.Addr, Port: int(n.Port)}
		go p.measure(n.Name, target)
	}
	if setHealthLocked(ps, h) {
		// A first sighting is routine (a lab of 12 processes makes 132 at start);
		// a change of a known peer's health is news.
		level := slog.LevelInfo
		if !known && h == HealthAlive {
			level = slog.LevelDebug
		}
		p.logger.Log(context.Background(), level, "peer "+h.String(), "peer", n.Name, "addr", addr, "region", ps.meta.Region, "location", ps.meta.Location)
	}
	p.notifyLocked()
}

// observeLog watches memberlist's log for what its API does not report.
func (p *Pool) observeLog(msg string) {
	name, ok := suspectedBy(msg)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ps := p.peers[name]; ps != nil && ps.health == HealthAlive {
		setHealthLocked(ps, HealthSuspect)
		p.notifyLocked()
	}
}

// pingComplete feeds a direct probe's RTT into the peer's moving average; an
// answered probe also ends our suspicion of it.
// measure pings a peer once and feeds the RTT in as a probe's (nodeEvent).
func (p *Pool) measure(name string, addr net.Addr) {
	rtt, err := p.ml.Ping(name, addr)
	p.mu.Lock()
	if ps := p.peers[name]; ps != nil {
		ps.measuring = false
	}
	p.mu.Unlock()
	if err == nil {
		p.pingComplete(name, rtt)
	}
}

func (p *Pool) pingComplete(name string, rtt time.Duration) {
	if rtt <= 0 || name == p.cfg.Name {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := p.peers[name]
	if ps == nil {
		return
	}
	ps.rtt = smoothRTT(ps.rtt, rtt, p.cfg.Timing.RTTSmoothing)
	if ps.health == HealthSuspect {
		setHealthLocked(ps, HealthAlive)
		p.notifyLocked()
	}
}

// nowMilli is the time now at the millisecond precision of the meta encoding,
// so that Self and what the others decode compare equal.
func nowMilli() time.Time { return time.UnixMilli(time.Now().UnixMilli()) }

// smoothRTT is the exponentially weighted moving average of RTT samples; the
// first sample is taken as is.
func smoothRTT(avg, sample time.Duration, alpha float64) time.Duration {
	if avg <= 0 {
		return sample
	}
	return avg + time.Duration(alpha*float64(sample-avg))
}

// maintain runs until Close: it reaps long-gone peers, and tries to reach
// failed peers and, while alone, the seeds. memberlist never probes a peer it
// declared dead, so without this a partition would stay split once healed.
func (p *Pool) maintain() {
	defer p.wg.Done()
	interval := p.cfg.Timing.ReconnectInterval
	wait := time.Duration(0) // the seeds at once
	for {
		t := time.NewTimer(wait)
		select {
		case <-p.stop:
			t.Stop()
			return
		case <-t.C:
		}
		p.reconnect()
		// ±10% so that the pools of one process do not dial in step.
		wait = interval + time.Duration((rand.Float64()-0.5)*0.2*float64(interval))
	}
}

func (p *Pool) reconnect() {
	now := time.Now()
	var targets []string
	aliveOthers := 0
	p.mu.Lock()
	reaped := false
	for name, ps := range p.peers {
		switch ps.health {
		case HealthAlive, HealthSuspect:
			aliveOthers++
		case HealthDead:
			if now.Sub(ps.since) > p.cfg.Timing.ReconnectTimeout {
				delete(p.peers, name)
				p.viv.forget(name)
				reaped = true
				continue
			}
			// The address alone: memberlist reads a Join target's first "/"
			// as the end of a node-name prefix, and the lab's names
			// ("<region>/<id>") hold one. The WAN emulation needs no name: the
			// dial's preamble tells it the peer's location.
			targets = append(targets, ps.addr)
		case HealthLeft:
			if now.Sub(ps.since) > p.cfg.Timing.LeftTimeout {
				delete(p.peers, name)
				p.viv.forget(name)
				reaped = true
			}
		}
	}
	if reaped {
		p.notifyLocked()
	}
	p.mu.Unlock()
	if aliveOthers == 0 {
		targets = append(targets, p.otherSeeds(p.cfg.Seeds)...)
	}
	var wg sync.WaitGroup
	for _, target := range targets {
		wg.Go(func() {
			select {
			case <-p.stop:
				return
			default:
			}
			if n, err := p.ml.Join([]string{target}); n > 0 {
				p.logger.Debug("reached peer again", "target", target)
			} else {
				p.logger.Debug("peer still unreachable", "target", target, "err", err)
			}
		})
	}
	wg.Wait()
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// delegate receives memberlist's callbacks; it keeps them off Pool's exported
// method set. memberlist calls the event methods with its node lock held:
// they must never call back into memberlist.
type delegate struct{ p *Pool }

// NodeMeta implements memberlist.Delegate.
func (d *delegate) NodeMeta(limit int) []byte {
	d.p.metaMu.Lock()
	b := encodeMeta(d.p.meta)
	d.p.metaMu.Unlock()
	if len(b) > limit {
		// Validate and UpdateMeta keep this from happening; memberlist would
		// panic on an oversized meta.
		d.p.logger.Error("node meta over memberlist's limit; advertising none", "bytes", len(b), "limit", limit)
		return nil
	}
	return b
}

// NotifyMsg implements memberlist.Delegate: the pool sends no user messages.
func (d *delegate) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState implements memberlist.Delegate.
func (d *delegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {}

// NotifyJoin implements memberlist.EventDelegate.
func (d *delegate) NotifyJoin(n *memberlist.Node) { d.p.nodeEvent(n, true) }

// NotifyUpdate implements memberlist.EventDelegate.
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.p.nodeEvent(n, true) }

// NotifyLeave implements memberlist.EventDelegate (a failure or a departure).
func (d *delegate) NotifyLeave(n *memberlist.Node) { d.p.nodeEvent(n, false) }

// AckPayload implements memberlist.PingDelegate: acks carry our coordinate.
func (d *delegate) AckPayload() []byte {
	c, _ := d.p.viv.coord("")
	return encodeCoord(c)
}

// NotifyPingComplete implements memberlist.PingDelegate. A payload that is not
// a coordinate (garbage, a future format) only costs the coordinate update.
func (d *delegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	d.p.pingComplete(other.Name, rtt)
	if c, err := decodeCoord(payload); err == nil && other.Name != d.p.cfg.Name {
		d.p.viv.update(other.Name, c, rtt)
	}
}

package routing

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// Picker orders a Multi-Region Access Point's regions for a request arriving
// at this process, as S3 routes an MRAP request to the closest active region:
//
//   - only regions with an active route (TrafficDial > 0) are candidates;
//   - a candidate needs at least one healthy member in the gossip pool
//     (Health.Healthy: alive, or suspected and not yet declared dead, as
//     MemberAddrs counts them); this process's own region is always healthy,
//     since this process serves it;
//   - candidates go by the lowest smoothed RTT from this process to any of
//     their healthy members (Peer.RTT, measured by memberlist's probes over
//     the links as they are, the emulated WAN included; never read from a
//     topology file), this process's own region first at RTT 0, ties (and
//     regions whose RTT is not measured yet, last) by name.
//
// Route changes take effect after a delay, as S3's take "up to 2 minutes": the
// Picker remembers, per MRAP (account and name), the routes it applies and the
// first time it saw different ones; it switches to those only once they have
// been seen for the delay (a delay of 0 switches at once). Routes seen for the
// first time are applied at once. Health changes are never delayed: a region
// that lost its members is left out at the next Pick.
//
// The remembered routes are a small map entry per MRAP ever picked for; an
// MRAP that was deleted keeps its entry until Forget. A Picker is safe for
// concurrent use.
type Picker struct {
	dir    Directory
	region string // this process's region; "" for an edge
	delay  time.Duration
	now    func() time.Time

	mu     sync.Mutex
	routes map[string]*pickerRoutes
	// rtts is regionRTTs' result, computed again when the pool changes (health
	// or membership) and at least every placementTTL (RTTs drift), not per
	// request, as Resolver does for member orders.
	rtts    map[string]time.Duration
	rttsAt  time.Time
	changes <-chan struct{}
}

// pickerRoutes is what a Picker remembers of one MRAP's routes.
type pickerRoutes struct {
	applied string         // the routes in force, as routesKey writes them
	dials   map[string]int // the applied routes: region -> TrafficDial
	pending string         // newer routes waiting for the delay ("" none)
	since   time.Time      // when pending was first seen
}

// PickedRegion is one region a Picker chose for an MRAP request.
type PickedRegion struct {
	// Region and Bucket are the MRAP's region and its bucket there.
	Region, Bucket string
	// RTT is the lowest smoothed RTT from this process to a healthy member
	// of Region: 0 for this process's own region, and for a region whose
	// members were not probed yet (ordered after the measured ones).
	RTT time.Duration
	// Local: the region is this process's own.
	Local bool
}

// NewPicker returns the Picker of a process of region ("" for an edge) over
// dir. delay is how long a route change must have been seen before it takes
// effect (0: at once; S3 takes up to 2 minutes).
func NewPicker(dir Directory, region string, delay time.Duration) *Picker {
	if delay < 0 {
		delay = 0
	}
	return &Picker{dir: dir, region: region, delay: delay, now: time.Now, routes: make(map[string]*pickerRoutes)}
}

// Pick orders m's regions for a request arriving here (see Picker): the
// active, healthy ones, nearest first. Empty when no region can serve.
func (p *Picker) Pick(m storage.MRAP) []PickedRegion {
	dials := p.dials(m)
	best := p.regionRTTs()
	var out []PickedRegion
	for _, r := range m.Regions {
		if dials[r.Region] <= 0 {
			continue
		}
		if r.Region == p.region && p.region != "" {
			out = append(out, PickedRegion{Region: r.Region, Bucket: r.Bucket, Local: true})
			continue
		}
		rtt, ok := best[r.Region]
		if !ok {
			continue // no healthy member
		}
		out = append(out, PickedRegion{Region: r.Region, Bucket: r.Bucket, RTT: rtt})
	}
	slices.SortFunc(out, func(a, b PickedRegion) int {
		if a.Local != b.Local {
			if a.Local {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(rttOrder(a.RTT), rttOrder(b.RTT)); c != 0 {
			return c
		}
		return strings.Compare(a.Region, b.Region)
	})
	return out
}

// Forget drops what the Picker remembers of the MRAP account/name (a deleted
// MRAP).
func (p *Picker) Forget(account, name string) {
	p.mu.Lock()
	delete(p.routes, account+"/"+name)
	p.mu.Unlock()
}

// rttOrder puts unmeasured RTTs (0, for a remote region) after every
// measured one.
func rttOrder(d time.Duration) int64 {
	if d <= 0 {
		return 1 << 62
	}
	return int64(d)
}

// regionRTTs maps each region with a healthy member (this process excluded)
// to the lowest measured RTT to one of them (0 when none is measured). The map
// is shared until the next recomputation: callers only read it.
func (p *Picker) regionRTTs() map[string]time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	stale := p.rtts == nil || now.Sub(p.rttsAt) >= placementTTL
	if !stale {
		select {
		case <-p.changes:
			stale = true
		default:
		}
	}
	if !stale {
		return p.rtts
	}
	p.changes = p.dir.Changes() // before reading the state it describes
	best := make(map[string]time.Duration)
	for _, peer := range p.dir.Peers() {
		if peer.Self || peer.Role != RoleMember || !peer.Health.Healthy() {
			continue
		}
		cur, seen := best[peer.Region]
		switch {
		case !seen:
			best[peer.Region] = peer.RTT
		case peer.RTT > 0 && (cur <= 0 || peer.RTT < cur):
			best[peer.Region] = peer.RTT
		}
	}
	p.rtts, p.rttsAt = best, now
	return best
}

// routesKey writes m's routes as one comparable string.
func routesKey(m storage.MRAP) string {
	var b strings.Builder
	for _, r := range m.Regions {
		b.WriteString(r.Region)
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(r.TrafficDial))
		b.WriteByte(';')
	}
	return b.String()
}

// dials returns the routes in force for m (region -> TrafficDial), applying
// m's current ones once they are older than the delay.
func (p *Picker) dials(m storage.MRAP) map[string]int {
	key := routesKey(m)
	id := m.Account + "/" + m.Name
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.routes[id]
	switch {
	case !ok:
		st = &pickerRoutes{}
		p.routes[id] = st
		st.apply(key, m)
	case st.applied == key:
		st.pending = ""
	case st.pending != key:
		st.pending, st.since = key, now
		if p.delay == 0 {
			st.apply(key, m)
		}
	case now.Sub(st.since) >= p.delay:
		st.apply(key, m)
	}
	return st.dials
}

func (st *pickerRoutes) apply(key string, m storage.MRAP) {
	st.applied, st.pending = key, ""
	st.dials = make(map[string]int, len(m.Regions))
	for _, r := range m.Regions {
		st.dials[r.Region] = r.TrafficDial
	}
}

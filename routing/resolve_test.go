package routing

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// changingDirectory is a Directory whose changes the test announces.
type changingDirectory struct {
	staticDirectory
	cmu     sync.Mutex
	changed chan struct{}
}

func newChangingDirectory(peers ...Peer) *changingDirectory {
	d := &changingDirectory{changed: make(chan struct{})}
	d.peers = peers
	return d
}

func (d *changingDirectory) Changes() <-chan struct{} {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	return d.changed
}

// set replaces the peers and announces the change.
func (d *changingDirectory) set(peers ...Peer) {
	d.mu.Lock()
	d.peers = peers
	d.mu.Unlock()
	d.cmu.Lock()
	close(d.changed)
	d.changed = make(chan struct{})
	d.cmu.Unlock()
}

func regionPeer(name, region, addr string, rtt time.Duration, leader bool, h Health) Peer {
	return Peer{Name: name, Health: h, RTT: rtt, Meta: Meta{Region: region, Role: RoleMember, InternalAddr: addr, Leader: leader}}
}

// TestResolver_PlacesByLeaderThenRTTAndFollowsThePool: a region's members go
// leader first, then nearest; the order is reused between requests and
// recomputed as soon as the pool changes (a member dead, a new leader).
func TestResolver_PlacesByLeaderThenRTTAndFollowsThePool(t *testing.T) {
	a := regionPeer("eu/n1", "eu", "a:1", 30*time.Millisecond, false, HealthAlive)
	b := regionPeer("eu/n2", "eu", "b:1", 10*time.Millisecond, false, HealthAlive)
	c := regionPeer("eu/n3", "eu", "c:1", 20*time.Millisecond, true, HealthAlive)
	other := regionPeer("us/n1", "us", "u:1", time.Millisecond, true, HealthAlive)
	d := newChangingDirectory(a, b, c, other)
	r := NewResolver(d, nil, "us", []string{"us", "eu"}, nil)
	place := func() []string {
		t.Helper()
		p, err := r.Region(t.Context(), "eu")
		if err != nil || p.Local {
			t.Fatalf("placement of eu: %+v %v", p, err)
		}
		return p.Addrs
	}
	if got := place(); !slices.Equal(got, []string{"c:1", "b:1", "a:1"}) {
		t.Fatalf("eu's members %v, want the leader c, then b (10ms), a (30ms)", got)
	}
	if p, _ := r.Region(t.Context(), "us"); !p.Local {
		t.Fatalf("this process's own region is not local: %+v", p)
	}
	c.Health, c.Leader = HealthDead, false
	a.Leader = true
	d.set(a, b, c, other)
	if got := place(); !slices.Equal(got, []string{"a:1", "b:1"}) {
		t.Fatalf("after the leader died and a took over: %v, want a then b", got)
	}
}

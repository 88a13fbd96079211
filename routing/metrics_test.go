package routing

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeDirectory is a Directory with fixed peers and RTTs.
type fakeDirectory struct {
	peers []Peer
	rtts  map[string]time.Duration
}

func (f *fakeDirectory) Self() Peer {
	for _, p := range f.peers {
		if p.Self {
			return p
		}
	}
	return Peer{}
}

func (f *fakeDirectory) Peers() []Peer { return f.peers }

func (f *fakeDirectory) Peer(name string) (Peer, bool) {
	for _, p := range f.peers {
		if p.Name == name {
			return p, true
		}
	}
	return Peer{}, false
}

func (f *fakeDirectory) RTT(name string) (time.Duration, bool) {
	d, ok := f.rtts[name]
	return d, ok
}

func (f *fakeDirectory) Changes() <-chan struct{} { return make(chan struct{}) }

var _ Directory = (*fakeDirectory)(nil)

// gaugeOf returns the gauge of fams[name] whose labels are exactly want.
func gaugeOf(fams []*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if want[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestCollector_ReportsPeerHealthRTTAndCounts(t *testing.T) {
	member := func(name, region string, h Health) Peer {
		return Peer{Name: name, Meta: Meta{Region: region, Role: RoleMember}, Health: h}
	}
	d := &fakeDirectory{
		peers: []Peer{
			member("ap/n1", "ap-southeast-2", HealthDead),
			{Name: "edge-eu", Meta: Meta{Region: "eu-west-1", Role: RoleEdge}, Health: HealthAlive},
			member("eu/n1", "eu-west-1", HealthAlive),
			member("eu/n2", "eu-west-1", HealthSuspect),
			member("us/n1", "us-east-1", HealthLeft),
			{Name: "us/n2", Meta: Meta{Region: "us-east-1", Role: RoleMember}, Health: HealthAlive, Self: true},
		},
		rtts: map[string]time.Duration{"eu/n1": 80 * time.Millisecond, "edge-eu": 75 * time.Millisecond},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(d))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}

	for _, p := range d.peers {
		for _, h := range healthStates {
			labels := map[string]string{"peer": p.Name, "peer_region": p.Region, "peer_role": p.Role.String(), "health": h.String()}
			got, ok := gaugeOf(fams, "pangea_gossip_peer_health", labels)
			switch {
			case p.Self && ok:
				t.Errorf("self reported: %v", labels)
			case p.Self:
			case !ok:
				t.Errorf("no pangea_gossip_peer_health%v", labels)
			case got != bool01(p.Health == h):
				t.Errorf("pangea_gossip_peer_health%v = %v, peer is %v", labels, got, p.Health)
			}
		}
	}
	for _, p := range d.peers {
		labels := map[string]string{"peer": p.Name, "peer_region": p.Region, "peer_role": p.Role.String()}
		got, ok := gaugeOf(fams, "pangea_gossip_peer_rtt_seconds", labels)
		want, known := d.rtts[p.Name]
		if ok != known || got != want.Seconds() {
			t.Errorf("pangea_gossip_peer_rtt_seconds%v = %v (reported %v), want %v (known %v)", labels, got, ok, want.Seconds(), known)
		}
	}
	counts := map[Health]float64{HealthAlive: 2, HealthSuspect: 1, HealthDead: 1, HealthLeft: 1}
	for h, want := range counts {
		if got, ok := gaugeOf(fams, "pangea_gossip_peers", map[string]string{"health": h.String()}); !ok || got != want {
			t.Errorf("pangea_gossip_peers{health=%q} = %v (reported %v), want %v", h, got, ok, want)
		}
	}
}

func TestCollector_BadPeerNameFailsItsSamplesOnly(t *testing.T) {
	d := &fakeDirectory{peers: []Peer{
		{Name: "bad\xff", Meta: Meta{Region: "eu-west-1", Role: RoleMember}},
		{Name: "good", Meta: Meta{Region: "eu-west-1", Role: RoleMember}},
	}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(d))
	fams, err := reg.Gather() // must not panic
	if err == nil {
		t.Error("a peer name that is no UTF-8 gathered without an error")
	}
	labels := map[string]string{"peer": "good", "peer_region": "eu-west-1", "peer_role": "member", "health": "alive"}
	if got, ok := gaugeOf(fams, "pangea_gossip_peer_health", labels); !ok || got != 1 {
		t.Errorf("the good peer's health: %v (reported %v)", got, ok)
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

package routing

import (
	"slices"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// pickerMRAP is an MRAP over regions named in dials (region -> TrafficDial),
// with bucket "b-<region>" in each.
func pickerMRAP(dials map[string]int) storage.MRAP {
	m := storage.MRAP{Account: "000000000000", Name: "m", Alias: "mabc.mrap", Status: storage.MRAPReady}
	for r, d := range dials {
		m.Regions = append(m.Regions, storage.MRAPRegion{Region: r, Bucket: "b-" + r, TrafficDial: d})
	}
	slices.SortFunc(m.Regions, func(a, b storage.MRAPRegion) int {
		if a.Region < b.Region {
			return -1
		}
		return 1
	})
	return m
}

func pickedRegions(ps []PickedRegion) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Region)
	}
	return out
}

// TestPicker_OrdersByRTTOwnRegionFirst: the own region first, then by the
// nearest healthy member's RTT, unmeasured ones last, ties by name; passive
// regions and regions without a healthy member are left out.
func TestPicker_OrdersByRTTOwnRegionFirst(t *testing.T) {
	d := newChangingDirectory(
		Peer{Name: "self", Self: true, Health: HealthAlive, Meta: Meta{Region: "eu", Role: RoleMember, InternalAddr: "self:1"}},
		regionPeer("us-1", "us", "us-1:1", 80*time.Millisecond, true, HealthAlive),
		regionPeer("us-2", "us", "us-2:1", 70*time.Millisecond, false, HealthSuspect),
		regionPeer("ap-1", "ap", "ap-1:1", 200*time.Millisecond, true, HealthAlive),
		regionPeer("sa-1", "sa", "sa-1:1", 70*time.Millisecond, true, HealthAlive),
		regionPeer("af-1", "af", "af-1:1", 10*time.Millisecond, true, HealthDead),
		regionPeer("me-1", "me", "me-1:1", 0, true, HealthAlive),
		regionPeer("ca-1", "ca", "ca-1:1", 5*time.Millisecond, true, HealthAlive),
	)
	p := NewPicker(d, "eu", 0)
	m := pickerMRAP(map[string]int{"eu": 100, "us": 100, "ap": 100, "sa": 100, "af": 100, "me": 100, "ca": 0})
	got := p.Pick(m)
	want := []string{"eu", "sa", "us", "ap", "me"}
	if !slices.Equal(pickedRegions(got), want) {
		t.Fatalf("order %v, want %v", pickedRegions(got), want)
	}
	if !got[0].Local || got[0].Bucket != "b-eu" || got[1].RTT != 70*time.Millisecond || got[2].RTT != 70*time.Millisecond {
		t.Fatalf("picked %+v", got)
	}
	// An edge has no own region.
	edge := NewPicker(d, "", 0)
	if g := pickedRegions(edge.Pick(m)); !slices.Equal(g, []string{"sa", "us", "ap", "me"}) {
		t.Fatalf("edge order %v", g)
	}
	// Where each picked region is then served from (the planet's fronts place
	// hops with the Resolver): the own region is local; others list the members.
	res := NewResolver(d, nil, "eu", []string{"eu", "us", "ap", "sa", "af", "me", "ca"}, nil)
	if pl, err := res.Region(t.Context(), "eu"); err != nil || !pl.Local {
		t.Fatalf("own placement %+v %v", pl, err)
	}
	if pl, err := res.Region(t.Context(), "us"); err != nil || pl.Local || !slices.Equal(pl.Addrs, []string{"us-1:1", "us-2:1"}) {
		t.Fatalf("us placement %+v %v", pl, err)
	}
	// Health follows the pool at once.
	d.set(regionPeer("us-1", "us", "us-1:1", 80*time.Millisecond, true, HealthDead))
	if g := pickedRegions(p.Pick(m)); !slices.Equal(g, []string{"eu"}) {
		t.Fatalf("after failures %v", g)
	}
	if g := edge.Pick(m); len(g) != 0 {
		t.Fatalf("edge with no healthy region picked %v", g)
	}
}

// TestPicker_RouteChangesAfterDelay: a new route set is applied only once it
// has been seen for the delay; with no delay at once.
func TestPicker_RouteChangesAfterDelay(t *testing.T) {
	d := newChangingDirectory(
		regionPeer("us-1", "us", "us-1:1", 80*time.Millisecond, true, HealthAlive),
		regionPeer("ap-1", "ap", "ap-1:1", 200*time.Millisecond, true, HealthAlive),
	)
	now := time.Unix(1000, 0)
	p := NewPicker(d, "", 2*time.Minute)
	p.now = func() time.Time { return now }
	before := pickerMRAP(map[string]int{"us": 100, "ap": 0})
	after := pickerMRAP(map[string]int{"us": 0, "ap": 100})
	if g := pickedRegions(p.Pick(before)); !slices.Equal(g, []string{"us"}) {
		t.Fatalf("first sight %v", g)
	}
	if g := pickedRegions(p.Pick(after)); !slices.Equal(g, []string{"us"}) {
		t.Fatalf("change applied at once: %v", g)
	}
	now = now.Add(time.Minute)
	if g := pickedRegions(p.Pick(after)); !slices.Equal(g, []string{"us"}) {
		t.Fatalf("change applied before the delay: %v", g)
	}
	now = now.Add(time.Minute)
	if g := pickedRegions(p.Pick(after)); !slices.Equal(g, []string{"ap"}) {
		t.Fatalf("change not applied after the delay: %v", g)
	}
	// Changed back and forth within the delay: the pending change restarts.
	now = now.Add(time.Second)
	p.Pick(before)
	now = now.Add(90 * time.Second)
	p.Pick(after) // back to the applied routes: nothing pending
	p.Pick(before)
	now = now.Add(90 * time.Second)
	if g := pickedRegions(p.Pick(before)); !slices.Equal(g, []string{"ap"}) {
		t.Fatalf("pending change applied early: %v", g)
	}
	now = now.Add(30 * time.Second)
	if g := pickedRegions(p.Pick(before)); !slices.Equal(g, []string{"us"}) {
		t.Fatalf("pending change never applied: %v", g)
	}

	// No delay: at once. Forget starts afresh.
	q := NewPicker(d, "", 0)
	q.Pick(before)
	if g := pickedRegions(q.Pick(after)); !slices.Equal(g, []string{"ap"}) {
		t.Fatalf("no delay: %v", g)
	}
	p.Forget(after.Account, after.Name)
	if g := pickedRegions(p.Pick(after)); !slices.Equal(g, []string{"ap"}) {
		t.Fatalf("after Forget: %v", g)
	}
}

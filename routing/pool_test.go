package routing

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
)

// The multi-pool tests run in parallel: they mostly wait for probes and
// timers, and the package must stay well under 30 s. Those that measure
// failure detection use DefaultTiming (the figures DESIGN.md reports); the
// others fastTiming.

func TestPool_JoinThroughOneSeedSeesEveryonesMeta(t *testing.T) {
	t.Parallel()
	pools := startCluster(t, DefaultTiming())
	for _, o := range pools {
		peers := o.Peers()
		if len(peers) != len(pools) {
			t.Fatalf("%s lists %d peers, want %d", o.cfg.Name, len(peers), len(pools))
		}
		for _, w := range pools {
			got, ok := o.Peer(w.cfg.Name)
			if !ok {
				t.Fatalf("%s does not know %s", o.cfg.Name, w.cfg.Name)
			}
			c := w.cfg
			if got.Region != c.Region || got.Location != c.Location || got.Role != c.Role ||
				got.S3Endpoint != c.S3Endpoint || got.InternalAddr != c.InternalAddr || got.Leader {
				t.Errorf("%s sees %s as %+v, want the meta of %+v", o.cfg.Name, w.cfg.Name, got.Meta, c)
			}
			if got.GossipAddr != w.GossipAddr() {
				t.Errorf("%s sees %s at %s, want %s", o.cfg.Name, w.cfg.Name, got.GossipAddr, w.GossipAddr())
			}
			if !got.Started.Equal(w.Self().Started) {
				t.Errorf("%s sees %s started at %v, want %v", o.cfg.Name, w.cfg.Name, got.Started, w.Self().Started)
			}
			if got.Self != (o == w) {
				t.Errorf("%s: Self flag of %s is %v", o.cfg.Name, w.cfg.Name, got.Self)
			}
		}
	}
	regions := Regions(pools[1])
	if len(regions) != 3 {
		t.Fatalf("Regions: %d, want 3: %+v", len(regions), regions)
	}
	eu := regions[1] // ap-southeast-2, eu-west-1, us-east-1
	if eu.Name != "eu-west-1" || len(eu.Members) != 1 || len(eu.Edges) != 1 || eu.Healthy != 1 || eu.HasLeader {
		t.Errorf("eu-west-1 summary: %+v", eu)
	}
}

func TestPool_RTTKnownForEveryPeerAfterAFewProbes(t *testing.T) {
	t.Parallel()
	pools := startCluster(t, fastTiming())
	// Each pool probes one peer per interval, round robin: every peer within
	// a round of three probes, give or take the shuffle.
	testkit.Eventually(t, 15*time.Second, "an RTT to every peer", func() error {
		for _, o := range pools {
			for _, w := range pools {
				if o == w {
					continue
				}
				rtt, ok := o.RTT(w.cfg.Name)
				if !ok || rtt <= 0 {
					return fmt.Errorf("%s has no RTT to %s", o.cfg.Name, w.cfg.Name)
				}
				if p, _ := o.Peer(w.cfg.Name); p.RTT != rtt {
					return testkit.Stop(fmt.Errorf("Peer.RTT %v != RTT() %v", p.RTT, rtt))
				}
			}
		}
		return nil
	})
	// The acks of memberlist's probes carry coordinates: soon pools[0] can
	// estimate the RTT between any two processes, including pairs it never
	// measures. (A first RTT can come earlier, from the ping a new peer gets
	// at once, which carries none.)
	testkit.Eventually(t, 15*time.Second, "an RTT estimate between every two processes", func() error {
		for _, a := range pools {
			for _, b := range pools {
				if _, ok := pools[0].EstimateRTT(a.cfg.Name, b.cfg.Name); !ok {
					return fmt.Errorf("no RTT estimate between %s and %s", a.cfg.Name, b.cfg.Name)
				}
			}
		}
		return nil
	})
	if _, ok := pools[0].EstimateRTT(pools[1].cfg.Name, "nobody"); ok {
		t.Error("an RTT estimate to an unknown process")
	}
	if _, ok := pools[0].RTT(pools[0].cfg.Name); ok {
		t.Error("RTT to self is known; want none")
	}
	rtt, _ := pools[0].RTT(pools[1].cfg.Name)
	t.Logf("loopback RTT %s -> %s: %v", pools[0].cfg.Name, pools[1].cfg.Name, rtt)
}

func TestPool_SetLeaderPropagatesAndRegionLeaderPicksTheLatestClaim(t *testing.T) {
	t.Parallel()
	eu1 := startPool(t, testConfig(t, "eu-1", "eu-west-1", "dublin"))
	seeds := []string{eu1.GossipAddr()}
	var pools = []*Pool{eu1}
	for _, name := range []string{"eu-2", "us-1", "us-2"} {
		region, loc := "eu-west-1", "dublin"
		if name[:2] == "us" {
			region, loc = "us-east-1", "virginia"
		}
		cfg := testConfig(t, name, region, loc)
		cfg.Seeds = seeds
		pools = append(pools, startPool(t, cfg))
	}
	waitAllAlive(t, pools, pools)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	changes := pools[3].Changes()
	if err := eu1.SetLeader(ctx, true); err != nil {
		t.Fatalf("SetLeader: %v", err)
	}
	waitLeader := func(region, want string) {
		t.Helper()
		testkit.Eventually(t, 10*time.Second, fmt.Sprintf("everyone to see %s lead %s", want, region), func() error {
			for _, o := range pools {
				l, ok := RegionLeader(o, region)
				got := "none"
				if ok {
					got = l.Name
				}
				if got != want {
					return fmt.Errorf("%s sees %s lead %s", o.cfg.Name, got, region)
				}
			}
			return nil
		})
	}
	waitLeader("eu-west-1", "eu-1")
	select {
	case <-changes:
	default:
		t.Error("Changes was not closed by a leader change")
	}
	if p, _ := pools[2].Peer("eu-1"); !p.Leader || p.LeaderSince.IsZero() {
		t.Errorf("us-1 sees eu-1 as %+v, want leader since a time", p.Meta)
	}

	// A new leader claims while the old one has not yet stepped down: the
	// later claim wins.
	if err := pools[1].SetLeader(ctx, true); err != nil {
		t.Fatalf("SetLeader: %v", err)
	}
	waitLeader("eu-west-1", "eu-2")
	if err := eu1.SetLeader(ctx, false); err != nil {
		t.Fatalf("SetLeader: %v", err)
	}
	if err := pools[1].SetLeader(ctx, false); err != nil {
		t.Fatalf("SetLeader: %v", err)
	}
	waitLeader("eu-west-1", "none")
	waitLeader("us-east-1", "none")
}

func TestPool_ShutdownWithoutLeavingIsSeenDeadWithinSeconds(t *testing.T) {
	t.Parallel()
	pools := startCluster(t, DefaultTiming())
	victim := pools[2]
	others := without(pools, 2)
	changes := others[0].Changes()
	victim.Close()
	took := waitHealth(t, others, victim.cfg.Name, HealthDead, 15*time.Second)
	t.Logf("a pool shut down without leaving was seen dead by all %d others after %v", len(others), took)
	select {
	case <-changes:
	default:
		t.Error("Changes was not closed by a failure")
	}
	if got := len(others[0].Peers()); got != len(pools) {
		t.Errorf("after the failure %d peers listed, want %d (the dead one kept)", got, len(pools))
	}
	for _, r := range Regions(others[0]) {
		if r.Name == victim.cfg.Region && r.Healthy != 0 {
			t.Errorf("region %s counts %d healthy members, want 0", r.Name, r.Healthy)
		}
	}
}

func TestPool_LeaveIsSeenAsLeftAtOnce(t *testing.T) {
	t.Parallel()
	pools := startCluster(t, DefaultTiming())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := pools[1].Leave(ctx); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	left := time.Since(start)
	// Leave returns once memberlist has gossiped the departure: the others
	// know within a gossip round or two, far below failure detection.
	took := waitHealth(t, without(pools, 1), pools[1].cfg.Name, HealthLeft, 2*time.Second)
	t.Logf("Leave took %v; everyone saw it left %v later", left, took)
	if h := pools[1].Self().Health; h != HealthLeft {
		t.Errorf("the leaver sees itself %v, want left", h)
	}
	if err := pools[1].SetLeader(ctx, true); err == nil {
		t.Error("SetLeader after Leave succeeded; want ErrClosed")
	}
}

func TestPool_RestartUnderTheSameNameIsAliveAgain(t *testing.T) {
	t.Parallel()
	pools := startCluster(t, fastTiming())
	old := pools[1]
	oldAddr, oldStarted := old.GossipAddr(), old.Self().Started
	old.Close()
	others := without(pools, 1)
	waitHealth(t, others, old.cfg.Name, HealthDead, 15*time.Second)

	cfg := old.cfg
	cfg.BindPort = 0 // a new process, likely on another port
	cfg.Seeds = []string{pools[3].GossipAddr()}
	cfg.Logger = testLogger(t)
	reborn := startPool(t, cfg)
	took := waitHealth(t, others, cfg.Name, HealthAlive, 15*time.Second)
	t.Logf("restart at %s (was %s) seen alive after %v", reborn.GossipAddr(), oldAddr, took)
	for _, o := range others {
		p, _ := o.Peer(cfg.Name)
		if p.GossipAddr != reborn.GossipAddr() || p.Started.Equal(oldStarted) {
			t.Errorf("%s sees the restarted %s at %s started %v; want %s and a new start", o.cfg.Name, cfg.Name, p.GossipAddr, p.Started, reborn.GossipAddr())
		}
	}
	waitAllAlive(t, []*Pool{reborn}, pools[:1])
}

func TestPool_WrongSecretIsRefused(t *testing.T) {
	t.Parallel()
	a := startPool(t, testConfig(t, "eu-1", "eu-west-1", "dublin"))
	cfgB := testConfig(t, "us-1", "us-east-1", "virginia")
	cfgB.Seeds = []string{a.GossipAddr()}
	b := startPool(t, cfgB)
	good := []*Pool{a, b}
	waitAllAlive(t, good, good)

	cfgX := testConfig(t, "intruder", "eu-west-1", "dublin")
	cfgX.Secret = []byte("not the cluster secret")
	cfgX.Seeds = []string{a.GossipAddr()} // it also keeps trying in the background
	x := startPool(t, cfgX)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := x.Join(ctx, []string{a.GossipAddr(), b.GossipAddr()}); err == nil {
		t.Fatal("a process with another secret joined")
	} else {
		t.Logf("join refused: %v", err)
	}
	// Nor can the cluster be made to join it.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if err := a.Join(ctx2, []string{x.GossipAddr()}); err == nil {
		t.Fatal("a member joined a process with another secret")
	}
	for _, p := range good {
		if _, ok := p.Peer("intruder"); ok {
			t.Errorf("%s lists the intruder", p.cfg.Name)
		}
		if n := len(p.Peers()); n != 2 {
			t.Errorf("%s lists %d peers, want 2", p.cfg.Name, n)
		}
	}
	if n := len(x.Peers()); n != 1 {
		t.Errorf("the intruder lists %d peers, want itself only", n)
	}
}

func TestPool_AloneLifecycle(t *testing.T) {
	t.Parallel()
	p := startPool(t, testConfig(t, "solo", "eu-west-1", "dublin"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The first process of a pool may be given its own address as seed.
	if err := p.Join(ctx, []string{p.GossipAddr()}); err != nil {
		t.Fatalf("Join with only itself as seed: %v", err)
	}
	if peers := p.Peers(); len(peers) != 1 || !peers[0].Self || peers[0].Health != HealthAlive {
		t.Fatalf("alone, Peers() = %+v", peers)
	}
	if err := p.SetLeader(ctx, true); err != nil {
		t.Fatalf("SetLeader alone: %v", err)
	}
	if l, ok := RegionLeader(p, "eu-west-1"); !ok || !l.Self {
		t.Errorf("RegionLeader alone = %+v, %v; want itself", l, ok)
	}
	// Leave and Close at once: memberlist panics on a leave after shutdown.
	done := make(chan error, 1)
	go func() { done <- p.Leave(ctx) }()
	p.Close()
	<-done
	if h := p.Self().Health; h != HealthLeft && h != HealthDead {
		t.Errorf("closed pool sees itself %v", h)
	}
	if err := p.Join(ctx, []string{"127.0.0.1:1"}); err == nil {
		t.Error("Join after Close succeeded")
	}
}

func TestPool_PartitionSplitsBothWaysAndHealingRestores(t *testing.T) {
	t.Parallel()
	split := &netSplit{}
	specs := []struct {
		name, region string
		side         int
	}{
		{"eu-1", "eu-west-1", 0}, {"eu-2", "eu-west-1", 0}, {"edge-eu", "eu-west-1", 0},
		{"us-1", "us-east-1", 1}, {"us-2", "us-east-1", 1}, {"ap-1", "ap-southeast-2", 1},
	}
	var pools []*Pool
	sides := [2][]*Pool{}
	for i, s := range specs {
		mt := newMuteTransport(t, split, s.side)
		cfg := testConfig(t, s.name, s.region, s.region+"-loc")
		cfg.Transport = mt
		if i > 0 {
			cfg.Seeds = []string{pools[0].GossipAddr()}
		}
		p := startPool(t, cfg)
		if p.GossipAddr() != mt.self {
			t.Fatalf("pool advertises %s, its transport is bound to %s", p.GossipAddr(), mt.self)
		}
		pools = append(pools, p)
		sides[s.side] = append(sides[s.side], p)
	}
	waitAllAlive(t, pools, pools)

	split.setCut(true)
	start := time.Now()
	for a := range 2 {
		for _, far := range sides[1-a] {
			waitHealth(t, sides[a], far.cfg.Name, HealthDead, 20*time.Second)
		}
	}
	t.Logf("3|3 partition: both sides saw the other dead after %v", time.Since(start))
	waitAllAlive(t, sides[0], sides[0])
	waitAllAlive(t, sides[1], sides[1])

	split.setCut(false)
	start = time.Now()
	waitAllAlive(t, pools, pools)
	t.Logf("healed: everyone alive again after %v", time.Since(start))
}

// TestPool_250msLinks runs three pools whose every packet takes 125 ms each
// way, the emulated planet's longest link: probes must succeed (ProbeTimeout
// is above the RTT), the RTTs must show it, a pool that stops answering must
// still be seen dead within seconds, and alive again once it answers.
func TestPool_250msLinks(t *testing.T) {
	t.Parallel()
	const oneWay = 125 * time.Millisecond
	var pools []*Pool
	var transports []*muteTransport
	for i, name := range []string{"eu-1", "us-1", "ap-1"} {
		mt := newMuteTransport(t, nil, 0)
		transports = append(transports, mt)
		mt.delay = oneWay
		cfg := testConfig(t, name, name+"-region", name+"-loc")
		cfg.Transport = mt
		if i > 0 {
			cfg.Seeds = []string{pools[0].GossipAddr()}
		}
		pools = append(pools, startPool(t, cfg))
	}
	waitAllAlive(t, pools, pools)
	// From here until every RTT is known (a few probe rounds), any health
	// other than alive would be a false suspicion.
	var bad []string
	testkit.Eventually(t, 20*time.Second, "an RTT to every peer over 250 ms links", func() error {
		for _, o := range pools {
			for _, w := range pools {
				if o == w {
					continue
				}
				p, _ := o.Peer(w.cfg.Name)
				if p.Health != HealthAlive {
					bad = append(bad, fmt.Sprintf("%s saw %s %s", o.cfg.Name, w.cfg.Name, p.Health))
				}
				if p.RTT == 0 {
					return fmt.Errorf("%s has no RTT to %s", o.cfg.Name, w.cfg.Name)
				}
			}
		}
		return nil
	})
	if len(bad) > 0 {
		t.Errorf("false suspicion over 250 ms links: %v", bad)
	}
	for _, o := range pools {
		for _, w := range pools {
			if o == w {
				continue
			}
			rtt, _ := o.RTT(w.cfg.Name)
			if rtt < 2*oneWay || rtt > 2*oneWay+150*time.Millisecond {
				t.Errorf("%s measures %v to %s, want about %v", o.cfg.Name, rtt, w.cfg.Name, 2*oneWay)
			}
		}
	}
	rtt, _ := pools[0].RTT("us-1")
	t.Logf("over 250 ms links: eu-1 measures %v to us-1", rtt)

	transports[2].muted.Store(true)
	took := waitHealth(t, pools[:2], "ap-1", HealthDead, 15*time.Second)
	t.Logf("over 250 ms links, a pool that stopped answering was seen dead after %v", took)

	transports[2].muted.Store(false)
	start := time.Now()
	waitAllAlive(t, pools, pools)
	t.Logf("once it answered again, everyone was alive again after %v", time.Since(start))
}

// TestPool_RejoinsAfterALongPartition: once memberlist has stopped gossiping to
// the peers it declared dead, only the reconnect loop heals a partition. The
// lab names its members "<region>/<id>": a slash that memberlist's Join reads as
// the end of a node-name prefix, so joining a peer as name/addr failed and a
// partition longer than GossipToTheDead never healed.
func TestPool_RejoinsAfterALongPartition(t *testing.T) {
	t.Parallel()
	split := &netSplit{}
	var pools []*Pool
	sides := [2][]*Pool{}
	for i, name := range []string{"eu-west-1/n1", "eu-west-1/n2", "us-east-1/n1", "us-east-1/n2"} {
		side := i / 2
		mt := newMuteTransport(t, split, side)
		cfg := testConfig(t, name, strings.Split(name, "/")[0], strings.Split(name, "/")[0]+"-loc")
		cfg.Transport = mt
		cfg.Timing.GossipToTheDead = time.Second
		if i > 0 {
			cfg.Seeds = []string{pools[0].GossipAddr()}
		}
		p := startPool(t, cfg)
		pools = append(pools, p)
		sides[side] = append(sides[side], p)
	}
	waitAllAlive(t, pools, pools)
	split.setCut(true)
	for a := range 2 {
		for _, far := range sides[1-a] {
			waitHealth(t, sides[a], far.cfg.Name, HealthDead, 20*time.Second)
		}
	}
	// Outlast memberlist's gossip to the dead (a protocol timeout to wait
	// out, not a condition to poll).
	<-time.After(3 * time.Second)
	split.setCut(false)
	start := time.Now()
	waitAllAlive(t, pools, pools)
	t.Logf("healed after a partition longer than GossipToTheDead: everyone alive again after %v", time.Since(start))
}

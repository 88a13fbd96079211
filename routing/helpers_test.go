package routing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/pangea-s3/pangea/integration/testkit"
)

// testLogger writes to t.Log, at debug level when PANGEA_TEST_DEBUG is set
// (memberlist's debug lines are many) and info otherwise. Lines logged after
// the test's cleanups are dropped: memberlist goroutines may outlive a Close.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	level := slog.LevelInfo
	if os.Getenv("PANGEA_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

var testSecret = []byte("pangea test cluster secret")

// testConfig is a pool config on 127.0.0.1, port 0, with the default timing.
func testConfig(t testing.TB, name, region, location string) Config {
	c := DefaultConfig()
	c.Name = name
	c.Region = region
	c.Location = location
	c.S3Endpoint = "http://" + name + ".s3.test:9000"
	c.InternalAddr = name + ".internal.test:7000"
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.Secret = testSecret
	c.Logger = testLogger(t)
	return c
}

// fastTiming is for tests about something other than failure detection's
// speed on the WAN: loopback RTTs are well under a millisecond, so probing five
// times faster is safe and keeps the package's tests short.
func fastTiming() Timing {
	t := DefaultTiming()
	t.ProbeInterval = 200 * time.Millisecond
	t.ProbeTimeout = 100 * time.Millisecond
	t.GossipInterval = 50 * time.Millisecond
	t.ReconnectInterval = 500 * time.Millisecond
	return t
}

// startPool starts a pool that the test closes at its end.
func startPool(t testing.TB, cfg Config) *Pool {
	t.Helper()
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// clusterSpec names the processes of startCluster: region/location per index.
var clusterSpec = []struct {
	name, region, location string
	role                   Role
}{
	{"eu-1", "eu-west-1", "dublin", RoleMember},
	{"us-1", "us-east-1", "virginia", RoleMember},
	{"ap-1", "ap-southeast-2", "sydney", RoleMember},
	{"edge-eu", "eu-west-1", "paris", RoleEdge},
}

// startCluster starts the four processes of clusterSpec, the first as the
// seed of the others, and waits until each sees all four alive.
func startCluster(t testing.TB, timing Timing) []*Pool {
	t.Helper()
	var pools []*Pool
	for i, s := range clusterSpec {
		cfg := testConfig(t, s.name, s.region, s.location)
		cfg.Role = s.role
		cfg.Timing = timing
		if i > 0 {
			cfg.Seeds = []string{pools[0].GossipAddr()}
		}
		pools = append(pools, startPool(t, cfg))
	}
	waitAllAlive(t, pools, pools)
	return pools
}

// waitAllAlive waits until every pool of observers sees every pool of want
// alive.
func waitAllAlive(t testing.TB, observers, want []*Pool) {
	t.Helper()
	// Usually a second; a lost alive message waits for anti-entropy
	// (PushPullInterval), hence the deadline.
	testkit.Eventually(t, 25*time.Second, "every pool to see the others alive", func() error {
		var missing []string
		for _, o := range observers {
			for _, w := range want {
				p, ok := o.Peer(w.cfg.Name)
				switch {
				case !ok:
					missing = append(missing, fmt.Sprintf("%s does not know %s", o.cfg.Name, w.cfg.Name))
				case p.Health != HealthAlive:
					missing = append(missing, fmt.Sprintf("%s sees %s %s", o.cfg.Name, w.cfg.Name, p.Health))
				}
			}
		}
		if len(missing) > 0 {
			return errors.New(strings.Join(missing, "; "))
		}
		return nil
	})
}

// waitHealth waits until every observer sees name in state h, and returns
// how long that took.
func waitHealth(t testing.TB, observers []*Pool, name string, h Health, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	testkit.Eventually(t, timeout, fmt.Sprintf("every pool to see %s %s", name, h), func() error {
		for _, o := range observers {
			p, ok := o.Peer(name)
			if !ok {
				return fmt.Errorf("%s does not know %s", o.cfg.Name, name)
			}
			if p.Health != h {
				return fmt.Errorf("%s sees %s %s", o.cfg.Name, name, p.Health)
			}
		}
		return nil
	})
	return time.Since(start)
}

// without returns pools minus the one at index i.
func without(pools []*Pool, i int) []*Pool {
	out := append([]*Pool(nil), pools[:i]...)
	return append(out, pools[i+1:]...)
}

// muteTransport is memberlist's NetTransport with a switch that makes the
// process stop answering: while muted it drops every packet in and out and
// refuses every stream, as a hung process would. With a split, it also drops
// what crosses the cut (dials across it are refused by the dialer's side; the
// stand-in for the WAN emulation's partitions).
type muteTransport struct {
	*memberlist.NetTransport
	muted   atomic.Bool
	closing atomic.Bool   // Shutdown has begun: drop everything
	split   *netSplit     // nil: no partition
	delay   time.Duration // added to every packet sent, and to every dial: half an RTT
	self    string        // our gossip address, as the split knows it
	packets chan *memberlist.Packet
	streams chan net.Conn
	stop    chan struct{}
	once    sync.Once
}

var _ memberlist.NodeAwareTransport = (*muteTransport)(nil)

// newMuteTransport returns a transport on 127.0.0.1, port 0, placed on side of
// split (nil: no partition).
func newMuteTransport(t testing.TB, split *netSplit, side int) *muteTransport {
	t.Helper()
	var nt *memberlist.NetTransport
	var err error
	for range 10 { // port 0 picks a TCP port whose UDP twin may be taken
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{"127.0.0.1"},
			Logger:    log.New(io.Discard, "", 0),
		})
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("net transport: %v", err)
	}
	m := &muteTransport{
		NetTransport: nt,
		packets:      make(chan *memberlist.Packet),
		streams:      make(chan net.Conn),
		stop:         make(chan struct{}),
		self:         fmt.Sprintf("127.0.0.1:%d", nt.GetAutoBindPort()),
		split:        split,
	}
	if split != nil {
		split.place(m.self, side)
	}
	go m.forwardPackets()
	go m.forwardStreams()
	return m
}

func (m *muteTransport) forwardPackets() {
	for {
		select {
		case p := <-m.NetTransport.PacketCh():
			if m.muted.Load() || m.closing.Load() || m.cut(p.From.String()) {
				continue
			}
			select {
			case m.packets <- p:
			case <-m.stop:
				return
			}
		case <-m.stop:
			return
		}
	}
}

func (m *muteTransport) forwardStreams() {
	for {
		select {
		case c := <-m.NetTransport.StreamCh():
			if m.muted.Load() || m.closing.Load() {
				c.Close()
				continue
			}
			select {
			case m.streams <- c:
			case <-m.stop:
				c.Close()
				return
			}
		case <-m.stop:
			return
		}
	}
}

var errMuted = errors.New("muted")

func (m *muteTransport) PacketCh() <-chan *memberlist.Packet { return m.packets }
func (m *muteTransport) StreamCh() <-chan net.Conn           { return m.streams }

func (m *muteTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return m.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (m *muteTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if m.muted.Load() || m.cut(a.Addr) {
		return time.Now(), nil // lost on the way
	}
	if m.delay > 0 {
		b = bytes.Clone(b) // memberlist reuses its buffer
		time.AfterFunc(m.delay, func() {
			if !m.closing.Load() {
				m.NetTransport.WriteToAddress(b, a)
			}
		})
		return time.Now(), nil
	}
	return m.NetTransport.WriteToAddress(b, a)
}

func (m *muteTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return m.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (m *muteTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if m.muted.Load() || m.cut(a.Addr) {
		return nil, errMuted
	}
	time.Sleep(m.delay) // the emulated link's latency, not a wait for anything
	return m.NetTransport.DialAddressTimeout(a, timeout)
}

// Shutdown stops the NetTransport while the forwarders still drain it (its
// listeners block on unbuffered channels, and its Shutdown waits for them),
// then stops the forwarders.
func (m *muteTransport) Shutdown() error {
	m.closing.Store(true)
	err := m.NetTransport.Shutdown()
	m.once.Do(func() { close(m.stop) })
	return err
}

// cut reports whether the split separates us from addr.
func (m *muteTransport) cut(addr string) bool {
	return m.split != nil && m.split.separates(m.self, addr)
}

// netSplit partitions gossip addresses into sides; while cut, nothing crosses
// between sides.
type netSplit struct {
	mu   sync.Mutex
	side map[string]int
	cut  bool
}

func (s *netSplit) place(addr string, side int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.side == nil {
		s.side = map[string]int{}
	}
	s.side[addr] = side
}

func (s *netSplit) setCut(cut bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = cut
}

func (s *netSplit) separates(a, b string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cut && s.side[a] != s.side[b]
}

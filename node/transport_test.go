package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/pangea-s3/pangea/integration/testkit"
)

// logCapture is a slog.Handler keeping the records at or above min.
type logCapture struct {
	min  slog.Level
	mu   sync.Mutex
	recs []slog.Record
}

func (c *logCapture) Enabled(_ context.Context, l slog.Level) bool { return l >= c.min }

func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.recs = append(c.recs, r.Clone())
	c.mu.Unlock()
	return nil
}

// The member's With attributes (component, region, member) are dropped: the tests
// look at messages and at the attributes of each record.
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *logCapture) WithGroup(string) slog.Handler      { return c }

func (c *logCapture) records(msgPrefix string) []slog.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []slog.Record
	for _, r := range c.recs {
		if strings.HasPrefix(r.Message, msgPrefix) {
			out = append(out, r)
		}
	}
	return out
}

func recordString(r slog.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	return b.String()
}

func recordInt(r slog.Record, key string) (int64, bool) {
	var v int64
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value.Int64(), true
			return false
		}
		return true
	})
	return v, found
}

// countingListener counts the connections it has accepted and that are still
// open (not closed by the member), and the peak of the latter.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	open     int
	peak     int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	l.mu.Lock()
	l.open++
	l.peak = max(l.peak, l.open)
	l.mu.Unlock()
	return &countedConn{Conn: c, l: l}, nil
}

func (l *countingListener) peakOpen() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peak
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

const abuseSecret = "abuse-test-secret"

// openAbuseMember opens a single-member region on a loopback listener that counts
// its connections, logging Warn and above into the capture returned.
func openAbuseMember(t *testing.T) (*Member, *countingListener, *logCapture) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: raw}
	logs := &logCapture{min: slog.LevelWarn}
	m, err := OpenMember(MemberConfig{
		Dir: t.TempDir(), Region: "us-east-1", ID: "n1", Secret: abuseSecret, Listener: ln,
		Logger: slog.New(logs), NoSync: true,
		Raft: RaftTimeouts{Heartbeat: 100 * time.Millisecond, Election: 100 * time.Millisecond, LeaderLease: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, ln, logs
}

// garbageKinds are the connections of the flood. A write may fail (the member may
// have cut the connection already); what matters is that the member hangs up.
var garbageKinds = []struct {
	name string
	run  func(conn *net.TCPConn) error
}{
	{"random bytes", func(conn *net.TCPConn) error {
		b := make([]byte, 64)
		rand.Read(b)
		b[0] = 'X' // never the handshake magic
		conn.Write(b)
		return nil
	}},
	{"wrong secret", func(conn *net.TCPConn) error {
		err := clientHandshake(conn, []byte("not-the-secret"), chanRaft, time.Now().Add(10*time.Second))
		if !errors.Is(err, ErrHandshake) {
			return fmt.Errorf("handshake with a wrong secret: %v, want ErrHandshake", err)
		}
		conn.CloseWrite() // hang up, as the dialer does, but see the member's close
		return nil
	}},
	{"connect and close", func(conn *net.TCPConn) error {
		conn.CloseWrite()
		return nil
	}},
	{"connect and idle", func(conn *net.TCPConn) error { return nil }},
}

// garbageConn makes one connection of the given kind and waits for the member to
// hang up.
func garbageConn(addr string, kind int) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	conn := c.(*net.TCPConn)
	defer conn.Close()
	if err := garbageKinds[kind].run(conn); err != nil {
		return fmt.Errorf("%s: %w", garbageKinds[kind].name, err)
	}
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		return fmt.Errorf("%s: waiting for the member to hang up: %w", garbageKinds[kind].name, err)
	}
	return nil
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// legitHandshake dials addr and runs the dialer's handshake with the secret, as raft
// does, until one succeeds. It returns the connections made and how many of them
// the member refused.
func legitHandshake(ctx context.Context, addr string) (conns, refused int, err error) {
	err = testkit.Poll(ctx, func() error {
		conn, err := defaultDial(ctx, addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		conns++
		err = clientHandshake(conn, []byte(abuseSecret), chanRaft, time.Now().Add(handshakeTimeout))
		if err != nil {
			refused++
		}
		return err
	})
	return conns, refused, err
}

// TestClusterPort_GarbageFloodIsSummarized sends 1,000 garbage connections (random
// bytes, a wrong secret, connect-and-close, connect-and-idle) to a member's cluster
// port. The member logs a handful of summary lines whose counts add up to the
// 1,000, never has more than the cap of handshakes open, and a client with the
// secret gets through while the flood lasts.
func TestClusterPort_GarbageFloodIsSummarized(t *testing.T) {
	m, ln, logs := openAbuseMember(t)
	addr := m.ClusterAddr()
	const total = 1000
	start := time.Now()

	// A client with the secret comes in once the flood is under way: a raw
	// handshake as raft makes it, and a gRPC status call.
	type legitResult struct {
		conns, refused int // connections made, and refused by the member
		err            error
	}
	legit := make(chan legitResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := testkit.Poll(ctx, func() error {
			if n := ln.accepted.Load(); n < total/3 {
				return fmt.Errorf("%d connections accepted", n)
			}
			return nil
		}); err != nil {
			legit <- legitResult{err: err}
			return
		}
		conns, refused, err := legitHandshake(ctx, addr)
		if err != nil {
			legit <- legitResult{conns, refused, fmt.Errorf("handshake with the secret: %w", err)}
			return
		}
		// gRPC dials again only when a connection failed: every dial but the
		// last was refused.
		var dials atomic.Int64
		c, err := DialCluster(addr, abuseSecret, func(ctx context.Context, addr string) (net.Conn, error) {
			conn, err := defaultDial(ctx, addr)
			if err == nil {
				dials.Add(1)
			}
			return conn, err
		})
		if err != nil {
			legit <- legitResult{conns, refused, err}
			return
		}
		defer c.Close()
		err = testkit.Poll(ctx, func() error {
			_, err := c.Status(ctx)
			return err
		})
		n := int(dials.Load())
		legit <- legitResult{conns + n, refused + n - 1, err}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, total)
	sem := make(chan struct{}, 200)
	for i := range total {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := garbageConn(addr, i%len(garbageKinds)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("garbage connection: %v", err)
	}
	lr := <-legit
	if lr.err != nil {
		t.Fatalf("a client with the secret during the flood: %v (after %d connections)", lr.err, lr.conns)
	}
	t.Logf("client with the secret got through: %d connections, %d refused", lr.conns, lr.refused)

	// Every garbage connection has been judged (the member hung up on each): the
	// summary still pending is flushed by Close.
	m.Close()
	elapsed := time.Since(start)

	lines := logs.records("refused cluster connection")
	sum := int64(0)
	for _, r := range lines {
		if r.Level != slog.LevelWarn {
			t.Errorf("refusal line at %v: %s", r.Level, recordString(r))
		}
		n, ok := recordInt(r, "count")
		if !ok {
			n = 1 // a line per connection
		}
		sum += n
	}
	// One line at once, then at most one per interval, then the flush at Close.
	maxLines := 2 + int(elapsed/refusalLogInterval)
	t.Logf("%d garbage connections over %v: %d refusal lines, counting %d; at most %d handshakes in progress, %d accepted connections open",
		total, elapsed.Round(time.Millisecond), len(lines), sum, m.mux.handshakePeak(), ln.peakOpen())
	if len(lines) > maxLines {
		for _, r := range lines[:min(len(lines), 5)] {
			t.Log(recordString(r))
		}
		t.Errorf("%d refusal lines for %d connections over %v, want at most %d", len(lines), total, elapsed, maxLines)
	}
	if want := int64(total + lr.refused); sum != want {
		for _, r := range lines {
			t.Log(recordString(r))
		}
		t.Errorf("refusal lines count %d connections, want %d (%d garbage, %d of the client with the secret)", sum, want, total, lr.refused)
	}
	if peak := m.mux.handshakePeak(); peak > maxPendingHandshakes {
		t.Errorf("%d handshakes in progress at once, want at most %d", peak, maxPendingHandshakes)
	}
	// Seen from the listener, the connections open at once are the handshakes in
	// progress (at most the cap, plus one being cut as another is admitted) and the
	// client's.
	if peak, limit := ln.peakOpen(), maxPendingHandshakes+1+lr.conns; peak > limit {
		t.Errorf("%d accepted connections open at once, want at most %d (cap %d, one being cut, %d from the client with the secret)", peak, limit, maxPendingHandshakes, lr.conns)
	}
}

// TestClusterPort_IdleConnectionsDoNotLockOutMembers fills the handshake slots with
// connections that send nothing, then dials with the secret once, without retrying:
// the member cuts the oldest idle connection to make room, rather than refusing the
// newcomer until the idle ones time out.
func TestClusterPort_IdleConnectionsDoNotLockOutMembers(t *testing.T) {
	m, ln, logs := openAbuseMember(t)
	addr := m.ClusterAddr()
	const extra = 16
	idle := make([]net.Conn, 0, maxPendingHandshakes+extra)
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range maxPendingHandshakes + extra {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	testkit.Eventually(t, 10*time.Second, "the idle connections accepted", func() error {
		if n := ln.accepted.Load(); n < int64(len(idle)) {
			return fmt.Errorf("%d accepted", n)
		}
		return nil
	})

	conn, err := defaultDial(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := clientHandshake(conn, []byte(abuseSecret), chanRaft, time.Now().Add(handshakeTimeout)); err != nil {
		t.Fatalf("handshake with the secret while %d idle connections hold the slots: %v", len(idle), err)
	}
	if peak := m.mux.handshakePeak(); peak > maxPendingHandshakes {
		t.Errorf("%d handshakes in progress at once, want at most %d", peak, maxPendingHandshakes)
	}

	// Close flushes the summary. The idle connections left are cut by Close, not
	// refused (unless the test outlasted the handshake deadline: timeouts).
	m.Close()
	lines := logs.records("refused cluster connection")
	cut := int64(0)
	for _, r := range lines {
		n, _ := recordInt(r, "over_handshake_cap")
		cut += n
	}
	if cut != extra+1 {
		for _, r := range lines {
			t.Log(recordString(r))
		}
		t.Errorf("%d connections cut over the handshake cap, want %d (the oldest idle ones)", cut, extra+1)
	}
}

// TestServerHandshake_RefusalReasons checks the reason given for each way a
// handshake fails.
func TestServerHandshake_RefusalReasons(t *testing.T) {
	secret := []byte("s3cret")
	cases := []struct {
		name   string
		client func(c net.Conn)
		want   refusalReason
	}{
		{"random bytes", func(c net.Conn) { c.Write(make([]byte, 4+nonceLen)) }, refusedNoHandshake},
		{"hang up at once", func(c net.Conn) { c.Close() }, refusedNoHandshake},
		{"idle", func(c net.Conn) {}, refusedTimeout},
		{"wrong secret", func(c net.Conn) {
			if clientHandshake(c, []byte("other"), chanRaft, time.Now().Add(2*time.Second)) != nil {
				c.Close()
			}
		}, refusedWrongSecret},
		{"wrong proof", func(c net.Conn) {
			var hello [4 + nonceLen]byte
			copy(hello[:], handshakeMagic[:])
			c.Write(hello[:])
			io.ReadFull(c, make([]byte, nonceLen+macLen))
			c.Write(make([]byte, macLen+1))
		}, refusedWrongSecret},
		{"unknown channel", func(c net.Conn) {
			var hello [4 + nonceLen]byte
			copy(hello[:], handshakeMagic[:])
			c.Write(hello[:])
			reply := make([]byte, nonceLen+macLen)
			io.ReadFull(c, reply)
			c.Write(append(mac(secret, "pangea-dialer", hello[4:], reply[:nonceLen], []byte{'X'}), 'X'))
		}, refusedUnknownChannel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s := net.Pipe()
			defer c.Close()
			defer s.Close()
			go tc.client(c)
			_, err := serverHandshake(s, secret, time.Now().Add(200*time.Millisecond))
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("serverHandshake: %v, want ErrHandshake", err)
			}
			if got := refusalOf(err); got != tc.want {
				t.Fatalf("refused as %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}

// manualTimer is the refusalLog's timer, fired by the test.
type manualTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func newTestRefusalLog(clock *fakeClock, logs *logCapture) (*refusalLog, *[]*manualTimer) {
	l := newRefusalLog(slog.New(logs), 5*time.Second)
	l.now = clock.Now
	timers := &[]*manualTimer{}
	l.after = func(d time.Duration, f func()) func() bool {
		mt := &manualTimer{d: d, f: f}
		*timers = append(*timers, mt)
		return func() bool { mt.stopped = true; return true }
	}
	return l, timers
}

func tcpAddr(s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}

func recordAttr(r slog.Record, key string) string {
	s := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			s = a.Value.String()
			return false
		}
		return true
	})
	return s
}

// TestRefusalLog_FirstAtOnceThenSummaries drives a refusal log with a fake clock and
// timer: the first refusal is logged at once, later ones once per interval with
// their counts and a bounded sample of hosts, and close flushes what is left.
func TestRefusalLog_FirstAtOnceThenSummaries(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	logs := &logCapture{min: slog.LevelWarn}
	l, timers := newTestRefusalLog(clock, logs)
	lines := func() []slog.Record { return logs.records("refused cluster connections") }
	errWrong := errors.New("wrong")

	l.record(refusedWrongSecret, tcpAddr("10.0.0.1:4000"), errWrong)
	if got := lines(); len(got) != 1 {
		t.Fatalf("after the first refusal: %d lines, want 1 at once", len(got))
	}
	if r := lines()[0]; recordAttr(r, "count") != "1" || recordAttr(r, "wrong_secret") != "1" || recordAttr(r, "remotes") != "10.0.0.1" || recordAttr(r, "last_err") != "wrong" {
		t.Fatalf("first line: %s", recordString(r))
	}

	// 20 refusals from 12 hosts within the interval: counted, not logged.
	clock.Advance(time.Second)
	for i := range 20 {
		reason := []refusalReason{refusedNoHandshake, refusedTimeout, refusedOverCap, refusedWrongSecret}[i%4]
		l.record(reason, tcpAddr(fmt.Sprintf("10.0.1.%d:%d", i%12, 5000+i)), fmt.Errorf("err %d", i))
	}
	if got := lines(); len(got) != 1 {
		t.Fatalf("20 refusals within the interval: %d lines, want still 1", len(got))
	}
	if len(*timers) != 1 || (*timers)[0].d != 4*time.Second {
		t.Fatalf("timers armed: %+v, want one for the 4 s left of the interval", *timers)
	}
	clock.Advance(4 * time.Second)
	(*timers)[0].f()
	got := lines()
	if len(got) != 2 {
		t.Fatalf("after the interval: %d lines, want 2", len(got))
	}
	r := got[1]
	want := map[string]string{
		"count": "20", "no_handshake": "5", "timeout": "5", "over_handshake_cap": "5", "wrong_secret": "5",
		"remotes":  "10.0.1.0, 10.0.1.1, 10.0.1.2, 10.0.1.3, 10.0.1.4, 10.0.1.5, 10.0.1.6, 10.0.1.7 and 4 more",
		"last_err": "err 19",
	}
	for k, v := range want {
		if s := recordAttr(r, k); s != v {
			t.Errorf("summary %s = %q, want %q (line: %s)", k, s, v, recordString(r))
		}
	}
	if s := recordAttr(r, "unknown_channel"); s != "" {
		t.Errorf("summary names a reason with no refusal: unknown_channel=%s", s)
	}

	// A quiet interval later, a refusal is logged at once again.
	clock.Advance(10 * time.Second)
	l.record(refusedTimeout, tcpAddr("10.0.0.2:1"), errWrong)
	if got := lines(); len(got) != 3 || recordAttr(got[2], "count") != "1" {
		t.Fatalf("a refusal after a quiet interval: %d lines, want 3, the last counting 1", len(got))
	}

	// Hosts beyond those tracked are counted as "more than".
	for i := range refusalTrackedHosts + 10 {
		l.record(refusedNoHandshake, tcpAddr(fmt.Sprintf("10.1.%d.%d:1", i/250, i%250)), errWrong)
	}
	if len(*timers) != 2 {
		t.Fatalf("%d timers armed, want 2", len(*timers))
	}
	// Close flushes them, stops the timer, and nothing is logged after.
	l.close()
	got = lines()
	if len(got) != 4 {
		t.Fatalf("after close: %d lines, want 4", len(got))
	}
	if c, rem := recordAttr(got[3], "count"), recordAttr(got[3], "remotes"); c != fmt.Sprint(refusalTrackedHosts+10) || !strings.HasSuffix(rem, fmt.Sprintf(" and more than %d more", refusalTrackedHosts-refusalSampleHosts)) {
		t.Errorf("flushed line: %s", recordString(got[3]))
	}
	if !(*timers)[1].stopped {
		t.Error("close left the summary timer running")
	}
	(*timers)[1].f()
	l.record(refusedNoHandshake, tcpAddr("10.0.0.3:1"), errWrong)
	l.close()
	if got := lines(); len(got) != 4 {
		t.Errorf("after close: %d lines, want still 4", len(got))
	}
}

// failingListener fails its first n Accepts, then blocks until closed.
type failingListener struct {
	n     int
	calls atomic.Int64
	done  chan struct{}
	once  sync.Once
}

func (l *failingListener) Accept() (net.Conn, error) {
	if int(l.calls.Add(1)) <= l.n {
		return nil, errors.New("accept: too many open files")
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *failingListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *failingListener) Addr() net.Addr { return advertisedAddr("127.0.0.1:1") }

// TestClusterMux_AcceptErrorsAreSummarized: a listener failing again and again
// (out of file descriptors, say) gives a line at once, then counts.
func TestClusterMux_AcceptErrorsAreSummarized(t *testing.T) {
	const n = 12
	ln := &failingListener{n: n, done: make(chan struct{})}
	logs := &logCapture{min: slog.LevelWarn}
	opts := defaultMuxOptions()
	opts.logInterval = time.Hour
	mux := newClusterMuxWith(ln, ln.Addr(), []byte("s"), slog.New(logs), opts)
	testkit.Eventually(t, 10*time.Second, "the failing accepts", func() error {
		if c := ln.calls.Load(); c <= n {
			return fmt.Errorf("%d accepts", c)
		}
		return nil
	})
	mux.close()
	lines := logs.records("cluster accept")
	sum := int64(0)
	for _, r := range lines {
		c, ok := recordInt(r, "errors")
		if !ok {
			c = 1
		}
		sum += c
	}
	if len(lines) != 2 || sum != n {
		for _, r := range lines {
			t.Log(recordString(r))
		}
		t.Fatalf("%d failed accepts within the interval: %d lines counting %d, want 2 (the first, the rest at close) counting %d", n, len(lines), sum, n)
	}
}

// TestRaftStream_DialRetriesACutHandshake: raft's Dial tries again when the
// acceptor hangs up without a verdict (cut over its handshake cap during a flood),
// as for an unreachable peer, but not when the acceptor proves it does not share
// the secret.
func TestRaftStream_DialRetriesACutHandshake(t *testing.T) {
	acceptor := func(t *testing.T, secret string, cut int) (string, *atomic.Int64) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var accepted atomic.Int64
		var wg sync.WaitGroup
		t.Cleanup(func() { ln.Close(); wg.Wait() })
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				if accepted.Add(1) <= int64(cut) {
					c.Close()
					continue
				}
				wg.Go(func() {
					defer c.Close()
					if _, err := serverHandshake(c, []byte(secret), time.Now().Add(5*time.Second)); err == nil {
						io.Copy(io.Discard, c)
					}
				})
			}
		})
		return ln.Addr().String(), &accepted
	}
	dial := func(addr string) (net.Conn, error) {
		s := &raftStream{dialer: &clusterDialer{dial: defaultDial, secret: []byte(abuseSecret)}}
		return s.Dial(raft.ServerAddress(addr), 10*time.Second)
	}

	addr, accepted := acceptor(t, abuseSecret, 2)
	conn, err := dial(addr)
	if err != nil {
		t.Fatalf("dial through two cut handshakes: %v", err)
	}
	conn.Close()
	if n := accepted.Load(); n != 3 {
		t.Errorf("%d connections, want 3 (two cut, one through)", n)
	}

	addr, accepted = acceptor(t, "another-secret", 0)
	if _, err := dial(addr); !errors.Is(err, ErrHandshake) {
		t.Fatalf("dial of a member with another secret: %v, want ErrHandshake", err)
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("a member with another secret was dialed %d times, want once", n)
	}
}

package node

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// A member has one cluster address. Every connection to it, raft or gRPC, starts
// with a mutual challenge/response handshake proving that both ends know the
// cluster secret, then names its channel; only then is it handed to raft or to the
// gRPC server. A peer without the secret never reaches either.
//
// Handshake (nonces 32 random bytes, MACs HMAC-SHA256 keyed by the secret):
//
//	dialer   -> acceptor: "PGA1" | nonceD
//	acceptor -> dialer:   nonceA | MAC("pangea-acceptor" | nonceD | nonceA)
//	dialer   -> acceptor: MAC("pangea-dialer" | nonceD | nonceA | channel) | channel
//	acceptor -> dialer:   0x01 (accepted)
//
// Each side checks the other's MAC (constant time) over a nonce it chose itself, so
// neither a recorded handshake nor a reflected one passes. The handshake
// authenticates the peer; it does not encrypt the stream (run the cluster network
// on a private link, or put TLS underneath, for confidentiality).

const (
	chanRaft byte = 'R'
	chanGRPC byte = 'G'
	// chanHTTP carries internal HTTP/1.1: requests forwarded from other
	// regions and edges (with the principal their entry verified), and the
	// catalog's calls. Served only once the member serves it (ServeInternal).
	chanHTTP byte = 'H'

	nonceLen         = 32
	macLen           = sha256.Size
	handshakeTimeout = 5 * time.Second
)

var handshakeMagic = [4]byte{'P', 'G', 'A', '1'}

// ErrHandshake is returned (wrapped) when a cluster connection fails the secret
// handshake: the peer does not know the cluster secret, or is not a Pangea member.
var ErrHandshake = errors.New("node: cluster handshake failed")

// Dialer opens a raw connection to a cluster address. Production uses TCP; the test
// harness injects one that refuses and breaks connections across a partition.
type Dialer func(ctx context.Context, addr string) (net.Conn, error)

func defaultDial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

func mac(secret []byte, label string, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(label))
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// hungUpError is a handshake the acceptor ended without a verdict: it hung up or
// did not answer in time (cut over its handshake cap during a flood, overloaded,
// closing, or not a Pangea cluster address), rather than proving that it does not
// share our secret. Unwrap leads to ErrHandshake.
type hungUpError struct{ error }

func (e hungUpError) Unwrap() error { return e.error }

// clientHandshake runs the dialer's half on conn and selects channel ch.
func clientHandshake(conn net.Conn, secret []byte, ch byte, deadline time.Time) error {
	conn.SetDeadline(deadline)
	defer conn.SetDeadline(time.Time{})
	var hello [4 + nonceLen]byte
	copy(hello[:4], handshakeMagic[:])
	nd := hello[4:]
	rand.Read(nd)
	if _, err := conn.Write(hello[:]); err != nil {
		return hungUpError{fmt.Errorf("%w: %v", ErrHandshake, err)}
	}
	var reply [nonceLen + macLen]byte
	if _, err := io.ReadFull(conn, reply[:]); err != nil {
		return hungUpError{fmt.Errorf("%w: no answer from %s (not a Pangea cluster address?): %v", ErrHandshake, conn.RemoteAddr(), err)}
	}
	na := reply[:nonceLen]
	if !hmac.Equal(reply[nonceLen:], mac(secret, "pangea-acceptor", nd, na)) {
		return fmt.Errorf("%w: %s does not know the cluster secret", ErrHandshake, conn.RemoteAddr())
	}
	proof := append(mac(secret, "pangea-dialer", nd, na, []byte{ch}), ch)
	if _, err := conn.Write(proof); err != nil {
		return fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	var ack [1]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		// The acceptor proved it knows the secret: it cut us, or is closing.
		return hungUpError{fmt.Errorf("%w: %s hung up before accepting: %v", ErrHandshake, conn.RemoteAddr(), err)}
	}
	if ack[0] != 1 {
		return fmt.Errorf("%w: refused by %s", ErrHandshake, conn.RemoteAddr())
	}
	return nil
}

// handshakeError is a handshake refused by the acceptor, and why.
type handshakeError struct {
	reason refusalReason
	err    error // wraps ErrHandshake
}

func (e *handshakeError) Error() string { return e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

func refusal(reason refusalReason, format string, args ...any) error {
	return &handshakeError{reason: reason, err: fmt.Errorf("%w: "+format, append([]any{ErrHandshake}, args...)...)}
}

// ioRefusal is a refusal for a failed read or write: a timeout if the handshake's
// deadline passed, reason otherwise.
func ioRefusal(reason refusalReason, err error, format string, args ...any) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		reason = refusedTimeout
	}
	return refusal(reason, format, append(args, err)...)
}

// refusalOf says why err refused a connection (a *handshakeError's reason).
func refusalOf(err error) refusalReason {
	if he, ok := errors.AsType[*handshakeError](err); ok {
		return he.reason
	}
	return refusedNoHandshake
}

// serverHandshake runs the acceptor's half and returns the channel chosen. Its
// errors are *handshakeError (errors.Is finds ErrHandshake).
func serverHandshake(conn net.Conn, secret []byte, deadline time.Time) (byte, error) {
	conn.SetDeadline(deadline)
	defer conn.SetDeadline(time.Time{})
	var hello [4 + nonceLen]byte
	if _, err := io.ReadFull(conn, hello[:]); err != nil {
		return 0, ioRefusal(refusedNoHandshake, err, "%v")
	}
	if [4]byte(hello[:4]) != handshakeMagic {
		return 0, refusal(refusedNoHandshake, "not a Pangea cluster connection")
	}
	nd := hello[4:]
	var na [nonceLen]byte
	rand.Read(na[:])
	if _, err := conn.Write(append(na[:], mac(secret, "pangea-acceptor", nd, na[:])...)); err != nil {
		return 0, ioRefusal(refusedNoHandshake, err, "%v")
	}
	var proof [macLen + 1]byte
	if _, err := io.ReadFull(conn, proof[:]); err != nil {
		// A dialer with another secret hangs up here, having failed our MAC.
		return 0, ioRefusal(refusedWrongSecret, err, "peer hung up (it does not share our secret?): %v")
	}
	ch := proof[macLen]
	if !hmac.Equal(proof[:macLen], mac(secret, "pangea-dialer", nd, na[:], []byte{ch})) {
		return 0, refusal(refusedWrongSecret, "peer does not know the cluster secret")
	}
	if ch != chanRaft && ch != chanGRPC && ch != chanHTTP {
		return 0, refusal(refusedUnknownChannel, "unknown channel %q", ch)
	}
	if _, err := conn.Write([]byte{1}); err != nil {
		return 0, ioRefusal(refusedNoHandshake, err, "%v")
	}
	return ch, nil
}

// connSet tracks open connections so that closing a member breaks all of them at
// once, as a crash would.
type connSet struct {
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

type trackedConn struct {
	net.Conn
	set  *connSet
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.set.mu.Lock()
		delete(c.set.conns, c)
		c.set.mu.Unlock()
	})
	return c.Conn.Close()
}

func (s *connSet) track(c net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	if s.conns == nil {
		s.conns = make(map[*trackedConn]struct{})
	}
	t := &trackedConn{Conn: c, set: s}
	s.conns[t] = struct{}{}
	return t, nil
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
}

// clusterDialer dials cluster addresses through the (possibly fault-injecting)
// Dialer and runs the handshake.
type clusterDialer struct {
	dial   Dialer
	secret []byte
	conns  *connSet
	// handshook, when set, sees the outcome of every handshake (Client reports the
	// last failure in place of gRPC's generic "unavailable").
	handshook func(error)
}

func (d *clusterDialer) dialChannel(ctx context.Context, addr string, ch byte) (net.Conn, error) {
	conn, err := d.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(handshakeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	err = clientHandshake(conn, d.secret, ch, deadline)
	if d.handshook != nil {
		d.handshook(err)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	if d.conns == nil {
		return conn, nil
	}
	return d.conns.track(conn)
}

// The cluster port's defences against connections that never become members
// (defaults of muxOptions).
const (
	// maxPendingHandshakes bounds the handshakes a member runs at once. A member
	// reconnecting takes a few (raft's pool and pipeline, one gRPC connection),
	// each lasting a round trip, so even all 8 peers of a 9-member region
	// reconnecting together stay far below it.
	maxPendingHandshakes = 64
	// acceptBackoff is the pause after a failed Accept (EMFILE, say) before the
	// next.
	acceptBackoff = 50 * time.Millisecond
)

// muxOptions are a clusterMux's limits; tests change them.
type muxOptions struct {
	maxHandshakes    int           // handshakes in progress at once
	handshakeTimeout time.Duration // from accept to the channel named
	logInterval      time.Duration // between two lines about refused connections, or failed accepts
}

func defaultMuxOptions() muxOptions {
	return muxOptions{maxHandshakes: maxPendingHandshakes, handshakeTimeout: handshakeTimeout, logInterval: refusalLogInterval}
}

// clusterMux accepts connections on the cluster address, authenticates them and
// routes them to the raft or the gRPC listener.
//
// Connections that fail the handshake are counted in refusals, which logs a
// summary now and then rather than a line each (a flood of them must not flood
// the log). At most opts.maxHandshakes handshakes run at once: one more accepted
// cuts the oldest in progress (counted as over the cap). A member's handshake takes
// a round trip, garbage holds its slot until the deadline, so the oldest is the
// likeliest garbage, and a member dialing during a flood gets through as long as
// fewer than the cap of connections arrive during its round trip (refusing the
// newest instead would lock members out for as long as the flood keeps the slots
// full of connections that idle).
type clusterMux struct {
	ln       net.Listener
	addr     net.Addr // advertised
	secret   []byte
	logger   *slog.Logger
	opts     muxOptions
	conns    connSet
	refusals *refusalLog
	closing  atomic.Bool // close has begun: what fails now is cut, not refused

	hsMu    sync.Mutex
	pending list.List // *pendingHandshake, oldest first
	peak    int       // most handshakes in progress at once (tests)

	raft, grpc, http *chanListener
	// httpServed is set once something accepts on http: until then an HTTP
	// channel is refused rather than left waiting.
	httpServed atomic.Bool
	wg         sync.WaitGroup
	closeOnce  sync.Once
}

// pendingHandshake is an accepted connection whose handshake is in progress.
type pendingHandshake struct {
	conn net.Conn
	elem *list.Element
	cut  bool // by admit, to make room; counted and closed there
}

func newClusterMux(ln net.Listener, advertise net.Addr, secret []byte, logger *slog.Logger) *clusterMux {
	return newClusterMuxWith(ln, advertise, secret, logger, defaultMuxOptions())
}

func newClusterMuxWith(ln net.Listener, advertise net.Addr, secret []byte, logger *slog.Logger, opts muxOptions) *clusterMux {
	m := &clusterMux{ln: ln, addr: advertise, secret: secret, logger: logger, opts: opts}
	m.refusals = newRefusalLog(logger, opts.logInterval)
	m.raft = newChanListener(advertise)
	m.grpc = newChanListener(advertise)
	m.http = newChanListener(advertise)
	m.wg.Add(1)
	go m.acceptLoop()
	return m
}

func (m *clusterMux) acceptLoop() {
	defer m.wg.Done()
	// Failed accepts are logged like refusals: the first at once, then a count at
	// most once per interval.
	var (
		failed   int // since the last line
		lastErr  error
		lastLine time.Time
	)
	defer func() {
		if failed > 0 {
			m.logger.Warn("cluster accept", "err", lastErr, "errors", failed)
		}
	}()
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			failed++
			lastErr = err
			if now := time.Now(); lastLine.IsZero() || now.Sub(lastLine) >= m.opts.logInterval {
				m.logger.Warn("cluster accept", "err", err, "errors", failed)
				failed, lastLine = 0, now
			}
			time.Sleep(acceptBackoff) // back off from a persistent accept error (EMFILE)
			continue
		}
		tc, err := m.conns.track(conn)
		if err != nil {
			return // closing
		}
		p, cut := m.admit(tc)
		if cut != nil {
			m.refuse(cut.conn, refusedOverCap, fmt.Errorf("%w: cut to make room: %d handshakes in progress", ErrHandshake, m.opts.maxHandshakes))
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.route(p)
		}()
	}
}

// admit registers conn's handshake as in progress. With maxHandshakes in progress
// already, the oldest is cut: returned, for the caller to count and close.
func (m *clusterMux) admit(conn net.Conn) (p, cut *pendingHandshake) {
	m.hsMu.Lock()
	defer m.hsMu.Unlock()
	if m.pending.Len() >= max(m.opts.maxHandshakes, 1) {
		cut = m.pending.Remove(m.pending.Front()).(*pendingHandshake)
		cut.cut = true
	}
	p = &pendingHandshake{conn: conn}
	p.elem = m.pending.PushBack(p)
	m.peak = max(m.peak, m.pending.Len())
	return p, cut
}

// done ends p's handshake; false if admit cut it meanwhile.
func (m *clusterMux) done(p *pendingHandshake) bool {
	m.hsMu.Lock()
	defer m.hsMu.Unlock()
	if p.cut {
		return false
	}
	m.pending.Remove(p.elem)
	return true
}

// handshakePeak is the most handshakes that were in progress at once.
func (m *clusterMux) handshakePeak() int {
	m.hsMu.Lock()
	defer m.hsMu.Unlock()
	return m.peak
}

// refuse counts a refused connection, then closes it (so a peer that sees the
// connection close finds it counted). Connections broken by close are not
// refusals: they are logged at Debug only.
func (m *clusterMux) refuse(conn net.Conn, reason refusalReason, err error) {
	if m.closing.Load() {
		m.logger.Debug("cluster connection cut by close during its handshake", "remote", conn.RemoteAddr().String(), "err", err)
	} else {
		m.refusals.record(reason, conn.RemoteAddr(), err)
	}
	conn.Close()
}

func (m *clusterMux) route(p *pendingHandshake) {
	conn := p.conn
	ch, err := serverHandshake(conn, m.secret, time.Now().Add(m.opts.handshakeTimeout))
	if !m.done(p) {
		conn.Close() // closed and counted by the admit that cut it
		return
	}
	if err != nil {
		m.refuse(conn, refusalOf(err), err)
		return
	}
	target := m.raft
	switch ch {
	case chanGRPC:
		target = m.grpc
	case chanHTTP:
		if !m.httpServed.Load() {
			m.refuse(conn, refusedUnknownChannel, refusal(refusedUnknownChannel, "internal HTTP is not served by this member"))
			return
		}
		target = m.http
	}
	if !target.deliver(conn) {
		conn.Close()
	}
}

// close stops accepting and breaks every accepted connection, then logs the
// refusals not yet summarized.
func (m *clusterMux) close() {
	m.closeOnce.Do(func() {
		m.closing.Store(true)
		m.ln.Close()
		m.raft.Close()
		m.grpc.Close()
		m.http.Close()
		m.conns.closeAll()
	})
	m.wg.Wait()
	m.refusals.close()
}

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	addr      net.Addr
	ch        chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// raftStream is the raft.StreamLayer: accepted connections come from the mux,
// dialed ones go through the handshake with the raft channel.
type raftStream struct {
	*chanListener
	dialer *clusterDialer
	stop   context.Context // the member's: ends dials when it stops (nil: never)
}

var _ raft.StreamLayer = (*raftStream)(nil)

// Redial pacing of an unreachable peer's raft channel (see Dial).
const (
	redialMin = 50 * time.Millisecond
	redialMax = 500 * time.Millisecond
)

// Dial connects to a peer's raft channel. A peer that cannot be reached (refused,
// unknown host, partitioned) is dialed again, every redialMin growing to redialMax,
// until raft's timeout (10 s) or the member stops, rather than failing at once. raft
// doubles its wait after every failed AppendEntries, up to 10 s, so dials that fail
// fast pile up failures during an outage and delay the member's catch-up after it
// (docs/benchmarks.md, "A member's return after an outage"). Retrying here keeps
// raft's failure count low and reconnects within redialMax of the peer's return. A
// handshake the peer hung up on without a verdict (cut over its handshake cap
// during a flood of garbage connections: clusterMux) is retried the same way; one
// the peer refused (it does not know our secret) is not.
func (s *raftStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	base := s.stop
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithTimeout(base, timeout)
	defer cancel()
	wait := redialMin
	for {
		conn, err := s.dialer.dialChannel(ctx, string(addr), chanRaft)
		_, hungUp := errors.AsType[hungUpError](err)
		if err == nil || (errors.Is(err, ErrHandshake) && !hungUp) || ctx.Err() != nil {
			return conn, err
		}
		if pause(ctx, wait) != nil {
			return nil, err
		}
		wait = min(2*wait, redialMax)
	}
}

// advertisedAddr is a net.Addr for an address string that need not be bound here.
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

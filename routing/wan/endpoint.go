package wan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pangea-s3/pangea/routing/topology"
)

// Endpoint is one process's door to the emulated WAN: it knows the process's
// location and wraps the connections the process dials and accepts. Many
// Endpoints (one per emulated process) can share a Net.
type Endpoint struct {
	n      *Net
	loc    string
	logger *slog.Logger
}

// Endpoint returns the Endpoint of a process standing at location.
func (n *Net) Endpoint(location string) (*Endpoint, error) {
	if !topology.ValidName(location) {
		return nil, fmt.Errorf("wan: location %q is not a valid name", location)
	}
	return &Endpoint{n: n, loc: location, logger: n.logger.With("location", location)}, nil
}

// Location returns the endpoint's location.
func (e *Endpoint) Location() string { return e.loc }

// Dial connects to addr through the emulated WAN, with the signature of
// net.Dialer.DialContext. It returns once the peer has answered and the
// emulated connection set-up (one round trip) is over; while the link is cut
// it waits until ctx ends.
func (e *Endpoint) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("wan: %w", err)
	}
	return e.Client(ctx, raw)
}

// DialTCP is Dial on "tcp", with the signature of node.Dialer.
func (e *Endpoint) DialTCP(ctx context.Context, addr string) (net.Conn, error) {
	return e.Dial(ctx, "tcp", addr)
}

// Client runs the dialer's side of the preamble on raw, a connection the
// caller has just dialed by other means, and returns the emulated connection.
// On error raw is closed.
func (e *Endpoint) Client(ctx context.Context, raw net.Conn) (net.Conn, error) {
	c, err := e.client(ctx, raw)
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("wan: dial %s: %w", raw.RemoteAddr(), err)
	}
	return c, nil
}

func (e *Endpoint) client(ctx context.Context, raw net.Conn) (net.Conn, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(e.n.handshakeTimeout)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	stop := unblockOnDone(ctx, raw)
	defer stop()

	if _, err := raw.Write(appendHeader(nil, kindDial, e.loc)); err != nil {
		return nil, ctxErr(ctx, err)
	}
	peer, err := readHeader(raw, kindAnswer)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	if peer != e.loc {
		// The acceptor held its answer for one one-way delay; this side
		// waits another for the answer to come back: a round trip, like
		// TCP's handshake. While the link is cut the answer is stuck.
		if err := e.n.waitPath(ctx, pairKey(e.loc, peer), e.n.delay(e.link(peer))); err != nil {
			return nil, err
		}
	}
	if err := release(ctx, stop, raw); err != nil {
		return nil, err
	}
	if peer == e.loc {
		return raw, nil
	}
	return newConn(raw, e.n, e.loc, peer), nil
}

// Server runs the acceptor's side of the preamble on raw, a connection just
// accepted by other means, and returns the emulated connection. The preamble
// must arrive within the Net's handshake timeout; a cut link holds the answer
// until it heals, ctx ends or the hold timeout passes. On error raw is closed.
func (e *Endpoint) Server(ctx context.Context, raw net.Conn) (net.Conn, error) {
	c, err := e.server(ctx, raw)
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("wan: accept %s: %w", raw.RemoteAddr(), err)
	}
	return c, nil
}

func (e *Endpoint) server(ctx context.Context, raw net.Conn) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, e.n.handshakeTimeout+e.n.holdTimeout)
	defer cancel()
	stop := unblockOnDone(ctx, raw)
	defer stop()

	if err := raw.SetReadDeadline(time.Now().Add(e.n.handshakeTimeout)); err != nil {
		return nil, err
	}
	peer, err := readHeader(raw, kindDial)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	if peer != e.loc {
		// The dial takes one one-way delay to get here.
		if err := e.n.waitPath(ctx, pairKey(e.loc, peer), e.n.delay(e.link(peer))); err != nil {
			return nil, err
		}
	}
	if err := raw.SetWriteDeadline(time.Now().Add(e.n.handshakeTimeout)); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		// ctx may have ended just before the deadline above replaced the
		// one unblockOnDone set.
		return nil, err
	}
	if _, err := raw.Write(appendHeader(nil, kindAnswer, e.loc)); err != nil {
		return nil, ctxErr(ctx, err)
	}
	if err := release(ctx, stop, raw); err != nil {
		return nil, err
	}
	if peer == e.loc {
		return raw, nil
	}
	return newConn(raw, e.n, e.loc, peer), nil
}

func (e *Endpoint) link(peer string) Link {
	l, _ := e.n.Link(e.loc, peer)
	return l
}

// Listen wraps l: Accept returns connections whose preamble is done. The
// preambles run beside the accept loop, so a slow or silent peer does not
// hold up the others. Closing the returned listener closes l.
func (e *Endpoint) Listen(l net.Listener) net.Listener { return e.listen(l, false) }

// ListenMixed is Listen for a port that also serves connections without the
// preamble, undelayed: those of tools standing outside the emulated planet (pangea
// ctl on a member's cluster port). The two are told apart by their first two
// bytes, the preamble's magic "PW", so the protocol on the port must have the
// dialer speak first, and must not start with those bytes (the cluster
// handshake starts with "PGA1"); it must authenticate its peers itself, since a
// connection without the preamble passes unchecked. One that stays silent for
// sniffTimeout is dropped.
func (e *Endpoint) ListenMixed(l net.Listener) net.Listener { return e.listen(l, true) }

// sniffTimeout bounds how long ListenMixed waits for a connection's first bytes.
const sniffTimeout = 10 * time.Second

func (e *Endpoint) listen(l net.Listener, mixed bool) net.Listener {
	ctx, cancel := context.WithCancel(context.Background())
	wl := &listener{
		mixed:    mixed,
		Listener: l,
		ep:       e,
		ctx:      ctx,
		cancel:   cancel,
		conns:    make(chan net.Conn),
		loopDone: make(chan struct{}),
	}
	wl.wg.Add(1)
	go wl.acceptLoop()
	return wl
}

type listener struct {
	net.Listener
	mixed  bool // connections without the preamble pass through (ListenMixed)
	ep     *Endpoint
	ctx    context.Context // ends when the listener closes
	cancel context.CancelFunc
	conns  chan net.Conn
	wg     sync.WaitGroup

	loopDone chan struct{}
	loopErr  error // set before loopDone closes

	closeOnce sync.Once
	closeErr  error
}

func (l *listener) acceptLoop() {
	defer l.wg.Done()
	defer close(l.loopDone)
	pause := 5 * time.Millisecond
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				l.loopErr = err
				return
			}
			// Out of file descriptors and the like: wait and try again, as
			// net/http does, rather than giving up on the listener.
			l.ep.logger.Warn("wan: accept failed; retrying", "err", err, "pause", pause)
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-l.ctx.Done():
				t.Stop()
				l.loopErr = err
				return
			}
			pause = min(2*pause, time.Second)
			continue
		}
		pause = 5 * time.Millisecond
		l.wg.Add(1)
		go l.handshake(raw)
	}
}

func (l *listener) handshake(raw net.Conn) {
	defer l.wg.Done()
	var (
		c   net.Conn
		err error
	)
	if l.mixed {
		c, err = l.sniff(raw)
	} else {
		c, err = l.ep.Server(l.ctx, raw)
	}
	if err != nil {
		l.ep.logger.Debug("wan: dropped incoming connection", "err", err)
		return
	}
	select {
	case l.conns <- c:
	case <-l.ctx.Done():
		_ = c.Close()
	}
}

// sniff reads raw's first two bytes: the preamble's magic sends it through
// Server, anything else passes as it is (ListenMixed). raw is closed on error.
func (l *listener) sniff(raw net.Conn) (net.Conn, error) {
	stop := context.AfterFunc(l.ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	br := bufio.NewReaderSize(raw, 64)
	_ = raw.SetReadDeadline(time.Now().Add(sniffTimeout))
	head, err := br.Peek(2)
	if !stop() {
		err = l.ctx.Err()
	}
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("wan: first bytes of a connection: %w", err)
	}
	_ = raw.SetReadDeadline(time.Time{})
	c := &peekedConn{Conn: raw, r: br}
	if head[0] == 'P' && head[1] == 'W' {
		return l.ep.Server(l.ctx, c)
	}
	return c, nil
}

// peekedConn reads through the buffer that holds the sniffed bytes.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// Accept returns the next connection whose preamble is done.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.loopDone:
		return nil, fmt.Errorf("wan: accept: %w", l.loopErr)
	}
}

// Close closes the inner listener and the connections still in their
// preamble, and waits for the goroutines it started.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		l.closeErr = l.Listener.Close()
		l.wg.Wait()
	})
	return l.closeErr
}

// unblockOnDone makes blocked I/O on c return when ctx ends, and returns the
// function that disarms it.
func unblockOnDone(ctx context.Context, c net.Conn) func() bool {
	return context.AfterFunc(ctx, func() {
		_ = c.SetDeadline(time.Unix(1, 0))
	})
}

// ctxErr prefers the context's error to the I/O error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// release disarms unblockOnDone and clears c's deadlines. If ctx ended first,
// the deadline unblockOnDone sets may land at any moment, so c is unusable.
func release(ctx context.Context, stop func() bool, c net.Conn) error {
	if !stop() {
		return fmt.Errorf("wan: preamble: %w", context.Cause(ctx))
	}
	return c.SetDeadline(time.Time{})
}

package wan

import (
	"net"
	"os"
	"sync"
	"time"
)

const (
	// pumpBuf is the most read from the socket at once, so one chunk of a
	// bandwidth-capped stream is never much more than 32 KiB of
	// serialization time.
	pumpBuf = 32 << 10
	// window bounds the bytes received but not yet read by the application.
	// When it is full the pump stops reading the socket, the kernel buffers
	// fill and the peer's writes block, as a TCP window would make them.
	window = 1 << 20
)

// chunk is a run of received bytes and the moment they may be read; a chunk
// with err set (and no data) is the end of the stream.
type chunk struct {
	data []byte
	due  time.Time
	err  error
}

// conn delays what it receives by the link's one-way delay. Writes go straight
// to the socket: the peer's conn delays them on its side, so each direction
// is delayed exactly once and only the peer's location is needed here.
//
// One goroutine (pump) reads the socket, stamps each chunk with its due time
// and queues it; Read hands out queued bytes once due and the link is not
// cut. Due times never decrease, so jitter never reorders bytes.
type conn struct {
	net.Conn // the raw socket; Write, addresses and write deadlines go to it

	n   *Net
	key [2]string

	readMu sync.Mutex // one Read at a time keeps the bytes of a chunk together

	mu           sync.Mutex
	q            []chunk
	queued       int           // bytes in q
	lastDue      time.Time     // due time of the newest chunk
	txEnd        time.Time     // when the bandwidth cap has sent the last byte
	wake         chan struct{} // closed and replaced when Read should look again
	readDeadline time.Time
	closed       bool

	space    chan struct{} // a Read made room in the window
	closedCh chan struct{}
	pumpDone chan struct{}
}

func newConn(raw net.Conn, n *Net, local, peer string) *conn {
	c := &conn{
		Conn:     raw,
		n:        n,
		key:      pairKey(local, peer),
		wake:     make(chan struct{}),
		space:    make(chan struct{}, 1),
		closedCh: make(chan struct{}),
		pumpDone: make(chan struct{}),
	}
	go c.pump()
	return c
}

func (c *conn) pump() {
	defer close(c.pumpDone)
	buf := make([]byte, pumpBuf)
	for {
		if !c.waitForSpace() {
			return
		}
		n, err := c.Conn.Read(buf)
		now := time.Now()
		if n > 0 {
			c.push(append([]byte(nil), buf[:n]...), now, nil)
		}
		if err != nil {
			c.push(nil, now, err)
			return
		}
	}
}

func (c *conn) waitForSpace() bool {
	for {
		c.mu.Lock()
		full, closed := c.queued >= window, c.closed
		c.mu.Unlock()
		if closed {
			return false
		}
		if !full {
			return true
		}
		select {
		case <-c.space:
		case <-c.closedCh:
			return false
		}
	}
}

// push queues data (or the end of the stream) that arrived at now.
func (c *conn) push(data []byte, now time.Time, err error) {
	link := c.n.state.Load().links[c.key]
	c.mu.Lock()
	defer c.mu.Unlock()
	sent := now
	if d := serialization(link, len(data)); d > 0 {
		// The cap sends one byte after another: this chunk starts when the
		// previous one has left.
		sent = maxTime(now, c.txEnd).Add(d)
		c.txEnd = sent
	}
	due := maxTime(sent.Add(c.n.delay(link)), c.lastDue)
	c.lastDue = due
	c.q = append(c.q, chunk{data: data, due: due, err: err})
	c.queued += len(data)
	c.broadcast()
}

// broadcast wakes the Reads waiting on the current wake channel. c.mu is held.
func (c *conn) broadcast() {
	close(c.wake)
	c.wake = make(chan struct{})
}

// Read returns bytes whose delay has passed, waiting for them, for a cut link
// to heal, for the read deadline or for Close.
func (c *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		st := c.n.state.Load()
		now := time.Now()
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: net.ErrClosed}
		}
		deadline := c.readDeadline
		if !deadline.IsZero() && !now.Before(deadline) {
			c.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		n, next, err := c.take(p, now, st.links[c.key].Cut)
		wake := c.wake
		c.mu.Unlock()
		if n > 0 || err != nil {
			if n > 0 {
				select {
				case c.space <- struct{}{}:
				default:
				}
			}
			return n, err
		}

		// Nothing to hand out yet: sleep until the head chunk is due, the
		// deadline passes, or something changes.
		var netChanged <-chan struct{}
		if st.links[c.key].Cut {
			netChanged = st.changed
		}
		wakeAt := next
		if !deadline.IsZero() && (wakeAt.IsZero() || deadline.Before(wakeAt)) {
			wakeAt = deadline
		}
		var timerC <-chan time.Time
		if !wakeAt.IsZero() {
			if timer == nil {
				timer = time.NewTimer(time.Until(wakeAt))
			} else {
				timer.Reset(time.Until(wakeAt))
			}
			timerC = timer.C
		}
		select {
		case <-wake:
		case <-netChanged:
		case <-timerC:
		case <-c.closedCh:
		}
	}
}

// take copies due bytes into p. It returns the count, the end-of-stream error
// if that is next, or (when nothing is due) when the head chunk will be. A
// cut link hands out nothing. c.mu is held.
func (c *conn) take(p []byte, now time.Time, cut bool) (int, time.Time, error) {
	if cut {
		return 0, time.Time{}, nil
	}
	n := 0
	for len(c.q) > 0 && n < len(p) {
		h := &c.q[0]
		if h.due.After(now) {
			if n == 0 {
				return 0, h.due, nil
			}
			break
		}
		if len(h.data) == 0 {
			if n > 0 {
				break
			}
			// The end stays queued so that every later Read returns it too.
			return 0, time.Time{}, h.err
		}
		k := copy(p[n:], h.data)
		n += k
		h.data = h.data[k:]
		c.queued -= k
		if len(h.data) == 0 && h.err == nil {
			c.q[0] = chunk{}
			c.q = c.q[1:]
		}
	}
	return n, time.Time{}, nil
}

// SetReadDeadline sets the deadline of Read, which the emulation enforces
// itself: the socket's own read deadline is never set, since the pump reads
// it all the time.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.readDeadline = t
	c.broadcast()
	return nil
}

// SetDeadline sets the read and write deadlines.
func (c *conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// Close closes the socket and waits for the pump to stop, so that a closed
// conn leaves no goroutine behind.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return &net.OpError{Op: "close", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: net.ErrClosed}
	}
	c.closed = true
	close(c.closedCh)
	c.broadcast()
	c.mu.Unlock()
	err := c.Conn.Close()
	<-c.pumpDone
	return err
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

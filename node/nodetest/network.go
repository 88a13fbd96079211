package nodetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pangea-s3/pangea/node"
)

// Network injects faults into the cluster connections of members. Every member
// dials its peers through Dialer(its own ID); a connection is identified by the
// dialing member and the member owning the address dialed, and the dialing end
// carries the fault for both directions.
//
// Two kinds of faults:
//
//   - Partition cuts links the loud way: new connections are refused and
//     existing ones close (the peer reads EOF), as when a process dies or a
//     firewall rejects.
//   - Blackhole and Freeze cut them silently, as dropped packets or a stopped
//     process (SIGSTOP) do: existing connections stay open but carry nothing in
//     either direction, no FIN, no RST; what was written meanwhile is delivered
//     once the link works again (TCP retransmits it). Reads and writes block
//     until then, their deadline, or Close. A member only learns of the fault
//     from its own timeouts.
type Network struct {
	mu      sync.Mutex
	owner   map[string]string // cluster address -> member key
	group   map[string]int    // member key -> partition group; nil map: fully connected
	silent  bool              // links across groups drop packets instead of refusing
	frozen  map[string]bool   // member key -> stopped (Freeze)
	changed chan struct{}     // closed and replaced whenever links change
	conns   map[*netConn]struct{}
	dialer  net.Dialer
}

// NewNetwork returns a fully connected network.
func NewNetwork() *Network {
	return &Network{
		owner: make(map[string]string), frozen: make(map[string]bool),
		changed: make(chan struct{}), conns: make(map[*netConn]struct{}),
	}
}

// Register says which member listens at a cluster address.
func (n *Network) Register(member, addr string) {
	n.mu.Lock()
	n.owner[addr] = member
	n.mu.Unlock()
}

// connected reports whether a and b are in the same partition group. Callers hold n.mu.
func (n *Network) connected(a, b string) bool {
	if n.group == nil || a == b {
		return true
	}
	ga, oka := n.group[a]
	gb, okb := n.group[b]
	return oka && okb && ga == gb
}

// refused reports whether a link is cut the loud way. Callers hold n.mu.
func (n *Network) refused(a, b string) bool { return !n.silent && !n.connected(a, b) }

// dropped reports whether a link drops its packets. Callers hold n.mu.
func (n *Network) dropped(a, b string) bool { return n.silent && !n.connected(a, b) }

// stalled reports whether a connection between a and b carries nothing now.
// Callers hold n.mu.
func (n *Network) stalled(a, b string) bool { return n.frozen[a] || n.frozen[b] || n.dropped(a, b) }

// notify wakes whatever waits for links to change. Callers hold n.mu.
func (n *Network) notify() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// Partition splits the members into groups that only talk within themselves;
// members in no group talk to nobody. Existing connections across groups break
// and new ones are refused.
func (n *Network) Partition(groups ...[]string) {
	n.mu.Lock()
	n.setGroups(groups)
	n.silent = false
	n.notify()
	var cut []*netConn
	for c := range n.conns {
		if !n.connected(c.from, c.to) {
			cut = append(cut, c)
		}
	}
	n.mu.Unlock()
	for _, c := range cut {
		c.Close()
	}
}

// Blackhole is Partition by dropped packets: links across groups carry nothing,
// silently. Existing connections stay open (and deliver what was written on them
// once healed); new ones hang in connect until healed or their dial times out.
func (n *Network) Blackhole(groups ...[]string) {
	n.mu.Lock()
	n.setGroups(groups)
	n.silent = true
	n.notify()
	n.mu.Unlock()
}

func (n *Network) setGroups(groups [][]string) {
	n.group = make(map[string]int)
	for i, g := range groups {
		for _, m := range g {
			n.group[m] = i
		}
	}
}

// Heal reconnects everyone (Partition and Blackhole; a frozen member stays frozen).
func (n *Network) Heal() {
	n.mu.Lock()
	n.group, n.silent = nil, false
	n.notify()
	n.mu.Unlock()
}

// Freeze makes member look, to everyone else, like a process stopped by SIGSTOP:
// its connections stay open and carry nothing either way; new connections to it
// open (the kernel accepts them) and carry nothing either. Unlike a stopped
// process, the member itself keeps running (a leader notices the silence and
// steps down), but nothing it sends arrives and nothing reaches it until Thaw.
func (n *Network) Freeze(member string) {
	n.mu.Lock()
	n.frozen[member] = true
	n.notify()
	n.mu.Unlock()
}

// Thaw undoes Freeze (SIGCONT): what was sent meanwhile is delivered.
func (n *Network) Thaw(member string) {
	n.mu.Lock()
	delete(n.frozen, member)
	n.notify()
	n.mu.Unlock()
}

// Dialer returns the node.Dialer for member from.
func (n *Network) Dialer(from string) node.Dialer {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		var to string
		for {
			n.mu.Lock()
			t, known := n.owner[addr]
			if !known {
				t = addr
			}
			to = t
			refused, dropped, changed := n.refused(from, to), n.dropped(from, to), n.changed
			n.mu.Unlock()
			if refused {
				return nil, fmt.Errorf("nodetest: %s cannot reach %s (%s): partitioned", from, to, addr)
			}
			if !dropped {
				break
			}
			// The SYN is dropped: connect hangs until the link heals or the dial
			// gives up.
			select {
			case <-changed:
			case <-ctx.Done():
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("nodetest: %s cannot reach %s (%s), packets dropped: %w", from, to, addr, ctx.Err())}
			}
		}
		raw, err := n.dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		c := &netConn{Conn: raw, n: n, from: from, to: to, done: make(chan struct{}), kick: make(chan struct{})}
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.refused(from, to) { // partitioned while dialing
			raw.Close()
			return nil, fmt.Errorf("nodetest: %s cannot reach %s: partitioned", from, to)
		}
		n.conns[c] = struct{}{}
		return c, nil
	}
}

// netConn is the dialing end of a cluster connection. While its link is stalled
// (Blackhole, Freeze) it holds back both directions: Write waits before sending,
// and Read keeps what arrives until the link works again. Both give up at their
// deadline (os.ErrDeadlineExceeded, as a socket does) or when the connection is
// closed.
type netConn struct {
	net.Conn
	n        *Network
	from, to string
	once     sync.Once
	done     chan struct{} // closed by Close

	dmu      sync.Mutex
	rdl, wdl time.Time
	kick     chan struct{} // closed and replaced when a deadline changes

	rmu     sync.Mutex // one Read at a time, for held
	held    []byte     // received while stalled, not delivered yet
	heldErr error      // received (EOF, reset) while stalled, after held
}

func (c *netConn) isStalled() bool {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	return c.n.stalled(c.from, c.to)
}

// waitFlow waits until the link carries data, the read (or write) deadline
// passes, or the connection is closed.
func (c *netConn) waitFlow(read bool) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		c.n.mu.Lock()
		stalled, changed := c.n.stalled(c.from, c.to), c.n.changed
		c.n.mu.Unlock()
		if !stalled {
			return nil
		}
		c.dmu.Lock()
		dl, kick := c.wdl, c.kick
		if read {
			dl = c.rdl
		}
		c.dmu.Unlock()
		var expired <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return os.ErrDeadlineExceeded
			}
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			expired = timer.C
		}
		select {
		case <-changed:
		case <-kick:
		case <-expired:
			return os.ErrDeadlineExceeded
		case <-c.done:
			return net.ErrClosed
		}
	}
}

func (c *netConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.held) == 0 && c.heldErr == nil {
		if err := c.waitFlow(true); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(p)
		// A read already waiting when the link stalled may return what arrived
		// after: hold it back. Local outcomes (deadline, Close) are not held.
		local := err != nil && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed))
		if (n == 0 && err == nil) || local || !c.isStalled() {
			return n, err
		}
		c.held, c.heldErr = append(c.held[:0], p[:n]...), err
	}
	if err := c.waitFlow(true); err != nil {
		return 0, err
	}
	n := copy(p, c.held)
	c.held = c.held[n:]
	if len(c.held) > 0 {
		return n, nil
	}
	err := c.heldErr
	c.heldErr = nil
	return n, err
}

func (c *netConn) Write(p []byte) (int, error) {
	if err := c.waitFlow(false); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *netConn) setDeadlines(r, w bool, t time.Time) {
	c.dmu.Lock()
	if r {
		c.rdl = t
	}
	if w {
		c.wdl = t
	}
	close(c.kick)
	c.kick = make(chan struct{})
	c.dmu.Unlock()
}

func (c *netConn) SetDeadline(t time.Time) error {
	c.setDeadlines(true, true, t)
	return c.Conn.SetDeadline(t)
}

func (c *netConn) SetReadDeadline(t time.Time) error {
	c.setDeadlines(true, false, t)
	return c.Conn.SetReadDeadline(t)
}

func (c *netConn) SetWriteDeadline(t time.Time) error {
	c.setDeadlines(false, true, t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *netConn) Close() error {
	c.once.Do(func() {
		close(c.done)
		c.n.mu.Lock()
		delete(c.n.conns, c)
		c.n.mu.Unlock()
	})
	return c.Conn.Close()
}

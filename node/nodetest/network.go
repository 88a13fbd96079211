package nodetest

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/pangea-s3/pangea/node"
)

// Network injects partitions into the cluster connections of members. Every
// member dials its peers through Dialer(its own ID); a connection is identified by
// the dialing member and the member owning the address dialed, so cutting a link
// refuses new connections and breaks existing ones in both directions.
type Network struct {
	mu     sync.Mutex
	owner  map[string]string // cluster address -> member key
	group  map[string]int    // member key -> partition group; nil map: fully connected
	conns  map[*netConn]struct{}
	dialer net.Dialer
}

// NewNetwork returns a fully connected network.
func NewNetwork() *Network {
	return &Network{owner: make(map[string]string), conns: make(map[*netConn]struct{})}
}

// Register says which member listens at a cluster address.
func (n *Network) Register(member, addr string) {
	n.mu.Lock()
	n.owner[addr] = member
	n.mu.Unlock()
}

// connected reports whether a and b may talk. Callers hold n.mu.
func (n *Network) connected(a, b string) bool {
	if n.group == nil || a == b {
		return true
	}
	ga, oka := n.group[a]
	gb, okb := n.group[b]
	return oka && okb && ga == gb
}

// Partition splits the members into groups that only talk within themselves;
// members in no group talk to nobody. Existing connections across groups break.
func (n *Network) Partition(groups ...[]string) {
	n.mu.Lock()
	n.group = make(map[string]int)
	for i, g := range groups {
		for _, m := range g {
			n.group[m] = i
		}
	}
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

// Heal reconnects everyone.
func (n *Network) Heal() {
	n.mu.Lock()
	n.group = nil
	n.mu.Unlock()
}

// Dialer returns the node.Dialer for member from.
func (n *Network) Dialer(from string) node.Dialer {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		n.mu.Lock()
		to, known := n.owner[addr]
		if !known {
			to = addr
		}
		ok := n.connected(from, to)
		n.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("nodetest: %s cannot reach %s (%s): partitioned", from, to, addr)
		}
		raw, err := n.dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		c := &netConn{Conn: raw, n: n, from: from, to: to}
		n.mu.Lock()
		defer n.mu.Unlock()
		if !n.connected(from, to) { // partitioned while dialing
			raw.Close()
			return nil, fmt.Errorf("nodetest: %s cannot reach %s: partitioned", from, to)
		}
		n.conns[c] = struct{}{}
		return c, nil
	}
}

type netConn struct {
	net.Conn
	n        *Network
	from, to string
	once     sync.Once
}

func (c *netConn) Close() error {
	c.once.Do(func() {
		c.n.mu.Lock()
		delete(c.n.conns, c)
		c.n.mu.Unlock()
	})
	return c.Conn.Close()
}

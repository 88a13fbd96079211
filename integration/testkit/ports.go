package testkit

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

// Ports hands out loopback TCP addresses that a process under test is told before
// it starts and binds itself: a member's --cluster-addr, the --peers list of its
// region. (Where a listener can be handed over instead, bind port 0 and pass the
// listener: there is nothing to race then.)
//
// Listening on port 0 and closing at once, the usual trick, races: until the
// process binds, the kernel may give the port to anything else, even to the next
// caller of the same helper. A Ports closes that gap in two ways, both held by the
// value, not the process:
//
//   - A reserved port stays bound by an open listener of the test process until
//     Release, which the test calls just before the process under test binds the
//     address. While it is held, the kernel hands the port to nobody else.
//   - A Ports remembers every port it handed out and never hands one out again,
//     even after its release: a member killed and restarted on its address must
//     not find that address given to another member meanwhile.
//
// What remains is the moment between Release and the process's bind. If the port
// is taken then, the process fails with "address already in use" and the caller
// starts it again (a transient holder, such as an outgoing connection's local
// port, goes away). Two Ports values may hand out the same port once one has
// released it: the addresses that must differ come from one Ports.
//
// A Ports is safe for concurrent use. Listeners still held when the test ends are
// closed at its cleanup.
type Ports struct {
	t      testing.TB
	listen func() (net.Listener, error) // net.Listen on 127.0.0.1:0; tests swap it

	mu    sync.Mutex
	held  map[string]net.Listener // reserved and not yet released, by address
	given map[int]bool            // every port handed out
}

// NewPorts returns a Ports whose failures fail t and whose held listeners close
// when t's test ends.
func NewPorts(t testing.TB) *Ports {
	p := &Ports{
		t:      t,
		listen: func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") },
		held:   map[string]net.Listener{},
		given:  map[int]bool{},
	}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for addr, l := range p.held {
			l.Close()
			delete(p.held, addr)
		}
	})
	return p
}

// Reserve returns n loopback addresses ("127.0.0.1:port"), distinct from each
// other and from every address p handed out before, each held by an open
// listener until Release. It fails the test if it cannot listen.
func (p *Ports) Reserve(n int) []string {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	// A port handed out before and released since may come back from the kernel.
	// Its listener stays open until the end so that the next try gets another one.
	var again []net.Listener
	defer func() {
		for _, l := range again {
			l.Close()
		}
	}()
	addrs := make([]string, 0, n)
	for len(addrs) < n {
		l, err := p.listen()
		if err != nil {
			p.t.Fatalf("testkit: reserve a loopback port: %v", err)
			return nil
		}
		port := l.Addr().(*net.TCPAddr).Port
		if p.given[port] {
			again = append(again, l)
			if len(again) > len(p.given) {
				// Each repeat is held open, so a kernel offers each old port at most once.
				p.t.Fatalf("testkit: listening on port 0 keeps returning ports handed out before (%d times)", len(again))
				return nil
			}
			continue
		}
		p.given[port] = true
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		p.held[addr] = l
		addrs = append(addrs, addr)
	}
	return addrs
}

// Release closes the listener holding addr, so that the process under test can
// bind it: call it just before that process starts. Releasing an address again,
// or one p did not hand out, does nothing; p still never hands it out again.
func (p *Ports) Release(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.held[addr]; ok {
		l.Close()
		delete(p.held, addr)
	}
}

package testkit

import (
	"net"
	"slices"
	"strings"
	"testing"
)

func TestPorts_DistinctAcrossCallsAndReleases(t *testing.T) {
	p := NewPorts(t)
	seen := map[string]bool{}
	for range 20 {
		addrs := p.Reserve(3)
		if len(addrs) != 3 {
			t.Fatalf("Reserve(3) returned %v", addrs)
		}
		for _, a := range addrs {
			if seen[a] {
				t.Fatalf("%s handed out twice", a)
			}
			seen[a] = true
			if !strings.HasPrefix(a, "127.0.0.1:") {
				t.Errorf("address %q is not on the loopback interface", a)
			}
		}
		for _, a := range addrs {
			p.Release(a)
		}
	}
}

func TestPorts_HeldUntilRelease(t *testing.T) {
	p := NewPorts(t)
	addr := p.Reserve(1)[0]
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Fatalf("bound reserved %s before its release", addr)
	}
	p.Release(addr)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("cannot bind %s after its release: %v", addr, err)
	}
	l.Close()
	p.Release(addr) // again: nothing to do
	p.Release("127.0.0.1:1")
}

// fakeListener stands for a listener on a port the test chooses.
type fakeListener struct {
	net.Listener
	port   int
	closed bool
}

func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: f.port} }
func (f *fakeListener) Close() error   { f.closed = true; return nil }

// TestPorts_SkipsPortsTheKernelOffersAgain has the kernel offer released ports
// again, which a real one may do at any time.
func TestPorts_SkipsPortsTheKernelOffersAgain(t *testing.T) {
	p := NewPorts(t)
	var opened []*fakeListener
	script := []int{1001, 1001, 1002, 1001, 1003}
	p.listen = func() (net.Listener, error) {
		l := &fakeListener{port: script[len(opened)]}
		opened = append(opened, l)
		return l, nil
	}
	first := p.Reserve(1)
	p.Release(first[0])
	second := p.Reserve(2)
	if want := []string{"127.0.0.1:1001"}; !slices.Equal(first, want) {
		t.Errorf("first Reserve: %v, want %v", first, want)
	}
	if want := []string{"127.0.0.1:1002", "127.0.0.1:1003"}; !slices.Equal(second, want) {
		t.Errorf("second Reserve: %v, want %v (1001 was handed out before)", second, want)
	}
	// Repeats are closed once Reserve returns; the reserved stay open.
	for i, wantClosed := range []bool{true, true, false, true, false} {
		if opened[i].closed != wantClosed {
			t.Errorf("listener %d on port %d: closed %v, want %v", i, opened[i].port, opened[i].closed, wantClosed)
		}
	}
}

package wan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/pangea-s3/pangea/integration/testkit"
)

// mlNode is a wrapped memberlist transport on 127.0.0.1 and its address.
type mlNode struct {
	tr   memberlist.NodeAwareTransport
	addr string
	port int
}

func newMLNode(t *testing.T, n *Net, loc string) *mlNode {
	t.Helper()
	inner, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"},
		Logger:    log.New(io.Discard, "", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	port := inner.GetAutoBindPort()
	tr := endpoint(t, n, loc).MemberlistTransport(inner)
	t.Cleanup(func() { _ = tr.Shutdown() })
	return &mlNode{tr: tr, addr: fmt.Sprintf("127.0.0.1:%d", port), port: port}
}

// recvPacket waits up to timeout for a packet.
func recvPacket(tr memberlist.Transport, timeout time.Duration) (*memberlist.Packet, bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case p := <-tr.PacketCh():
		return p, true
	case <-t.C:
		return nil, false
	}
}

func TestMemberlistPacket_DelayedAndHeaderStripped(t *testing.T) {
	n := newNet(t)
	a := newMLNode(t, n, "us-east-1")
	b := newMLNode(t, n, "eu-west-1")
	var got []time.Duration
	for i := range 5 {
		payload := []byte(fmt.Sprintf("ping %d", i))
		sent, err := a.tr.WriteTo(payload, b.addr)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := recvPacket(b.tr, 5*time.Second)
		if !ok {
			t.Fatal("packet lost on a link without loss")
		}
		if !bytes.Equal(p.Buf, payload) {
			t.Fatalf("received %q, sent %q", p.Buf, payload)
		}
		got = append(got, p.Timestamp.Sub(sent))
	}
	slices.Sort(got)
	// The send time is stamped after inner's write returns, and the receiver
	// may stamp the arrival (from which the delivery is due 35 ms later)
	// before the sender's goroutine runs again: allow that scheduling gap
	// below (CI saw 33.9 ms on a busy machine).
	if got[0] < 35*time.Millisecond-3*time.Millisecond || got[2] > 35*time.Millisecond+30*time.Millisecond {
		t.Fatalf("one-way packet delays %v, want about 35ms", got)
	}
}

func TestMemberlistPacket_Loss(t *testing.T) {
	n := newNet(t)
	const la, lb = "us-east-1", "eu-west-1"
	if err := n.Set(la, lb, Link{Loss: 0.3}); err != nil {
		t.Fatal(err)
	}
	a := newMLNode(t, n, la)
	b := newMLNode(t, n, lb)

	const sent = 1000
	received := 0
	for i := range sent {
		if _, err := a.tr.WriteTo([]byte{'d', byte(i)}, b.addr); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			// Let the receiver keep up, so that the kernel's UDP buffer,
			// not the emulation, never decides what is lost.
			drainUntilFence(t, a, b, &received)
		}
	}
	if received < 600 || received > 800 {
		t.Fatalf("%d of %d packets arrived at loss 0.3, want about 700", received, sent)
	}
}

// drainUntilFence sends fence packets from a to b until one arrives (fences
// are lost like any packet), counting the data packets received meanwhile.
// Loopback UDP keeps order, so once a fence is in every data packet sent
// before it has been dealt with.
func drainUntilFence(t *testing.T, a, b *mlNode, count *int) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "a fence packet", func() error {
		if _, err := a.tr.WriteTo([]byte{'f'}, b.addr); err != nil {
			return testkit.Stop(err)
		}
		for {
			p, ok := recvPacket(b.tr, 20*time.Millisecond)
			if !ok {
				return errors.New("no fence yet")
			}
			if p.Buf[0] == 'f' {
				return nil
			}
			*count++
		}
	})
	// Late fences of earlier attempts may still come; they are not data.
}

func TestMemberlistPacket_CutDropsHealPasses(t *testing.T) {
	n := newNet(t)
	const la, lb = "us-east-1", "eu-west-1"
	if err := n.Set(la, lb, Link{Latency: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	a := newMLNode(t, n, la)
	b := newMLNode(t, n, lb)
	if err := n.Partition(la, lb); err != nil {
		t.Fatal(err)
	}
	if _, err := a.tr.WriteTo([]byte("lost"), b.addr); err != nil {
		t.Fatal(err)
	}
	if p, ok := recvPacket(b.tr, 150*time.Millisecond); ok {
		t.Fatalf("packet %q crossed a cut link", p.Buf)
	}
	if err := n.Heal(la, lb); err != nil {
		t.Fatal(err)
	}
	if _, err := a.tr.WriteTo([]byte("found"), b.addr); err != nil {
		t.Fatal(err)
	}
	p, ok := recvPacket(b.tr, 5*time.Second)
	if !ok || string(p.Buf) != "found" {
		t.Fatalf("after heal got %v, %v; want the new packet only", p, ok)
	}
}

func TestMemberlistPacket_WithoutHeaderDropped(t *testing.T) {
	n := newNet(t)
	b := newMLNode(t, n, "eu-west-1")
	raw, err := net.Dial("udp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Write([]byte("no header")); err != nil {
		t.Fatal(err)
	}
	if p, ok := recvPacket(b.tr, 100*time.Millisecond); ok {
		t.Fatalf("a packet without the location header came through: %q", p.Buf)
	}
}

func TestMemberlistStream_Delayed(t *testing.T) {
	n := newNet(t)
	a := newMLNode(t, n, "us-east-1")
	b := newMLNode(t, n, "eu-west-1")
	go func() {
		c, ok := <-b.tr.StreamCh()
		if ok {
			echo(c)
			_ = c.Close()
		}
	}()
	cli, err := a.tr.DialTimeout(b.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	r := rtts(t, cli, 5)
	if r[0] < 70*time.Millisecond || r[2] > 70*time.Millisecond+30*time.Millisecond {
		t.Fatalf("stream round trips %v, want about 70ms", r)
	}
}

func TestMemberlist_PingMeasuresTopologyRTT(t *testing.T) {
	n := newNet(t)
	var ms []*memberlist.Memberlist
	for i, loc := range []string{"us-east-1", "eu-west-1"} {
		node := newMLNode(t, n, loc)
		cfg := memberlist.DefaultLocalConfig()
		cfg.Name = fmt.Sprintf("m%d-%s", i, loc)
		cfg.Transport = node.tr
		cfg.AdvertiseAddr = "127.0.0.1"
		cfg.AdvertisePort = node.port
		cfg.LogOutput = io.Discard
		m, err := memberlist.Create(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Shutdown() })
		ms = append(ms, m)
	}
	if _, err := ms[1].Join([]string{ms[0].LocalNode().Address()}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "both members to see each other", func() error {
		if a, b := ms[0].NumMembers(), ms[1].NumMembers(); a != 2 || b != 2 {
			return fmt.Errorf("members %d and %d", a, b)
		}
		return nil
	})
	target := ms[1].LocalNode()
	addr, err := net.ResolveUDPAddr("udp", target.Address())
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Duration
	for range 5 {
		rtt, err := ms[0].Ping(target.Name, addr)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rtt)
	}
	slices.Sort(got)
	want := 70 * time.Millisecond
	if got[2] < want-want/10 || got[2] > want+want/10+20*time.Millisecond {
		t.Fatalf("memberlist ping RTTs %v, want about %v", got, want)
	}
}

func TestMemberlistTransport_ShutdownLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	n := newNet(t)
	inner, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"},
		Logger:    log.New(io.Discard, "", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := endpoint(t, n, "us-east-1").MemberlistTransport(inner)
	other := newMLNode(t, n, "eu-west-1")
	addr := fmt.Sprintf("127.0.0.1:%d", inner.GetAutoBindPort())
	// Packets in flight and a stream in its preamble when it shuts down.
	for range 10 {
		if _, err := other.tr.WriteTo([]byte("x"), addr); err != nil {
			t.Fatal(err)
		}
	}
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if err := tr.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := other.tr.Shutdown(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "goroutines to end", func() error {
		if now := runtime.NumGoroutine(); now > before {
			return fmt.Errorf("%d goroutines, %d before", now, before)
		}
		return nil
	})
}

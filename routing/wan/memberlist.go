package wan

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// MemberlistTransport wraps inner (usually a memberlist.NetTransport) so that
// memberlist's traffic crosses the emulated WAN. Each packet carries a small
// header with the sender's location, stripped on receipt; a received packet
// is dropped while the link is cut or with the link's Loss probability, and
// otherwise handed to memberlist after the one-way delay, time-stamped at
// that moment so that memberlist's RTT estimates include the delay. Streams
// run the same preamble and delayed connection as Dial and Listen.
//
// memberlist's label, compression and encryption are applied above the
// transport, so the header is outside them: it is emulation metadata, as the
// stream preamble is. Every member of a cluster must use the wrapper, since a
// packet without the header is dropped.
//
// The returned transport owns inner: its Shutdown shuts inner down.
func (e *Endpoint) MemberlistTransport(inner memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
	ctx, cancel := context.WithCancel(context.Background())
	t := &mlTransport{
		ep:       e,
		inner:    inner,
		ctx:      ctx,
		cancel:   cancel,
		packetCh: make(chan *memberlist.Packet),
		streamCh: make(chan net.Conn),
		stop:     make(chan struct{}),
	}
	t.wg.Add(2)
	go t.readPackets()
	go t.readStreams()
	return t
}

type mlTransport struct {
	ep    *Endpoint
	inner memberlist.NodeAwareTransport

	ctx    context.Context // ends when Shutdown starts; deliveries give up then
	cancel context.CancelFunc

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	stop     chan struct{} // closed once inner is shut down: readers may stop draining it
	wg       sync.WaitGroup

	shutdownOnce sync.Once
	shutdownErr  error
}

var _ memberlist.NodeAwareTransport = (*mlTransport)(nil)

// FinalAdvertiseAddr is inner's.
func (t *mlTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

// WriteTo sends b to addr with the location header.
func (t *mlTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends b to a with the location header. The delay happens on
// the receiving side, so the time returned is inner's send time.
func (t *mlTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	buf := make([]byte, 0, headerFixed+len(t.ep.loc)+len(b))
	buf = appendHeader(buf, kindPacket, t.ep.loc)
	buf = append(buf, b...)
	return t.inner.WriteToAddress(buf, a)
}

// PacketCh delivers received packets once their delay has passed.
func (t *mlTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout dials addr through inner and runs the preamble.
func (t *mlTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout dials a through inner and runs the preamble, all within
// timeout (which, on a cut link, it waits out).
func (t *mlTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	raw, err := t.inner.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, fmt.Errorf("wan: memberlist dial %s: %w", a.Addr, err)
	}
	return t.ep.Client(ctx, raw)
}

// StreamCh delivers incoming streams whose preamble is done.
func (t *mlTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown stops deliveries, shuts inner down and waits for the goroutines
// the wrapper started. Packets still in flight are dropped.
func (t *mlTransport) Shutdown() error {
	t.shutdownOnce.Do(func() {
		t.cancel()
		// The readers keep draining inner's channels meanwhile: inner's
		// listeners may be blocked handing over a packet, and inner's
		// Shutdown waits for them.
		if err := t.inner.Shutdown(); err != nil {
			t.shutdownErr = fmt.Errorf("wan: shut down memberlist transport: %w", err)
		}
		close(t.stop)
		t.wg.Wait()
	})
	return t.shutdownErr
}

func (t *mlTransport) readPackets() {
	defer t.wg.Done()
	for {
		select {
		case p := <-t.inner.PacketCh():
			t.ingest(p)
		case <-t.stop:
			return
		}
	}
}

func (t *mlTransport) ingest(p *memberlist.Packet) {
	if t.ctx.Err() != nil {
		return
	}
	peer, payload, err := splitHeader(p.Buf, kindPacket)
	if err != nil {
		t.ep.logger.Debug("wan: dropped memberlist packet", "from", p.From, "err", err)
		return
	}
	p.Buf = payload
	if peer == t.ep.loc {
		t.deliver(p)
		return
	}
	link := t.ep.link(peer)
	if link.Cut || t.ep.n.lose(link) {
		return
	}
	d := t.ep.n.delay(link) + serialization(link, len(payload))
	if d <= 0 {
		t.deliver(p)
		return
	}
	// A timer rather than a goroutine per packet: nothing runs until the
	// packet is due, and a packet due after Shutdown is simply dropped.
	time.AfterFunc(d, func() {
		p.Timestamp = time.Now()
		t.deliver(p)
	})
}

func (t *mlTransport) deliver(p *memberlist.Packet) {
	select {
	case t.packetCh <- p:
	case <-t.ctx.Done():
	}
}

func (t *mlTransport) readStreams() {
	defer t.wg.Done()
	for {
		select {
		case raw := <-t.inner.StreamCh():
			if t.ctx.Err() != nil {
				_ = raw.Close()
				continue
			}
			t.wg.Add(1)
			go t.acceptStream(raw)
		case <-t.stop:
			return
		}
	}
}

func (t *mlTransport) acceptStream(raw net.Conn) {
	defer t.wg.Done()
	c, err := t.ep.Server(t.ctx, raw)
	if err != nil {
		t.ep.logger.Debug("wan: dropped memberlist stream", "err", err)
		return
	}
	select {
	case t.streamCh <- c:
	case <-t.ctx.Done():
		_ = c.Close()
	}
}

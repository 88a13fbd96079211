package wan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/routing/topology"
)

func newNet(t *testing.T) *Net {
	t.Helper()
	return New(topology.Default(), Options{Seed: 1})
}

func endpoint(t *testing.T, n *Net, loc string) *Endpoint {
	t.Helper()
	e, err := n.Endpoint(loc)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// listen starts a wrapped listener for location loc on 127.0.0.1:0.
func listen(t *testing.T, n *Net, loc string) net.Listener {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := endpoint(t, n, loc).Listen(raw)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// pair returns a connection dialed from location from to a listener at
// location to, and the accepted end.
func pair(t *testing.T, n *Net, from, to string) (cli, srv net.Conn) {
	t.Helper()
	l := listen(t, n, to)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, err := endpoint(t, n, from).Dial(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close(); _ = srv.Close() })
	return cli, srv
}

// echo copies srv back to itself until it fails.
func echo(srv net.Conn) { _, _ = io.Copy(srv, srv) }

// roundTrip sends one byte and waits for its echo.
func roundTrip(t *testing.T, c net.Conn) time.Duration {
	t.Helper()
	var b [1]byte
	start := time.Now()
	if _, err := c.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

func rtts(t *testing.T, c net.Conn, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = roundTrip(t, c)
	}
	slices.Sort(out)
	return out
}

func TestRTT_MatchesTopology(t *testing.T) {
	n := newNet(t)
	cli, srv := pair(t, n, "us-east-1", "eu-west-1")
	go echo(srv)
	got := rtts(t, cli, 10)
	want := 70 * time.Millisecond
	if got[0] < want {
		t.Errorf("fastest round trip %v is below the configured RTT %v", got[0], want)
	}
	// 10% of the RTT, loose on the upper side for a busy machine.
	if med := got[len(got)/2]; med < want || med > want+want/10+20*time.Millisecond {
		t.Errorf("median round trip %v, want about %v; all: %v", med, want, got)
	}
}

func TestDial_TakesOneRoundTrip(t *testing.T) {
	n := newNet(t)
	l := listen(t, n, "eu-west-1")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	start := time.Now()
	c, err := endpoint(t, n, "us-east-1").DialTCP(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if took := time.Since(start); took < 70*time.Millisecond {
		t.Fatalf("dial took %v, less than the 70ms round trip", took)
	}
}

func TestSameLocation_PassesThrough(t *testing.T) {
	n := newNet(t)
	cli, srv := pair(t, n, "eu-west-1", "eu-west-1")
	if _, ok := cli.(*conn); ok {
		t.Error("dialed conn inside one location is wrapped")
	}
	if _, ok := srv.(*conn); ok {
		t.Error("accepted conn inside one location is wrapped")
	}
	go echo(srv)
	if got := rtts(t, cli, 5); got[2] > 10*time.Millisecond {
		t.Fatalf("round trips inside a location: %v", got)
	}
}

func TestJitter_VariesRTTAndKeepsOrder(t *testing.T) {
	n := newNet(t)
	if err := n.Set("us-east-1", "eu-west-1", Link{Latency: 5 * time.Millisecond, Jitter: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	cli, srv := pair(t, n, "us-east-1", "eu-west-1")

	// Many small writes, each a separate chunk with its own jitter draw.
	const count = 3000
	done := make(chan error, 1)
	go func() {
		for i := 0; i < count; i++ {
			if _, err := cli.Write([]byte{byte(i)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	got := make([]byte, count)
	_ = srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(srv, got); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, b := range got {
		if b != byte(i) {
			t.Fatalf("byte %d is %d: jitter reordered the stream", i, b)
		}
	}

	go echo(srv)
	r := rtts(t, cli, 10)
	if r[0] < 10*time.Millisecond {
		t.Errorf("fastest round trip %v is below twice the latency", r[0])
	}
	if r[len(r)-1]-r[0] < time.Millisecond {
		t.Errorf("jitter of 20ms left round trips all alike: %v", r)
	}
}

func TestBandwidth_CapsThroughput(t *testing.T) {
	n := newNet(t)
	if err := n.Set("us-east-1", "eu-west-1", Link{Bandwidth: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	cli, srv := pair(t, n, "us-east-1", "eu-west-1")
	payload := bytes.Repeat([]byte("pangea!!"), 256<<10/8)
	start := time.Now()
	go func() { _, _ = cli.Write(payload) }()
	got := make([]byte, len(payload))
	_ = srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(srv, got); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if !bytes.Equal(got, payload) {
		t.Fatal("payload changed on the way")
	}
	if took < 240*time.Millisecond || took > 2*time.Second {
		t.Fatalf("256 KiB at 1 MiB/s took %v, want about 250ms", took)
	}
}

func TestPartition_HoldsBytesAndDialsThenHealReleases(t *testing.T) {
	n := newNet(t)
	const a, b = "us-east-1", "eu-west-1"
	if err := n.Set(a, b, Link{Latency: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	cli, srv := pair(t, n, a, b)
	l := listen(t, n, b)

	if err := n.Partition(a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Write([]byte("held")); err != nil {
		t.Fatalf("write on a cut link failed (it must not): %v", err)
	}
	_ = srv.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if nr, err := srv.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read across a cut link = %d, %v; want the read deadline", nr, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if c, err := endpoint(t, n, a).Dial(ctx, "tcp", l.Addr().String()); !errors.Is(err, context.DeadlineExceeded) {
		if c != nil {
			_ = c.Close()
		}
		t.Fatalf("dial across a cut link = %v; want the context's deadline", err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("dial gave up after %v, before its context ended", took)
	}

	if err := n.Heal(a, b); err != nil {
		t.Fatal(err)
	}
	_ = srv.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	got := make([]byte, 4)
	if _, err := io.ReadFull(srv, got); err != nil || string(got) != "held" {
		t.Fatalf("after heal read %q, %v; want the held bytes within 100ms", got, err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	c, err := endpoint(t, n, a).Dial(ctx2, "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial after heal: %v", err)
	}
	_ = c.Close()
}

func TestLatencyChange_AppliesToExistingConn(t *testing.T) {
	n := newNet(t)
	const a, b = "us-east-1", "eu-west-1"
	if err := n.Set(a, b, Link{Latency: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	cli, srv := pair(t, n, a, b)
	go echo(srv)
	if r := roundTrip(t, cli); r > 100*time.Millisecond {
		t.Fatalf("round trip before the change %v", r)
	}
	if err := n.Set(a, b, Link{Latency: 60 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if r := roundTrip(t, cli); r < 120*time.Millisecond {
		t.Fatalf("round trip right after raising the latency to 60ms: %v", r)
	}
	if err := n.Set(a, b, Link{Latency: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if r := roundTrip(t, cli); r > 100*time.Millisecond {
		t.Fatalf("round trip right after lowering the latency back: %v", r)
	}
}

func TestReadDeadline_Works(t *testing.T) {
	n := newNet(t)
	cli, _ := pair(t, n, "us-east-1", "eu-west-1")

	_ = cli.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := cli.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline = %v, want a timeout net.Error", err)
	}

	// A Read already blocked wakes up when the deadline moves closer.
	_ = cli.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := cli.Read(make([]byte, 1))
		errc <- err
	}()
	_ = cli.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("blocked read = %v, want the deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked Read ignored SetReadDeadline")
	}

	// Close wakes a blocked Read too.
	_ = cli.SetReadDeadline(time.Time{})
	go func() {
		_, err := cli.Read(make([]byte, 1))
		errc <- err
	}()
	_ = cli.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on a closed conn = %v, want net.ErrClosed", err)
	}
}

func TestEOF_IsDelayedAndSticky(t *testing.T) {
	n := newNet(t)
	cli, srv := pair(t, n, "us-east-1", "eu-west-1")
	if _, err := cli.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	_ = cli.Close()
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(srv)
	if err != nil || string(got) != "bye" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if _, err := srv.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("second read after the end = %v, want io.EOF", err)
	}
}

func TestClose_LeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	n := newNet(t)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := endpoint(t, n, "eu-west-1").Listen(raw)
	var conns []net.Conn
	for range 4 {
		c, err := endpoint(t, n, "us-east-1").DialTCP(context.Background(), l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c, s)
	}
	// One connection still in its preamble when the listener closes.
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for _, c := range conns {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}
	testkit.Eventually(t, 5*time.Second, "goroutines to end", func() error {
		if now := runtime.NumGoroutine(); now > before {
			return fmt.Errorf("%d goroutines, %d before", now, before)
		}
		return nil
	})
}

func TestGarbagePreamble_ClosesConn(t *testing.T) {
	n := newNet(t)
	l := listen(t, n, "eu-west-1")
	for _, junk := range [][]byte{
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		{'P', 'W', 1, kindDial, 0},
		{'P', 'W', 1, kindDial, 200},
		{'P', 'W', 9, kindDial, 1, 'a'},
		{'P', 'W', 1, kindAnswer, 1, 'a'},
		append([]byte{'P', 'W', 1, kindDial, 3}, "a b"...),
	} {
		raw, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = raw.Write(junk)
		_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		if nr, err := raw.Read(make([]byte, 16)); err == nil {
			t.Errorf("preamble %q: got %d bytes back, want the connection closed", junk, nr)
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("preamble %q: connection left open", junk)
		}
		_ = raw.Close()
	}
	// The listener still serves good peers.
	c, err := endpoint(t, n, "us-east-1").DialTCP(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
}

func TestNet_RejectsBadLinks(t *testing.T) {
	n := newNet(t)
	for _, c := range []struct {
		a, b string
		l    Link
	}{
		{"a", "a", Link{}},
		{"", "b", Link{}},
		{"a", "b", Link{Latency: -1}},
		{"a", "b", Link{Jitter: -1}},
		{"a", "b", Link{Loss: 1}},
		{"a", "b", Link{Loss: -0.5}},
		{"a", "b", Link{Bandwidth: -1}},
	} {
		if err := n.Set(c.a, c.b, c.l); !errors.Is(err, ErrBadLink) {
			t.Errorf("Set(%q, %q, %+v) = %v, want ErrBadLink", c.a, c.b, c.l, err)
		}
	}
	if err := n.Partition("x", "x"); !errors.Is(err, ErrBadLink) {
		t.Errorf("Partition(x, x) = %v", err)
	}
	if l, ok := n.Link("eu-west-1", "us-east-1"); !ok || l.Latency != 35*time.Millisecond {
		t.Errorf("Link(eu-west-1, us-east-1) = %+v, %v; want 35ms one way", l, ok)
	}
	if _, err := n.Endpoint("bad name"); err == nil {
		t.Error("Endpoint accepted an invalid location")
	}
}

func FuzzPreamble(f *testing.F) {
	f.Add(appendHeader(nil, kindDial, "us-east-1"))
	f.Add(appendHeader([]byte(nil), kindPacket, "a"))
	f.Add(append(appendHeader(nil, kindPacket, "eu-west-1"), "payload"...))
	f.Add([]byte{'P', 'W', 1, kindDial, 63})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, kind := range []byte{kindDial, kindAnswer, kindPacket} {
			loc, rest, err := splitHeader(data, kind)
			r := bytes.NewReader(data)
			rloc, rerr := readHeader(r, kind)
			if (err == nil) != (rerr == nil) || loc != rloc {
				t.Fatalf("splitHeader = %q, %v; readHeader = %q, %v", loc, err, rloc, rerr)
			}
			if err != nil {
				continue
			}
			if !topology.ValidName(loc) {
				t.Fatalf("accepted invalid location %q", loc)
			}
			if r.Len() != len(rest) {
				t.Fatalf("readHeader consumed %d bytes, splitHeader %d", len(data)-r.Len(), len(data)-len(rest))
			}
			if enc := appendHeader(nil, kind, loc); !bytes.Equal(enc, data[:len(data)-len(rest)]) {
				t.Fatalf("re-encoding gives %q, input began %q", enc, data[:len(data)-len(rest)])
			}
		}
	})
}

// TestListenMixed_PassesPlainConnsAndDelaysWANOnes: on a ListenMixed port a
// connection without the preamble (a tool outside the planet) is accepted as it is,
// its first bytes intact and undelayed, while one dialed through the WAN from
// another location pays the link; a silent one does not hold up the others.
func TestListenMixed_PassesPlainConnsAndDelaysWANOnes(t *testing.T) {
	n := newNet(t)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := endpoint(t, n, "eu-west-1").ListenMixed(raw)
	t.Cleanup(func() { _ = l.Close() })
	addr := l.Addr().String()

	silent, err := net.Dial("tcp", addr) // never writes
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	plain, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Write([]byte("PGA1hello")); err != nil {
		t.Fatal(err)
	}
	srv, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	got := make([]byte, 9)
	if _, err := io.ReadFull(srv, got); err != nil || string(got) != "PGA1hello" {
		t.Fatalf("plain connection read %q, %v; want its bytes as sent", got, err)
	}
	go echo(srv)
	if rtt := roundTrip(t, plain); rtt > 30*time.Millisecond {
		t.Errorf("plain connection round trip %v: it should not be delayed", rtt)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	far, err := endpoint(t, n, "us-east-1").Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	fsrv, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer fsrv.Close()
	go echo(fsrv)
	if rtt := roundTrip(t, far); rtt < 70*time.Millisecond {
		t.Errorf("WAN connection round trip %v, below the link's 70ms", rtt)
	}
}

// BenchmarkEchoRTT measures the round trip the emulation realizes on the
// us-east-1 <-> eu-west-1 link (70 ms configured) for a 1-byte echo over a
// wrapped TCP connection: what the emulation adds to the configured RTT
// (reported as extra-µs/op), for the global tier's overhead benchmark, which
// excludes the WAN.
func BenchmarkEchoRTT(b *testing.B) {
	n := New(topology.Default(), Options{Seed: 1})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	usEP, _ := n.Endpoint("us-east-1")
	euEP, _ := n.Endpoint("eu-west-1")
	l := euEP.Listen(raw)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go echo(c)
		}
	}()
	c, err := usEP.Dial(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var buf [1]byte
	var samples []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if _, err := c.Write([]byte{'x'}); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:]); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2]-70*time.Millisecond)/float64(time.Microsecond), "extra-µs-p50")
}

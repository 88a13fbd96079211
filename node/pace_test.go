package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/storage"
)

// TestBackend_UploadBelowMinimumRateIsCut: a body that sends its first chunk at
// once, then one byte every 5 ms (200 bytes/s against a minimum of 50 KB/s), is
// cut with ErrUploadTooSlow once it is Stall behind; the chunk it had staged is
// discarded, nothing is visible, the budget is whole again.
func TestBackend_UploadBelowMinimumRateIsCut(t *testing.T) {
	l := openTest(t, t.TempDir(), func(c *LocalConfig) { c.Upload = UploadPace{MinRate: 50_000, Stall: 100 * time.Millisecond} })
	mustBucket(t, l, "pc")
	data := randomBytes(5, 3*storage.ChunkSize)
	slow := newTricklingBody(data, len(data), 5*time.Millisecond)
	slow.sent.Store(storage.ChunkSize + 10) // as if sent at once: the first chunk is complete, the second begun
	fast := bytes.NewReader(data[:storage.ChunkSize+10])
	_, err := l.PutObject(context.Background(), storage.PutObjectInput{Bucket: "pc", Key: "k", Owner: "owner",
		BodyInput: storage.BodyInput{Body: io.MultiReader(fast, slow), Size: int64(len(data))}})
	if !errors.Is(err, ErrUploadTooSlow) {
		t.Fatalf("err %v, want ErrUploadTooSlow", err)
	}
	var ct interface{ ClientTimeout() bool }
	if !errors.As(err, &ct) || !ct.ClientTimeout() {
		t.Fatalf("err %v does not tell s3api it is the client's timeout", err)
	}
	if n := slow.sent.Load(); n >= int64(len(data)) {
		t.Fatalf("cut only after the whole body (%d bytes)", n)
	}
	if n := stagedCount(t, l); n != 0 {
		t.Fatalf("%d staged blobs left behind", n)
	}
	if _, err := l.Object(context.Background(), "pc", "k", ""); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Fatalf("cut PUT is visible: %v", err)
	}
	if used, w := l.body.state(); used != 0 || w != 0 {
		t.Fatalf("budget not given back: used %d, %d waiting", used, w)
	}
}

// pipeBody returns the server end of an in-memory connection as a request body
// (it takes read deadlines, like s3api's) and the client end to send it on.
func pipeBody(t *testing.T) (server, client net.Conn) {
	server, client = net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestBackend_StalledUploadIsCutAtItsDeadline: a body that sends a few bytes and
// then nothing, on a connection that takes read deadlines, is cut while it sends
// nothing: the read waiting for it fails at the deadline the pace set, and the
// PUT fails with ErrUploadTooSlow while the client still holds its connection.
func TestBackend_StalledUploadIsCutAtItsDeadline(t *testing.T) {
	l := openTest(t, t.TempDir(), func(c *LocalConfig) { c.Upload = UploadPace{MinRate: 1 << 10, Stall: 100 * time.Millisecond} })
	mustBucket(t, l, "pc")
	server, client := pipeBody(t)
	go client.Write([]byte("a few bytes, then nothing"))
	_, err := l.PutObject(context.Background(), storage.PutObjectInput{Bucket: "pc", Key: "k", Owner: "owner",
		BodyInput: storage.BodyInput{Body: server, Size: 1 << 20}})
	if !errors.Is(err, ErrUploadTooSlow) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err %v, want ErrUploadTooSlow at the read deadline", err)
	}
	if _, err := l.Object(context.Background(), "pc", "k", ""); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Fatalf("cut PUT is visible: %v", err)
	}
}

// TestBackend_UploadAboveMinimumRateCompletes: a body that arrives well above the
// minimum rate, with a pause shorter than Stall in the middle, completes on a
// connection that takes read deadlines.
func TestBackend_UploadAboveMinimumRateCompletes(t *testing.T) {
	l := openTest(t, t.TempDir(), func(c *LocalConfig) { c.Upload = UploadPace{MinRate: 64 << 10, Stall: time.Second} })
	mustBucket(t, l, "pc")
	server, client := pipeBody(t)
	data := randomBytes(9, 2*storage.ChunkSize+77)
	sendErr := make(chan error, 1)
	go func() {
		for off := 0; off < len(data); off += 64 << 10 {
			if off == storage.ChunkSize {
				<-time.After(100 * time.Millisecond) // a pause, a tenth of Stall
			}
			if _, err := client.Write(data[off:min(off+64<<10, len(data))]); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- client.Close() // the body's end
	}()
	v, err := l.PutObject(context.Background(), storage.PutObjectInput{Bucket: "pc", Key: "k", Owner: "owner",
		BodyInput: storage.BodyInput{Body: server, Size: int64(len(data))}})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, l, v), data) {
		t.Fatal("bytes differ")
	}
}

// deadlineReader is a body that takes deadlines and records the last one.
type deadlineReader struct {
	io.Reader
	last time.Time
	sets int
}

func (d *deadlineReader) SetReadDeadline(t time.Time) error {
	d.last, d.sets = t, d.sets+1
	return nil
}

// TestPacer_DeadlinesAndTheirEnd: each read of a paced body that takes deadlines
// gets one no further than Stall ahead; at the body's end it is cleared, so the
// connection serves its next request; a body cut for being slow is left with one
// in the past, so that nothing waits on its client any more.
func TestPacer_DeadlinesAndTheirEnd(t *testing.T) {
	pace := UploadPace{MinRate: 1 << 10, Stall: time.Minute}
	body := &deadlineReader{Reader: bytes.NewReader(make([]byte, 100))}
	p := newPacer(body, pace)
	buf := make([]byte, 10)
	if _, err := p.Read(buf); err != nil {
		t.Fatal(err)
	}
	if body.sets != 1 || body.last.IsZero() || time.Until(body.last) > pace.Stall {
		t.Fatalf("after a read: %d deadlines set, the last %v", body.sets, body.last)
	}
	if _, err := io.Copy(io.Discard, &p); err != nil {
		t.Fatal(err)
	}
	if !body.last.IsZero() {
		t.Fatalf("deadline %v left after the body's end", body.last)
	}

	slow := &deadlineReader{Reader: bytes.NewReader(make([]byte, 100))}
	p = newPacer(slow, pace)
	p.behind = 0 // as if it had fallen Stall behind while the read waited
	if _, err := p.Read(buf); !errors.Is(err, ErrUploadTooSlow) {
		t.Fatalf("read of a body Stall behind: %v, want ErrUploadTooSlow", err)
	}
	if !slow.last.Before(time.Now().Add(-time.Hour)) {
		t.Fatalf("deadline %v after the cut, want one in the past", slow.last)
	}

	none := &deadlineReader{Reader: bytes.NewReader(make([]byte, 100))}
	p = newPacer(none, UploadPace{MinRate: -1})
	if _, err := io.Copy(io.Discard, &p); err != nil || none.sets != 0 {
		t.Fatalf("without a minimum: err %v, %d deadlines set", err, none.sets)
	}
}

// TestBackend_WaitingForTheBudgetIsNotTheClientsDelay: a fast body that waits for
// its turn in the body budget longer than Stall is not cut: only the time the
// server waits on the client counts. The upload ahead of it, which stalls longer
// than Stall while it holds the whole budget, is.
func TestBackend_WaitingForTheBudgetIsNotTheClientsDelay(t *testing.T) {
	l := openTest(t, t.TempDir(), func(c *LocalConfig) { c.Upload = UploadPace{MinRate: 1 << 20, Stall: 50 * time.Millisecond} })
	l.body = newBodyBudget(storage.ChunkSize)
	l.reserveWait = time.Hour // the staller keeps its share while it stalls
	mustBucket(t, l, "pc")
	ctx := context.Background()

	const size = storage.ChunkSize
	staller := &pausingBody{data: randomBytes(1, size), pauseAt: 1, pause: 200 * time.Millisecond}
	stallerDone := make(chan error, 1)
	go func() {
		_, err := l.PutObject(ctx, storage.PutObjectInput{Bucket: "pc", Key: "staller", BodyInput: storage.BodyInput{Body: staller, Size: size}})
		stallerDone <- err
	}()
	testkit.Eventually(t, 10*time.Second, "the staller to hold the budget", func() error {
		if used, _ := l.body.state(); used != size {
			return fmt.Errorf("%d bytes in use", used)
		}
		return nil
	})
	data := randomBytes(2, size)
	v, err := l.PutObject(ctx, storage.PutObjectInput{Bucket: "pc", Key: "fast", BodyInput: storage.BodyInput{Body: bytes.NewReader(data), Size: size}})
	if err != nil {
		t.Fatalf("fast upload behind the staller: %v", err)
	}
	if !bytes.Equal(readAll(t, l, v), data) {
		t.Fatal("bytes differ")
	}
	if err := <-stallerDone; !errors.Is(err, ErrUploadTooSlow) {
		t.Fatalf("staller: %v, want ErrUploadTooSlow", err)
	}
}

// pausingBody sends its bytes at once but for one pause before byte pauseAt.
type pausingBody struct {
	data    []byte
	pauseAt int
	pause   time.Duration
	sent    int
}

func (b *pausingBody) Read(p []byte) (int, error) {
	if b.sent == len(b.data) {
		return 0, io.EOF
	}
	end := len(b.data)
	switch {
	case b.sent < b.pauseAt:
		end = b.pauseAt
	case b.sent == b.pauseAt:
		<-time.After(b.pause)
	}
	n := copy(p, b.data[b.sent:end])
	b.sent += n
	return n, nil
}

package node

import (
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// bodyBudget bounds the request-body bytes a member works on at once: chunks whose
// data is flowing in, being digested, encoded and committed, or waiting for the
// command that references them. A chunk takes its share when its first byte has
// arrived and gives it back once it is committed (or dropped).
//
// Why: under an upload load that saturates the CPU, every body in progress keeps
// goroutines runnable (reading, digesting, encoding, forwarding), and Go's scheduler
// serves runnable goroutines in turn with 10 ms time slices. With enough uploads in
// progress, a goroutine woken by the network (raft's heartbeat and its reply among
// them) waits longer for a turn than raft's timeouts allow: leaders lose their
// lease, followers start elections, writes in flight fail with 503 (what was seen:
// docs/benchmarks.md, "Why the member is tuned as it is"). Bounding the bytes in
// progress keeps the run queue short, so raft's goroutines run in time whatever the
// load; uploads beyond the budget wait at the door. Small bodies cost their size, so
// thousands of small PUTs still proceed together (they wait on the log, not on the
// CPU).
//
// Shares are taken chunk by chunk, first come first served, and only by a body
// that holds none but chunks already on their way to the log (which need no budget
// to get there): nobody waits while holding what another waits for, so the budget
// cannot deadlock, and it is never exceeded. A client that sends nothing holds
// nothing; a large upload takes its turn chunk by chunk; and a chunk whose client
// makes it wait gives its share back for good (intake.chunk): the budget is for
// chunks whose bytes are coming in, not for connections.
type bodyBudget struct {
	mu      sync.Mutex
	limit   int
	used    int
	waiters []budgetWaiter // first come, first served
}

type budgetWaiter struct {
	n     int
	ready chan struct{}
}

// DefaultBodyBudget is the body budget of one member in bytes: four chunks per
// CPU, enough bodies in progress to keep every CPU busy, few enough that the run
// queue stays short. The process's memory formula (cmd/pangea, memory.go) is built
// on it.
func DefaultBodyBudget() int { return 4 * runtime.NumCPU() * storage.ChunkSize }

// newBodyBudget returns a budget of limit bytes; limit <= 0: unbounded (nil).
func newBodyBudget(limit int) *bodyBudget {
	if limit <= 0 {
		return nil
	}
	return &bodyBudget{limit: limit}
}

// acquire waits until n bytes fit (a share larger than the whole budget waits for
// the budget to be empty) and returns the share taken, to give back with release.
// Waiters are served in arrival order, so a large share is not overtaken forever
// by small ones. The caller must hold no share that only it can give back.
func (b *bodyBudget) acquire(n int) int {
	if b == nil || n <= 0 {
		return 0
	}
	n = min(n, b.limit)
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.limit {
		b.used += n
		b.mu.Unlock()
		return n
	}
	w := budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	<-w.ready // release added n to used before closing ready
	return n
}

func (b *bodyBudget) release(n int) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.limit {
		w := b.waiters[0]
		b.waiters[0] = budgetWaiter{}
		b.waiters = b.waiters[1:]
		b.used += w.n
		close(w.ready)
	}
}

// defaultReserveWait is how long, in all, the reads of a chunk may wait for its
// client's data while the chunk holds its share: past it the share is given back
// and the chunk goes on outside the budget (see intake.chunk). A client that sends
// its chunk at the speed of the network fills it within this (1 MiB in 250 ms is 4
// MiB/s, 32 Mbit/s); one that trickles, stalls or crawls gives its share back after
// that long whatever the pattern, so slow clients cannot shut the others out.
const defaultReserveWait = 250 * time.Millisecond

// slowBufMin is the smallest buffer of a chunk read outside the budget; it grows
// with the bytes that arrive.
const slowBufMin = 16 << 10

// intake is one request body on its way into chunks: its reader under the upload
// pace, and the digest of everything read.
type intake struct {
	l     *backend
	r     pacer
	dig   *storage.Digester
	first [1]byte // a chunk's first byte, read before it has a buffer
}

func (l *backend) newIntake(r io.Reader, dig *storage.Digester) *intake {
	return &intake{l: l, r: newPacer(r, l.pace), dig: dig}
}

// chunk reads the next chunk of the body, up to storage.ChunkSize bytes, with
// io.ReadFull's semantics: eof reports that the body ended (cleanly) within or
// right after this chunk; a reader that returns an error other than EOF (a
// verifying body that found a bad signature or checksum, a client too slow) yields
// that error. want is how many bytes the chunk is expected to hold (the declared
// size still to come, or ChunkSize if unknown); once the chunk's first byte is in,
// the chunk held back in prev (if any) is submitted: it is not the body's last.
//
// The chunk costs nothing until its first byte arrives: no buffer, no share. Then
// it takes a buffer and a share of want bytes, in turn (see acquire), and reads on
// while the client keeps up. Once its reads have waited for the client l.reserveWait in all,
// it gives the share back and reads the rest outside the budget, into a buffer that
// grows with what arrives; when it is complete it takes a share of its size again,
// in turn, before it is digested and committed. So the budget is held by chunks
// whose data flows and by the work on them, never by a client that makes the
// server wait.
//
// It returns the chunk's buffer (nil if n is 0) and its share, both for the caller
// to give back (l.putBuf) once the chunk is committed or dropped, whatever the
// error.
func (in *intake) chunk(want int, prev *chunkPipeline) (bufp *[]byte, n int, eof bool, share int, err error) {
	for n == 0 && err == nil {
		n, err = in.r.Read(in.first[:])
	}
	if n == 0 {
		return nil, 0, isEOF(err), 0, readErr(err)
	}
	if prev != nil {
		prev.submitHeld()
	}
	if want == 0 {
		// A byte past the declared length: the caller refuses the body.
		buf := []byte{in.first[0]}
		return &buf, 1, false, 0, nil
	}
	// The buffer after the turn: a body waiting for its share holds no memory, so
	// the bytes in buffers follow the budget, not the uploads waiting at the door
	// (taken before, 200 concurrent 1 MiB PUTs held 189 MiB of buffers while
	// waiting). The collector's pace is set for the process (cmd/pangea, memory.go)
	// so that the smaller live heap does not make it run more often.
	share = in.l.body.acquire(want)
	bufp = in.l.getBuf(want)
	buf := *bufp
	buf[0] = in.first[0]
	waited := time.Duration(0)
	for err == nil && n < len(buf) && (share > 0 || in.l.body == nil) {
		var m int
		m, err = in.readHolding(buf[n:], share, &waited)
		n += m
		if waited >= in.l.reserveWait {
			share = 0 // given back by readHolding
		}
	}
	if err == nil && n < len(buf) {
		bufp, n, err = in.readSlow(bufp, n)
	}
	eof = isEOF(err)
	if err = readErr(err); err != nil {
		return bufp, n, false, share, err
	}
	if share == 0 { // gave it back: the chunk's turn to be digested and committed
		share = in.l.body.acquire(n)
	}
	in.dig.Write((*bufp)[:n])
	return bufp, n, eof, share, nil
}

// readHolding is a read for a chunk that holds share: once the chunk's reads have
// waited *waited >= l.reserveWait in all, the share has been given back (even
// while the read still waits, which is when it matters).
func (in *intake) readHolding(p []byte, share int, waited *time.Duration) (int, error) {
	if in.l.body == nil {
		return in.r.Read(p)
	}
	given := make(chan struct{})
	t := time.AfterFunc(in.l.reserveWait-*waited, func() {
		in.l.body.release(share)
		close(given)
	})
	start := time.Now()
	n, err := in.r.Read(p)
	*waited += time.Since(start)
	if t.Stop() {
		if *waited >= in.l.reserveWait {
			in.l.body.release(share)
		}
	} else {
		<-given
		*waited = max(*waited, in.l.reserveWait)
	}
	return n, err
}

// readSlow reads the rest of a chunk that gave its share back, into a buffer that
// grows with the bytes in hand (twice them at most) instead of a whole chunk's:
// many slow clients hold little memory. bufp (n bytes in) is released; the chunk's
// new buffer is returned.
func (in *intake) readSlow(bufp *[]byte, n int) (*[]byte, int, error) {
	size := len(*bufp)
	buf := make([]byte, n, min(size, max(2*n, slowBufMin)))
	copy(buf, *bufp)
	in.l.putBuf(bufp, 0)
	var err error
	for err == nil && n < size {
		if n == cap(buf) {
			grown := make([]byte, n, min(size, 2*n))
			copy(grown, buf)
			buf = grown
		}
		var m int
		m, err = in.r.Read(buf[n:cap(buf)])
		n += m
		buf = buf[:n]
	}
	buf = buf[:cap(buf)]
	return &buf, n, err
}

func isEOF(err error) bool {
	return err == io.EOF || err == io.ErrUnexpectedEOF // not errors.Is: a verifying reader's error that wraps EOF is an error
}

func readErr(err error) error {
	if isEOF(err) {
		return nil
	}
	return err
}

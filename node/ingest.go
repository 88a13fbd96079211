package node

import (
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// bodyBudget bounds the request-body bytes a member holds between the socket and
// the log: a chunk takes its share when its data starts to arrive and gives it back
// once it is committed (or dropped).
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
// The share is taken per chunk, once the chunk's first bytes have arrived: a client
// that sends nothing holds nothing, and a large upload takes its turn chunk by
// chunk instead of holding budget for its whole length. A client that stalls in
// the middle of a chunk gives its share back while it stalls (readSharing).
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

// defaultBodyBudget is the budget of one member: four chunks per CPU, enough
// bodies in progress to keep every CPU busy, few enough that the run queue stays
// short.
func defaultBodyBudget() int { return 4 * runtime.NumCPU() * storage.ChunkSize }

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
// by small ones. An upload that already holds a share (its held-back chunk) takes
// the shares of its next chunks without waiting: waiting while holding could
// deadlock uploads that each hold the chunk the others wait for. Only a new body
// waits, so at most limit / ChunkSize large uploads are in progress, each holding a
// few chunks.
func (b *bodyBudget) acquire(n int, holding bool) int {
	if b == nil || n <= 0 {
		return 0
	}
	n = min(n, b.limit)
	b.mu.Lock()
	if holding || (len(b.waiters) == 0 && b.used+n <= b.limit) {
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

// ingestChunk fills buf from r and feeds what it read to dig, with io.ReadFull's
// semantics: eof reports that r ended (cleanly) within or right after this chunk;
// a reader that returns an error other than EOF (a verifying body that found a bad
// signature or checksum) yields that error. want is how many bytes the chunk is
// expected to hold (the declared size still to come, or len(buf) if unknown). It
// waits for the chunk's first byte without a share of the budget, then takes want
// bytes of it (see acquire for holding) before reading on: share is what the
// caller gives back (l.putBuf) once the chunk is committed or dropped, whatever
// the error.
func (l *backend) ingestChunk(r io.Reader, buf []byte, want int, holding bool, dig *storage.Digester) (n int, eof bool, share int, err error) {
	for n == 0 && err == nil && len(buf) > 0 {
		n, err = r.Read(buf[:1])
	}
	share = l.body.acquire(max(want, 1), holding)
	for err == nil && n < len(buf) {
		var m int
		m, err = l.readSharing(r, buf[n:], &share, holding)
		n += m
	}
	dig.Write(buf[:n])
	switch {
	case err == nil:
		return n, false, share, nil
	case err == io.EOF || err == io.ErrUnexpectedEOF: // not errors.Is: a verifying reader's error that wraps EOF is an error
		return n, true, share, nil
	default:
		return n, false, share, err
	}
}

// defaultReadIdle is how long one read may wait for a client's data while its
// chunk holds a share of the budget: past it the share is given back until the
// read returns, then taken again. So a client that stalls in the middle of a chunk holds no
// budget for long, and a few stalled clients cannot shut every other upload out.
const defaultReadIdle = 250 * time.Millisecond

// readSharing is r.Read(p) for a chunk that holds *share of the budget, giving the
// share back while the read waits longer than l.readIdle (see defaultReadIdle).
func (l *backend) readSharing(r io.Reader, p []byte, share *int, holding bool) (int, error) {
	if l.body == nil || *share == 0 {
		return r.Read(p)
	}
	held := *share
	given := make(chan struct{})
	t := time.AfterFunc(l.readIdle, func() {
		l.body.release(held)
		close(given)
	})
	n, err := r.Read(p)
	if !t.Stop() {
		<-given
		*share = l.body.acquire(held, holding)
	}
	return n, err
}

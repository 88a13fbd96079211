package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// chunksInFlight is how many chunk commits one upload may have outstanding while it
// reads the next chunk: enough to keep the disk busy, few enough that memory per
// upload stays at a handful of chunk buffers whatever the body size.
const chunksInFlight = 2

// inlineMax is the largest body kept inside its version (or part) record; larger
// ones go to a blob of chunks, even when one chunk holds them. It is below
// storage.InlineMax (the format's limit) because bbolt rewrites a whole leaf to add a
// record: a record of a few KiB makes every PUT rewrite a leaf of two such records
// (three pages) on a random page of the version index, while a chunk is appended at
// the right edge of the chunk index (blob IDs sort by time). 2 KiB is where inline
// stops being the cheaper (docs/benchmarks.md, "Why the member is tuned as it is").
const inlineMax = 2 << 10

// discardTimeout bounds the best-effort DiscardBlob after a failed write; it runs
// detached from the request context, which is often the reason for the failure.
const discardTimeout = 30 * time.Second

// stagedBody is a body that has been read, verified and made durable (as chunks of
// a blob) or kept in memory (inline), ready to be referenced by a version or part.
type stagedBody struct {
	size     int64
	etag     string
	checksum *storage.Checksum
	inline   []byte
	blob     storage.BlobID
	chunks   uint32 // including tail
	hasBlob  bool

	// tail is the PutChunk of the last chunk, not yet committed: it goes in the same
	// submission as the command that references the blob. tailBuf backs its data
	// and returns to the pool on release.
	tail      storage.Command
	tailBuf   *[]byte
	tailShare int // of the body budget, given back with tailBuf
}

// stageBody reads in.Body to its end. Bodies up to inlineMax are returned
// inline; larger ones are cut into storage.ChunkSize chunks, each encoded and
// committed as a PutChunk while the next one is read. uploadAlg is the checksum
// algorithm of the multipart upload a part belongs to ("" for PutObject): parts
// are checksummed with it even when the request names none, so the upload's
// composite checksum can be computed at completion.
//
// On success with a blob, the blob is marked active and the caller MUST call
// l.release. On error nothing is left behind: staged chunks are discarded.
func (l *backend) stageBody(ctx context.Context, in storage.BodyInput, uploadAlg string) (stagedBody, error) {
	exp := in.Expect
	if uploadAlg != "" {
		switch {
		case exp.ChecksumAlgorithm == "":
			exp.ChecksumAlgorithm = uploadAlg
		case !strings.EqualFold(exp.ChecksumAlgorithm, uploadAlg):
			return stagedBody{}, fmt.Errorf("%w: checksum algorithm %s does not match the upload's %s",
				storage.ErrInvalidArgument, exp.ChecksumAlgorithm, uploadAlg)
		}
	}
	dig, err := storage.NewDigester(exp)
	if err != nil {
		return stagedBody{}, err
	}
	r := in.Body
	if r == nil {
		r = strings.NewReader("")
	}

	// want is how much of the declared size the next chunk should hold.
	want := func(read int64) int {
		if in.Size < 0 {
			return storage.ChunkSize
		}
		return int(min(int64(storage.ChunkSize), max(in.Size-read, 0)))
	}
	src := l.newIntake(r, dig)
	bufp, n, eof, share, err := src.chunk(want(0), nil)
	if err != nil {
		l.putBuf(bufp, share)
		return stagedBody{}, err
	}
	if eof && n <= inlineMax {
		var data []byte // nil for an empty body: no buffer either
		if bufp != nil {
			data = (*bufp)[:n]
		}
		body := stagedBody{size: int64(n), inline: append([]byte(nil), data...)}
		l.putBuf(bufp, share)
		if err := finishBody(&body, dig, in.Size); err != nil {
			return stagedBody{}, err
		}
		return body, nil
	}

	body := stagedBody{blob: newBlobID(), hasBlob: true}
	l.markActive(body.blob)
	p := &chunkPipeline{l: l, ctx: ctx, blob: body.blob, sem: make(chan struct{}, chunksInFlight)}
	// The newest chunk is held back (p.held) until the next read says whether it
	// is the last: the last one is committed together with the version (or part),
	// which saves a commit round trip per object (a whole one for bodies of one
	// chunk). Once the next chunk's first byte is in, the held one goes to the log
	// before that chunk waits for its share of the budget (see bodyBudget).
	for {
		if n > 0 {
			body.size += int64(n)
			if body.size > MaxObjectSize {
				// Stop reading: draining an over-limit body would only waste the disk.
				err = storage.ErrEntityTooLarge
				break
			}
			if in.Size >= 0 && body.size > in.Size {
				err = fmt.Errorf("%w: body longer than its declared length %d", storage.ErrInvalidArgument, in.Size)
				break
			}
			p.hold(bufp, n, share) // the one before went at this one's first byte
			bufp, share = nil, 0
		}
		if eof || p.failed.Load() {
			break
		}
		bufp, n, eof, share, err = src.chunk(want(body.size), p)
		if err != nil {
			break
		}
	}
	l.putBuf(bufp, share)
	if perr := p.wait(); err == nil {
		err = perr
	}
	if err == nil {
		err = finishBody(&body, dig, in.Size)
	}
	body.chunks = p.next
	if err == nil && p.held != nil {
		enc, data := storage.EncodeChunk((*p.held)[:p.heldN])
		tail := cmdPutChunk(body.blob, body.chunks, enc, p.heldN, data, time.Time{})
		body.tail, body.tailBuf, body.tailShare = tail, p.held, p.heldShare
		body.chunks++
		p.held = nil
	}
	if p.held != nil {
		l.putBuf(p.held, p.heldShare)
	}
	if err != nil {
		l.discard(ctx, body)
		l.release(body)
		return stagedBody{}, err
	}
	return body, nil
}

// commitBody commits final (the PutObject, PutPart) together with the body's last
// chunk, in one submission so they share a batch and a transaction. The result is
// final's: if the chunk failed, final fails too (its blob is incomplete).
func (l *backend) commitBody(ctx context.Context, b stagedBody, final storage.Command) (storage.Result, error) {
	cmds := []storage.Command{final}
	if b.tail != nil {
		cmds = []storage.Command{b.tail, final}
	}
	res, err := l.commit.Commit(ctx, cmds...)
	if err != nil {
		return storage.Result{}, err
	}
	last := res[len(res)-1]
	return last, last.Err
}

// finishBody checks the length against the declared size and the digests against
// the client's claims (Content-MD5, checksum header or trailer).
func finishBody(b *stagedBody, dig *storage.Digester, declared int64) error {
	if declared >= 0 {
		if b.size < declared {
			return fmt.Errorf("%w: got %d of %d bytes", storage.ErrIncompleteBody, b.size, declared)
		}
		if b.size > declared {
			return fmt.Errorf("%w: body longer than its declared length %d", storage.ErrInvalidArgument, declared)
		}
	}
	etag, cs, err := dig.Finish()
	if err != nil {
		return err
	}
	b.etag, b.checksum = etag, cs
	return nil
}

// chunkPipeline commits the chunks of one blob with at most chunksInFlight
// outstanding. Chunks may land out of order: they are keyed by index.
type chunkPipeline struct {
	l      *backend
	ctx    context.Context
	blob   storage.BlobID
	sem    chan struct{}
	wg     sync.WaitGroup
	failed atomic.Bool

	mu  sync.Mutex
	err error

	// next is the index of the next chunk submitted; held (heldN bytes, heldShare
	// of the budget) the newest chunk, held back by stageBody. Both belong to the
	// goroutine that reads the body.
	next             uint32
	held             *[]byte
	heldN, heldShare int
}

// hold keeps a chunk back: its buffer and share are the pipeline's until
// submitHeld, or stageBody's once the body has ended.
func (p *chunkPipeline) hold(bufp *[]byte, n, share int) {
	p.held, p.heldN, p.heldShare = bufp, n, share
}

// submitHeld sends the held-back chunk, if any, to the log: it is not the last.
func (p *chunkPipeline) submitHeld() {
	if p.held != nil {
		p.submit(p.next, p.held, p.heldN, p.heldShare)
		p.next++
		p.held = nil
	}
}

// submit takes ownership of bufp and its share of the body budget (both given back
// once committed) and blocks while chunksInFlight commits are outstanding: that is
// the back-pressure that keeps a fast client from filling memory faster than the
// disk drains it.
func (p *chunkPipeline) submit(index uint32, bufp *[]byte, n, share int) {
	p.sem <- struct{}{}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() { <-p.sem }()
		defer p.l.putBuf(bufp, share)
		if p.failed.Load() {
			return
		}
		enc, data := storage.EncodeChunk((*bufp)[:n])
		if _, err := p.l.commitOne(p.ctx, cmdPutChunk(p.blob, index, enc, n, data, time.Time{})); err != nil {
			p.fail(fmt.Errorf("stage chunk %d: %w", index, err))
		}
	}()
}

func (p *chunkPipeline) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.failed.Store(true)
}

// wait returns once no commit is outstanding, so a DiscardBlob issued afterwards is
// ordered after every PutChunk of the blob.
func (p *chunkPipeline) wait() error {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// discard removes a staged blob's chunks, best effort: if it fails the collector
// removes them after the grace period.
func (l *backend) discard(ctx context.Context, b stagedBody) {
	if !b.hasBlob || b.chunks == 0 {
		return // no chunk was ever submitted
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discardTimeout)
	defer cancel()
	if _, err := l.commitOne(ctx, cmdDiscardBlob(b.blob)); err != nil && !errors.Is(err, ErrClosed) {
		l.logger.Warn("discard staged blob", "blob", fmt.Sprintf("%x", b.blob), "err", err)
	}
}

func (l *backend) markActive(id storage.BlobID) {
	l.activeMu.Lock()
	l.active[id] = struct{}{}
	l.activeMu.Unlock()
}

// release ends a staged body's protection from the collector and returns its
// buffer. Call it once the body's final commit has returned.
func (l *backend) release(b stagedBody) {
	if b.tailBuf != nil {
		l.putBuf(b.tailBuf, b.tailShare)
	}
	if !b.hasBlob {
		return
	}
	l.activeMu.Lock()
	delete(l.active, b.blob)
	l.activeMu.Unlock()
}

// Chunk buffers come in size classes, powers of two from minBufClass to
// storage.ChunkSize, one pool each: a chunk's buffer is at most twice its share of
// the body budget, so the bytes held in buffers stay within twice the budget
// (node/DESIGN.md, "Memory"). With one pool of ChunkSize buffers, a 4 KiB PUT held
// 1 MiB while its body came in.
const (
	minBufShift = 12 // 4 KiB
	maxBufShift = 20 // storage.ChunkSize
)

// bufPools is one sync.Pool per buffer size class.
type bufPools [maxBufShift - minBufShift + 1]sync.Pool

// bufClass returns the index of the smallest class that holds n bytes.
func bufClass(n int) int {
	c := 0
	for c < len(bufPools{})-1 && 1<<(minBufShift+c) < n {
		c++
	}
	return c
}

// getBuf returns a pooled buffer for a chunk expected to hold want bytes. It is one
// byte longer than want where the class allows (up to storage.ChunkSize), so that a
// body which ends where it said it would is seen to end within its last chunk
// rather than by one more read: a small body then stays inline.
func (l *backend) getBuf(want int) *[]byte {
	size := min(want+1, storage.ChunkSize)
	c := bufClass(size)
	if v := l.bufs[c].Get(); v != nil {
		return v.(*[]byte)
	}
	buf := make([]byte, 1<<(minBufShift+c))
	return &buf
}

// putBuf gives a chunk's buffer back (to its pool if it is of a class size; nil:
// none) and its share to the body budget.
func (l *backend) putBuf(bufp *[]byte, share int) {
	if bufp != nil {
		if n := len(*bufp); n >= 1<<minBufShift && n <= storage.ChunkSize && n&(n-1) == 0 {
			l.bufs[bufClass(n)].Put(bufp)
		}
	}
	l.body.release(share)
}

func (l *backend) isActive(id storage.BlobID) bool {
	l.activeMu.Lock()
	defer l.activeMu.Unlock()
	_, ok := l.active[id]
	return ok
}

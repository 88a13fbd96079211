package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/storage"
)

func (b *bodyBudget) state() (used, waiting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, len(b.waiters)
}

// TestBodyBudget_FirstComeFirstServed: a share that does not fit waits; a later
// one that would fit waits behind it instead of overtaking it; release lets the
// queue in, in order, as far as it fits; the budget is never exceeded.
func TestBodyBudget_FirstComeFirstServed(t *testing.T) {
	b := newBodyBudget(10)
	if got := b.acquire(6); got != 6 {
		t.Fatalf("first share %d", got)
	}
	var wg sync.WaitGroup
	take := func(n int) {
		defer wg.Done()
		b.acquire(n)
	}
	wg.Add(1)
	go take(6)
	testkit.Eventually(t, 10*time.Second, "the 6 to queue", func() error {
		if _, w := b.state(); w != 1 {
			return fmt.Errorf("%d waiting", w)
		}
		return nil
	})
	wg.Add(1)
	go take(4) // fits now (6+4), but arrived after the 6
	testkit.Eventually(t, 10*time.Second, "the 4 to queue behind it", func() error {
		if _, w := b.state(); w != 2 {
			return fmt.Errorf("%d waiting", w)
		}
		return nil
	})
	if used, _ := b.state(); used != 6 {
		t.Fatalf("used %d: a later share overtook the queue", used)
	}
	b.release(6) // the 6 gets in, then the 4 (6+4 fits)
	wg.Wait()
	if used, w := b.state(); used != 10 || w != 0 {
		t.Fatalf("used %d, %d waiting after the queue got in; want 10 and 0", used, w)
	}
	b.release(10)
	if got := b.acquire(50); got != 10 {
		t.Fatalf("a share larger than the budget took %d, want the whole budget", got)
	}
}

// gatedBody sends its first byte at once, then blocks its second read until
// released: an upload parked after taking its share.
type gatedBody struct {
	data    []byte
	sent    int
	reached chan struct{} // closed when the second read starts
	release chan struct{}
	once    sync.Once
}

func newGatedBody(size int) *gatedBody {
	return &gatedBody{data: bytes.Repeat([]byte{'g'}, size), reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedBody) Read(p []byte) (int, error) {
	if g.sent == 1 {
		g.once.Do(func() { close(g.reached) })
		<-g.release
	}
	if g.sent == len(g.data) {
		return 0, io.EOF
	}
	end := len(g.data)
	if g.sent == 0 {
		end = 1
	}
	n := copy(p, g.data[g.sent:end])
	g.sent += n
	return n, nil
}

// TestBackend_BodyBudgetBoundsUploadsInProgress: with a budget of two chunks, six
// concurrent uploads of one chunk each have at most two bodies past their first
// byte; the other four wait in the budget's queue, then all complete. A client that
// has sent nothing holds no budget at all.
func TestBackend_BodyBudgetBoundsUploadsInProgress(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	l.body = newBodyBudget(2 * storage.ChunkSize)
	l.reserveWait = time.Hour // the parked bodies stand for busy ones: they keep their shares
	mustBucket(t, l, "bb")
	ctx := context.Background()

	// A client that sends nothing: no share, nothing waits on it.
	silent, silentW := io.Pipe()
	silentDone := make(chan error, 1)
	go func() {
		_, err := l.PutObject(ctx, storage.PutObjectInput{Bucket: "bb", Key: "silent", BodyInput: storage.BodyInput{Body: silent, Size: 10}})
		silentDone <- err
	}()

	const uploads, size = 6, storage.ChunkSize - 10
	bodies := make([]*gatedBody, uploads)
	type result struct {
		v   storage.ObjectVersion
		err error
	}
	results := make(chan result, uploads)
	for i := range bodies {
		bodies[i] = newGatedBody(size)
		go func(i int) {
			v, err := l.PutObject(ctx, storage.PutObjectInput{Bucket: "bb", Key: fmt.Sprint("k", i), BodyInput: storage.BodyInput{Body: bodies[i], Size: size}})
			results <- result{v, err}
		}(i)
	}
	// The two with a share go on to their second read, a moment after taking it;
	// the four queued never do while the two hold the budget.
	testkit.Eventually(t, 10*time.Second, "two uploads in progress and four queued", func() error {
		if used, w := l.body.state(); used != 2*size || w != uploads-2 {
			return fmt.Errorf("%d bytes in use, %d waiting", used, w)
		}
		inProgress := 0
		for _, g := range bodies {
			select {
			case <-g.reached:
				inProgress++
			default:
			}
		}
		if inProgress > 2 {
			return testkit.Stop(fmt.Errorf("%d bodies past their first byte, want 2", inProgress))
		}
		if inProgress != 2 {
			return fmt.Errorf("%d bodies past their first byte", inProgress)
		}
		return nil
	})
	for _, g := range bodies {
		close(g.release)
	}
	for range uploads {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if got := readAll(t, l, r.v); !bytes.Equal(got, bytes.Repeat([]byte{'g'}, size)) {
			t.Fatalf("%s: %d bytes back", r.v.Key, len(got))
		}
	}
	if used, w := l.body.state(); used != 0 || w != 0 {
		t.Fatalf("budget not given back: used %d, %d waiting", used, w)
	}

	silentW.Write([]byte("0123456789"))
	silentW.Close()
	if err := <-silentDone; err != nil {
		t.Fatalf("silent client, once it sends: %v", err)
	}
}

// TestBackend_BodyBudgetNoDeadlock: uploads of several chunks take a share per
// chunk; with a budget of one chunk, four such uploads at once all complete (a body
// waits for its next chunk's share holding only chunks already on their way to
// the log, which give theirs back without it).
func TestBackend_BodyBudgetNoDeadlock(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	l.body = newBodyBudget(storage.ChunkSize)
	mustBucket(t, l, "nd")
	const uploads, size = 4, 3*storage.ChunkSize + storage.ChunkSize/2
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	type result struct {
		v    storage.ObjectVersion
		body []byte
		err  error
	}
	results := make(chan result, uploads)
	for i := range uploads {
		go func() {
			body := randomBytes(uint64(i), size)
			v, err := l.PutObject(ctx, storage.PutObjectInput{Bucket: "nd", Key: fmt.Sprint("k", i), BodyInput: storage.BodyInput{Body: bytes.NewReader(body), Size: size}})
			results <- result{v, body, err}
		}()
	}
	for range uploads {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatal(r.err)
			}
			if !bytes.Equal(readAll(t, l, r.v), r.body) {
				t.Fatalf("%s: bytes differ", r.v.Key)
			}
		case <-ctx.Done():
			t.Fatal("uploads did not complete: deadlock on the body budget?")
		}
	}
	if used, w := l.body.state(); used != 0 || w != 0 {
		t.Fatalf("budget not given back: used %d, %d waiting", used, w)
	}
}

// TestBackend_StalledClientGivesItsShareBack: a client that stops sending in the
// middle of a chunk holds its share only reserveWait; meanwhile another upload gets
// the whole budget and completes, and the stalled one completes once it resumes.
func TestBackend_StalledClientGivesItsShareBack(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	l.body = newBodyBudget(storage.ChunkSize)
	l.reserveWait = 20 * time.Millisecond
	mustBucket(t, l, "st")
	ctx := context.Background()

	const size = storage.ChunkSize - 10
	stalled := newGatedBody(size)
	stalledDone := make(chan error, 1)
	go func() {
		_, err := l.PutObject(ctx, storage.PutObjectInput{Bucket: "st", Key: "stalled", BodyInput: storage.BodyInput{Body: stalled, Size: size}})
		stalledDone <- err
	}()
	<-stalled.reached // it holds a share and waits in its second read
	testkit.Eventually(t, 10*time.Second, "the stalled upload to give its share back", func() error {
		if used, _ := l.body.state(); used != 0 {
			return fmt.Errorf("%d bytes still in use", used)
		}
		return nil
	})
	body := randomBytes(7, size)
	v, err := l.PutObject(ctx, storage.PutObjectInput{Bucket: "st", Key: "other", BodyInput: storage.BodyInput{Body: bytes.NewReader(body), Size: size}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, l, v), body) {
		t.Fatal("other upload: bytes differ")
	}
	close(stalled.release)
	if err := <-stalledDone; err != nil {
		t.Fatalf("stalled upload after resuming: %v", err)
	}
	if used, w := l.body.state(); used != 0 || w != 0 {
		t.Fatalf("budget not given back: used %d, %d waiting", used, w)
	}
}

// tricklingBody sends its first trickle bytes one every interval, then, once
// release is closed, the rest at once: a client on a crawling link.
type tricklingBody struct {
	data     []byte
	trickle  int
	interval time.Duration
	release  chan struct{}
	sent     atomic.Int64
	before   func(sent int) // if set, called before each trickled byte
}

func newTricklingBody(data []byte, trickle int, interval time.Duration) *tricklingBody {
	return &tricklingBody{data: data, trickle: trickle, interval: interval, release: make(chan struct{})}
}

func (b *tricklingBody) Read(p []byte) (int, error) {
	sent := int(b.sent.Load())
	if sent == len(b.data) {
		return 0, io.EOF
	}
	end := len(b.data)
	if sent < b.trickle {
		if b.before != nil {
			b.before(sent)
		}
		select {
		case <-time.After(b.interval):
			end = sent + 1
		case <-b.release:
		}
	}
	n := copy(p, b.data[sent:end])
	b.sent.Add(int64(n))
	return n, nil
}

// TestBackend_TricklingClientGivesItsShareBack: a client that keeps sending, one
// byte every 2 ms, so that no single read waits long, still gives its share back
// once its reads have waited reserveWait in all (by its 40th byte each of its reads
// has waited 2 ms at least, 80 ms in all), and holds none while it goes on
// trickling: another upload gets the whole budget (one chunk) and completes, then
// the trickler completes once it speeds up, and the budget is whole again.
func TestBackend_TricklingClientGivesItsShareBack(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	l.body = newBodyBudget(storage.ChunkSize)
	l.reserveWait = 20 * time.Millisecond
	mustBucket(t, l, "tr")
	ctx := context.Background()

	const size = storage.ChunkSize - 10
	slowData := randomBytes(3, size)
	slow := newTricklingBody(slowData, size, 2*time.Millisecond)
	const checkAt = 40
	usedAtCheck := make(chan int, 1)
	slow.before = func(sent int) {
		if sent == checkAt {
			used, _ := l.body.state()
			usedAtCheck <- used
		}
	}
	type result struct {
		v   storage.ObjectVersion
		err error
	}
	slowDone := make(chan result, 1)
	go func() {
		v, err := l.PutObject(ctx, storage.PutObjectInput{Bucket: "tr", Key: "slow", BodyInput: storage.BodyInput{Body: slow, Size: size}})
		slowDone <- result{v, err}
	}()
	if used := <-usedAtCheck; used != 0 {
		t.Fatalf("%d bytes of the budget in use when the trickler was about to send byte %d", used, checkAt)
	}
	body := randomBytes(7, size)
	v, err := l.PutObject(ctx, storage.PutObjectInput{Bucket: "tr", Key: "other", BodyInput: storage.BodyInput{Body: bytes.NewReader(body), Size: size}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, l, v), body) {
		t.Fatal("other upload: bytes differ")
	}
	sent := slow.sent.Load()
	testkit.Eventually(t, 10*time.Second, "the trickler to go on trickling", func() error {
		if n := slow.sent.Load(); n <= sent {
			return fmt.Errorf("trickler still at %d bytes", n)
		}
		return nil
	})
	select {
	case r := <-slowDone:
		t.Fatalf("trickler done before it sent its body: %+v, %v", r.v, r.err)
	default:
	}
	close(slow.release)
	r := <-slowDone
	if r.err != nil {
		t.Fatalf("trickler once it sped up: %v", r.err)
	}
	if !bytes.Equal(readAll(t, l, r.v), slowData) {
		t.Fatal("trickler's upload: bytes differ")
	}
	if used, w := l.body.state(); used != 0 || w != 0 {
		t.Fatalf("budget not given back: used %d, %d waiting", used, w)
	}
}

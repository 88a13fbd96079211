package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
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
// one that would fit waits behind it instead of overtaking it; shares taken while
// holding one never wait; release lets the queue in, in order, as far as it fits.
func TestBodyBudget_FirstComeFirstServed(t *testing.T) {
	b := newBodyBudget(10)
	if got := b.acquire(6, false); got != 6 {
		t.Fatalf("first share %d", got)
	}
	var wg sync.WaitGroup
	take := func(n int) {
		defer wg.Done()
		b.acquire(n, false)
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
	if got := b.acquire(7, true); got != 7 { // an upload's next chunk: over the limit, at once
		t.Fatalf("holding share %d", got)
	}
	b.release(7)
	if used, w := b.state(); used != 6 || w != 2 {
		t.Fatalf("used %d, %d waiting; want 6 and 2", used, w)
	}
	b.release(6) // the 6 gets in, then the 4 (6+4 fits)
	wg.Wait()
	if used, w := b.state(); used != 10 || w != 0 {
		t.Fatalf("used %d, %d waiting after the queue got in; want 10 and 0", used, w)
	}
	b.release(10)
	if got := b.acquire(50, false); got != 10 {
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
	l.readIdle = time.Hour // the parked bodies stand for busy ones: they keep their shares
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
	testkit.Eventually(t, 10*time.Second, "two uploads in progress and four queued", func() error {
		if used, w := l.body.state(); used != 2*size || w != uploads-2 {
			return fmt.Errorf("%d bytes in use, %d waiting", used, w)
		}
		return nil
	})
	inProgress := 0
	for _, g := range bodies {
		select {
		case <-g.reached:
			inProgress++
		default:
		}
	}
	if inProgress != 2 {
		t.Fatalf("%d bodies past their first byte, want 2", inProgress)
	}
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

// TestBackend_BodyBudgetNoDeadlock: uploads of several chunks each keep their
// held-back chunk while they read the next; with a budget of one chunk, four such
// uploads at once all complete (a body that holds a share never waits for more).
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
// middle of a chunk holds its share only readIdle; meanwhile another upload gets
// the whole budget and completes, and the stalled one completes once it resumes.
func TestBackend_StalledClientGivesItsShareBack(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	l.body = newBodyBudget(storage.ChunkSize)
	l.readIdle = 20 * time.Millisecond
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

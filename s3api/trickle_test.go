package s3api

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/node"
)

// trickler is a client that sends a presigned PUT's headers, declaring size
// bytes, then one byte of body every interval on a raw connection, until it has
// sent them all, the server answers, or stop.
type trickler struct {
	conn net.Conn
	sent atomic.Int64 // body bytes written

	mu       sync.Mutex
	answered bool // the server sent something back (an answer before the body ended)
	response []byte
	err      error // a write failed
	stopped  chan struct{}
	done     sync.WaitGroup
}

// startTrickler presigns a PUT of bucket/key and starts sending it.
func (e *testEnv) startTrickler(bucket, key string, size int64, interval time.Duration) *trickler {
	e.t.Helper()
	pc := s3.NewPresignClient(e.owner(), s3.WithPresignExpires(10*time.Minute))
	p, err := pc.PresignPutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	must(e.t, "presign PUT", err)
	u, err := url.Parse(p.URL)
	must(e.t, "parse presigned URL", err)
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	must(e.t, "dial", err)
	var head strings.Builder
	fmt.Fprintf(&head, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", u.RequestURI(), u.Host, size)
	for k, vs := range p.SignedHeader {
		if strings.EqualFold(k, "Host") {
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	head.WriteString("\r\n")
	if _, err := io.WriteString(conn, head.String()); err != nil {
		e.t.Fatalf("trickler %s: send headers: %v", key, err)
	}
	tr := &trickler{conn: conn, stopped: make(chan struct{})}
	tr.done.Add(2)
	go func() { // whatever the server sends back ends the trickle
		defer tr.done.Done()
		b, _ := io.ReadAll(io.LimitReader(conn, 64<<10))
		tr.mu.Lock()
		tr.answered, tr.response = len(b) > 0, b
		tr.mu.Unlock()
	}()
	go func() {
		defer tr.done.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for tr.sent.Load() < size {
			select {
			case <-tr.stopped:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{'t'}); err != nil {
				tr.mu.Lock()
				tr.err = err
				tr.mu.Unlock()
				return
			}
			tr.sent.Add(1)
		}
	}()
	return tr
}

// active reports nil while the trickler is still sending and unanswered.
func (tr *trickler) active() error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	switch {
	case tr.answered:
		return fmt.Errorf("answered after %d bytes: %q", tr.sent.Load(), firstLine(tr.response))
	case tr.err != nil:
		return fmt.Errorf("write failed after %d bytes: %v", tr.sent.Load(), tr.err)
	}
	return nil
}

// stop closes the connection and waits for the trickler's goroutines.
func (tr *trickler) stop() {
	close(tr.stopped)
	tr.conn.Close()
	tr.done.Wait()
}

// answer waits for the server's answer and parses it.
func (tr *trickler) answer(t *testing.T, timeout time.Duration) rawResponse {
	t.Helper()
	testkit.Eventually(t, timeout, "the server to answer the trickler", func() error {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if !tr.answered {
			return fmt.Errorf("no answer after %d bytes sent", tr.sent.Load())
		}
		return nil
	})
	tr.mu.Lock()
	defer tr.mu.Unlock()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(tr.response)), nil)
	if err != nil {
		t.Fatalf("trickler's answer %q: %v", tr.response, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\r\n")
	return line
}

// TestServer_TricklingUploadsDoNotBlockOtherPuts: more presigned PUTs than the
// body budget has chunks, each declaring 2 MiB and sending one byte every 100 ms,
// do not keep other PUTs out: small and multi-chunk PUTs complete while every
// trickler is still sending (and unanswered). The deadline is generous and only
// there so that a regression fails instead of hanging; it is shorter than the
// default minimum upload rate takes to cut a trickler, so the PUTs cannot have
// waited for that.
func TestServer_TricklingUploadsDoNotBlockOtherPuts(t *testing.T) {
	e := newEnv(t)
	e.createBucket("trickle")
	tricklers := make([]*trickler, 4*runtime.NumCPU()+4) // more than the budget's chunks
	for i := range tricklers {
		tricklers[i] = e.startTrickler("trickle", fmt.Sprintf("slow-%d", i), 2<<20, 100*time.Millisecond)
	}
	t.Cleanup(func() { // before the server closes: it waits for their handlers
		for _, tr := range tricklers {
			tr.stop()
		}
	})
	testkit.Eventually(t, 10*time.Second, "every trickler to send its first bytes", func() error {
		for i, tr := range tricklers {
			if err := tr.active(); err != nil {
				return testkit.Stop(fmt.Errorf("trickler %d: %w", i, err))
			}
			if n := tr.sent.Load(); n < 3 {
				return fmt.Errorf("trickler %d sent %d bytes", i, n)
			}
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	small := bytes.Repeat([]byte("s"), 4<<10)
	for i := range 10 {
		_, err := e.owner().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("trickle"), Key: aws.String(fmt.Sprint("small-", i)), Body: bytes.NewReader(small)})
		must(t, fmt.Sprintf("4 KiB PUT %d while the tricklers trickle", i), err)
	}
	large := bytes.Repeat([]byte("L"), 3<<20+5)
	_, err := e.owner().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("trickle"), Key: aws.String("large"), Body: bytes.NewReader(large)})
	must(t, "3 MiB PUT while the tricklers trickle", err)
	for i, tr := range tricklers {
		if err := tr.active(); err != nil {
			t.Fatalf("trickler %d no longer trickling once the PUTs completed: %v", i, err)
		}
	}
	out, err := e.owner().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("trickle"), Key: aws.String("large")})
	must(t, "GET large", err)
	if got := readAll(t, out.Body); got != string(large) {
		t.Fatalf("large object: %d bytes back, want %d", len(got), len(large))
	}
}

// slowReader yields its data in pieces, one every interval: an SDK upload from a
// slow link.
type slowReader struct {
	data     []byte
	piece    int
	interval time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	<-time.After(r.interval)
	n := copy(p[:min(len(p), r.piece)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestServer_UploadBelowMinimumRateIsRequestTimeout: with a minimum upload rate
// of 10 KiB/s and 300 ms of slack, a presigned PUT that trickles one byte every
// 10 ms, and one that sends its headers and then nothing, are answered 400
// RequestTimeout while their clients are still connected, and store nothing;
// uploads above the minimum, a slow one included, complete.
func TestServer_UploadBelowMinimumRateIsRequestTimeout(t *testing.T) {
	l := openLocalWith(t, func(c *node.LocalConfig) {
		c.Upload = node.UploadPace{MinRate: 10 << 10, Stall: 300 * time.Millisecond}
	})
	e := newEnvOver(t, false, testLogger(t), l)
	e.createBucket("pace")
	trickling := e.startTrickler("pace", "trickling", 1<<20, 10*time.Millisecond)
	silent := e.startTrickler("pace", "silent", 1<<20, time.Hour)
	t.Cleanup(func() {
		trickling.stop()
		silent.stop()
	})
	for name, tr := range map[string]*trickler{"trickling": trickling, "silent": silent} {
		r := tr.answer(t, 10*time.Second)
		if r.status != http.StatusBadRequest || r.code() != "RequestTimeout" {
			t.Fatalf("%s upload: %d %s", name, r.status, r.body)
		}
		if n := tr.sent.Load(); n >= 1<<20 {
			t.Fatalf("%s upload answered only after its whole body", name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, key := range []string{"trickling", "silent"} {
		_, err := e.owner().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("pace"), Key: aws.String(key)})
		wantCode(t, "HEAD "+key, err, "NotFound")
	}

	slowData := bytes.Repeat([]byte("w"), 8<<10) // 1 KiB every 50 ms: 20 KiB/s
	p, err := s3.NewPresignClient(e.owner()).PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pace"), Key: aws.String("slow-enough")})
	must(t, "presign PUT", err)
	req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, &slowReader{data: slowData, piece: 1 << 10, interval: 50 * time.Millisecond})
	must(t, "new request", err)
	req.ContentLength = int64(len(slowData))
	for k, vs := range p.SignedHeader {
		req.Header[k] = vs
	}
	resp, err := e.ts.Client().Do(req)
	must(t, "presigned PUT at 20 KiB/s", err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("presigned PUT at 20 KiB/s: %d %s", resp.StatusCode, b)
	}
	fast := bytes.Repeat([]byte("f"), 3<<20)
	_, err = e.owner().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pace"), Key: aws.String("fast"), Body: bytes.NewReader(fast)})
	must(t, "fast 3 MiB PUT", err)
	out, err := e.owner().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pace"), Key: aws.String("slow-enough")})
	must(t, "GET slow-enough", err)
	if got := readAll(t, out.Body); got != string(slowData) {
		t.Fatalf("slow-enough: %d bytes back", len(got))
	}
}

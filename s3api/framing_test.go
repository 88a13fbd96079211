package s3api

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
)

// logCapture keeps a server's log lines so that a test can assert on their
// levels; it passes them on to t.Log too.
type logCapture struct {
	t   testing.TB
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf.Write(p)
	c.mu.Unlock()
	c.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (c *logCapture) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines returns the lines logged so far that contain every one of parts.
func (c *logCapture) lines(parts ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for line := range strings.SplitSeq(c.buf.String(), "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// newCapturedEnv is a test environment whose server logs into a logCapture.
func newCapturedEnv(t *testing.T) (*testEnv, *logCapture) {
	logs := &logCapture{t: t}
	return newEnvLogging(t, false, logs.logger()), logs
}

// signedHead returns the head of a request signed by the owner with
// UNSIGNED-PAYLOAD (or the x-amz-content-sha256 in header), followed by the
// unsigned framing headers in framing, as a client would put it on the wire.
func (e *testEnv) signedHead(method, path string, header map[string]string, framing string) []byte {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	payload := req.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		payload = "UNSIGNED-PAYLOAD"
	}
	if err := signWith(req, payload, ownerAK, ownerSK); err != nil {
		e.t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, req.URL.RequestURI(), req.Host)
	if err := req.Header.Write(&b); err != nil {
		e.t.Fatal(err)
	}
	b.WriteString(framing)
	b.WriteString("\r\n")
	return b.Bytes()
}

// dial opens a raw connection to the server, closed when the test ends. Every
// read and write on it fails after a deadline, so a server that never answers
// fails the test instead of hanging it.
func (e *testEnv) dial() net.Conn {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		e.t.Fatal(err)
	}
	return conn
}

// sendRaw writes head and body on a new connection and reads the response.
func (e *testEnv) sendRaw(head, body []byte) rawResponse {
	e.t.Helper()
	conn := e.dial()
	if _, err := conn.Write(append(head, body...)); err != nil {
		e.t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("read response body: %v", err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// A body whose framing is broken is the client's fault: 400 IncompleteBody, a
// Debug line and no Error or Warn line, and nothing stored. The framing is either
// Transfer-Encoding: chunked (parsed by net/http), around an aws-chunked object
// body or an XML document, or aws-chunked (parsed by s3api/auth) in a body of
// known length.
func TestServer_BrokenChunkedFramingIsTheClientsFault(t *testing.T) {
	e, logs := newCapturedEnv(t)
	e.createBucket("frame")
	longExt := strings.Repeat("x", 10<<10)
	// Each body is broken in its first chunk line or right after its first chunk.
	broken := []struct{ name, body string }{
		{"size zz", "zz\r\nabc\r\n0\r\n\r\n"},
		{"size -5", "-5\r\nhello\r\n0\r\n\r\n"},
		{"size 2^80", "100000000000000000000\r\nhello\r\n0\r\n\r\n"},
		{"10 KiB chunk extension", "5;" + longExt + "\r\nhello\r\n0\r\n\r\n"},
		{"bare LF", "5\nhello\n0\n\n"},
		{"chunk longer than its size", "3\r\nhello\r\n0\r\n\r\n"},
	}
	awsChunked := map[string]string{"X-Amz-Content-Sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
		"X-Amz-Decoded-Content-Length": "5", "Content-Encoding": "aws-chunked"}
	type target struct {
		name, path string
		header     map[string]string
		framing    func(body string) string
		object     bool // a PutObject: nothing may be stored under the key
	}
	targets := []target{
		{"http chunked object", "/frame/http", awsChunked,
			func(string) string { return "Transfer-Encoding: chunked\r\n" }, true},
		{"http chunked document", "/frame?tagging", nil,
			func(string) string { return "Transfer-Encoding: chunked\r\n" }, false},
		{"aws-chunked object", "/frame/aws", awsChunked,
			func(body string) string { return fmt.Sprintf("Content-Length: %d\r\n", len(body)) }, true},
	}
	for _, tg := range targets {
		for _, b := range broken {
			t.Run(tg.name+"/"+b.name, func(t *testing.T) {
				r := e.sendRaw(e.signedHead("PUT", tg.path, tg.header, tg.framing(b.body)), []byte(b.body))
				if r.status != http.StatusBadRequest || r.code() != "IncompleteBody" {
					t.Fatalf("got %d %s, want 400 IncompleteBody", r.status, r.body)
				}
				if tg.object {
					if got := e.ownerDo("HEAD", tg.path, nil, nil); got.status != http.StatusNotFound {
						t.Errorf("HEAD after the refused PUT: %d", got.status)
					}
				}
				id := r.header.Get("X-Amz-Request-Id")
				if l := logs.lines("level=DEBUG", "s3 request failed", "request_id="+id, "code=IncompleteBody"); len(l) != 1 {
					t.Errorf("want one Debug line for the failure, got %q", l)
				}
			})
		}
	}
	if l := logs.lines("level=ERROR"); len(l) > 0 {
		t.Errorf("Error lines for the client's mistakes: %q", l)
	}
	if l := logs.lines("level=WARN"); len(l) > 0 {
		t.Errorf("Warn lines for the client's mistakes: %q", l)
	}
}

// A client that resets its connection in the middle of a body aborted its own
// request: neither a 500 nor an Error line, and nothing stored.
func TestServer_ClientResetMidBodyIsNotAServerFault(t *testing.T) {
	e, logs := newCapturedEnv(t)
	e.createBucket("reset")
	awsChunked := map[string]string{"X-Amz-Content-Sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
		"X-Amz-Decoded-Content-Length": "8192", "Content-Encoding": "aws-chunked"}
	for _, c := range []struct {
		name    string
		header  map[string]string
		framing string
		body    string // the start of a longer body
	}{
		{"content-length", nil, "Content-Length: 100000\r\n", "only ten b"},
		{"chunked", awsChunked, "Transfer-Encoding: chunked\r\n", "186a0\r\n2000\r\nonly ten b"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := "/reset/" + c.name
			conn := e.dial()
			if _, err := conn.Write(append(e.signedHead("PUT", path, c.header, c.framing), c.body...)); err != nil {
				t.Fatal(err)
			}
			// Linger 0: Close sends a reset instead of a clean FIN.
			if err := conn.(*net.TCPConn).SetLinger(0); err != nil {
				t.Fatal(err)
			}
			conn.Close()
			var line string
			testkit.Eventually(t, 10*time.Second, "the access log line of the reset request", func() error {
				l := logs.lines(`msg="s3 request"`, "path="+path)
				if len(l) == 0 {
					return fmt.Errorf("not logged yet")
				}
				line = l[0]
				return nil
			})
			if strings.Contains(line, "status=500") || strings.Contains(line, "code=InternalError") {
				t.Errorf("reset answered as a server fault: %s", line)
			}
			if got := e.ownerDo("HEAD", path, nil, nil); got.status != http.StatusNotFound {
				t.Errorf("HEAD after the reset PUT: %d", got.status)
			}
		})
	}
	if l := logs.lines("level=ERROR"); len(l) > 0 {
		t.Errorf("Error lines for the client's abort: %q", l)
	}
}

// A client that resets its connection while a GET body streams to it went away on
// its own: the cut-short response is logged at Debug, neither Warn nor Error.
func TestServer_ClientResetMidResponseIsNotAServerFault(t *testing.T) {
	e, logs := newCapturedEnv(t)
	e.createBucket("reset")
	// Larger than what the loopback socket buffers absorb, so that the server is
	// still writing when the reset arrives.
	e.put("reset", "big", strings.Repeat("0123456789abcdef", 1<<20))
	conn := e.dial()
	if _, err := conn.Write(e.signedHead("GET", "/reset/big", nil, "")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %v %v", resp, err)
	}
	if err := conn.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	var line string
	testkit.Eventually(t, 10*time.Second, "the access log line of the aborted GET", func() error {
		l := logs.lines(`msg="s3 request"`, "method=GET", "path=/reset/big")
		if len(l) == 0 {
			return fmt.Errorf("not logged yet")
		}
		line = l[0]
		return nil
	})
	if l := logs.lines(`msg="s3 response aborted"`); len(l) != 1 || !strings.Contains(l[0], "level=DEBUG") {
		t.Errorf("want one Debug line for the aborted response, got %q (access log %s)", l, line)
	}
	if l := append(logs.lines("level=ERROR"), logs.lines("level=WARN")...); len(l) > 0 {
		t.Errorf("Error or Warn lines for the client's abort: %q", l)
	}
}

// What a request asks for and Pangea does not implement (501) is no fault of the
// server's: logged at Debug, not Warn or Error.
func TestServer_NotImplementedIsLoggedAtDebug(t *testing.T) {
	e, logs := newCapturedEnv(t)
	e.createBucket("unimpl")
	r := e.ownerDo("GET", "/unimpl?cors", nil, nil)
	if r.status != http.StatusNotImplemented || r.code() != "NotImplemented" {
		t.Fatalf("GET ?cors: %d %s", r.status, r.body)
	}
	if l := logs.lines("s3 request failed", "code=NotImplemented"); len(l) != 1 || !strings.Contains(l[0], "level=DEBUG") {
		t.Errorf("want one Debug line, got %q", l)
	}
}

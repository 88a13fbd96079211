package node

import (
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestMember_InternalChannel serves HTTP on a member's internal channel and
// reaches it with the secret, and fails without it or before it is served.
func TestMember_InternalChannel(t *testing.T) {
	m := openTestMember(t, t.TempDir(), nil)
	url := "http://" + m.ClusterAddr() + "/hello"

	good := InternalTransport("member-test-secret", nil, 5*time.Second)
	defer good.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: good}).Get(url); err == nil {
		resp.Body.Close()
		t.Fatalf("internal channel answered %d before it was served", resp.StatusCode)
	}

	m.ServeInternal(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.URL.Path)
	}))
	resp, err := (&http.Client{Transport: good}).Get(url)
	if err != nil {
		t.Fatalf("internal GET with the secret: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "hello from /hello" {
		t.Fatalf("internal GET: %d %q", resp.StatusCode, b)
	}

	bad := InternalTransport("not-the-secret", nil, 5*time.Second)
	defer bad.CloseIdleConnections()
	_, err = (&http.Client{Transport: bad}).Get(url)
	var de *InternalDialError
	if !errors.As(err, &de) || !errors.Is(err, ErrHandshake) || !de.NotSent() {
		t.Fatalf("internal GET with a wrong secret: %v, want an InternalDialError wrapping ErrHandshake", err)
	}

	// Plain HTTP on the cluster port is no way in either.
	resp, err = http.Get(url)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("plain HTTP to the cluster port answered %d", resp.StatusCode)
	}

	// A dead address fails the dial, marked as not sent.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	_, err = (&http.Client{Transport: good}).Get("http://" + dead + "/")
	if !errors.As(err, &de) {
		t.Fatalf("internal GET to a dead address: %v, want an InternalDialError", err)
	}
}

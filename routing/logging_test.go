package routing

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestMemberlistLog_LevelsAndMessage(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := newMemberlistLogger(logger, nil)
	l.Printf("[DEBUG] memberlist: Stream connection from=%s", "127.0.0.1:1")
	l.Printf("[INFO] memberlist: Marking %s as failed", "x")
	l.Printf("[WARN] memberlist: Refuting a suspect message (from: %s)", "y")
	l.Printf("[ERR] memberlist: Push/Pull with %s failed: EOF", "z")
	l.Printf("no prefix at all")
	l.Printf("[ERR] memberlist: Failed to send ack: write udp %s->%s: use of closed network connection from=%s", "127.0.0.1:3", "127.0.0.1:4", "127.0.0.1:4")
	l.Printf("[WARN] memberlist: Failed to send gossip to %s: write udp %s->%s: use of closed network connection", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:2")
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="Stream connection from=127.0.0.1:1" component=memberlist`,
		`level=INFO msg="Marking x as failed"`,
		`level=WARN msg="Refuting a suspect message (from: y)"`,
		`level=WARN msg="Push/Pull with z failed: EOF"`,
		`level=INFO msg="no prefix at all"`,
		// Our own socket, closed by Shutdown before memberlist's loops stop.
		`level=DEBUG msg="Failed to send ack: write udp 127.0.0.1:3->127.0.0.1:4: use of closed network connection from=127.0.0.1:4"`,
		`level=DEBUG msg="Failed to send gossip to 127.0.0.1:2: write udp 127.0.0.1:3->127.0.0.1:2: use of closed network connection"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestMemberlistLog_Suspect(t *testing.T) {
	var seen []string
	l := newMemberlistLogger(discardLogger(), func(msg string) {
		if name, ok := suspectedBy(msg); ok {
			seen = append(seen, name)
		}
	})
	// The line memberlist v0.7.0 (state.go, probeNode) logs after a failed
	// probe; if an upgrade changes it, suspicion is no longer seen.
	l.Printf("[INFO] memberlist: Suspect %s has failed, no acks received", "us-1")
	l.Printf("[INFO] memberlist: Marking %s as failed, suspect timeout reached (%d peer confirmations)", "us-2", 1)
	l.Printf("[INFO] memberlist: Suspect  has failed, no acks received")
	if len(seen) != 1 || seen[0] != "us-1" {
		t.Errorf("suspected: %v, want [us-1]", seen)
	}
}

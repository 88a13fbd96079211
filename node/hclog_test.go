package node

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// TestHCLog_ClosedConnectionIsDebug checks that raft's "error" about a closed
// connection (every shutdown and peer restart) is logged at Debug, other errors at Error.
func TestHCLog_ClosedConnectionIsDebug(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Error("failed to decode incoming command", "error", fmt.Errorf("read tcp: %w", net.ErrClosed))
	l.Error("failed to decode incoming command", "error", raft.ErrTransportShutdown)
	l.Error("failed to append to logs", "error", errors.New("disk full"))
	out := buf.String()
	if n := strings.Count(out, "level=DEBUG msg=\"failed to decode incoming command\""); n != 2 {
		t.Errorf("%d of 2 closed-connection and transport-shutdown errors at Debug:\n%s", n, out)
	}
	if !strings.Contains(out, "level=ERROR msg=\"failed to append to logs\"") {
		t.Errorf("real error not at Error:\n%s", out)
	}
}

// TestHCLog_FirstElectionIsInfo: a member that has not seen a leader yet (every
// start) elects at Info; losing a known leader stays a warning.
func TestHCLog_FirstElectionIsInfo(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Warn(msgElection, "last-leader-addr", "", "last-leader-id", "")
	l.Warn(msgElection, "last-leader-addr", "127.0.0.1:7001", "last-leader-id", "n2")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "level=INFO") || !strings.Contains(lines[1], "level=WARN") {
		t.Fatalf("want INFO then WARN:\n%s", buf.String())
	}
}

package node

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// TestHCLog_ClosedConnectionIsDebug checks that raft's "error" about a closed
// connection (every shutdown and peer restart) is logged at Debug, other errors at Error.
func TestHCLog_ClosedConnectionIsDebug(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Error("failed to decode incoming command", "error", fmt.Errorf("read tcp: %w", net.ErrClosed))
	l.Error("failed to append to logs", "error", errors.New("disk full"))
	out := buf.String()
	if !strings.Contains(out, "level=DEBUG msg=\"failed to decode incoming command\"") {
		t.Errorf("closed-connection error not at Debug:\n%s", out)
	}
	if !strings.Contains(out, "level=ERROR msg=\"failed to append to logs\"") {
		t.Errorf("real error not at Error:\n%s", out)
	}
}

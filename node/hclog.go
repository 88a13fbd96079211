package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// hclogAdapter sends hashicorp/raft's logs to the member's slog.Logger, so raft
// logs like everything else (and many members in one process keep their own
// loggers). raft's Info level is chatty (every election, every pipeline); it is
// mapped one level down so a member at Info logs what an operator needs.
type hclogAdapter struct {
	l       *slog.Logger
	name    string
	implied []any
}

func newHCLog(l *slog.Logger) hclog.Logger {
	return &hclogAdapter{l: l.With("component", "raft"), name: "raft"}
}

func (h *hclogAdapter) level(lv hclog.Level) slog.Level {
	switch lv {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug - 4
	case hclog.Info:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (h *hclogAdapter) Log(lv hclog.Level, msg string, args ...any) {
	sl := h.level(lv)
	if sl > slog.LevelDebug && closedConn(args) {
		// raft's transport reports every connection closed under it (our own
		// shutdown, a peer restarting) as an error: expected, not a fault.
		sl = slog.LevelDebug
	}
	if sl == slog.LevelWarn && msg == msgElection && argValue(args, "last-leader-id") == "" {
		// The election of a member that has not seen a leader since it started
		// (every start, and the only one of a single-member region) is routine.
		sl = slog.LevelInfo
	}
	if !h.l.Enabled(context.Background(), sl) {
		return
	}
	h.l.Log(context.Background(), sl, msg, args...)
}

// msgElection is raft's warning that a follower starts an election.
const msgElection = "heartbeat timeout reached, starting election"

// argValue returns the value of key in hclog's alternating key/value args as a
// string ("" when absent).
func argValue(args []any, key string) string {
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == key {
			return fmt.Sprint(args[i+1])
		}
	}
	return ""
}

func (h *hclogAdapter) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogAdapter) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogAdapter) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogAdapter) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogAdapter) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogAdapter) enabled(lv hclog.Level) bool {
	return h.l.Enabled(context.Background(), h.level(lv))
}

func (h *hclogAdapter) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hclogAdapter) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hclogAdapter) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hclogAdapter) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hclogAdapter) IsError() bool { return h.enabled(hclog.Error) }

func (h *hclogAdapter) ImpliedArgs() []any { return h.implied }

func (h *hclogAdapter) With(args ...any) hclog.Logger {
	c := *h
	c.l = h.l.With(args...)
	c.implied = append(append([]any(nil), h.implied...), args...)
	return &c
}

func (h *hclogAdapter) Name() string { return h.name }

func (h *hclogAdapter) Named(name string) hclog.Logger {
	c := *h
	c.name = h.name + "." + name
	c.l = h.l.With("sub", name)
	return &c
}

func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	c.l = h.l.With("sub", name)
	return &c
}

// SetLevel is a no-op: the level belongs to the slog handler.
func (h *hclogAdapter) SetLevel(hclog.Level) {}

func (h *hclogAdapter) GetLevel() hclog.Level {
	switch {
	case h.IsTrace():
		return hclog.Trace
	case h.IsDebug():
		return hclog.Debug
	case h.IsInfo():
		return hclog.Info
	case h.IsWarn():
		return hclog.Warn
	}
	return hclog.Error
}

func (h *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(h.l.Handler(), slog.LevelDebug)
}

func (h *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(nil).Writer()
}

// closedConn reports whether any logged value is an error caused by using a closed
// network connection, or by raft's transport shutting down under a connection (seen
// at ERROR when a lab stopped while an append was arriving).
func closedConn(args []any) bool {
	for _, a := range args {
		if err, ok := a.(error); ok && (errors.Is(err, net.ErrClosed) || errors.Is(err, raft.ErrTransportShutdown)) {
			return true
		}
	}
	return false
}

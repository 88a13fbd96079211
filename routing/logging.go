package routing

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"net"
	"strings"
)

// memberlistLog adapts memberlist's *log.Logger output ("[LEVEL] memberlist:
// message") to slog, one record per line, at the level the prefix names. It
// also passes each line to observe, which watches for the events memberlist
// reports only in its log.
type memberlistLog struct {
	logger  *slog.Logger
	observe func(msg string)
}

// newMemberlistLogger returns the *log.Logger memberlist writes to.
func newMemberlistLogger(logger *slog.Logger, observe func(string)) *log.Logger {
	return log.New(&memberlistLog{logger: logger, observe: observe}, "", 0)
}

func (w *memberlistLog) Write(p []byte) (int, error) {
	// log.Logger calls Write once per Printf, with one trailing newline.
	line := string(bytes.TrimRight(p, "\n"))
	level, msg := parseMemberlistLine(line)
	if w.observe != nil {
		w.observe(msg)
	}
	if w.logger.Enabled(context.Background(), level) {
		w.logger.Log(context.Background(), level, msg, "component", "memberlist")
	}
	return len(p), nil
}

// parseMemberlistLine splits a memberlist log line into its level and message.
// memberlist's [ERR] lines are transient network failures that its protocol
// recovers from (a failed probe or push/pull during a partition): they are
// warnings here, so that a partition does not flood the error level.
func parseMemberlistLine(line string) (slog.Level, string) {
	level := slog.LevelInfo
	for _, p := range []struct {
		prefix string
		level  slog.Level
	}{
		{"[DEBUG] ", slog.LevelDebug},
		{"[INFO] ", slog.LevelInfo},
		{"[WARN] ", slog.LevelWarn},
		{"[ERR] ", slog.LevelWarn},
		{"[ERROR] ", slog.LevelWarn},
	} {
		if rest, ok := strings.CutPrefix(line, p.prefix); ok {
			level, line = p.level, rest
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	// memberlist shuts its transport down before it stops its probe and gossip
	// loops, so a pool that closes logs a few sends on its own closed socket:
	// expected, and only that (a peer's closed socket is never ours to write on).
	if level == slog.LevelWarn && strings.Contains(line, net.ErrClosed.Error()) {
		level = slog.LevelDebug
	}
	return level, line
}

// suspectedBy returns the peer a memberlist message says our own probe found
// unresponsive. memberlist v0.7.0 keeps a peer's suspect state private
// (nodeState.State shadows Node.State), and reports our failed probe only in
// this line, which TestMemberlistLog_Suspect pins.
func suspectedBy(msg string) (string, bool) {
	rest, ok := strings.CutPrefix(msg, "Suspect ")
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, " has failed, no acks received")
	return name, ok && name != ""
}

// discardLogger is the logger of a Config without one.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

package node

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// refusalReason says why the cluster port refused a connection.
type refusalReason uint8

const (
	// refusedNoHandshake: the peer hung up before its hello, or sent something
	// other than the handshake (an HTTP client, a port scanner, random bytes).
	refusedNoHandshake refusalReason = iota
	// refusedWrongSecret: the peer failed our challenge, or hung up after reading
	// ours (what a dialer with another secret does).
	refusedWrongSecret
	// refusedTimeout: the handshake did not finish within its deadline.
	refusedTimeout
	// refusedOverCap: the handshake was cut to make room for a newer connection,
	// maxPendingHandshakes being in progress (see clusterMux.admit).
	refusedOverCap
	// refusedUnknownChannel: the peer proved the secret but named a channel this
	// member does not serve (a newer binary?).
	refusedUnknownChannel
	numRefusalReasons
)

// refusalKeys name the reasons in the summary line, in this order.
var refusalKeys = [numRefusalReasons]string{"no_handshake", "wrong_secret", "timeout", "over_handshake_cap", "unknown_channel"}

func (r refusalReason) String() string {
	if r < numRefusalReasons {
		return refusalKeys[r]
	}
	return fmt.Sprintf("refusal(%d)", uint8(r))
}

const (
	// refusalLogInterval is the least time between two summary lines of refused
	// cluster connections.
	refusalLogInterval = 5 * time.Second
	// A summary names at most refusalSampleHosts distinct remote hosts, and counts
	// at most refusalTrackedHosts of them ("and N more").
	refusalSampleHosts  = 8
	refusalTrackedHosts = 256
)

// refusalLog turns the connections refused by one member's cluster port into a
// few WARN lines. The first refusal after a quiet interval is logged at once (an
// operator who mistyped a secret sees it without waiting); later ones are counted,
// and a summary ("refused cluster connections") follows at most once per interval:
// how many since the previous line, how many for each reason, a sample of the
// remote hosts and the last error. Each refusal is also logged at Debug with its
// remote address. close logs what is still counted. A member has its own (many
// members may share a process and a logger).
type refusalLog struct {
	logger   *slog.Logger
	interval time.Duration
	now      func() time.Time
	// after runs f once d has passed, unless the stop it returns is called first
	// (time.AfterFunc; tests fire it by hand).
	after func(d time.Duration, f func()) (stop func() bool)

	mu     sync.Mutex
	closed bool
	last   time.Time   // when the last line was logged; zero before the first
	timer  func() bool // stops the pending summary; nil when none is due

	// The refusals since the last line.
	total     int
	counts    [numRefusalReasons]int
	hosts     map[string]struct{} // distinct hosts, at most refusalTrackedHosts
	sample    []string            // the first refusalSampleHosts of them, in order
	moreHosts bool                // more distinct hosts came than hosts holds
	lastErr   error
}

func newRefusalLog(logger *slog.Logger, interval time.Duration) *refusalLog {
	return &refusalLog{
		logger:   logger,
		interval: interval,
		now:      time.Now,
		after:    func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop },
	}
}

// record counts one refused connection. After close it is logged at Debug only.
func (l *refusalLog) record(reason refusalReason, remote net.Addr, err error) {
	addr := "?"
	if remote != nil {
		addr = remote.String()
	}
	l.logger.Debug("refused cluster connection", "remote", addr, "reason", reason.String(), "err", err)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.total++
	l.counts[reason]++
	l.lastErr = err
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if _, seen := l.hosts[host]; !seen {
		if l.hosts == nil {
			l.hosts = make(map[string]struct{})
		}
		if len(l.hosts) < refusalTrackedHosts {
			l.hosts[host] = struct{}{}
			if len(l.sample) < refusalSampleHosts {
				l.sample = append(l.sample, host)
			}
		} else {
			l.moreHosts = true
		}
	}
	now := l.now()
	switch {
	case l.last.IsZero() || now.Sub(l.last) >= l.interval:
		l.emitLocked(now)
	case l.timer == nil:
		l.timer = l.after(l.last.Add(l.interval).Sub(now), l.due)
	}
}

// due is the timer's: the interval since the last line has passed.
func (l *refusalLog) due() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = nil
	if l.closed || l.total == 0 {
		return
	}
	now := l.now()
	if wait := l.last.Add(l.interval).Sub(now); wait > 0 {
		l.timer = l.after(wait, l.due) // early (a clock step): wait out the rest
		return
	}
	l.emitLocked(now)
}

// close logs the refusals not yet in a line and stops the summaries. The line is
// logged under l.mu, like every line, so none comes after close returns.
func (l *refusalLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	if l.timer != nil {
		l.timer()
		l.timer = nil
	}
	if l.total > 0 {
		l.emitLocked(l.now())
	}
}

func (l *refusalLog) emitLocked(now time.Time) {
	attrs := make([]any, 0, 2*(numRefusalReasons+3))
	attrs = append(attrs, "count", l.total)
	for r, n := range l.counts {
		if n > 0 {
			attrs = append(attrs, refusalKeys[r], n)
		}
	}
	remotes := strings.Join(l.sample, ", ")
	if more := len(l.hosts) - len(l.sample); l.moreHosts {
		remotes += fmt.Sprintf(" and more than %d more", more)
	} else if more > 0 {
		remotes += fmt.Sprintf(" and %d more", more)
	}
	attrs = append(attrs, "remotes", remotes, "last_err", l.lastErr)
	l.logger.Warn("refused cluster connections", attrs...)

	l.last = now
	l.total = 0
	l.counts = [numRefusalReasons]int{}
	l.hosts = nil
	l.sample = nil
	l.moreHosts = false
	l.lastErr = nil
}

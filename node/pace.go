package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// UploadPace is the slowest a request body may arrive. An upload that falls behind
// it is cut with ErrUploadTooSlow, which s3api answers as S3 does a body that stops
// or crawls: 400 RequestTimeout ("Your socket connection to the server was not read
// from or written to within the timeout period"); what was staged of it is
// discarded like any failed upload's.
//
// The rule: a body may fall behind MinRate by at most Stall. It starts with Stall in
// hand; the time the server spends waiting for the client's bytes is taken from it
// (only the time in reads: not the time a body waits for its turn in the body
// budget or for its chunks to commit, which is the server's doing); every byte
// received gives 1/MinRate back, never more than Stall in all. So a body that sends
// nothing for Stall is cut (S3 drops one after about 20 s), and one that keeps
// arriving below MinRate is cut too, after Stall/(1-rate/MinRate) (Apache's
// mod_reqtimeout default is alike: 20 s, then 500 bytes/s).
type UploadPace struct {
	// MinRate is in bytes per second. Zero: DefaultUploadMinRate; negative: no
	// minimum, uploads are never cut for being slow.
	MinRate int64
	// Stall is how far behind MinRate a body may fall. Zero: DefaultUploadStall.
	Stall time.Duration
}

// The default UploadPace: 1 KiB/s, 20 s behind at most.
const (
	DefaultUploadMinRate int64 = 1 << 10
	DefaultUploadStall         = 20 * time.Second
)

func (p UploadPace) withDefaults() UploadPace {
	if p.MinRate == 0 {
		p.MinRate = DefaultUploadMinRate
	}
	if p.Stall <= 0 {
		p.Stall = DefaultUploadStall
	}
	return p
}

// ErrUploadTooSlow: a request body arrived slower than the UploadPace allows and
// was cut; nothing of it was kept. It implements ClientTimeout() bool, which s3api
// answers with 400 RequestTimeout (the client's doing, not the server's).
var ErrUploadTooSlow error = uploadTooSlow{}

type uploadTooSlow struct{}

func (uploadTooSlow) Error() string {
	return "node: request body arrived slower than the minimum upload rate"
}

// ClientTimeout reports true: the client was too slow.
func (uploadTooSlow) ClientTimeout() bool { return true }

// readDeadliner is a request body whose reads can be given a deadline (s3api's,
// through http.ResponseController): a read still waiting at the deadline fails.
// With one, a body that stalls is cut at the moment it falls behind; without, only
// when its next bytes arrive.
type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

// aLongTimeAgo is a deadline in the past: every read fails at once.
var aLongTimeAgo = time.Unix(1, 0)

// pacer enforces an UploadPace on the reads of one body.
type pacer struct {
	r      io.Reader
	dl     readDeadliner // nil: r takes no deadlines
	rate   float64       // bytes per second; 0: no minimum
	stall  time.Duration
	behind time.Duration // allowance left: stall at most
}

func newPacer(r io.Reader, p UploadPace) pacer {
	pc := pacer{r: r}
	if p.MinRate > 0 {
		pc.rate, pc.stall, pc.behind = float64(p.MinRate), p.Stall, p.Stall
		pc.dl, _ = r.(readDeadliner)
	}
	return pc
}

// Read is r.Read under the pace. A body that falls behind fails with
// ErrUploadTooSlow (or with r's own deadline error if r timed out first), and its
// connection is left with a deadline in the past, so that nothing waits on that
// client any more (net/http discards what is left of a body before it answers). At
// the body's end the deadline is cleared: the connection serves its next request.
func (p *pacer) Read(b []byte) (int, error) {
	if p.rate == 0 {
		return p.r.Read(b)
	}
	start := time.Now()
	if p.dl != nil && p.dl.SetReadDeadline(start.Add(p.behind)) != nil {
		p.dl = nil // not supported (some HTTP/2 paths): checked between reads only
	}
	n, err := p.r.Read(b)
	p.behind -= time.Since(start)
	if err != nil {
		if err == io.EOF && p.dl != nil {
			p.dl.SetReadDeadline(time.Time{})
		}
		if p.behind <= 0 && isTimeout(err) {
			return n, fmt.Errorf("%w: %w", ErrUploadTooSlow, err)
		}
		return n, err
	}
	if p.behind <= 0 {
		if p.dl != nil {
			p.dl.SetReadDeadline(aLongTimeAgo)
		}
		return n, ErrUploadTooSlow
	}
	p.behind = min(p.stall, p.behind+time.Duration(float64(n)/p.rate*float64(time.Second)))
	return n, nil
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &te) && te.Timeout()
}

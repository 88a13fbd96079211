package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// The internal HTTP channel carries what other processes of the planet ask of a
// member over HTTP: S3 requests forwarded from another region or an edge (with
// the principal verified where the request entered) and the catalog's calls.
// It runs over the cluster address, after the same secret handshake as raft and
// gRPC, so that whatever arrives on it comes from a process that knows the
// cluster secret. What it serves is the caller's business (ServeInternal).

// internalIdleTimeout closes an idle internal connection; the dialing side's
// pool (InternalTransport) closes its own sooner, so that it never picks a
// connection the member is closing.
const internalIdleTimeout = 2 * time.Minute

// ServeInternal serves h on the member's internal HTTP channel until the member
// closes. Until it is called the channel is refused. Call it once.
func (m *Member) ServeInternal(h http.Handler) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: handshakeTimeout,
		IdleTimeout:       internalIdleTimeout,
		ErrorLog:          slog.NewLogLogger(m.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return m.stopCtx },
	}
	m.mux.httpServed.Store(true)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := srv.Serve(m.mux.http); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
			m.logger.Warn("internal HTTP serving ended", "err", err)
		}
	}()
}

// InternalTransport returns an HTTP transport whose connections go to cluster
// addresses ("http://<cluster addr>/...") through the secret handshake, dialed
// with dial (nil: plain TCP). Edges and members use it to forward requests and
// reach the catalog. headerTimeout bounds the wait for response headers once
// a request is sent (0: none, for long polls), so that a region cut off in the
// middle of a request gives an error instead of a hang. Close its idle
// connections when done with it.
func InternalTransport(secret string, dial Dialer, headerTimeout time.Duration) *http.Transport {
	if dial == nil {
		dial = defaultDial
	}
	d := &clusterDialer{dial: dial, secret: []byte(secret)}
	return &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, internalDialTimeout)
			defer cancel()
			conn, err := d.dialChannel(ctx, addr, chanHTTP)
			if err != nil {
				return nil, &InternalDialError{Addr: addr, Err: err}
			}
			return conn, nil
		},
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       internalIdleTimeout / 2,
		ResponseHeaderTimeout: headerTimeout,
		DisableCompression:    true,
	}
}

// internalDialTimeout bounds a dial and handshake on the internal channel: a
// member cut off by a partition fails the dial in this time rather than
// holding the request.
const internalDialTimeout = 3 * time.Second

// InternalDialError is a failure to reach an internal address: nothing of the
// request was sent (NotSent), so it may go to another member.
type InternalDialError struct {
	Addr string
	Err  error
}

func (e *InternalDialError) Error() string {
	return "node: reach " + e.Addr + " on the internal channel: " + e.Err.Error()
}
func (e *InternalDialError) Unwrap() error { return e.Err }

// NotSent reports true: the request never left.
func (e *InternalDialError) NotSent() bool { return true }

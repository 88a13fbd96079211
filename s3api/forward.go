package s3api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pangea-s3/pangea/s3api/auth"
)

// Forwarding. A request for a bucket of another region is authenticated where it
// enters (an edge, or a member of any region) and sent on, as HTTP/1.1 over the
// internal channel (Config.Forward: connections that proved the cluster secret),
// to a process of the owning region, which authorizes and serves it as if it had
// arrived there and answers with its own status, headers and bytes, which the
// entry passes back unchanged. The forwarded request is never re-signed: it
// carries the principal the entry verified in X-Pangea-* headers, which only the
// internal handler (InternalHandler) reads; a client sending them to a public
// endpoint is ignored, since ServeHTTP never looks at them and forward replaces
// them.
//
// The entry verifies the body as it streams (auth.Result.Body) and holds its last
// byte back until the verification passed, so the owner never receives a whole
// body whose signature or payload hash failed: the connection breaks one byte
// short and the owner sees an incomplete body. aws-chunked bodies travel decoded,
// their trailing checksum as an HTTP trailer.
const (
	hdrPrincipal     = "X-Pangea-Principal"        // the verified access key; "" anonymous
	hdrAuthMethod    = "X-Pangea-Auth-Method"      // auth.Result.Method
	hdrRegionSet     = "X-Pangea-Region-Set"       // auth.Result.RegionSet, comma-separated
	hdrDecodedLength = "X-Pangea-Decoded-Length"   // auth.Result.DecodedLength when the body is chunked
	hdrEntryRequest  = "X-Pangea-Entry-Request"    // the entry's request ID, for logs
	hdrForwardedFrom = "X-Pangea-Forwarded-Region" // the entry's region ("" for an edge)
)

// smallBody is the size up to which a forwarded body is read and verified
// whole before it is sent, so that it can go to another address if the first
// cannot be reached.
const smallBody = 64 << 10

// hopHeaders are connection-level headers a proxy never passes on (RFC 9110 7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// regionUnreachable is the 503 of a forward that reached no process of the
// owning region (or lost it before an answer): retry later.
func regionUnreachable(region string, err error) error {
	return &forwardError{region: region, err: err}
}

type forwardError struct {
	region string
	err    error
}

func (e *forwardError) Error() string {
	return fmt.Sprintf("forward to region %s: %v", e.region, e.err)
}
func (e *forwardError) Unwrap() error { return e.err }

// s3Error is what the client sees: a 503 naming the region.
func (e *forwardError) s3Error() *Error {
	return &Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable,
		Message: "The bucket's region (" + e.region + ") cannot be reached from this endpoint now. Please retry."}
}

// notSent is implemented by transport errors raised before any byte of the
// request left (node.InternalTransport's dial failures).
type notSent interface{ NotSent() bool }

// forward sends rc to t's region and streams the answer back.
func (s *Server) forward(rc *reqCtx, t *Target) error {
	if err := s.canForward(rc, t); err != nil {
		return err
	}
	body, small, err := s.forwardBody(rc)
	if err != nil {
		return err
	}
	return s.forwardPrepared(rc, t, body, small)
}

func (s *Server) canForward(rc *reqCtx, t *Target) error {
	if s.cfg.Forward == nil {
		return fmt.Errorf("s3api: bucket %q lives in region %s and this server cannot forward (no Config.Forward)", rc.bucket, t.Region)
	}
	if len(t.Addrs) == 0 {
		return regionUnreachable(t.Region, nothingSentError("no healthy process of the region is known"))
	}
	return nil
}

// sendToRegion sends the request build makes for one of t's addresses at a time
// until one answers. An address that fails is left out of later requests
// (s.unreachable) until a probe finds it again; the next address is tried only
// when nothing of the request left (NotSent) and retry allows it (a body not
// yet read from). clientErr, if set, reports a failure of the client's own (its
// body), returned as is and not held against the address.
func (s *Server) sendToRegion(rc *reqCtx, t *Target, build func(addr string) (*http.Request, error), retry func() bool, clientErr func() error) (*http.Response, error) {
	if err := s.canForward(rc, t); err != nil {
		return nil, err
	}
	addrs := s.unreachable.usable(t.Addrs, time.Now(), s.probe)
	if len(addrs) == 0 {
		return nil, regionUnreachable(t.Region, nothingSentError("every member of the region failed a request in the last seconds"))
	}
	var lastErr error
	for i, addr := range addrs {
		req, err := build(addr)
		if err != nil {
			return nil, err
		}
		resp, err := s.cfg.Forward.RoundTrip(req)
		if err == nil {
			s.unreachable.clear(addr)
			return resp, nil
		}
		lastErr = err
		if ce := rc.r.Context().Err(); ce != nil {
			return nil, &clientIOError{err: ce}
		}
		if clientErr != nil {
			if cerr := clientErr(); cerr != nil {
				return nil, cerr // the client's body failed (or failed verification)
			}
		}
		s.unreachable.mark(addr, time.Now())
		var ns notSent
		if !errors.As(err, &ns) || !ns.NotSent() || !retry() || i+1 == len(addrs) {
			break
		}
	}
	return nil, regionUnreachable(t.Region, lastErr)
}

// forwardPrepared is forward with the body prepared (forwardBody), or read
// already (small).
func (s *Server) forwardPrepared(rc *reqCtx, t *Target, body *forwardedBody, small []byte) error {
	start := time.Now()
	resp, err := s.sendToRegion(rc, t,
		func(addr string) (*http.Request, error) { return s.forwardRequest(rc, addr, body, small) },
		func() bool { return body == nil || body.n == 0 },
		func() error {
			if body != nil {
				return body.err
			}
			return nil
		})
	if err != nil {
		var fe *forwardError
		if errors.As(err, &fe) {
			s.cfg.Metrics.ObserveForward(t.Region, 0, time.Since(start))
		}
		return err
	}
	defer resp.Body.Close()
	s.cfg.Metrics.ObserveForward(t.Region, resp.StatusCode, time.Since(start))
	h := rc.w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	rc.w.WriteHeader(resp.StatusCode)
	if rc.r.Method == http.MethodHead {
		return nil
	}
	if _, err := s.copyOut(rc.w, resp.Body); err != nil {
		return fmt.Errorf("forwarded answer from region %s: %w", t.Region, err)
	}
	return nil
}

// forwardedBody is a verifying request body on its way to the owner: it holds
// the last byte back until the verification passed (the source returned
// io.EOF), then sets the trailers. Close does nothing: the request is the
// client's, and a retry may reuse a body nothing was read from.
type forwardedBody struct {
	src     io.Reader
	buf     []byte // buf[0] is the held byte's place, the source is read into buf[1:]
	out     []byte // verified bytes not yet handed out
	held    byte
	hasHeld bool
	n       int64 // bytes read from src
	err     error // the source's failure, if any
	eof     bool
	atEOF   func() // sets the trailers
}

func (b *forwardedBody) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.eof {
			return 0, io.EOF
		}
		if b.err != nil {
			return 0, b.err
		}
		if b.buf == nil {
			b.buf = make([]byte, 1+32<<10)
		}
		start := 1
		if b.hasHeld {
			b.buf[0], start = b.held, 0
		}
		n, err := b.src.Read(b.buf[1:])
		b.n += int64(n)
		data := b.buf[start : 1+n]
		switch {
		case err == io.EOF:
			// Verified: everything goes, then the trailers.
			b.eof, b.hasHeld = true, false
			if b.atEOF != nil {
				b.atEOF()
			}
			b.out = data
		case err != nil:
			b.err = err
			return 0, err
		case len(data) > 0:
			b.held, b.hasHeld = data[len(data)-1], true
			b.out = data[:len(data)-1]
		}
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

func (b *forwardedBody) Close() error { return nil }

// forwardBody prepares the body to forward: small bodies (known length up to
// smallBody) are read and verified whole now (small); larger ones stream
// through a forwardedBody (body). Both nil: no body.
func (s *Server) forwardBody(rc *reqCtx) (body *forwardedBody, small []byte, err error) {
	if rc.auth == nil || rc.auth.Body == nil || rc.auth.Body == http.NoBody {
		return nil, nil, nil
	}
	if rc.r.Body == nil || rc.r.Body == http.NoBody {
		return nil, nil, nil
	}
	n := rc.auth.DecodedLength
	if n >= 0 && n <= smallBody && rc.r.Header.Get("X-Amz-Trailer") == "" {
		buf := make([]byte, 0, n+1)
		b := bytes.NewBuffer(buf)
		if _, err := io.Copy(b, io.LimitReader(rc.auth.Body, smallBody+1)); err != nil {
			return nil, nil, err
		}
		if int64(b.Len()) > smallBody {
			return nil, nil, apiErr("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
		}
		return nil, b.Bytes(), nil
	}
	return &forwardedBody{src: rc.auth.Body}, nil, nil
}

// forwardRequest builds the request to addr: the client's method, URI, Host and
// headers (less hop-by-hop, authorization and our own), the principal, the body.
func (s *Server) forwardRequest(rc *reqCtx, addr string, body *forwardedBody, small []byte) (*http.Request, error) {
	r := rc.r
	req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+addr+r.URL.RequestURI(), nil)
	if err != nil {
		return nil, fmt.Errorf("s3api: forward request: %w", err)
	}
	req.Host = r.Host
	h := make(http.Header, len(r.Header)+6)
	for k, v := range r.Header {
		if strings.HasPrefix(k, "X-Pangea-") {
			continue // a client's own are never believed, nor passed on
		}
		h[k] = v
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	h.Del("Authorization")
	h.Del("Expect") // this side already answered 100-continue
	if ce := h.Get("Content-Encoding"); strings.Contains(ce, "aws-chunked") {
		if rest := stripAWSChunked(ce); rest != "" {
			h.Set("Content-Encoding", rest)
		} else {
			h.Del("Content-Encoding")
		}
	}
	h.Del("X-Amz-Decoded-Content-Length")
	if h.Get("X-Amz-Content-Sha256") != "" {
		h.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") // verified here
	}
	if a := rc.auth; a != nil {
		if a.AccessKey != "" {
			h.Set(hdrPrincipal, a.AccessKey)
		}
		h.Set(hdrAuthMethod, a.Method)
		if len(a.RegionSet) > 0 {
			h.Set(hdrRegionSet, strings.Join(a.RegionSet, ","))
		}
	}
	h.Set(hdrEntryRequest, rc.id)
	if ap := rc.dataAccessPoint(); ap != "" {
		h.Set(hdrDataAccessPoint, ap) // the MRAP the request came through
	}
	if s.cfg.Region != "" {
		h.Set(hdrForwardedFrom, s.cfg.Region)
	}
	req.Header = h
	switch {
	case small != nil:
		req.Body = io.NopCloser(bytes.NewReader(small))
		req.ContentLength = int64(len(small))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(small)), nil }
		if len(small) == 0 {
			req.Body = http.NoBody
		}
	case body != nil:
		req.Body = body
		req.ContentLength = rc.auth.DecodedLength
		if names := trailerNames(r.Header.Get("X-Amz-Trailer")); len(names) > 0 {
			// Trailers need chunked framing; the decoded length goes in a header.
			req.ContentLength = -1
			if rc.auth.DecodedLength >= 0 {
				h.Set(hdrDecodedLength, strconv.FormatInt(rc.auth.DecodedLength, 10))
			}
			req.Trailer = make(http.Header, len(names))
			for _, n := range names {
				req.Trailer[http.CanonicalHeaderKey(n)] = nil
			}
			trailer := rc.auth.Trailer
			body.atEOF = func() {
				for _, n := range names {
					if trailer != nil {
						if v := trailer(n); v != "" {
							req.Trailer.Set(n, v)
						}
					}
				}
			}
		}
	default:
		req.Body = http.NoBody
		req.ContentLength = 0
	}
	return req, nil
}

// trailerNames lists the lower-case names of an X-Amz-Trailer header.
func trailerNames(v string) []string {
	var names []string
	for n := range strings.SplitSeq(v, ",") {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// InternalHandler serves requests forwarded over the internal channel: the
// principal comes from the X-Pangea-* headers the entry set, with no signature
// to check (the channel proved the cluster secret), and every bucket is served
// from this server's Backend (never forwarded again). Mount it only where every
// caller proved the cluster secret.
func (s *Server) InternalHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, true) })
}

// internalAuth is the authentication result a forwarded request carries.
func internalAuth(r *http.Request) (*auth.Result, error) {
	h := r.Header
	res := &auth.Result{AccessKey: h.Get(hdrPrincipal), Method: h.Get(hdrAuthMethod), DecodedLength: r.ContentLength}
	res.Anonymous = res.AccessKey == ""
	if res.Method == "" {
		res.Method = "Anonymous"
	}
	if rs := h.Get(hdrRegionSet); rs != "" {
		res.RegionSet = strings.Split(rs, ",")
	}
	if dl := h.Get(hdrDecodedLength); dl != "" {
		n, err := strconv.ParseInt(dl, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("s3api: forwarded request with a bad %s %q", hdrDecodedLength, dl)
		}
		res.DecodedLength = n
	}
	res.Body = r.Body
	if res.Body == nil {
		res.Body = http.NoBody
	}
	res.Trailer = func(name string) string { return r.Trailer.Get(name) }
	return res, nil
}

package s3api

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pangea-s3/pangea/s3api/auth"
)

// DefaultBaseDomain is the domain under which virtual-host-style bucket names are
// recognised when Config.BaseDomain is empty.
const DefaultBaseDomain = "localhost"

// Config configures a Server.
type Config struct {
	// Region is the region this server answers for: new buckets are created in it,
	// and a CreateBucket LocationConstraint must name it.
	Region string
	// BaseDomain: requests to "<bucket>.<BaseDomain>[:port]" are virtual-host style.
	// Default "localhost".
	BaseDomain string
	// Credentials resolves access keys to secrets for signature verification.
	Credentials auth.Credentials
	// Logger receives one Debug line per request and Warn/Error lines for failures.
	// Nil discards.
	Logger *slog.Logger
	// Now is the clock used for signature skew checks and Date headers. Nil: time.Now.
	Now func() time.Time
	// MaxSkew is the allowed clock skew of signed requests. Zero: 15 minutes.
	MaxSkew time.Duration

	// Resolver, if set, places buckets in a planet of regions (resolve.go):
	// requests for another region's buckets are forwarded through Forward, and
	// CreateBucket/DeleteBucket/ListBuckets go through the global catalog. Nil:
	// every bucket is served from the Backend. An edge (no Backend) has one and
	// an empty Region.
	Resolver Resolver
	// Forward carries forwarded requests to other processes' internal addresses
	// ("http://<addr>/..."); it must authenticate this process to them (the
	// cluster secret: node.InternalTransport).
	Forward http.RoundTripper
	// Metrics counts and times every request, labelled with Region. Nil: none.
	Metrics *Metrics
	// MetricsHandler answers GET MetricsPath, unauthenticated (metrics.go). Nil:
	// that path answers NoSuchKey.
	MetricsHandler http.Handler

	// MRAPControl serves the S3 Control API's Multi-Region Access Point
	// operations, MRAPRouter the requests addressed to an MRAP (mrap.go). Nil:
	// not served.
	MRAPControl MRAPControl
	MRAPRouter  MRAPRouter
}

// Server is the S3 front end: an http.Handler over a Backend. It is safe for
// concurrent use; many Servers may live in one process.
type Server struct {
	cfg      Config
	b        Backend
	verifier *auth.Verifier
	log      *slog.Logger
	now      func() time.Time
	baseHost string // "." + lower-case BaseDomain

	hostID    string // x-amz-id-2 value
	idPrefix  uint32 // random per Server, so request IDs of different servers differ
	idCounter atomic.Uint32

	// copyBufs holds 64 KiB buffers for streaming bodies out.
	copyBufs sync.Pool

	policies policyCache
	// unreachable: internal addresses forwards failed to reach lately.
	unreachable unreachable
}

// New returns a Server answering S3 requests from b.
func New(cfg Config, b Backend) *Server {
	if cfg.BaseDomain == "" {
		cfg.BaseDomain = DefaultBaseDomain
	}
	if cfg.Region == "" && cfg.Resolver == nil {
		cfg.Region = "us-east-1"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = 15 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	creds := cfg.Credentials
	if creds == nil {
		creds = auth.StaticCredentials{}
	}
	s := &Server{
		cfg:      cfg,
		b:        b,
		verifier: auth.NewVerifier(creds, auth.Options{Now: cfg.Now, MaxSkew: cfg.MaxSkew}),
		log:      log.With("component", "s3api", "region", cfg.Region),
		now:      cfg.Now,
		baseHost: "." + strings.ToLower(strings.TrimSuffix(cfg.BaseDomain, ".")),
	}
	var seed [36]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails on supported platforms
	s.idPrefix = binary.BigEndian.Uint32(seed[:4])
	s.hostID = base64.StdEncoding.EncodeToString(seed[4:])
	s.copyBufs.New = func() any { b := make([]byte, 64<<10); return &b }
	s.policies.init()
	return s
}

// reqCtx is the state of one request as it moves through the pipeline.
type reqCtx struct {
	w      *respWriter
	r      *http.Request
	id     string
	op     op
	bucket string
	key    string
	query  url.Values
	auth   *auth.Result
	// internal: forwarded by another process of the planet (InternalHandler):
	// the principal came with it, and it is served here.
	internal bool
	// errCode is the S3 error code answered, for the access log.
	errCode string
	// control: an S3 Control API request (control.go), served by control
	// instead of dispatch, its errors in the wrapped form.
	control bool
	// mrap: addressed to a Multi-Region Access Point (mrapdata.go);
	// accessPoint is the ARN of the MRAP a request is served for.
	mrap        *mrapRequest
	accessPoint string
}

// principal is the authenticated access key, "" for anonymous requests.
func (rc *reqCtx) principal() string {
	if rc.auth == nil {
		return ""
	}
	return rc.auth.AccessKey
}

func (rc *reqCtx) anonymous() bool { return rc.principal() == "" }

// resource is the <Resource> of an error: the request path.
func (rc *reqCtx) resource() string {
	if rc.bucket == "" {
		return "/"
	}
	if rc.key == "" {
		return "/" + rc.bucket
	}
	return "/" + rc.bucket + "/" + rc.key
}

// param returns a query parameter ("" when absent).
func (rc *reqCtx) param(name string) string {
	if rc.query == nil {
		return ""
	}
	if v := rc.query[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// respWriter records the status and body size for the access log.
type respWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *respWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, deadlines).
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newRequestID returns a unique 16-character upper-case hex request ID.
func (s *Server) newRequestID() string {
	var b [8]byte
	binary.BigEndian.PutUint32(b[:4], s.idPrefix)
	binary.BigEndian.PutUint32(b[4:], s.idCounter.Add(1))
	const hexdigits = "0123456789ABCDEF"
	var out [16]byte
	for i, c := range b {
		out[2*i] = hexdigits[c>>4]
		out[2*i+1] = hexdigits[c&0x0f]
	}
	return string(out[:])
}

// ServeHTTP runs the pipeline: route -> authenticate -> dispatch (which authorizes
// and runs the operation). Every response carries the request ID headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r, false) }

// serve is ServeHTTP, or with internal set InternalHandler's pipeline: the
// principal a forwarded request carries stands for the signature.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, internal bool) {
	start := time.Now()
	rw := &respWriter{ResponseWriter: w}
	rc := &reqCtx{w: rw, r: r, id: s.newRequestID(), internal: internal}
	h := w.Header()
	h["X-Amz-Request-Id"] = []string{rc.id}
	h["X-Amz-Id-2"] = []string{s.hostID}
	h["Server"] = []string{"Pangea"}

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic in s3 handler", "request_id", rc.id, "op", rc.op.name(),
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rw.wroteHeader {
				s.writeError(rc, apiErr("InternalError", msgInternal))
			}
		}
		s.cfg.Metrics.observeRequest(s.cfg.Region, rc.op, rw.status, time.Since(start))
		s.accessLog(rc, start)
	}()

	rt, mr, rerr := s.routeRequest(r, internal)
	rc.op, rc.bucket, rc.key, rc.query, rc.mrap = rt.op, rt.bucket, rt.key, rt.query, mr
	if isControlRequest(r) { // not a bucket's: the S3 router's verdict does not apply
		rc.control, rc.op, rc.bucket, rc.key, rc.mrap, rerr = true, opUnknown, "", "", nil, nil
		rc.query = r.URL.Query()
	}
	if rerr == nil && rt.op.unauthenticated() {
		s.health(rc) // unauthenticated by design (health.go)
		return
	}

	if r.Body != nil && r.Body != http.NoBody {
		// Every reader of the body (the aws-chunked decoder, the backend) then
		// sees its failures as the client's (clientIOError), whatever wraps them.
		r.Body = clientBody{r.Body}
	}
	var res *auth.Result
	var err error
	if internal {
		res, err = internalAuth(r)
	} else {
		res, err = s.verifier.Verify(r)
	}
	if err != nil {
		s.writeError(rc, err)
		return
	}
	rc.auth = res
	if rerr != nil {
		s.writeError(rc, rerr)
		return
	}
	if sc, ok := s.b.(RequestScoper); ok {
		rc.r = r.WithContext(sc.BeginRequest(r.Context(), r.Method != http.MethodGet && r.Method != http.MethodHead))
	}
	handle := s.dispatch
	if rc.control {
		handle = s.control
	}
	if err := handle(rc); err != nil {
		if rw.wroteHeader {
			// The status line is gone (a body was streaming); the client sees a
			// short body because Content-Length was promised. A client that went
			// away is no fault of the server's.
			_, internal := translate(err)
			level := slog.LevelWarn
			var cio *clientIOError
			switch {
			case errors.As(err, &cio):
				level = slog.LevelDebug
			case internal:
				level = slog.LevelError
			}
			s.log.Log(r.Context(), level, "s3 response aborted", "request_id", rc.id, "op", rc.op.name(), "err", err)
			return
		}
		s.writeError(rc, err)
		return
	}
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
}

func (s *Server) accessLog(rc *reqCtx, start time.Time) {
	ctx := rc.r.Context()
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "s3 request",
		slog.String("request_id", rc.id),
		slog.String("method", rc.r.Method),
		slog.String("path", rc.r.URL.Path),
		slog.String("op", rc.op.name()),
		slog.String("bucket", rc.bucket),
		slog.String("principal", rc.principal()),
		slog.Int("status", rc.w.status),
		slog.String("code", rc.errCode),
		slog.Int64("bytes", rc.w.bytes),
		slog.Duration("duration", time.Since(start)))
}

// copyOut streams src to the response with a pooled buffer.
func (s *Server) copyOut(w io.Writer, src io.Reader) (int64, error) {
	bp := s.copyBufs.Get().(*[]byte)
	defer s.copyBufs.Put(bp)
	// Wrapping hides any ReaderFrom/WriterTo so that CopyBuffer really uses our buffer.
	// clientWriter tells the client's failures from the backend's.
	return io.CopyBuffer(clientWriter{w}, readerOnly{src}, *bp)
}

type readerOnly struct{ io.Reader }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

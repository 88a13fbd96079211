package routing

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// The global bucket catalog as every process sees it: the control region (the
// first of the topology) holds it in its raft, its members serve it over the
// authenticated internal channel (CatalogHandler), and every process keeps a
// cached copy that a long-poll keeps fresh (Catalog). The data path reads the
// cache only; bucket creation and deletion call the control region.

// CatalogStore is the control region's catalog as a member serves it;
// *node.Member implements it.
type CatalogStore interface {
	ReserveBucket(ctx context.Context, name, region, owner string) (storage.CatalogEntry, error)
	ReleaseBucket(ctx context.Context, name, region string, createdBefore time.Time) error
	Catalog(ctx context.Context) (storage.CatalogSnapshot, error)
	WatchCatalog(ctx context.Context, after uint64) (storage.CatalogSnapshot, error)
}

// CatalogPath is the path prefix CatalogHandler serves.
const CatalogPath = "/_pangea/internal/catalog/"

// MaxCatalogWatch caps one long-poll of the catalog: a watch that sees no change
// for that long answers the current snapshot, so that idle connections are
// renewed and a dead peer is noticed.
const MaxCatalogWatch = 25 * time.Second

// ErrControlUnreachable is wrapped by CatalogUnavailableError: no member of the
// control region answered.
var ErrControlUnreachable = errors.New("routing: the control region is unreachable; retry later")

// CatalogUnavailableError is returned by Catalog when the control region could not
// give an answer: no member reachable in time, or every one answered with a
// retryable error (no leader). Retryable reports true: the caller answers 503 and
// the client retries. UnknownOutcome reports whether a Reserve or Release may
// have been applied all the same (a retry is safe: both are idempotent for the
// same arguments).
type CatalogUnavailableError struct {
	Err     error
	Unknown bool
}

func (e *CatalogUnavailableError) Error() string { return e.Err.Error() }
func (e *CatalogUnavailableError) Unwrap() error { return e.Err }

// Retryable reports true: nothing is known to have failed for good.
func (e *CatalogUnavailableError) Retryable() bool { return true }

// UnknownOutcome reports whether the write may have happened.
func (e *CatalogUnavailableError) UnknownOutcome() bool { return e.Unknown }

// UnavailableMessage is what a client is told (s3api's 503).
func (e *CatalogUnavailableError) UnavailableMessage() string {
	return "The control region, which keeps the global bucket catalog, cannot be reached from here now. Creating and deleting buckets needs it; reads and writes of existing buckets go on. Please retry."
}

// Wire format of the catalog endpoints: JSON bodies, errors as catalogWireError
// with the status that goes with their code.

type catalogWireEntry struct {
	Bucket  string    `json:"bucket"`
	Region  string    `json:"region"`
	Owner   string    `json:"owner,omitempty"`
	Created time.Time `json:"created"`
}

type catalogWireSnapshot struct {
	Version uint64             `json:"version"`
	Entries []catalogWireEntry `json:"entries"`
	MRAPs   []storage.MRAP     `json:"mraps,omitempty"`
}

type catalogReserveRequest struct {
	Bucket string `json:"bucket"`
	Region string `json:"region"`
	Owner  string `json:"owner,omitempty"`
}

type catalogReleaseRequest struct {
	Bucket        string    `json:"bucket"`
	Region        string    `json:"region"`
	CreatedBefore time.Time `json:"created_before,omitzero"`
}

// Error codes of the wire.
const (
	catalogCodeExists    = "BucketAlreadyExists"
	catalogCodeInvalid   = "InvalidArgument"
	catalogCodeRetryable = "Retryable"
	catalogCodeInternal  = "Internal"
)

type catalogWireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Unknown bool   `json:"unknown,omitempty"`
}

func entryToWire(e storage.CatalogEntry) catalogWireEntry {
	return catalogWireEntry{Bucket: e.Bucket, Region: e.Region, Owner: e.Owner, Created: e.Created}
}

func entryFromWire(w catalogWireEntry) storage.CatalogEntry {
	return storage.CatalogEntry{Bucket: w.Bucket, Region: w.Region, Owner: w.Owner, Created: w.Created}
}

func snapshotToWire(s storage.CatalogSnapshot) catalogWireSnapshot {
	w := catalogWireSnapshot{Version: s.Version, Entries: make([]catalogWireEntry, len(s.Entries)), MRAPs: s.MRAPs}
	for i, e := range s.Entries {
		w.Entries[i] = entryToWire(e)
	}
	return w
}

func snapshotFromWire(w catalogWireSnapshot) storage.CatalogSnapshot {
	s := storage.CatalogSnapshot{Version: w.Version, Entries: make([]storage.CatalogEntry, len(w.Entries)), MRAPs: w.MRAPs}
	for i, e := range w.Entries {
		s.Entries[i] = entryFromWire(e)
	}
	slices.SortFunc(s.Entries, func(a, b storage.CatalogEntry) int { return strings.Compare(a.Bucket, b.Bucket) })
	sortMRAPs(s.MRAPs)
	return s
}

// CatalogHandler serves store under CatalogPath: POST reserve and release (JSON
// bodies), GET snapshot (linearizable) and GET watch?after=V[&wait=ms], a
// long-poll that answers as soon as the member's catalog is past version V, or
// after wait (at most MaxCatalogWatch) with the current snapshot. It is mounted
// on the authenticated internal channel only (callers proved the cluster secret),
// so it does no authentication itself.
func CatalogHandler(store CatalogStore, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &catalogHandler{store: store, logger: logger.With("component", "catalog")}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+CatalogPath+"reserve", h.reserve)
	mux.HandleFunc("POST "+CatalogPath+"release", h.release)
	mux.HandleFunc("GET "+CatalogPath+"snapshot", h.snapshot)
	mux.HandleFunc("GET "+CatalogPath+"watch", h.watch)
	if ms, ok := store.(MRAPStore); ok {
		h.mraps = ms
		h.mountMRAP(mux)
	}
	return mux
}

type catalogHandler struct {
	store  CatalogStore
	mraps  MRAPStore // nil: the MRAP endpoints are not served
	logger *slog.Logger
}

// maxCatalogRequest bounds a request body: a bucket name, a region, an owner.
const maxCatalogRequest = 16 << 10

func (h *catalogHandler) reserve(w http.ResponseWriter, r *http.Request) {
	var req catalogReserveRequest
	if !h.decode(w, r, &req) {
		return
	}
	e, err := h.store.ReserveBucket(r.Context(), req.Bucket, req.Region, req.Owner)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, entryToWire(e))
}

func (h *catalogHandler) release(w http.ResponseWriter, r *http.Request) {
	var req catalogReleaseRequest
	if !h.decode(w, r, &req) {
		return
	}
	if err := h.store.ReleaseBucket(r.Context(), req.Bucket, req.Region, req.CreatedBefore); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *catalogHandler) snapshot(w http.ResponseWriter, r *http.Request) {
	s, err := h.store.Catalog(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, snapshotToWire(s))
}

func (h *catalogHandler) watch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := strconv.ParseUint(q.Get("after"), 10, 64)
	if err != nil && q.Get("after") != "" {
		h.fail(w, r, fmt.Errorf("%w: after=%q", storage.ErrInvalidArgument, q.Get("after")))
		return
	}
	wait := MaxCatalogWatch
	if ms, err := strconv.ParseInt(q.Get("wait"), 10, 64); err == nil && ms >= 0 {
		wait = min(wait, time.Duration(ms)*time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	s, err := h.store.WatchCatalog(ctx, after)
	cancel()
	if err != nil && r.Context().Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		s, err = h.current(r.Context(), after)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, snapshotToWire(s))
}

// current is the answer of a watch that saw no change: the member's catalog at
// version after (what WatchCatalog(after-1) returns at once), or, if the member is
// not there (its catalog is older than the caller's, a restore), the linearizable
// catalog.
func (h *catalogHandler) current(ctx context.Context, after uint64) (storage.CatalogSnapshot, error) {
	if after == 0 {
		return storage.CatalogSnapshot{}, nil // nothing past version 0: the empty catalog
	}
	qctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	s, err := h.store.WatchCatalog(qctx, after-1)
	cancel()
	if err == nil {
		return s, nil
	}
	return h.store.Catalog(ctx)
}

func (h *catalogHandler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return h.decodeN(w, r, v, maxCatalogRequest)
}

// decodeN is decode with a limit of its own.
func (h *catalogHandler) decodeN(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err == nil && int64(len(body)) > limit {
		err = errors.New("request body too large")
	}
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: %v", storage.ErrInvalidArgument, err))
		return false
	}
	return true
}

func (h *catalogHandler) reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		h.logger.Debug("catalog answer not sent", "err", err)
	}
}

// fail answers err with its code: 409 a conflict, 400 a bad request, 503 what the
// caller should retry (Retryable, with UnknownOutcome carried), 500 the rest.
func (h *catalogHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	we := catalogWireError{Code: catalogCodeInternal, Message: err.Error()}
	status := http.StatusInternalServerError
	var re interface{ Retryable() bool }
	var uo interface{ UnknownOutcome() bool }
	if code, st, ok := mrapErrorCode(err); ok {
		we.Code, status = code, st
	} else {
		switch {
		case errors.Is(err, storage.ErrBucketAlreadyExists):
			we.Code, status = catalogCodeExists, http.StatusConflict
		case errors.Is(err, storage.ErrInvalidArgument):
			we.Code, status = catalogCodeInvalid, http.StatusBadRequest
		case errors.As(err, &re) && re.Retryable(), r.Context().Err() != nil:
			we.Code, status = catalogCodeRetryable, http.StatusServiceUnavailable
			we.Unknown = errors.As(err, &uo) && uo.UnknownOutcome()
		default:
			h.logger.Warn("catalog request failed", "path", r.URL.Path, "err", err)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(we)
}

// catalogRemoteError is an error a control-region member answered.
type catalogRemoteError struct {
	sentinel error // storage.ErrBucketAlreadyExists, storage.ErrInvalidArgument, or nil
	member   string
	msg      string
}

func (e *catalogRemoteError) Error() string { return e.member + ": " + e.msg }
func (e *catalogRemoteError) Unwrap() error { return e.sentinel }

// CatalogConfig configures NewCatalog.
type CatalogConfig struct {
	// Directory is the gossip pool's view: the control region's members are found
	// in it (region ControlRegion, role member, healthy, with an InternalAddr),
	// nearest first, the leader first for writes.
	Directory Directory
	// ControlRegion is the region that holds the catalog.
	ControlRegion string
	// Transport dials a member's InternalAddr (node.InternalTransport: HTTP over
	// the cluster-secret handshake). URLs are "http://" + InternalAddr + path.
	Transport http.RoundTripper
	// Logger receives the watch's failures and recoveries; nil discards.
	Logger *slog.Logger
	// Local, if set, is this process's own control-region member: every call goes
	// to it directly.
	Local CatalogStore

	// CallTimeout bounds one Reserve, Release or cache-miss Resolve across every
	// member tried; 0: 5 s.
	CallTimeout time.Duration
	// WatchWait is how long one long-poll waits for a change (capped at
	// MaxCatalogWatch); 0: MaxCatalogWatch.
	WatchWait time.Duration
	// MaxBackoff caps the pause between failed watch rounds; 0: 5 s.
	MaxBackoff time.Duration
}

// Catalog is a process's copy of the global bucket catalog and its client of the
// control region. Lookup and Snapshot read the cache and never block; Resolve
// asks the control region on a miss; Reserve and Release write through it. Start
// runs the watch that keeps the cache fresh.
type Catalog struct {
	cfg    CatalogConfig
	logger *slog.Logger
	client *http.Client

	mu      sync.RWMutex
	version uint64
	entries map[string]storage.CatalogEntry
	mraps   []storage.MRAP          // the snapshot's, by account and name
	aliases map[string]storage.MRAP // mraps by alias
	okAt    time.Time               // the last successful watch round
	failing bool                    // the last watch round failed

	runMu  sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewCatalog returns a Catalog with an empty cache (version 0).
func NewCatalog(cfg CatalogConfig) *Catalog {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	if cfg.WatchWait <= 0 || cfg.WatchWait > MaxCatalogWatch {
		cfg.WatchWait = MaxCatalogWatch
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	return &Catalog{
		cfg:     cfg,
		logger:  cfg.Logger.With("component", "catalog", "control_region", cfg.ControlRegion),
		client:  &http.Client{Transport: cfg.Transport},
		entries: make(map[string]storage.CatalogEntry),
	}
}

// Start runs the watch in the background until Close or ctx ends: it long-polls
// a control-region member (the nearest first, the next one after a failure) and
// installs every newer snapshot, pausing after failures with a capped backoff.
// Calling it again while it runs does nothing.
func (c *Catalog) Start(ctx context.Context) {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if c.done != nil {
		return
	}
	ctx, c.cancel = context.WithCancel(ctx)
	c.done = make(chan struct{})
	go c.run(ctx, c.done)
}

// Close stops the watch and waits for it to end.
func (c *Catalog) Close() {
	c.runMu.Lock()
	cancel, done := c.cancel, c.done
	c.runMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Lookup returns the cached entry of bucket.
func (c *Catalog) Lookup(bucket string) (storage.CatalogEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[bucket]
	return e, ok
}

// Snapshot returns a copy of the cache, entries sorted by bucket. Its version is
// that of the last snapshot received; Reserve and Release change the entries
// without changing it.
func (c *Catalog) Snapshot() storage.CatalogSnapshot {
	c.mu.RLock()
	s := storage.CatalogSnapshot{Version: c.version, Entries: make([]storage.CatalogEntry, 0, len(c.entries)), MRAPs: slices.Clone(c.mraps)}
	for _, e := range c.entries {
		s.Entries = append(s.Entries, e)
	}
	c.mu.RUnlock()
	slices.SortFunc(s.Entries, func(a, b storage.CatalogEntry) int { return strings.Compare(a.Bucket, b.Bucket) })
	return s
}

// Fresh reports whether the last watch round succeeded, and recently (within
// two long-polls).
func (c *Catalog) Fresh() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return !c.failing && !c.okAt.IsZero() && time.Since(c.okAt) < 2*c.cfg.WatchWait+c.cfg.CallTimeout
}

// Resolve returns the entry of bucket: from the cache, or on a miss from one
// linearizable snapshot of the control region (which also refreshes the cache).
// ok is false when no region holds the name. A control region that cannot answer
// a miss gives a CatalogUnavailableError.
func (c *Catalog) Resolve(ctx context.Context, bucket string) (storage.CatalogEntry, bool, error) {
	if e, ok := c.Lookup(bucket); ok {
		return e, true, nil
	}
	var snap storage.CatalogSnapshot
	err := c.call(ctx, false, func(ctx context.Context, local CatalogStore, addr string) error {
		var err error
		if local != nil {
			snap, err = local.Catalog(ctx)
			return err
		}
		var w catalogWireSnapshot
		if err = c.do(ctx, addr, http.MethodGet, "snapshot", nil, &w); err == nil {
			snap = snapshotFromWire(w)
		}
		return err
	})
	if err != nil {
		return storage.CatalogEntry{}, false, fmt.Errorf("resolve bucket %q: %w", bucket, err)
	}
	c.install(snap)
	e, ok := snap.Lookup(bucket)
	return e, ok, nil
}

// Reserve reserves name for region in the control region and caches the entry.
// A name held by another region or owner gives an error matching
// storage.ErrBucketAlreadyExists.
func (c *Catalog) Reserve(ctx context.Context, name, region, owner string) (storage.CatalogEntry, error) {
	var e storage.CatalogEntry
	err := c.call(ctx, true, func(ctx context.Context, local CatalogStore, addr string) error {
		var err error
		if local != nil {
			e, err = local.ReserveBucket(ctx, name, region, owner)
			return err
		}
		var w catalogWireEntry
		req := catalogReserveRequest{Bucket: name, Region: region, Owner: owner}
		if err = c.do(ctx, addr, http.MethodPost, "reserve", req, &w); err == nil {
			e = entryFromWire(w)
		}
		return err
	})
	if err != nil {
		return storage.CatalogEntry{}, fmt.Errorf("reserve bucket %q: %w", name, err)
	}
	c.mu.Lock()
	c.entries[e.Bucket] = e
	c.mu.Unlock()
	return e, nil
}

// Release gives name back to the catalog (see storage.ReleaseBucketCmd) and drops
// it from the cache if region held it there.
func (c *Catalog) Release(ctx context.Context, name, region string, createdBefore time.Time) error {
	err := c.call(ctx, true, func(ctx context.Context, local CatalogStore, addr string) error {
		if local != nil {
			return local.ReleaseBucket(ctx, name, region, createdBefore)
		}
		req := catalogReleaseRequest{Bucket: name, Region: region, CreatedBefore: createdBefore}
		return c.do(ctx, addr, http.MethodPost, "release", req, nil)
	})
	if err != nil {
		return fmt.Errorf("release bucket %q: %w", name, err)
	}
	c.mu.Lock()
	if e, ok := c.entries[name]; ok && e.Region == region && (createdBefore.IsZero() || e.Created.Before(createdBefore)) {
		delete(c.entries, name)
	}
	c.mu.Unlock()
	return nil
}

// install replaces the cache with snap if it is newer.
func (c *Catalog) install(snap storage.CatalogSnapshot) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if snap.Version <= c.version {
		return false
	}
	c.version = snap.Version
	c.entries = make(map[string]storage.CatalogEntry, len(snap.Entries))
	for _, e := range snap.Entries {
		c.entries[e.Bucket] = e
	}
	c.mraps = snap.MRAPs
	c.aliases = make(map[string]storage.MRAP, len(snap.MRAPs))
	for _, m := range snap.MRAPs {
		c.aliases[m.Alias] = m
	}
	return true
}

// controlMembers lists the control region's healthy members that can be dialled:
// for writes the leader first, then by RTT (unknown last).
func (c *Catalog) controlMembers(write bool) []Peer {
	var out []Peer
	for _, p := range c.cfg.Directory.Peers() {
		if p.Region == c.cfg.ControlRegion && p.Role == RoleMember && p.Health.Healthy() && p.InternalAddr != "" {
			out = append(out, p)
		}
	}
	rtt := func(p Peer) time.Duration {
		if p.RTT == 0 && !p.Self {
			return time.Duration(1<<63 - 1)
		}
		return p.RTT
	}
	slices.SortStableFunc(out, func(a, b Peer) int {
		if write && a.Leader != b.Leader {
			if a.Leader {
				return -1
			}
			return 1
		}
		return cmp.Compare(rtt(a), rtt(b))
	})
	return out
}

// call runs one request against the control region within CallTimeout: on Local,
// or on each control member in turn until one gives an answer that is not
// retryable. A definite answer (success, conflict, bad request) ends it; when
// none comes, the error is a CatalogUnavailableError.
func (c *Catalog) call(ctx context.Context, write bool, fn func(ctx context.Context, local CatalogStore, addr string) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	if c.cfg.Local != nil {
		err := fn(ctx, c.cfg.Local, "")
		if err != nil && isRetryable(err) {
			return &CatalogUnavailableError{Err: fmt.Errorf("%w: %w", ErrControlUnreachable, err), Unknown: unknownOutcome(err)}
		}
		return err
	}
	members := c.controlMembers(write)
	if len(members) == 0 {
		return &CatalogUnavailableError{Err: fmt.Errorf("%w: no healthy member of %s known", ErrControlUnreachable, c.cfg.ControlRegion)}
	}
	var errs []error
	unknown := false
	for i, p := range members {
		if ctx.Err() != nil {
			break
		}
		// Each member but the last gets part of the budget, so that one that
		// does not answer leaves time for the next.
		actx, acancel := ctx, context.CancelFunc(func() {})
		if i < len(members)-1 {
			actx, acancel = context.WithTimeout(ctx, c.cfg.CallTimeout*3/5)
		}
		err := fn(actx, nil, p.InternalAddr)
		acancel()
		if err == nil || !isRetryable(err) {
			return err
		}
		unknown = unknown || (write && unknownOutcome(err))
		errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
	}
	if err := ctx.Err(); err != nil && len(errs) < len(members) {
		errs = append(errs, err)
	}
	return &CatalogUnavailableError{
		Err:     fmt.Errorf("%w (region %s): %w", ErrControlUnreachable, c.cfg.ControlRegion, errors.Join(errs...)),
		Unknown: unknown,
	}
}

// isRetryable tells the errors after which another member may answer: transport
// failures, timeouts, and the members' retryable answers.
func isRetryable(err error) bool {
	var re interface{ Retryable() bool }
	if errors.As(err, &re) {
		return re.Retryable()
	}
	var rem *catalogRemoteError
	return !errors.As(err, &rem) // not an answer of a member: the call failed
}

func unknownOutcome(err error) bool {
	var uo interface{ UnknownOutcome() bool }
	if errors.As(err, &uo) {
		return uo.UnknownOutcome()
	}
	// A transport failure after the request may have left: unknown.
	var rem *catalogRemoteError
	return !errors.As(err, &rem)
}

// catalogRetryError is a member's retryable answer (503).
type catalogRetryError struct {
	member  string
	msg     string
	unknown bool
}

func (e *catalogRetryError) Error() string        { return e.member + ": " + e.msg }
func (e *catalogRetryError) Retryable() bool      { return true }
func (e *catalogRetryError) UnknownOutcome() bool { return e.unknown }

// do sends one request to the member at addr and decodes its JSON answer into
// out (nil: none expected).
func (c *Catalog) do(ctx context.Context, addr, method, op string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := "http://" + addr + CatalogPath + op
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var we catalogWireError
		if json.Unmarshal(raw, &we) != nil || we.Code == "" {
			we = catalogWireError{Code: catalogCodeInternal, Message: fmt.Sprintf("HTTP %d: %.200s", resp.StatusCode, raw)}
		}
		if sentinel, ok := mrapSentinel(we.Code); ok {
			return &catalogRemoteError{sentinel: sentinel, member: addr, msg: we.Message}
		}
		switch we.Code {
		case catalogCodeExists:
			return &catalogRemoteError{sentinel: storage.ErrBucketAlreadyExists, member: addr, msg: we.Message}
		case catalogCodeInvalid:
			return &catalogRemoteError{sentinel: storage.ErrInvalidArgument, member: addr, msg: we.Message}
		case catalogCodeRetryable:
			return &catalogRetryError{member: addr, msg: we.Message, unknown: we.Unknown}
		default:
			return &catalogRemoteError{member: addr, msg: we.Message}
		}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: bad answer: %w", addr, err)
	}
	return nil
}

// run is the watch loop (Start).
func (c *Catalog) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	backoff := 100 * time.Millisecond
	failures := 0
	followed := false // once: a process starting before its pool has joined is not failing
	for ctx.Err() == nil {
		c.mu.RLock()
		after := c.version
		c.mu.RUnlock()
		snap, changed, err := c.watchOnce(ctx, after)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			c.mu.Lock()
			c.failing = true
			c.mu.Unlock()
			switch {
			case !followed && failures < 30:
				c.logger.Debug("not following the bucket catalog yet", "failures", failures, "err", err)
			case failures == 1 || failures%30 == 0:
				c.logger.Warn("cannot follow the bucket catalog; the cached copy may be stale", "failures", failures, "err", err)
			}
			c.pause(ctx, backoff)
			backoff = min(backoff*2, c.cfg.MaxBackoff)
			continue
		}
		if failures > 0 && followed {
			c.logger.Info("following the bucket catalog again", "failures", failures, "version", snap.Version)
		}
		failures, backoff, followed = 0, 100*time.Millisecond, true
		if changed {
			c.install(snap)
		}
		c.mu.Lock()
		c.failing, c.okAt = false, time.Now()
		c.mu.Unlock()
	}
}

// pause waits d, or less if the directory changes (a control member may have
// appeared), or until ctx ends.
func (c *Catalog) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	var changes <-chan struct{}
	if c.cfg.Local == nil && len(c.controlMembers(false)) == 0 {
		changes = c.cfg.Directory.Changes()
	}
	select {
	case <-t.C:
	case <-changes:
	case <-ctx.Done():
	}
}

// watchOnce runs one long-poll round: on Local, or on the nearest control member
// that answers. changed is false when the round ended without a newer catalog.
func (c *Catalog) watchOnce(ctx context.Context, after uint64) (storage.CatalogSnapshot, bool, error) {
	if c.cfg.Local != nil {
		wctx, cancel := context.WithTimeout(ctx, c.cfg.WatchWait)
		defer cancel()
		snap, err := c.cfg.Local.WatchCatalog(wctx, after)
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return storage.CatalogSnapshot{}, false, nil
			}
			return storage.CatalogSnapshot{}, false, err
		}
		return snap, true, nil
	}
	members := c.controlMembers(false)
	if len(members) == 0 {
		return storage.CatalogSnapshot{}, false, fmt.Errorf("%w: no healthy member of %s known", ErrControlUnreachable, c.cfg.ControlRegion)
	}
	var errs []error
	q := url.Values{"after": {strconv.FormatUint(after, 10)}, "wait": {strconv.FormatInt(c.cfg.WatchWait.Milliseconds(), 10)}}
	for _, p := range members {
		// The member answers within WatchWait; past that and a margin it is gone.
		actx, cancel := context.WithTimeout(ctx, c.cfg.WatchWait+c.cfg.CallTimeout)
		var w catalogWireSnapshot
		err := c.do(actx, p.InternalAddr, http.MethodGet, "watch?"+q.Encode(), nil, &w)
		cancel()
		if err == nil {
			snap := snapshotFromWire(w)
			return snap, snap.Version > after, nil
		}
		if ctx.Err() != nil {
			return storage.CatalogSnapshot{}, false, ctx.Err()
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
	}
	return storage.CatalogSnapshot{}, false, fmt.Errorf("%w: %w", ErrControlUnreachable, errors.Join(errs...))
}

package routing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// Multi-Region Access Points in the global catalog. The control region's raft
// holds the MRAPs and their asynchronous operations (storage/mrap_catalog.go);
// its members serve them beside the bucket catalog (CatalogHandler, under
// CatalogPath + "mrap/"); every process's Catalog caches the MRAPs with the
// buckets (the same snapshot, the same watch) and answers MRAPByAlias from the
// cache. Management calls (create, delete, put-policy, routes, describe, get,
// list) always ask the control region, so that a caller reads its own writes;
// DescribeMultiRegionAccessPointOperation in particular is answered by the
// control region only: operations are not in the cached snapshot. The control
// region's leader completes operations (CompleteMRAPOperations) once they have
// had time to propagate, which the cache's watch does within a long-poll.

// MRAPStore is the control region's MRAP catalog as a member serves it;
// *node.Member implements it. CatalogHandler serves the MRAP endpoints when its
// store implements it too, and a Catalog whose Local store does uses it.
type MRAPStore interface {
	CreateMRAP(ctx context.Context, tokenARN, clientToken string, m storage.MRAP) (storage.MRAPOperation, error)
	DeleteMRAP(ctx context.Context, account, name, tokenARN, clientToken string) (storage.MRAPOperation, error)
	PutMRAPPolicy(ctx context.Context, account, name, policy, tokenARN, clientToken string) (storage.MRAPOperation, error)
	SubmitMRAPRoutes(ctx context.Context, account, alias string, routes []storage.MRAPRoute) error
	MRAPOperationStore
}

// MRAPOperationStore is what CompleteMRAPOperations needs of the control
// region's leader: *node.Member implements it.
type MRAPOperationStore interface {
	MRAPOperation(ctx context.Context, tokenARN string) (storage.MRAPOperation, error)
	MRAPOperations(ctx context.Context) ([]storage.MRAPOperation, error)
	CompleteMRAPOperation(ctx context.Context, tokenARN, errorCode, errorMessage string) error
}

// MRAP limits and formats (S3's).
const (
	// MaxMRAPRegions is the most regions (buckets) one MRAP may have.
	MaxMRAPRegions = 17
	// MRAPControlRegion is the region named in request token ARNs: S3 routes
	// every MRAP management call to us-west-2.
	MRAPControlRegion = "us-west-2"
	// DefaultMRAPPropagation is how old an operation must be before
	// CompleteMRAPOperations completes it, when not told otherwise (S3 takes
	// minutes; the catalog's watch delivers a change within a long-poll).
	DefaultMRAPPropagation = time.Second
)

var (
	mrapNameRE  = regexp.MustCompile(`^[a-z0-9][-a-z0-9]{1,48}[a-z0-9]$`)
	mrapAliasRE = regexp.MustCompile(`^[a-z][a-z0-9]*[.]mrap$`)
)

// maxMRAPRequest bounds an MRAP request body (a policy of up to 20 KB, in JSON).
const maxMRAPRequest = 256 << 10

// Wire format of the MRAP endpoints.

type mrapCreateRequest struct {
	TokenARN    string       `json:"token_arn"`
	ClientToken string       `json:"client_token"`
	MRAP        storage.MRAP `json:"mrap"`
}

type mrapRequest struct {
	Account     string `json:"account"`
	Name        string `json:"name"`
	Policy      string `json:"policy,omitempty"`
	TokenARN    string `json:"token_arn"`
	ClientToken string `json:"client_token"`
}

type mrapRoutesRequest struct {
	Account string              `json:"account"`
	Alias   string              `json:"alias"`
	Routes  []storage.MRAPRoute `json:"routes"`
}

// Error codes of the MRAP endpoints, and their sentinels. ErrMRAPAliasTaken
// comes before ErrMRAPAlreadyExists, which it wraps.
var mrapCodes = []struct {
	code     string
	status   int
	sentinel error
}{
	{"MRAPAliasTaken", http.StatusConflict, storage.ErrMRAPAliasTaken},
	{"MRAPAlreadyExists", http.StatusConflict, storage.ErrMRAPAlreadyExists},
	{"NoSuchMRAP", http.StatusNotFound, storage.ErrNoSuchMRAP},
	{"NoSuchAsyncRequest", http.StatusNotFound, storage.ErrNoSuchAsyncRequest},
	{"MRAPRouteConflict", http.StatusConflict, storage.ErrMRAPRouteConflict},
	{"InvalidMRAP", http.StatusBadRequest, storage.ErrInvalidMRAP},
}

// mrapErrorCode is the wire code and status of an MRAP catalog error.
func mrapErrorCode(err error) (string, int, bool) {
	for _, c := range mrapCodes {
		if errors.Is(err, c.sentinel) {
			return c.code, c.status, true
		}
	}
	return "", 0, false
}

// mrapSentinel is the sentinel of a wire code.
func mrapSentinel(code string) (error, bool) {
	for _, c := range mrapCodes {
		if c.code == code {
			return c.sentinel, true
		}
	}
	return nil, false
}

func sortMRAPs(ms []storage.MRAP) {
	slices.SortFunc(ms, func(a, b storage.MRAP) int {
		if c := strings.Compare(a.Account, b.Account); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// ---- the handler's side ----

// mountMRAP adds the MRAP endpoints: POST mrap/create, mrap/delete,
// mrap/put-policy, mrap/routes (JSON bodies) and GET mrap/operation?arn=.
func (h *catalogHandler) mountMRAP(mux *http.ServeMux) {
	mux.HandleFunc("POST "+CatalogPath+"mrap/create", h.mrapCreate)
	mux.HandleFunc("POST "+CatalogPath+"mrap/delete", h.mrapDelete)
	mux.HandleFunc("POST "+CatalogPath+"mrap/put-policy", h.mrapPutPolicy)
	mux.HandleFunc("POST "+CatalogPath+"mrap/routes", h.mrapRoutes)
	mux.HandleFunc("GET "+CatalogPath+"mrap/operation", h.mrapOperation)
}

func (h *catalogHandler) mrapCreate(w http.ResponseWriter, r *http.Request) {
	var req mrapCreateRequest
	if !h.decodeN(w, r, &req, maxMRAPRequest) {
		return
	}
	o, err := h.mraps.CreateMRAP(r.Context(), req.TokenARN, req.ClientToken, req.MRAP)
	h.answerOp(w, r, o, err)
}

func (h *catalogHandler) mrapDelete(w http.ResponseWriter, r *http.Request) {
	var req mrapRequest
	if !h.decodeN(w, r, &req, maxMRAPRequest) {
		return
	}
	o, err := h.mraps.DeleteMRAP(r.Context(), req.Account, req.Name, req.TokenARN, req.ClientToken)
	h.answerOp(w, r, o, err)
}

func (h *catalogHandler) mrapPutPolicy(w http.ResponseWriter, r *http.Request) {
	var req mrapRequest
	if !h.decodeN(w, r, &req, maxMRAPRequest) {
		return
	}
	o, err := h.mraps.PutMRAPPolicy(r.Context(), req.Account, req.Name, req.Policy, req.TokenARN, req.ClientToken)
	h.answerOp(w, r, o, err)
}

func (h *catalogHandler) mrapRoutes(w http.ResponseWriter, r *http.Request) {
	var req mrapRoutesRequest
	if !h.decodeN(w, r, &req, maxMRAPRequest) {
		return
	}
	if err := h.mraps.SubmitMRAPRoutes(r.Context(), req.Account, req.Alias, req.Routes); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *catalogHandler) mrapOperation(w http.ResponseWriter, r *http.Request) {
	o, err := h.mraps.MRAPOperation(r.Context(), r.URL.Query().Get("arn"))
	h.answerOp(w, r, o, err)
}

func (h *catalogHandler) answerOp(w http.ResponseWriter, r *http.Request, o storage.MRAPOperation, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, o)
}

// ---- the client's side ----

// MRAPByAlias returns the MRAP whose alias is alias from the cached catalog (no
// network): ok false if the cache has none.
func (c *Catalog) MRAPByAlias(alias string) (storage.MRAP, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	m, ok := c.aliases[alias]
	m.Regions = slices.Clone(m.Regions) // the cache's own stays untouched
	return m, ok
}

// mrapStore is the Local store's MRAP side.
func mrapStore(local CatalogStore) (MRAPStore, error) {
	ms, ok := local.(MRAPStore)
	if !ok {
		return nil, errors.New("routing: the local catalog store keeps no MRAPs")
	}
	return ms, nil
}

// randomToken returns n random bytes in hex.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// NewMRAPAlias returns a fresh random alias: "m", 12 characters of [a-z0-9],
// ".mrap".
func NewMRAPAlias() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)] // 256 % 36 = 4: a slight bias, harmless here
	}
	return "m" + string(b) + ".mrap"
}

// mrapTokenARN is the ARN of a new asynchronous request.
func mrapTokenARN(account, kind string) string {
	return "arn:aws:s3:" + MRAPControlRegion + ":" + account + ":async-request/mrap/" + kind + "/" + randomToken(16)
}

// checkMRAPName checks an MRAP name against S3's rules.
func checkMRAPName(name string) error {
	if !mrapNameRE.MatchString(name) {
		return fmt.Errorf("%w: the name %q must be 3 to 50 lowercase letters, digits and hyphens, starting and ending with a letter or digit", storage.ErrInvalidMRAP, name)
	}
	return nil
}

// mrapAttempts bounds the aliases CreateMRAP tries.
const mrapAttempts = 5

// CreateMRAP starts creating m for account (s3api.MRAPControl): m gives Name,
// PublicAccessBlock and Regions with Bucket (and BucketAccountID); the rest is
// filled in here. Each bucket must be in the catalog (its region is taken from
// there), one per region, at most MaxMRAPRegions; every region starts active.
// The returned operation is IN_PROGRESS until the control region's leader
// completes it (CompleteMRAPOperations). The same clientToken again returns the
// operation the first call started. Errors match storage.ErrInvalidMRAP,
// ErrMRAPAlreadyExists, or are a CatalogUnavailableError.
func (c *Catalog) CreateMRAP(ctx context.Context, account, clientToken string, m storage.MRAP) (storage.MRAPOperation, error) {
	if err := checkMRAPName(m.Name); err != nil {
		return storage.MRAPOperation{}, fmt.Errorf("create mrap: %w", err)
	}
	if len(m.Regions) == 0 || len(m.Regions) > MaxMRAPRegions {
		return storage.MRAPOperation{}, fmt.Errorf("create mrap %q: %w: %d regions (1 to %d)", m.Name, storage.ErrInvalidMRAP, len(m.Regions), MaxMRAPRegions)
	}
	if clientToken == "" {
		clientToken = randomToken(16)
	}
	regions := make([]storage.MRAPRegion, 0, len(m.Regions))
	for _, r := range m.Regions {
		e, ok, err := c.Resolve(ctx, r.Bucket)
		if err != nil {
			return storage.MRAPOperation{}, fmt.Errorf("create mrap %q: %w", m.Name, err)
		}
		if !ok {
			return storage.MRAPOperation{}, fmt.Errorf("create mrap %q: %w: bucket %s does not exist", m.Name, storage.ErrInvalidMRAP, r.Bucket)
		}
		if i := slices.IndexFunc(regions, func(x storage.MRAPRegion) bool { return x.Region == e.Region }); i >= 0 {
			return storage.MRAPOperation{}, fmt.Errorf("create mrap %q: %w: buckets %s and %s are both in region %s (one bucket per region)",
				m.Name, storage.ErrInvalidMRAP, regions[i].Bucket, r.Bucket, e.Region)
		}
		regions = append(regions, storage.MRAPRegion{Region: e.Region, Bucket: r.Bucket, BucketAccountID: r.BucketAccountID, TrafficDial: 100})
	}
	slices.SortFunc(regions, func(a, b storage.MRAPRegion) int { return strings.Compare(a.Region, b.Region) })
	want := storage.MRAP{
		Account: account, Name: m.Name, Created: time.Now().UTC(), Status: storage.MRAPCreating,
		PublicAccessBlock: m.PublicAccessBlock, Regions: regions,
	}
	tokenARN := mrapTokenARN(account, "create")
	var op storage.MRAPOperation
	var err error
	for range mrapAttempts {
		want.Alias = NewMRAPAlias()
		err = c.call(ctx, true, func(ctx context.Context, local CatalogStore, addr string) error {
			if local != nil {
				ms, err := mrapStore(local)
				if err != nil {
					return err
				}
				op, err = ms.CreateMRAP(ctx, tokenARN, clientToken, want)
				return err
			}
			req := mrapCreateRequest{TokenARN: tokenARN, ClientToken: clientToken, MRAP: want}
			return c.do(ctx, addr, http.MethodPost, "mrap/create", req, &op)
		})
		if !errors.Is(err, storage.ErrMRAPAliasTaken) {
			break
		}
	}
	if err != nil {
		return storage.MRAPOperation{}, fmt.Errorf("create mrap %q: %w", m.Name, err)
	}
	return op, nil
}

// DeleteMRAP starts deleting account's MRAP name (s3api.MRAPControl): DELETING,
// gone once the operation completes. Errors match storage.ErrNoSuchMRAP,
// ErrInvalidMRAP (a client token used for another request), or are a
// CatalogUnavailableError.
func (c *Catalog) DeleteMRAP(ctx context.Context, account, clientToken, name string) (storage.MRAPOperation, error) {
	op, err := c.mrapRequest(ctx, "delete", mrapRequest{Account: account, Name: name, ClientToken: clientToken})
	if err != nil {
		return storage.MRAPOperation{}, fmt.Errorf("delete mrap %q: %w", name, err)
	}
	return op, nil
}

// PutMRAPPolicy starts replacing the policy of account's MRAP name
// (s3api.MRAPControl): proposed at once, established once the operation
// completes. Errors as DeleteMRAP's.
func (c *Catalog) PutMRAPPolicy(ctx context.Context, account, clientToken, name, policy string) (storage.MRAPOperation, error) {
	op, err := c.mrapRequest(ctx, "put-policy", mrapRequest{Account: account, Name: name, Policy: policy, ClientToken: clientToken})
	if err != nil {
		return storage.MRAPOperation{}, fmt.Errorf("put mrap policy %q: %w", name, err)
	}
	return op, nil
}

// mrapRequest sends a delete or a put-policy to the control region.
func (c *Catalog) mrapRequest(ctx context.Context, kind string, req mrapRequest) (storage.MRAPOperation, error) {
	if req.ClientToken == "" {
		req.ClientToken = randomToken(16)
	}
	req.TokenARN = mrapTokenARN(req.Account, kind)
	var op storage.MRAPOperation
	err := c.call(ctx, true, func(ctx context.Context, local CatalogStore, addr string) error {
		if local == nil {
			return c.do(ctx, addr, http.MethodPost, "mrap/"+kind, req, &op)
		}
		ms, err := mrapStore(local)
		if err != nil {
			return err
		}
		if kind == "delete" {
			op, err = ms.DeleteMRAP(ctx, req.Account, req.Name, req.TokenARN, req.ClientToken)
		} else {
			op, err = ms.PutMRAPPolicy(ctx, req.Account, req.Name, req.Policy, req.TokenARN, req.ClientToken)
		}
		return err
	})
	return op, err
}

// MRAPOperation describes account's asynchronous request tokenARN
// (s3api.MRAPControl), asking the control region: storage.ErrNoSuchAsyncRequest
// if there is none (or it is another account's).
func (c *Catalog) MRAPOperation(ctx context.Context, account, tokenARN string) (storage.MRAPOperation, error) {
	var op storage.MRAPOperation
	err := c.call(ctx, false, func(ctx context.Context, local CatalogStore, addr string) error {
		if local == nil {
			return c.do(ctx, addr, http.MethodGet, "mrap/operation?"+url.Values{"arn": {tokenARN}}.Encode(), nil, &op)
		}
		ms, err := mrapStore(local)
		if err == nil {
			op, err = ms.MRAPOperation(ctx, tokenARN)
		}
		return err
	})
	if err == nil && op.Account != account {
		err = fmt.Errorf("%w: %s", storage.ErrNoSuchAsyncRequest, tokenARN)
	}
	if err != nil {
		return storage.MRAPOperation{}, fmt.Errorf("describe mrap operation: %w", err)
	}
	return op, nil
}

// controlSnapshot reads the catalog from the control region (linearizable) and
// refreshes the cache with it.
func (c *Catalog) controlSnapshot(ctx context.Context) (storage.CatalogSnapshot, error) {
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
		return storage.CatalogSnapshot{}, err
	}
	c.install(snap)
	return snap, nil
}

// MRAP returns account's MRAP name as the control region has it
// (s3api.MRAPControl): storage.ErrNoSuchMRAP if there is none.
func (c *Catalog) MRAP(ctx context.Context, account, name string) (storage.MRAP, error) {
	snap, err := c.controlSnapshot(ctx)
	if err != nil {
		return storage.MRAP{}, fmt.Errorf("get mrap %q: %w", name, err)
	}
	m, ok := snap.MRAP(account, name)
	if !ok {
		return storage.MRAP{}, fmt.Errorf("get mrap: %w: %q", storage.ErrNoSuchMRAP, name)
	}
	return m, nil
}

// MRAPs lists account's MRAPs by name, as the control region has them
// (s3api.MRAPControl).
func (c *Catalog) MRAPs(ctx context.Context, account string) ([]storage.MRAP, error) {
	snap, err := c.controlSnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("list mraps: %w", err)
	}
	return snap.AccountMRAPs(account), nil
}

// ParseMRAP returns the alias an MRAP reference names: an ARN
// (arn:aws:s3::{account}:accesspoint/{alias}, whose account must be account) or
// the alias itself. Anything else: storage.ErrInvalidMRAP; another account's
// ARN: storage.ErrNoSuchMRAP.
func ParseMRAP(account, mrap string) (string, error) {
	alias := mrap
	if strings.HasPrefix(mrap, "arn:") {
		rest, ok := strings.CutPrefix(mrap, "arn:aws:s3::")
		acct, a, ok2 := strings.Cut(rest, ":accesspoint/")
		if !ok || !ok2 {
			return "", fmt.Errorf("%w: %q is not a Multi-Region Access Point ARN", storage.ErrInvalidMRAP, mrap)
		}
		if acct != account {
			return "", fmt.Errorf("%w: %q belongs to another account", storage.ErrNoSuchMRAP, mrap)
		}
		alias = a
	}
	if len(alias) > 63 || !mrapAliasRE.MatchString(alias) {
		return "", fmt.Errorf("%w: %q is not a Multi-Region Access Point alias", storage.ErrInvalidMRAP, mrap)
	}
	return alias, nil
}

// SubmitMRAPRoutes sets the traffic dials of the regions routes name in the MRAP
// mrap (its ARN or alias) of account (s3api.MRAPControl): regions not named keep
// theirs; at least one must stay active (else storage.ErrInvalidMRAP).
func (c *Catalog) SubmitMRAPRoutes(ctx context.Context, account, mrap string, routes []storage.MRAPRoute) error {
	alias, err := ParseMRAP(account, mrap)
	if err != nil {
		return fmt.Errorf("submit mrap routes: %w", err)
	}
	err = c.call(ctx, true, func(ctx context.Context, local CatalogStore, addr string) error {
		if local == nil {
			return c.do(ctx, addr, http.MethodPost, "mrap/routes", mrapRoutesRequest{Account: account, Alias: alias, Routes: routes}, nil)
		}
		ms, err := mrapStore(local)
		if err == nil {
			err = ms.SubmitMRAPRoutes(ctx, account, alias, routes)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("submit mrap routes %s: %w", alias, err)
	}
	return nil
}

// CompleteMRAPOperations completes the MRAP operations that have propagated:
// every NEW or IN_PROGRESS operation created at least delay before now
// (delay <= 0: DefaultMRAPPropagation) is marked SUCCEEDED, with its effect (a
// create's MRAP READY, a delete's MRAP gone, a put-policy's policy
// established). The control region's leader runs it now and then, from the
// loop that runs Reconcile (store: its *node.Member); on any other member it
// does the same through forwarded writes. It returns how many operations it
// completed, and the errors of those it could not.
func CompleteMRAPOperations(ctx context.Context, store MRAPOperationStore, delay time.Duration, now time.Time) (int, error) {
	if delay <= 0 {
		delay = DefaultMRAPPropagation
	}
	ops, err := store.MRAPOperations(ctx)
	if err != nil {
		return 0, fmt.Errorf("complete mrap operations: %w", err)
	}
	var errs []error
	done := 0
	for _, o := range ops {
		if o.Status != storage.MRAPRequestNew && o.Status != storage.MRAPRequestInProgress {
			continue
		}
		if now.Sub(o.Created) < delay {
			continue
		}
		if err := store.CompleteMRAPOperation(ctx, o.TokenARN, "", ""); err != nil {
			errs = append(errs, err)
			continue
		}
		done++
	}
	if len(errs) > 0 {
		return done, fmt.Errorf("complete mrap operations: %w", errors.Join(errs...))
	}
	return done, nil
}

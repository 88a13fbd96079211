// Package bench drives an S3 endpoint, or several (the members of a region), with PUT
// and GET load and reports throughput and latency percentiles. It is the engine of
// `pangea bench`.
//
// The client is deliberately lean (net/http with a tuned Transport, the SDK's SigV4
// signer with UNSIGNED-PAYLOAD, one shared payload buffer per size): on a small box
// the load generator shares the CPU with the server, and a heavy client would
// measure itself.
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Operations.
const (
	OpPut = "put"
	OpGet = "get"
)

const unsignedPayload = "UNSIGNED-PAYLOAD"

// Config describes one benchmark run.
type Config struct {
	// Endpoint is the one endpoint to drive, e.g. http://127.0.0.1:9000. Set
	// either Endpoint or Endpoints, not both.
	Endpoint string
	// Endpoints spreads the load: worker i sends all its requests to
	// Endpoints[i%len(Endpoints)]. Bucket creation and the seeding of a GET-only
	// run go through Endpoints[0]. Results stay aggregated over all endpoints.
	Endpoints   []string
	AccessKey   string
	SecretKey   string
	Region      string
	Bucket      string
	Sizes       []int64  // object sizes, each benchmarked in turn
	Ops         []string // OpPut and/or OpGet; PUT runs first, GET reads what PUT wrote
	Concurrency int
	Duration    time.Duration // per op and size

	// Progress receives a line per second while a phase runs; nil: none.
	Progress io.Writer
	// Client overrides the HTTP client (tests); nil: a Transport tuned for Concurrency.
	Client *http.Client
}

// DefaultConfig returns the defaults of `pangea bench`.
func DefaultConfig() Config {
	return Config{
		AccessKey:   "pangea",
		SecretKey:   "pangea-secret",
		Region:      "us-east-1",
		Bucket:      "pangea-bench",
		Sizes:       []int64{4 << 10},
		Ops:         []string{OpPut, OpGet},
		Concurrency: 16,
		Duration:    10 * time.Second,
	}
}

// AllEndpoints returns the endpoints the run drives: Endpoints, or Endpoint alone
// when Endpoints is empty.
func (c Config) AllEndpoints() []string {
	if len(c.Endpoints) > 0 {
		return c.Endpoints
	}
	if c.Endpoint != "" {
		return []string{c.Endpoint}
	}
	return nil
}

// Validate reports the first problem with c, phrased as what to change.
func (c Config) Validate() error {
	if c.Endpoint != "" && len(c.Endpoints) > 0 {
		return fmt.Errorf("bench: both Endpoint (%q) and Endpoints (%d) are set: put every endpoint in Endpoints and leave Endpoint empty",
			c.Endpoint, len(c.Endpoints))
	}
	eps := c.AllEndpoints()
	if len(eps) == 0 {
		return errors.New("bench: no endpoint: pass --endpoint URL (repeatable or comma separated) or --lab DIR")
	}
	seen := make(map[string]bool, len(eps))
	for _, ep := range eps {
		u, err := url.Parse(ep)
		if ep == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("bench: endpoint %q: want an http(s) URL such as http://127.0.0.1:9000", ep)
		}
		norm := strings.TrimRight(ep, "/")
		if seen[norm] {
			return fmt.Errorf("bench: endpoint %q listed twice: list each endpoint once", ep)
		}
		seen[norm] = true
	}
	switch {
	case c.AccessKey == "" || c.SecretKey == "":
		return errors.New("bench: access key and secret key must be set (--access-key, --secret-key)")
	case c.Region == "":
		return errors.New("bench: region is empty: pass --region (e.g. us-east-1)")
	case c.Bucket == "":
		return errors.New("bench: bucket is empty: pass --bucket")
	case len(c.Sizes) == 0:
		return errors.New("bench: no sizes: pass --size 4KiB (repeatable or comma separated)")
	case len(c.Ops) == 0:
		return errors.New("bench: no operations: pass --op put,get")
	case c.Concurrency < 1:
		return fmt.Errorf("bench: concurrency %d: must be at least 1", c.Concurrency)
	case c.Concurrency < len(eps):
		return fmt.Errorf("bench: concurrency %d is below the %d endpoints, some would get no load: pass --concurrency %d or more",
			c.Concurrency, len(eps), len(eps))
	case c.Duration <= 0:
		return fmt.Errorf("bench: duration %v: must be positive (e.g. 10s)", c.Duration)
	}
	for _, s := range c.Sizes {
		if s < 0 || s > maxSize {
			return fmt.Errorf("bench: size %d out of range 0..5GiB", s)
		}
	}
	for _, op := range c.Ops {
		if op != OpPut && op != OpGet {
			return fmt.Errorf("bench: unknown op %q: use put and/or get", op)
		}
	}
	return nil
}

// Result is the outcome of one op at one size.
type Result struct {
	Op         string
	Size       int64
	Ops        int64 // successful operations
	Errors     int64
	Elapsed    time.Duration
	Endpoints  int // endpoints the load was spread over
	P50        time.Duration
	P90        time.Duration
	P99        time.Duration
	FirstError string
}

// OpsPerSec is the successful operation rate.
func (r Result) OpsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// MiBPerSec is the payload throughput of successful operations.
func (r Result) MiBPerSec() float64 { return r.OpsPerSec() * float64(r.Size) / (1 << 20) }

// Run creates the bucket if needed, then for each size runs the requested ops for
// cfg.Duration each. It returns the results gathered so far when ctx ends.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := newRunner(cfg)
	if err := r.ensureBucket(ctx); err != nil {
		return nil, err
	}
	var results []Result
	for _, size := range cfg.Sizes {
		payload := make([]byte, size)
		rand.Read(payload) // incompressible: measure the store, not the compressor
		var keys []string
		if !slices.Contains(cfg.Ops, OpPut) && slices.Contains(cfg.Ops, OpGet) {
			var err error
			if keys, err = r.seed(ctx, size, payload); err != nil {
				return results, err
			}
		}
		for _, op := range []string{OpPut, OpGet} {
			if !slices.Contains(cfg.Ops, op) {
				continue
			}
			if op == OpGet && len(keys) == 0 {
				results = append(results, Result{Op: op, Size: size, Endpoints: len(r.bases),
					FirstError: "no objects to read: every PUT failed"})
				continue
			}
			res, written := r.phase(ctx, op, size, payload, keys)
			if op == OpPut {
				keys = written
			}
			results = append(results, res)
			if ctx.Err() != nil {
				return results, ctx.Err()
			}
		}
	}
	return results, nil
}

type runner struct {
	cfg    Config
	client *http.Client
	signer *v4.Signer
	creds  aws.Credentials
	bases  []string // per endpoint: its URL and the bucket, path-style
	runID  string
}

func newRunner(cfg Config) *runner {
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			Proxy:               nil, // a benchmark of a local endpoint must not go through a proxy
			MaxIdleConns:        cfg.Concurrency * 2,
			MaxIdleConnsPerHost: cfg.Concurrency * 2,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}}
	}
	var id [4]byte
	rand.Read(id[:])
	var bases []string
	for _, ep := range cfg.AllEndpoints() {
		bases = append(bases, strings.TrimRight(ep, "/")+"/"+cfg.Bucket)
	}
	return &runner{
		cfg:    cfg,
		client: client,
		signer: v4.NewSigner(),
		creds:  aws.Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey},
		bases:  bases,
		runID:  time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(id[:]),
	}
}

// do sends one signed path-style request to endpoint ep (an index into r.bases).
// body may be nil.
func (r *runner) do(ctx context.Context, ep int, method, path string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.bases[ep]+path, rd)
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
	if err := r.signer.SignHTTP(ctx, r.creds, req, unsignedPayload, "s3", r.cfg.Region, time.Now()); err != nil {
		return nil, err
	}
	return r.client.Do(req)
}

type s3Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// statusError turns a non-2xx response into an error carrying the S3 code.
func statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var e s3Error
	if xml.Unmarshal(b, &e) == nil && e.Code != "" {
		return fmt.Errorf("%s: %s (%s)", resp.Status, e.Code, e.Message)
	}
	return fmt.Errorf("%s", resp.Status)
}

// bucketWait bounds how long ensureBucket retries a server that is not up yet
// (connection refused, or 503 while a region elects its first leader), so that a
// benchmark can start together with the servers it drives.
const bucketWait = 30 * time.Second

func (r *runner) ensureBucket(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, bucketWait)
	defer cancel()
	for {
		retry, err := r.createBucket(ctx)
		if err == nil || !retry {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (retried for up to %s: is the server running and reachable?)", err, bucketWait)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// createBucket makes one attempt; retry reports an error worth another.
func (r *runner) createBucket(ctx context.Context) (retry bool, err error) {
	var body []byte
	if r.cfg.Region != "us-east-1" {
		body = []byte(`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>` +
			r.cfg.Region + `</LocationConstraint></CreateBucketConfiguration>`)
	}
	resp, err := r.do(ctx, 0, http.MethodPut, "", body)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("bench: create bucket %s: %w", r.cfg.Bucket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		io.Copy(io.Discard, resp.Body)
		return false, nil
	}
	err = statusError(resp)
	if resp.StatusCode == http.StatusConflict && strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") {
		return false, nil
	}
	return resp.StatusCode == http.StatusServiceUnavailable, fmt.Errorf("bench: create bucket %s: %w", r.cfg.Bucket, err)
}

func (r *runner) put(ctx context.Context, ep int, key string, payload []byte) error {
	resp, err := r.do(ctx, ep, http.MethodPut, "/"+key, payload)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	io.Copy(io.Discard, resp.Body)
	return nil
}

func (r *runner) get(ctx context.Context, ep int, key string, size int64) error {
	resp, err := r.do(ctx, ep, http.MethodGet, "/"+key, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("GET %s: got %d bytes, want %d", key, n, size)
	}
	return nil
}

func (r *runner) key(size int64, worker, seq int) string {
	return fmt.Sprintf("%s/%s/w%03d/%09d", r.runID, FormatSize(size), worker, seq)
}

// seed writes a few objects for a GET-only run through the first endpoint; it is
// not measured.
func (r *runner) seed(ctx context.Context, size int64, payload []byte) ([]string, error) {
	n := max(r.cfg.Concurrency*4, 16)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = r.key(size, 999, i)
		if err := r.put(ctx, 0, keys[i], payload); err != nil {
			return nil, fmt.Errorf("bench: seed objects for GET: %w", err)
		}
	}
	return keys, nil
}

// phase runs one op at one size for cfg.Duration with cfg.Concurrency workers,
// worker w sending to endpoint w%len(r.bases). For PUT it returns the keys written
// successfully.
//
// Workers start no request after the deadline but let the ones in flight finish:
// cancelling them would abort responses mid-way and leave PUTs that were applied
// but counted nowhere. Only ctx (the user's interrupt) cancels requests.
func (r *runner) phase(ctx context.Context, op string, size int64, payload []byte, keys []string) (Result, []string) {
	start := time.Now()
	deadline := start.Add(r.cfg.Duration)
	progressCtx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()

	var (
		ops, errs atomic.Int64
		next      atomic.Int64
		errOnce   sync.Once
		firstErr  string
		wg        sync.WaitGroup
		lat       = make([][]time.Duration, r.cfg.Concurrency)
		written   = make([][]string, r.cfg.Concurrency)
	)
	progressDone := r.progress(progressCtx, op, size, start, &ops, &errs)
	for w := range r.cfg.Concurrency {
		ep := w % len(r.bases)
		wg.Go(func() {
			for seq := 0; ctx.Err() == nil && time.Now().Before(deadline); seq++ {
				var key string
				if op == OpPut {
					key = r.key(size, w, seq)
				} else {
					key = keys[int(next.Add(1)-1)%len(keys)]
				}
				t0 := time.Now()
				var err error
				if op == OpPut {
					err = r.put(ctx, ep, key, payload)
				} else {
					err = r.get(ctx, ep, key, size)
				}
				d := time.Since(t0)
				if ctx.Err() != nil {
					// Interrupted: neither a success nor an error.
					return
				}
				if err != nil {
					errs.Add(1)
					errOnce.Do(func() { firstErr = err.Error() })
					continue
				}
				ops.Add(1)
				lat[w] = append(lat[w], d)
				if op == OpPut {
					written[w] = append(written[w], key)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	<-progressDone

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	res := Result{
		Op: op, Size: size, Ops: ops.Load(), Errors: errs.Load(), Elapsed: elapsed, Endpoints: len(r.bases),
		P50: percentile(all, 0.50), P90: percentile(all, 0.90), P99: percentile(all, 0.99),
		FirstError: firstErr,
	}
	var out []string
	for _, k := range written {
		out = append(out, k...)
	}
	return res, out
}

// progress prints a line per second until ctx ends; the returned channel closes
// when it has stopped writing.
func (r *runner) progress(ctx context.Context, op string, size int64, start time.Time, ops, errs *atomic.Int64) <-chan struct{} {
	done := make(chan struct{})
	if r.cfg.Progress == nil {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last, lastT := int64(0), start
		line := func(now time.Time) {
			n := ops.Load()
			rate := float64(n-last) / now.Sub(lastT).Seconds()
			fmt.Fprintf(r.cfg.Progress, "%-4s %7s %5.1fs %9.0f ops/s %9.1f MiB/s  errors %d\n",
				op, FormatSize(size), now.Sub(start).Seconds(), rate, rate*float64(size)/(1<<20), errs.Load())
			last, lastT = n, now
		}
		for {
			select {
			case <-ctx.Done():
				// The tail of the phase since the last tick, unless it is too short
				// to give a meaningful rate.
				if now := time.Now(); now.Sub(lastT) >= 100*time.Millisecond {
					line(now)
				}
				return
			case now := <-t.C:
				line(now)
			}
		}
	}()
	return done
}

// percentile returns the nearest-rank q-quantile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// WriteReport prints results as an aligned table, then any first errors. When the
// load was spread over several endpoints, a line before the table says over how
// many: rates are their sum, latency percentiles are over all their requests.
func WriteReport(w io.Writer, results []Result) {
	n := 0
	for _, r := range results {
		n = max(n, r.Endpoints)
	}
	if n > 1 {
		fmt.Fprintf(w, "over %d endpoints (worker i drives endpoint i mod %d): rates are totals, latencies over all requests\n", n, n)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tsize\tops/s\tMiB/s\tp50\tp90\tp99\tops\terrors\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.2f\t%s\t%s\t%s\t%d\t%d\t\n", r.Op, FormatSize(r.Size), r.OpsPerSec(), r.MiBPerSec(),
			fmtDur(r.P50), fmtDur(r.P90), fmtDur(r.P99), r.Ops, r.Errors)
	}
	tw.Flush()
	for _, r := range results {
		if r.FirstError != "" {
			fmt.Fprintf(w, "%s %s first error: %s\n", r.Op, FormatSize(r.Size), r.FirstError)
		}
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	default:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
}

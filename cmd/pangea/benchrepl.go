package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/bench"
	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/storage"
)

// Replication modes of `pangea bench replication`.
const (
	replModeTwoWay = "two-way" // every chosen region replicates to every other
	replModeOneWay = "one-way" // the first region replicates to the others
)

// Limits of the flags: beyond them the in-process planet measures the load
// generator, or runs out of memory, rather than replication.
const (
	replMaxSize     = 64 << 20
	replMaxWriters  = 4096
	replMaxPuts     = 2_000_000 // rate x duration, per phase
	replMinRegions  = 2
	replMaxRegions  = 3
	replSetupWait   = 30 * time.Second // bucket creation and configuration retries
	replLateGrace   = 100 * time.Millisecond
	replPollEvery   = 100 * time.Millisecond
	replDefProgress = 5 * time.Second
)

// replBenchConfig describes one run of `pangea bench replication`.
type replBenchConfig struct {
	Regions  []string      // two or three regions of the default topology
	Mode     string        // replModeTwoWay or replModeOneWay
	Size     int64         // object size in bytes
	Rate     float64       // PUTs per second, in total over the source regions
	Writers  int           // concurrent PUTs at most
	Duration time.Duration // of each of the two load phases
	Drain    time.Duration // the longest wait for replication after the last PUT
	NoFsync  bool          // the planet's members skip fsync

	// DataDir holds the planet's data; the command makes a temporary one.
	DataDir string
	// Progress receives a line every ProgressEvery (default 5s) while a phase
	// or the drain runs; nil: none.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Logger is the planet's logger; nil: none.
	Logger *slog.Logger
}

// defaultReplBenchConfig returns the flag defaults.
func defaultReplBenchConfig() replBenchConfig {
	return replBenchConfig{
		Regions:  []string{"us-east-1", "eu-west-1"},
		Mode:     replModeTwoWay,
		Size:     4 << 10,
		Rate:     200,
		Writers:  16,
		Duration: 30 * time.Second,
		Drain:    60 * time.Second,
	}
}

// validate reports the first problem with c, phrased as what to change.
func (c replBenchConfig) validate() error {
	topo := topology.Default()
	var known []string
	for _, r := range topo.Regions {
		known = append(known, r.Name)
	}
	if len(c.Regions) < replMinRegions || len(c.Regions) > replMaxRegions {
		return fmt.Errorf("--regions lists %d regions: name %d to %d of %s, e.g. --regions us-east-1,eu-west-1",
			len(c.Regions), replMinRegions, replMaxRegions, strings.Join(known, ","))
	}
	for i, r := range c.Regions {
		if !slices.Contains(known, r) {
			return fmt.Errorf("--regions: %q is not a region of the default topology: use some of %s", r, strings.Join(known, ","))
		}
		if slices.Contains(c.Regions[:i], r) {
			return fmt.Errorf("--regions: %s is listed twice: list each region once", r)
		}
	}
	puts := c.Rate * c.Duration.Seconds()
	switch {
	case c.Mode != replModeTwoWay && c.Mode != replModeOneWay:
		return fmt.Errorf("--mode %q: use %s (each region replicates to the others) or %s (the first region to the others)",
			c.Mode, replModeTwoWay, replModeOneWay)
	case c.Size <= 0 || c.Size > replMaxSize:
		return fmt.Errorf("--size %s: use a size from 1B to %s, e.g. 4KiB", bench.FormatSize(c.Size), bench.FormatSize(replMaxSize))
	case math.IsNaN(c.Rate) || c.Rate <= 0:
		return fmt.Errorf("--rate %v: use a positive rate of PUTs per second, e.g. 200", c.Rate)
	case c.Writers < 1 || c.Writers > replMaxWriters:
		return fmt.Errorf("--writers %d: use 1 to %d concurrent writers", c.Writers, replMaxWriters)
	case c.Duration <= 0:
		return fmt.Errorf("--duration %v: use a positive duration, e.g. 30s", c.Duration)
	case c.Drain <= 0:
		return fmt.Errorf("--drain %v: use a positive duration, e.g. 60s", c.Drain)
	case puts < 1:
		return fmt.Errorf("--rate %v for --duration %v schedules no PUT: raise either", c.Rate, c.Duration)
	case puts > replMaxPuts:
		return fmt.Errorf("--rate %v for --duration %v schedules %.0f PUTs per phase, more than %d: lower either", c.Rate, c.Duration, puts, replMaxPuts)
	}
	return nil
}

// sources lists the regions that take PUTs: every region two-way, the first
// one-way.
func (c replBenchConfig) sources() []string {
	if c.Mode == replModeOneWay {
		return c.Regions[:1]
	}
	return c.Regions
}

// replPairKey names a replication direction.
type replPairKey struct{ Source, Destination string }

// pairs lists the replication directions, source by source in --regions order.
func (c replBenchConfig) pairs() []replPairKey {
	var ps []replPairKey
	for _, s := range c.sources() {
		for _, d := range c.Regions {
			if d != s {
				ps = append(ps, replPairKey{s, d})
			}
		}
	}
	return ps
}

// replTopology is the default topology cut down to regions, in that order (the
// first is the control region): their locations, members and the links between
// them, and no edge (the bench writes to the members directly).
func replTopology(regions []string) (*topology.Topology, error) {
	def := topology.Default()
	t := &topology.Topology{Edges: []topology.Edge{}}
	locs := map[string]bool{}
	for _, name := range regions {
		i := slices.IndexFunc(def.Regions, func(r topology.Region) bool { return r.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("region %s is not in the default topology", name)
		}
		r := def.Regions[i]
		t.Regions = append(t.Regions, r)
		if !locs[r.Location] {
			locs[r.Location] = true
			t.Locations = append(t.Locations, r.Location)
		}
	}
	for _, l := range def.Links {
		if locs[l.Between[0]] && locs[l.Between[1]] {
			t.Links = append(t.Links, l)
		}
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// msDuration is a duration that JSON shows in milliseconds.
type msDuration time.Duration

// MarshalJSON writes the duration as a number of milliseconds.
func (d msDuration) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(d)/float64(time.Millisecond), 'f', 3, 64), nil
}

// UnmarshalJSON reads a number of milliseconds.
func (d *msDuration) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*d = msDuration(f * float64(time.Millisecond))
	return nil
}

// String formats the duration for people, to a tenth of a millisecond.
func (d msDuration) String() string {
	td := time.Duration(d)
	switch {
	case td >= time.Second:
		return td.Round(time.Millisecond).String()
	case td >= time.Millisecond:
		return strconv.FormatFloat(float64(td)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	default:
		return td.Round(time.Microsecond).String()
	}
}

// replLink is the emulated link between two chosen regions.
type replLink struct {
	A      string     `json:"a"`
	B      string     `json:"b"`
	RTT    msDuration `json:"rtt_ms"`
	OneWay msDuration `json:"one_way_ms"`
}

// replSetup is what a run did, as the report shows it.
type replSetup struct {
	Regions          []string   `json:"regions"`
	Mode             string     `json:"mode"`
	Sources          []string   `json:"source_regions"`
	MembersPerRegion []int      `json:"members_per_region"`
	Links            []replLink `json:"links"`
	Rate             float64    `json:"rate_puts_per_sec"`
	SizeBytes        int64      `json:"size_bytes"`
	Duration         msDuration `json:"phase_duration_ms"`
	Writers          int        `json:"writers"`
	Drain            msDuration `json:"drain_limit_ms"`
	Fsync            bool       `json:"fsync"`
}

// replSetupOf describes the run cfg asks for; cfg is valid.
func replSetupOf(cfg replBenchConfig) (replSetup, *topology.Topology, error) {
	topo, err := replTopology(cfg.Regions)
	if err != nil {
		return replSetup{}, nil, err
	}
	s := replSetup{
		Regions: slices.Clone(cfg.Regions), Mode: cfg.Mode, Sources: slices.Clone(cfg.sources()),
		Rate: cfg.Rate, SizeBytes: cfg.Size, Duration: msDuration(cfg.Duration), Writers: cfg.Writers,
		Drain: msDuration(cfg.Drain), Fsync: !cfg.NoFsync,
	}
	for _, r := range topo.Regions {
		s.MembersPerRegion = append(s.MembersPerRegion, r.Members)
	}
	for i, a := range topo.Regions {
		for _, b := range topo.Regions[i+1:] {
			rtt := topo.RTT(a.Location, b.Location)
			s.Links = append(s.Links, replLink{A: a.Name, B: b.Name, RTT: msDuration(rtt), OneWay: msDuration(rtt / 2)})
		}
	}
	return s, topo, nil
}

// oneWay is the emulated one-way latency between regions a and b.
func (s replSetup) oneWay(a, b string) time.Duration {
	for _, l := range s.Links {
		if (l.A == a && l.B == b) || (l.A == b && l.B == a) {
			return time.Duration(l.OneWay)
		}
	}
	return 0
}

// replPair is the replication lag of one direction.
type replPair struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	// Written counts the versions PUT successfully at the source, Replicated
	// those of them applied at the destination, Missing the others (still
	// missing when the drain ended).
	Written    int `json:"written"`
	Replicated int `json:"replicated"`
	Missing    int `json:"missing"`
	// Lag of the replicated versions: applied at the destination minus the
	// source's Last-Modified.
	P50   msDuration `json:"lag_p50_ms"`
	P99   msDuration `json:"lag_p99_ms"`
	P9999 msDuration `json:"lag_p99_99_ms"`
	Max   msDuration `json:"lag_max_ms"`
	// The targets: p99 under the one-way latency plus 100 ms, p99.99 under 1 s.
	P99Target   msDuration `json:"p99_target_ms"`
	P9999Target msDuration `json:"p99_99_target_ms"`
	P99OK       bool       `json:"p99_ok"`
	P9999OK     bool       `json:"p99_99_ok"`
}

// replPhase is the source PUT load of one phase.
type replPhase struct {
	Name       string     `json:"name"`
	Scheduled  int64      `json:"scheduled"`
	OK         int64      `json:"ok"`
	Errors     int64      `json:"errors"`
	Skipped    int64      `json:"skipped"` // scheduled, never sent: every writer was busy until the phase ended
	Elapsed    msDuration `json:"elapsed_ms"`
	PutsPerSec float64    `json:"puts_per_sec"`
	P50        msDuration `json:"put_p50_ms"`
	P99        msDuration `json:"put_p99_ms"`
	FirstError string     `json:"first_error,omitempty"`
}

// replReport is the outcome of `pangea bench replication`.
type replReport struct {
	Setup replSetup  `json:"setup"`
	Pairs []replPair `json:"pairs"`
	// Without and With are the PUT phases without and with replication.
	Without replPhase `json:"without_replication"`
	With    replPhase `json:"with_replication"`
	// ThroughputPct is With's PUT/s as a percentage of Without's.
	ThroughputPct    float64 `json:"throughput_pct"`
	ThroughputTarget float64 `json:"throughput_target_pct"`
	ThroughputOK     bool    `json:"throughput_ok"`
	// Drained tells whether every written version reached every destination
	// within the drain limit; DrainTime is how long after the last PUT that took
	// (or the limit).
	Drained   bool       `json:"drained"`
	DrainTime msDuration `json:"drain_ms"`
	// ReplicationReady is how long after replication was configured a first
	// version per source reached every destination (warm-up, not measured).
	ReplicationReady msDuration `json:"replication_ready_ms"`
}

// replThroughputTarget is the least PUT throughput with replication, as a
// percentage of that without.
const replThroughputTarget = 85

// complete tells whether every written version was replicated and every PUT
// succeeded.
func (r *replReport) complete() bool {
	if !r.Drained || r.With.Errors > 0 || r.Without.Errors > 0 {
		return false
	}
	for _, p := range r.Pairs {
		if p.Missing > 0 {
			return false
		}
	}
	return true
}

// lagKey identifies a replicated version in one direction.
type lagKey struct{ src, dst, key, vid string }

// lagRecorder collects the lag of every version the planet's receivers apply in
// the watched buckets, keeping the first report of each.
type lagRecorder struct {
	mu      sync.Mutex
	buckets map[string]bool // destination buckets to record
	lags    map[lagKey]time.Duration
}

func newLagRecorder() *lagRecorder {
	return &lagRecorder{buckets: map[string]bool{}, lags: map[lagKey]time.Duration{}}
}

// watch records the versions applied in bucket from now on.
func (r *lagRecorder) watch(bucket string) {
	r.mu.Lock()
	r.buckets[bucket] = true
	r.mu.Unlock()
}

// applied is the planet's replicaApplied hook: region stored v, replicated from
// source, at at.
func (r *lagRecorder) applied(region, source string, v storage.ObjectVersion, at time.Time) {
	if v.DeleteMarker {
		return
	}
	k := lagKey{src: source, dst: region, key: v.Key, vid: v.ID.String()}
	lag := at.Sub(v.ModTime)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.buckets[v.Bucket] {
		return
	}
	if _, dup := r.lags[k]; !dup {
		r.lags[k] = lag
	}
}

// count is how many distinct versions were recorded.
func (r *lagRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lags)
}

// lagsOf returns the lags recorded for the versions written at p.Source that
// reached p.Destination, and how many of written did not.
func (r *lagRecorder) lagsOf(p replPairKey, written []putRecord) (lags []time.Duration, missing int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range written {
		if lag, ok := r.lags[lagKey{src: p.Source, dst: p.Destination, key: w.key, vid: w.vid}]; ok {
			lags = append(lags, lag)
		} else {
			missing++
		}
	}
	return lags, missing
}

// putRecord is a version written at a source region.
type putRecord struct{ key, vid string }

// replBench is one run: the planet, its clients and what was written.
type replBench struct {
	cfg     replBenchConfig
	logger  *slog.Logger
	pl      *planet
	rec     *lagRecorder
	clients map[string][]*s3.Client // region -> a client per member
	payload []byte
	runID   string
	every   time.Duration
}

// runReplBench starts a planet of cfg's regions, runs the phase without
// replication, then the one with, waits for replication to drain and reports.
// On an error after the load began it returns the report so far beside it.
func runReplBench(ctx context.Context, cfg replBenchConfig) (*replReport, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.DataDir == "" {
		return nil, errors.New("no data directory for the planet")
	}
	setup, topo, err := replSetupOf(cfg)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &replBench{cfg: cfg, logger: logger, rec: newLagRecorder(), clients: map[string][]*s3.Client{}, every: cfg.ProgressEvery}
	if b.every <= 0 {
		b.every = replDefProgress
	}
	var id [4]byte
	rand.Read(id[:])
	b.runID = hex.EncodeToString(id[:])
	b.payload = make([]byte, cfg.Size)
	rand.Read(b.payload) // incompressible

	pcfg := DefaultConfig()
	pcfg.DataDir, pcfg.Addr, pcfg.NoFsync, pcfg.LogLevel = cfg.DataDir, "127.0.0.1:0", cfg.NoFsync, "error"
	var secret [24]byte
	rand.Read(secret[:])
	pcfg.ClusterSecret = hex.EncodeToString(secret[:])
	pcfg.replicaApplied = b.rec.applied
	b.progressf("starting the planet: %s (data in %s)", strings.Join(cfg.Regions, ", "), cfg.DataDir)
	b.pl, err = startPlanet(ctx, pcfg, topo, logger)
	if err != nil {
		return nil, fmt.Errorf("start the in-process planet: %w", err)
	}
	defer b.pl.stop()
	b.newClients(pcfg)

	rep := &replReport{Setup: setup, ThroughputTarget: replThroughputTarget}
	// Phase 1: fresh versioned buckets, no replication configuration.
	plain := map[string]string{}
	for _, src := range cfg.sources() {
		plain[src] = b.bucket("a", src)
		if err := b.createBucket(ctx, plain[src], src); err != nil {
			return nil, err
		}
	}
	rep.Without, _ = b.load(ctx, "phase 1/2 (no replication)", plain, false)
	if err := ctx.Err(); err != nil {
		return rep, err
	}

	// Phase 2: a versioned bucket in every region, replication between them.
	repl := map[string]string{}
	for _, r := range cfg.Regions {
		repl[r] = b.bucket("b", r)
		if err := b.createBucket(ctx, repl[r], r); err != nil {
			return rep, err
		}
		b.rec.watch(repl[r])
	}
	for _, src := range cfg.sources() {
		var dsts []string
		for _, p := range cfg.pairs() {
			if p.Source == src {
				dsts = append(dsts, repl[p.Destination])
			}
		}
		if err := b.configureReplication(ctx, src, repl[src], dsts); err != nil {
			return rep, err
		}
	}
	// The leader's replication picks a new configuration up within a refresh
	// period; wait for it, so that the phase measures replication running and
	// not its start.
	ready, err := b.warmUp(ctx, repl)
	if err != nil {
		return rep, err
	}
	rep.ReplicationReady = msDuration(ready)
	var written map[string][]putRecord
	rep.With, written = b.load(ctx, "phase 2/2 (replication on)", repl, true)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	rep.Drained, rep.DrainTime = b.drain(ctx, written)
	rep.Pairs = b.pairs(setup, written)
	if rep.Without.PutsPerSec > 0 {
		rep.ThroughputPct = 100 * rep.With.PutsPerSec / rep.Without.PutsPerSec
	}
	rep.ThroughputOK = rep.ThroughputPct >= replThroughputTarget
	return rep, ctx.Err()
}

// bucket names the bucket of phase ("a" or "b") in region.
func (b *replBench) bucket(phase, region string) string {
	return "replbench-" + b.runID + "-" + phase + "-" + region
}

// progressf prints one progress line, if progress is wanted.
func (b *replBench) progressf(format string, a ...any) {
	if b.cfg.Progress != nil {
		fmt.Fprintf(b.cfg.Progress, format+"\n", a...)
	}
}

// newClients makes an S3 client per member of every region, signing for the
// region with the planet's credentials. They do not retry: a failed PUT counts
// as an error and its latency is one attempt's.
func (b *replBench) newClients(pcfg Config) {
	hc := &http.Client{Transport: &http.Transport{
		Proxy:               nil, // loopback: never through a proxy
		MaxIdleConns:        b.cfg.Writers * 4,
		MaxIdleConnsPerHost: b.cfg.Writers,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
	for _, r := range b.pl.regions {
		for _, m := range r.members {
			c := s3.NewFromConfig(aws.Config{
				Region:                     r.Name,
				Credentials:                credentials.NewStaticCredentialsProvider(pcfg.AccessKey, pcfg.SecretKey, ""),
				HTTPClient:                 hc,
				RetryMaxAttempts:           1,
				RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
				ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
			}, func(o *s3.Options) {
				o.UsePathStyle = true
				o.BaseEndpoint = aws.String(m.url)
			})
			b.clients[r.Name] = append(b.clients[r.Name], c)
		}
	}
}

// retrySetup runs op until it succeeds or replSetupWait passes: right after the
// planet starts, a region may still be electing its leader (503).
func (b *replBench) retrySetup(ctx context.Context, what string, op func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, replSetupWait)
	defer cancel()
	for {
		err := op(ctx)
		if err == nil {
			return nil
		}
		b.logger.Debug("bench setup: retrying", "op", what, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (retried for %s: the planet is not serving; run again with --log-level info to see why)", what, err, replSetupWait)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// createBucket creates a versioned bucket in region.
func (b *replBench) createBucket(ctx context.Context, bucket, region string) error {
	c := b.clients[region][0]
	err := b.retrySetup(ctx, "create bucket "+bucket+" in "+region, func(ctx context.Context) error {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket),
			CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}})
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == "BucketAlreadyOwnedByYou" {
			return nil // an earlier attempt succeeded after all
		}
		return err
	})
	if err != nil {
		return err
	}
	return b.retrySetup(ctx, "enable versioning on "+bucket, func(ctx context.Context) error {
		_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
		return err
	})
}

// configureReplication has bucket, in region src, replicate every new version
// to each of dsts (a rule each).
func (b *replBench) configureReplication(ctx context.Context, src, bucket string, dsts []string) error {
	var rules []types.ReplicationRule
	for i, dst := range dsts {
		rules = append(rules, types.ReplicationRule{
			ID: aws.String("bench-to-" + dst), Priority: aws.Int32(int32(i + 1)), Status: types.ReplicationRuleStatusEnabled,
			Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("")},
			DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
			Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::" + dst)},
		})
	}
	c := b.clients[src][0]
	return b.retrySetup(ctx, "configure replication of "+bucket, func(ctx context.Context) error {
		_, err := c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String(bucket),
			ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String("arn:aws:iam::000000000000:role/pangea-bench"), Rules: rules}})
		return err
	})
}

// warmUp PUTs one version per source region into buckets (region -> bucket)
// and waits, within replSetupWait, until each has reached every destination.
// It returns how long that took. The versions are not part of the figures.
func (b *replBench) warmUp(ctx context.Context, buckets map[string]string) (time.Duration, error) {
	start := time.Now()
	written := map[string][]putRecord{}
	for _, src := range b.cfg.sources() {
		key := "warm-up/" + src
		err := b.retrySetup(ctx, "warm-up PUT in "+src, func(ctx context.Context) error {
			out, err := b.clients[src][0].PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(buckets[src]), Key: aws.String(key),
				Body: bytes.NewReader(b.payload), ContentLength: aws.Int64(b.cfg.Size)})
			if err != nil {
				return err
			}
			written[src] = []putRecord{{key: key, vid: aws.ToString(out.VersionId)}}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	b.progressf("replication configured; waiting for it to start")
	deadline := start.Add(replSetupWait)
	for {
		missing := 0
		for _, p := range b.cfg.pairs() {
			_, m := b.rec.lagsOf(p, written[p.Source])
			missing += m
		}
		if missing == 0 {
			d := time.Since(start)
			b.progressf("replication running: the first versions arrived %s after it was configured", d.Round(time.Millisecond))
			return d, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("replication did not start: %d warm-up versions still missing %s after it was configured (run again with --log-level warn to see why)",
				missing, replSetupWait)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(replPollEvery):
		}
	}
}

// load runs one phase: PUTs scheduled at cfg.Rate in total, round-robin over
// the source regions (and over each region's members), for cfg.Duration, to
// buckets (source region -> bucket). It is open-loop: a PUT's start time is
// fixed by the schedule, not by the previous PUT's end; a PUT that no writer
// could start before the phase ended is skipped. It returns the phase's figures
// and the versions written, by source region. With showRepl, progress lines
// count the versions replicated too.
func (b *replBench) load(ctx context.Context, name string, buckets map[string]string, showRepl bool) (replPhase, map[string][]putRecord) {
	cfg := b.cfg
	sources := cfg.sources()
	total := int(cfg.Rate * cfg.Duration.Seconds())
	interval := float64(time.Second) / cfg.Rate
	jobs := make(chan int, total) // never blocks the schedule
	var (
		ok, errs, skipped atomic.Int64
		errOnce           sync.Once
		firstErr          string
		wg                sync.WaitGroup
		lat               = make([][]time.Duration, cfg.Writers)
		written           = make([]map[string][]putRecord, cfg.Writers)
	)
	base := b.rec.count() // the warm-up's
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	go func() {
		defer close(jobs)
		t := time.NewTimer(0)
		defer t.Stop()
		<-t.C
		for i := range total {
			if d := time.Until(start.Add(time.Duration(float64(i) * interval))); d > 0 {
				t.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
			jobs <- i
		}
	}()
	for w := range cfg.Writers {
		written[w] = map[string][]putRecord{}
		wg.Go(func() {
			for i := range jobs {
				if ctx.Err() != nil || time.Now().After(deadline.Add(replLateGrace)) {
					skipped.Add(1)
					continue
				}
				src := sources[i%len(sources)]
				cs := b.clients[src]
				c := cs[(i/len(sources))%len(cs)]
				key := fmt.Sprintf("%s/%09d", src, i)
				t0 := time.Now()
				out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(buckets[src]), Key: aws.String(key),
					Body: bytes.NewReader(b.payload), ContentLength: aws.Int64(cfg.Size)})
				d := time.Since(t0)
				if err == nil && aws.ToString(out.VersionId) == "" {
					err = fmt.Errorf("PUT %s/%s: no version ID in the response of a versioned bucket", buckets[src], key)
				}
				if err != nil {
					errs.Add(1)
					errOnce.Do(func() { firstErr = err.Error() })
					continue
				}
				ok.Add(1)
				lat[w] = append(lat[w], d)
				written[w][src] = append(written[w][src], putRecord{key: key, vid: aws.ToString(out.VersionId)})
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(b.every)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			line := fmt.Sprintf("%s: %s/%s, %d PUTs", name, time.Since(start).Truncate(time.Second), cfg.Duration, ok.Load())
			if n := errs.Load(); n > 0 {
				line += fmt.Sprintf(" (%d failed)", n)
			}
			if showRepl {
				line += fmt.Sprintf(", %d replicated", b.rec.count()-base)
			}
			b.progressf("%s", line)
		}
	}
	elapsed := time.Since(start)

	all := slices.Concat(lat...)
	slices.Sort(all)
	ph := replPhase{
		Name: name, Scheduled: int64(total), OK: ok.Load(), Errors: errs.Load(), Skipped: skipped.Load(),
		Elapsed: msDuration(elapsed), PutsPerSec: float64(ok.Load()) / elapsed.Seconds(),
		P50: msDuration(percentileOf(all, 0.50)), P99: msDuration(percentileOf(all, 0.99)), FirstError: firstErr,
	}
	bySource := map[string][]putRecord{}
	for _, m := range written {
		for src, rs := range m {
			bySource[src] = append(bySource[src], rs...)
		}
	}
	b.progressf("%s: done, %d PUTs in %s (%.1f/s), %d failed, %d skipped", name, ph.OK, time.Duration(ph.Elapsed).Round(time.Millisecond), ph.PutsPerSec, ph.Errors, ph.Skipped)
	return ph, bySource
}

// drain waits until every written version has been applied at every
// destination, or cfg.Drain passes, or ctx ends. It returns whether all were and
// how long it waited.
func (b *replBench) drain(ctx context.Context, written map[string][]putRecord) (bool, msDuration) {
	want := 0
	for _, p := range b.cfg.pairs() {
		want += len(written[p.Source])
	}
	start := time.Now()
	deadline := start.Add(b.cfg.Drain)
	lastProgress := start
	poll := time.NewTicker(replPollEvery)
	defer poll.Stop()
	for {
		got := 0
		for _, p := range b.cfg.pairs() {
			lags, _ := b.rec.lagsOf(p, written[p.Source])
			got += len(lags)
		}
		now := time.Now()
		if got == want {
			b.progressf("drain: every written version replicated (%d) %s after the last PUT", want, now.Sub(start).Round(time.Millisecond))
			return true, msDuration(now.Sub(start))
		}
		if now.After(deadline) || ctx.Err() != nil {
			b.progressf("drain: gave up after %s: %d of %d versions replicated", now.Sub(start).Round(time.Millisecond), got, want)
			return false, msDuration(now.Sub(start))
		}
		if now.Sub(lastProgress) >= b.every {
			lastProgress = now
			b.progressf("drain: %s/%s, %d/%d replicated", now.Sub(start).Truncate(time.Second), b.cfg.Drain, got, want)
		}
		select {
		case <-ctx.Done():
		case <-poll.C:
		}
	}
}

// pairs computes the lag figures of every direction.
func (b *replBench) pairs(setup replSetup, written map[string][]putRecord) []replPair {
	var out []replPair
	for _, p := range b.cfg.pairs() {
		lags, missing := b.rec.lagsOf(p, written[p.Source])
		slices.Sort(lags)
		oneWay := setup.oneWay(p.Source, p.Destination)
		rp := replPair{
			Source: p.Source, Destination: p.Destination,
			Written: len(written[p.Source]), Replicated: len(lags), Missing: missing,
			P50: msDuration(percentileOf(lags, 0.50)), P99: msDuration(percentileOf(lags, 0.99)),
			P9999: msDuration(percentileOf(lags, 0.9999)), Max: msDuration(percentileOf(lags, 1)),
			P99Target: msDuration(oneWay + 100*time.Millisecond), P9999Target: msDuration(time.Second),
		}
		rp.P99OK = len(lags) > 0 && rp.P99 < rp.P99Target
		rp.P9999OK = len(lags) > 0 && rp.P9999 < rp.P9999Target
		out = append(out, rp)
	}
	return out
}

// percentileOf returns the q-quantile (nearest rank) of sorted; 0 if empty.
func percentileOf(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// writeReplSetup prints the run's setup, as the header of the text report.
func writeReplSetup(w io.Writer, s replSetup) {
	fsync := "on"
	if !s.Fsync {
		fsync = "off"
	}
	fmt.Fprintf(w, "pangea bench replication: %s, %s (sources: %s), members per region %v, fsync %s\n",
		strings.Join(s.Regions, ", "), s.Mode, strings.Join(s.Sources, ", "), s.MembersPerRegion, fsync)
	for _, l := range s.Links {
		fmt.Fprintf(w, "  link %s <-> %s: one-way %s (RTT %s)\n", l.A, l.B, l.OneWay, l.RTT)
	}
	fmt.Fprintf(w, "  load: %s PUT/s in total, %s objects, %s per phase, %d writers, drain limit %s\n",
		strconv.FormatFloat(s.Rate, 'f', -1, 64), bench.FormatSize(s.SizeBytes), time.Duration(s.Duration), s.Writers, time.Duration(s.Drain))
}

// writeReplReport prints the results for people: lag per direction against
// the targets, then the two PUT phases side by side.
func writeReplReport(w io.Writer, r *replReport) {
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Replication lag (applied at the destination - Last-Modified at the source):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  PAIR\tVERSIONS\tMISSING\tP50\tP99\tP99.99\tMAX\tP99 TARGET\tP99.99 TARGET\t")
	for _, p := range r.Pairs {
		fmt.Fprintf(tw, "  %s -> %s\t%d/%d\t%d\t%s\t%s\t%s\t%s\t< %s %s\t< %s %s\t\n",
			p.Source, p.Destination, p.Replicated, p.Written, p.Missing, p.P50, p.P99, p.P9999, p.Max,
			p.P99Target, verdict(p.P99OK), p.P9999Target, verdict(p.P9999OK))
	}
	tw.Flush()
	if !r.Drained {
		fmt.Fprintf(w, "  NOT DRAINED: versions were still missing %s after the last PUT (raise --drain, or look for errors with --log-level warn)\n", r.DrainTime)
	} else {
		fmt.Fprintf(w, "  every version replicated %s after the last PUT\n", r.DrainTime)
	}
	fmt.Fprintf(w, "  (replication started %s after it was configured; a warm-up version per source, not counted, waited for it)\n", r.ReplicationReady)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Source PUTs:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  PHASE\tPUT/s\tOK\tFAILED\tSKIPPED\tP50\tP99\t")
	for _, ph := range []replPhase{r.Without, r.With} {
		fmt.Fprintf(tw, "  %s\t%.1f\t%d\t%d\t%d\t%s\t%s\t\n", ph.Name, ph.PutsPerSec, ph.OK, ph.Errors, ph.Skipped, ph.P50, ph.P99)
	}
	tw.Flush()
	for _, ph := range []replPhase{r.Without, r.With} {
		if ph.FirstError != "" {
			fmt.Fprintf(w, "  %s: first error: %s\n", ph.Name, ph.FirstError)
		}
	}
	fmt.Fprintf(w, "  throughput with replication / without: %.1f%% (target >= %.0f%%: %s)\n",
		r.ThroughputPct, r.ThroughputTarget, verdict(r.ThroughputOK))
}

// replCLIOptions are the flags of `pangea bench replication` that shape the
// command rather than the run.
type replCLIOptions struct {
	json  bool
	level slog.Level
}

// benchReplConfig parses the flags of `pangea bench replication`. When it
// returns false the command must exit with the returned code; the reason has
// been printed.
func (c *cli) benchReplConfig(args []string) (replBenchConfig, replCLIOptions, int, bool) {
	fs := c.newFlagSet("bench replication", "Measure cross-region replication in an in-process lab planet (the default topology's\n"+
		"chosen regions, their emulated WAN between them): PUT objects at a fixed total --rate for\n"+
		"--duration without replication, then again with replication between fresh versioned\n"+
		"buckets, wait for every version to reach every destination, and print the replication\n"+
		"lag per region pair (p50, p99, p99.99, max; targets p99 < one-way latency + 100ms and\n"+
		"p99.99 < 1s) and the PUT throughput with replication as a share of that without (target 85%).")
	d := defaultReplBenchConfig()
	cfg := d
	var opts replCLIOptions
	regions := strings.Join(d.Regions, ",")
	size := bench.FormatSize(d.Size)
	level := "error"
	noFsync, err := c.getenv.boolean("PANGEA_NO_FSYNC", false)
	if err != nil {
		fmt.Fprintf(c.stderr, "pangea bench replication: %v\n", err)
		return cfg, opts, 2, false
	}
	fs.StringVar(&regions, "regions", regions, "`regions` of the default topology, comma separated: 2, or 3 for all pairs")
	fs.StringVar(&cfg.Mode, "mode", d.Mode, "`mode`: two-way (each region replicates to the others) or one-way (the first to the others)")
	fs.StringVar(&size, "size", size, "object `size`, e.g. 4KiB, 1MiB")
	fs.Float64Var(&cfg.Rate, "rate", d.Rate, "PUTs per second in total, spread over the source regions (open loop: scheduled by time)")
	fs.IntVar(&cfg.Writers, "writers", d.Writers, "concurrent PUTs at most")
	fs.DurationVar(&cfg.Duration, "duration", d.Duration, "`duration` of each phase (without, then with replication)")
	fs.DurationVar(&cfg.Drain, "drain", d.Drain, "how long to wait after the last PUT for replication to catch up")
	fs.BoolVar(&cfg.NoFsync, "no-fsync", noFsync, "the planet's members do not fsync, as `pangea lab --no-fsync` (env PANGEA_NO_FSYNC)")
	fs.BoolVar(&opts.json, "json", false, "print the report as JSON on stdout (progress goes to stderr)")
	fs.StringVar(&level, "log-level", level, "the planet's log `level`: debug, info, warn, error")
	if code, ok := parseFlags(fs, args); !ok {
		return cfg, opts, code, false
	}
	fail := func(format string, a ...any) (replBenchConfig, replCLIOptions, int, bool) {
		fmt.Fprintf(c.stderr, "pangea bench replication: "+format+"\n", a...)
		return cfg, opts, 2, false
	}
	cfg.Regions = splitList([]string{regions})
	if cfg.Size, err = bench.ParseSize(size); err != nil {
		return fail("--size: %v", err)
	}
	if opts.level, err = parseLevel(level); err != nil {
		return fail("%v", err)
	}
	if err := cfg.validate(); err != nil {
		return fail("%v", err)
	}
	return cfg, opts, 0, true
}

// benchReplCmd runs `pangea bench replication`.
func (c *cli) benchReplCmd(ctx context.Context, args []string) int {
	cfg, opts, code, ok := c.benchReplConfig(args)
	if !ok {
		return code
	}
	setup, topo, err := replSetupOf(cfg)
	if err != nil {
		fmt.Fprintf(c.stderr, "pangea bench replication: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "pangea-bench-replication-")
	if err != nil {
		fmt.Fprintf(c.stderr, "pangea bench replication: temporary data directory: %v (set TMPDIR to a writable directory)\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	cfg.DataDir = dir
	cfg.Logger = slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: opts.level}))
	cfg.Progress = c.stdout
	if opts.json {
		cfg.Progress = c.stderr
	}
	// The planet's members share this process, as in `pangea lab`.
	members := 0
	for _, r := range topo.Regions {
		members += r.Members
	}
	if n, ok := labProcs(c.getenv("GOMAXPROCS"), runtime.NumCPU(), members); ok {
		prev := runtime.GOMAXPROCS(n)
		defer runtime.GOMAXPROCS(prev)
	}
	defer memoryPolicy(DefaultConfig(), members, c.getenv, cfg.Logger)()

	if !opts.json {
		writeReplSetup(c.stdout, setup)
	}
	rep, err := runReplBench(ctx, cfg)
	if rep != nil {
		if opts.json {
			enc := json.NewEncoder(c.stdout)
			enc.SetIndent("", "  ")
			if jerr := enc.Encode(rep); jerr != nil {
				fmt.Fprintf(c.stderr, "pangea bench replication: %v\n", jerr)
				return 1
			}
		} else {
			writeReplReport(c.stdout, rep)
		}
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "pangea bench replication: %v\n", err)
		return 1
	}
	if !rep.complete() {
		fmt.Fprintln(c.stderr, "pangea bench replication: PUTs failed or versions were not replicated (see the report; --log-level warn shows the planet's complaints)")
		return 1
	}
	return 0
}

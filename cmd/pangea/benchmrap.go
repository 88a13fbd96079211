package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/s3api/awsclient"
)

// mrapBenchConfig configures `pangea bench mrap`.
type mrapBenchConfig struct {
	Requests int           // GETs per path in the overhead phase
	Failover time.Duration // how long to wait for failover at the most
	NoFsync  bool
	DataDir  string
	Logger   *slog.Logger
	Progress io.Writer
}

// mrapBenchReport is what `pangea bench mrap` measured.
type mrapBenchReport struct {
	Near, Far string // the edge's region, and the next region
	// The overhead phase: GETs of one object through the edge beside Near, by
	// the bucket's name and by the MRAP's ARN (SigV4A), alternating.
	Direct, ViaMRAP  latencies
	AddedP50         time.Duration
	FailoverAfter    time.Duration // from Near going down to the first GET served by Far
	FailedGETs       int           // GETs that failed after the SDK's retries
	GETsDuringSwitch int           // GETs attempted between Near going down and the failover
}

type latencies struct {
	N             int
	P50, P99, Max time.Duration
}

func latenciesOf(ds []time.Duration) latencies {
	slices.Sort(ds)
	if len(ds) == 0 {
		return latencies{}
	}
	return latencies{N: len(ds), P50: percentileOf(ds, 0.50), P99: percentileOf(ds, 0.99), Max: ds[len(ds)-1]}
}

// mrapBenchTopology is the default topology cut to us-east-1 and eu-west-1,
// with their edges.
func mrapBenchTopology() (*topology.Topology, error) {
	t, err := replTopology([]string{"us-east-1", "eu-west-1"})
	if err != nil {
		return nil, err
	}
	locs := map[string]bool{}
	for _, l := range t.Locations {
		locs[l] = true
	}
	for _, e := range topology.Default().Edges {
		if locs[e.Location] {
			t.Edges = append(t.Edges, e)
		}
	}
	return t, t.Validate()
}

// runMRAPBench starts a two-region planet with an MRAP over a bucket in each
// (replicating to each other), then measures what routing through the MRAP
// adds to a GET, and how long requests take to flow to the other region when
// the near one goes down, for a client that retries as the SDKs do by default.
func runMRAPBench(ctx context.Context, cfg mrapBenchConfig) (*mrapBenchReport, error) {
	topo, err := mrapBenchTopology()
	if err != nil {
		return nil, err
	}
	pcfg := DefaultConfig()
	pcfg.DataDir, pcfg.Addr, pcfg.NoFsync, pcfg.MRAPRouteDelay = cfg.DataDir, "127.0.0.1:0", cfg.NoFsync, 0
	pcfg.ClusterSecret = "bench-mrap-" + fmt.Sprint(time.Now().UnixNano())
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	pl, err := startPlanet(ctx, pcfg, topo, logger)
	if err != nil {
		return nil, err
	}
	defer pl.stop()
	lf := pl.labFile(pcfg)
	m, err := setupLabMRAP(ctx, pl, pcfg, lf, "bench", progress)
	if err != nil {
		return nil, err
	}
	rep := &mrapBenchReport{Near: "us-east-1", Far: "eu-west-1"}
	edge := lf.Edges[0].URL // at us-east-1
	creds := credentials.NewStaticCredentialsProvider(pcfg.AccessKey, pcfg.SecretKey, "")
	base := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}
	hc, err := awsclient.HTTPClient(edge, &http.Client{Transport: base})
	if err != nil {
		return nil, err
	}
	viaMRAP := s3.NewFromConfig(aws.Config{Region: rep.Near, Credentials: creds, HTTPClient: hc}) // the SDK's default retryer
	direct := s3.NewFromConfig(aws.Config{Region: rep.Near, Credentials: creds, HTTPClient: &http.Client{Transport: base}},
		func(o *s3.Options) { o.UsePathStyle, o.BaseEndpoint = true, aws.String(edge) })
	near, far := m.Buckets[rep.Near], m.Buckets[rep.Far]

	// One object, written through the MRAP (so into the near bucket) and
	// replicated to the far one before anything is measured.
	const key = "bench-object"
	if _, err := viaMRAP.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(m.ARN), Key: aws.String(key), Body: strings.NewReader(strings.Repeat("x", 4096))}); err != nil {
		return nil, fmt.Errorf("PUT through the MRAP: %w", err)
	}
	farDirect := s3.NewFromConfig(aws.Config{Region: rep.Far, Credentials: creds, HTTPClient: &http.Client{Transport: base}},
		func(o *s3.Options) { o.UsePathStyle, o.BaseEndpoint = true, aws.String(lf.Edges[len(lf.Edges)-1].URL) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := farDirect.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(far), Key: aws.String(key)}); err == nil {
			break
		} else if time.Now().After(deadline) {
			return nil, fmt.Errorf("the object did not replicate to %s: %w", rep.Far, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond): // poll the replica
		}
	}

	get := func(c *s3.Client, bucket string) (string, error) {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return "", err
		}
		io.Copy(io.Discard, out.Body)
		out.Body.Close()
		return string(out.ReplicationStatus), nil
	}
	fmt.Fprintf(progress, "overhead: %d GETs by bucket name and %d through the MRAP, via the edge at %s\n", cfg.Requests, cfg.Requests, rep.Near)
	var d, v []time.Duration
	for i := 0; i < cfg.Requests; i++ {
		t0 := time.Now()
		if _, err := get(direct, near); err != nil {
			return nil, fmt.Errorf("direct GET: %w", err)
		}
		t1 := time.Now()
		if _, err := get(viaMRAP, m.ARN); err != nil {
			return nil, fmt.Errorf("GET through the MRAP: %w", err)
		}
		d, v = append(d, t1.Sub(t0)), append(v, time.Since(t1))
	}
	rep.Direct, rep.ViaMRAP = latenciesOf(d), latenciesOf(v)
	rep.AddedP50 = rep.ViaMRAP.P50 - rep.Direct.P50

	fmt.Fprintf(progress, "failover: taking %s down, GETs through the MRAP go on\n", rep.Near)
	var down []*planetMember
	for _, r := range pl.regions {
		if r.Name == rep.Near {
			down = r.members
		}
	}
	start := time.Now()
	for _, pm := range down {
		pl.stopMember(pm)
	}
	for {
		if time.Since(start) > cfg.Failover {
			return rep, fmt.Errorf("no GET was served by %s within %v of %s going down", rep.Far, cfg.Failover, rep.Near)
		}
		rep.GETsDuringSwitch++
		st, err := get(viaMRAP, m.ARN)
		if err != nil {
			rep.FailedGETs++
			continue
		}
		if st == "REPLICA" { // the far bucket's copy
			rep.FailoverAfter = time.Since(start)
			break
		}
	}
	return rep, nil
}

func writeMRAPReport(w io.Writer, r *mrapBenchReport) {
	fmt.Fprintf(w, "\nGET of 4 KiB through the edge at %s (no WAN on this path: the bucket is beside the edge):\n", r.Near)
	fmt.Fprintf(w, "  %-26s %6s %10s %10s %10s\n", "PATH", "GETS", "P50", "P99", "MAX")
	for _, row := range []struct {
		name string
		l    latencies
	}{{"by bucket name (SigV4)", r.Direct}, {"through the MRAP (SigV4A)", r.ViaMRAP}} {
		fmt.Fprintf(w, "  %-26s %6d %10v %10v %10v\n", row.name, row.l.N, row.l.P50.Round(time.Microsecond), row.l.P99.Round(time.Microsecond), row.l.Max.Round(time.Microsecond))
	}
	ok := "ok"
	if r.AddedP50 > 500*time.Microsecond {
		ok = "MISSED"
	}
	fmt.Fprintf(w, "  added by the MRAP at p50: %v (target <= 0.5ms: %s)\n", r.AddedP50.Round(time.Microsecond), ok)
	ok = "ok"
	if r.FailoverAfter > 3*time.Second {
		ok = "MISSED"
	}
	fok := "ok"
	if r.FailedGETs > 0 {
		fok = "MISSED"
	}
	fmt.Fprintf(w, "\nFailover: %s down; GETs through the MRAP (SDK default retries) served by %s after %v (target < 3s: %s), %d GETs tried, %d failed (target 0: %s)\n",
		r.Near, r.Far, r.FailoverAfter.Round(time.Millisecond), ok, r.GETsDuringSwitch, r.FailedGETs, fok)
}

// benchMRAPCmd runs `pangea bench mrap`.
func (c *cli) benchMRAPCmd(ctx context.Context, args []string) int {
	fs := c.newFlagSet("bench mrap", "Measure Multi-Region Access Point routing in an in-process lab planet (the default\n"+
		"topology's us-east-1 and eu-west-1, with their edges and the emulated WAN): the latency the\n"+
		"MRAP adds to a GET compared with the same GET by bucket name (target <= 0.5ms at p50), and,\n"+
		"with us-east-1 taken down, how long until GETs through the MRAP are served by eu-west-1\n"+
		"(target < 3s) and how many fail for a client retrying as the SDKs do (target 0).")
	cfg := mrapBenchConfig{Requests: 2000, Failover: 30 * time.Second, Progress: c.stdout}
	noFsync, err := c.getenv.boolean("PANGEA_NO_FSYNC", false)
	if err != nil {
		fmt.Fprintf(c.stderr, "pangea bench mrap: %v\n", err)
		return 2
	}
	fs.IntVar(&cfg.Requests, "requests", cfg.Requests, "GETs per path in the overhead phase")
	fs.DurationVar(&cfg.Failover, "failover-limit", cfg.Failover, "the longest to wait for failover")
	fs.BoolVar(&cfg.NoFsync, "no-fsync", noFsync, "the planet's members do not fsync (env PANGEA_NO_FSYNC)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if cfg.Requests < 10 || cfg.Failover <= 0 {
		fmt.Fprintln(c.stderr, "pangea bench mrap: --requests must be at least 10 and --failover-limit positive")
		return 2
	}
	dir, err := os.MkdirTemp("", "pangea-bench-mrap-")
	if err != nil {
		fmt.Fprintf(c.stderr, "pangea bench mrap: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	cfg.DataDir = dir
	fmt.Fprintf(c.stdout, "pangea bench mrap: a planet of us-east-1 and eu-west-1 in %s\n", dir)
	rep, err := runMRAPBench(ctx, cfg)
	if rep != nil {
		writeMRAPReport(c.stdout, rep)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "pangea bench mrap: %v\n", err)
		return 1
	}
	return 0
}

package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/bench"
	"github.com/pangea-s3/pangea/cmd/pangea/internal/labfile"
)

// listFlag collects a repeatable flag whose values may also be comma lists.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// splitList splits values on commas, trimming blanks and dropping empty items.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

func (c *cli) benchCmd(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "replication" {
		return c.benchReplCmd(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == "mrap" {
		return c.benchMRAPCmd(ctx, args[1:])
	}
	cfg, code, ok := c.benchConfig(args)
	if !ok {
		return code
	}
	cfg.Progress = c.stdout

	var sizeNames []string
	for _, s := range cfg.Sizes {
		sizeNames = append(sizeNames, bench.FormatSize(s))
	}
	target := "endpoint=" + cfg.Endpoint
	if eps := cfg.AllEndpoints(); len(eps) > 1 {
		target = fmt.Sprintf("endpoints=%s (%d, worker i drives endpoint i mod %d)", strings.Join(eps, ","), len(eps), len(eps))
	}
	fmt.Fprintf(c.stdout, "pangea bench: %s region=%s bucket=%s ops=%s sizes=%s concurrency=%d duration=%s\n",
		target, cfg.Region, cfg.Bucket, strings.Join(cfg.Ops, ","), strings.Join(sizeNames, ","),
		cfg.Concurrency, cfg.Duration)
	start := time.Now()
	results, err := bench.Run(ctx, cfg)
	fmt.Fprintln(c.stdout)
	bench.WriteReport(c.stdout, results)
	fmt.Fprintf(c.stdout, "total time %s\n", time.Since(start).Round(time.Millisecond))
	if err != nil {
		fmt.Fprintf(c.stderr, "pangea bench: %v\n", err)
		return 1
	}
	for _, r := range results {
		if r.Errors > 0 || r.Ops == 0 {
			fmt.Fprintf(c.stderr, "pangea bench: %s %s had %d errors in %s ops\n", r.Op, bench.FormatSize(r.Size), r.Errors, strconv.FormatInt(r.Ops, 10))
			return 1
		}
	}
	return 0
}

// benchConfig parses the flags of `pangea bench` into a validated config. When it
// returns false the command must exit with the returned code; the reason has been
// printed.
//
// One endpoint goes into Config.Endpoint, as before; several into Config.Endpoints.
func (c *cli) benchConfig(args []string) (bench.Config, int, bool) {
	fs := c.newFlagSet("bench", "Drive S3 endpoints: PUT distinct keys for --duration at --concurrency,\n"+
		"then GET them back, for each --size; print ops/s, MiB/s, p50/p90/p99 latency and errors.\n"+
		"With several endpoints (--endpoint URL,URL or --lab DIR --spread), worker i drives\n"+
		"endpoint i mod N; ops/s and MiB/s are totals over all of them.\n"+
		"`pangea bench replication [flags]` measures cross-region replication lag in an\n"+
		"in-process lab instead: see `pangea bench replication -h`.")
	d := bench.DefaultConfig()
	e := c.getenv
	cfg := d
	var endpoints, sizes, ops listFlag
	var labDir string
	var spread bool
	fs.Var(&endpoints, "endpoint", "S3 endpoint `URL`, e.g. http://127.0.0.1:9000; repeatable or comma separated to spread\n"+
		"the load over several, e.g. the members of a region (env PANGEA_ENDPOINT, comma separated)")
	fs.StringVar(&cfg.AccessKey, "access-key", e.str("PANGEA_ACCESS_KEY", d.AccessKey), "access `key` (env PANGEA_ACCESS_KEY)")
	fs.StringVar(&cfg.SecretKey, "secret-key", e.str("PANGEA_SECRET_KEY", d.SecretKey), "secret `key` (env PANGEA_SECRET_KEY)")
	fs.StringVar(&cfg.Region, "region", e.str("PANGEA_REGION", d.Region), "signing `region` (env PANGEA_REGION)")
	fs.StringVar(&cfg.Bucket, "bucket", e.str("PANGEA_BENCH_BUCKET", d.Bucket), "`bucket`, created if missing (env PANGEA_BENCH_BUCKET)")
	fs.Var(&sizes, "size", "object `size`: 4KiB, 1MiB ...; repeatable or comma separated (default 4KiB)")
	fs.Var(&ops, "op", "`ops` to run: put, get or put,get (default put,get)")
	fs.IntVar(&cfg.Concurrency, "concurrency", d.Concurrency, "concurrent requests, round-robin over the endpoints (at least one per endpoint)")
	fs.DurationVar(&cfg.Duration, "duration", d.Duration, "`duration` of each op at each size")
	fs.StringVar(&labDir, "lab", e.str("PANGEA_LAB", ""), "read endpoint and credentials from `DIR`/lab.json (env PANGEA_LAB)")
	fs.BoolVar(&spread, "spread", false, "with --lab: drive every member of the lab's region instead of its global endpoint\n"+
		"(lab.json must list exactly one region)")
	if code, ok := parseFlags(fs, args); !ok {
		return cfg, code, false
	}
	fail := func(code int, format string, a ...any) (bench.Config, int, bool) {
		fmt.Fprintf(c.stderr, "pangea bench: "+format+"\n", a...)
		return cfg, code, false
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["endpoint"] {
		endpoints = listFlag{e.str("PANGEA_ENDPOINT", "")}
	}
	eps := splitList(endpoints)
	switch {
	case spread && labDir == "":
		return fail(2, "--spread needs --lab DIR; to name the endpoints yourself, pass --endpoint URL,URL,...")
	case spread && set["endpoint"]:
		return fail(2, "--spread and --endpoint both choose the endpoints: pass only one of them")
	}

	if labDir != "" {
		lf, err := labfile.Read(labDir)
		if err != nil {
			return fail(1, "%v (is `pangea lab --data %s` running?)", err, labDir)
		}
		switch {
		case spread:
			if eps, err = regionMembers(lf); err != nil {
				return fail(2, "--spread: %v", err)
			}
		case !set["endpoint"]:
			eps = []string{lf.Endpoints.Global}
		}
		if !set["access-key"] {
			cfg.AccessKey = lf.AccessKey
		}
		if !set["secret-key"] {
			cfg.SecretKey = lf.SecretKey
		}
		if !set["region"] && len(lf.Endpoints.Regions) == 1 {
			for r := range lf.Endpoints.Regions {
				cfg.Region = r
			}
		}
	}
	if len(eps) == 1 {
		cfg.Endpoint = eps[0]
	} else {
		cfg.Endpoints = eps
	}
	if len(sizes) == 0 {
		sizes = listFlag{"4KiB"}
	}
	var err error
	if cfg.Sizes, err = bench.ParseSizes(sizes); err != nil {
		return fail(2, "%v", err)
	}
	if len(ops) == 0 {
		ops = listFlag{"put,get"}
	}
	cfg.Ops = nil
	for _, op := range splitList(ops) {
		cfg.Ops = append(cfg.Ops, strings.ToLower(op))
	}
	if err := cfg.Validate(); err != nil {
		return fail(2, "%v", err)
	}
	return cfg, 0, true
}

// regionMembers returns the S3 endpoints of every member of the one region that
// lab.json lists.
func regionMembers(lf labfile.File) ([]string, error) {
	names := slices.Sorted(maps.Keys(lf.Endpoints.Regions))
	if len(names) != 1 {
		return nil, fmt.Errorf("lab.json lists %d regions %v, want exactly one: pass the members to drive with --endpoint URL,URL,...", len(names), names)
	}
	urls := lf.Endpoints.Regions[names[0]]
	if len(urls) == 0 {
		return nil, fmt.Errorf("lab.json lists no endpoint for region %s: pass --endpoint URL,URL,...", names[0])
	}
	return slices.Clone(urls), nil
}

package main

import (
	"context"
	"flag"
	"fmt"
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

func (c *cli) benchCmd(ctx context.Context, args []string) int {
	fs := c.newFlagSet("bench", "Drive an S3 endpoint: PUT distinct keys for --duration at --concurrency,\n"+
		"then GET them back, for each --size; print ops/s, MiB/s, p50/p90/p99 latency and errors.")
	d := bench.DefaultConfig()
	e := c.getenv
	cfg := d
	var sizes, ops listFlag
	var labDir string
	fs.StringVar(&cfg.Endpoint, "endpoint", e.str("PANGEA_ENDPOINT", ""), "S3 endpoint `URL`, e.g. http://127.0.0.1:9000 (env PANGEA_ENDPOINT)")
	fs.StringVar(&cfg.AccessKey, "access-key", e.str("PANGEA_ACCESS_KEY", d.AccessKey), "access `key` (env PANGEA_ACCESS_KEY)")
	fs.StringVar(&cfg.SecretKey, "secret-key", e.str("PANGEA_SECRET_KEY", d.SecretKey), "secret `key` (env PANGEA_SECRET_KEY)")
	fs.StringVar(&cfg.Region, "region", e.str("PANGEA_REGION", d.Region), "signing `region` (env PANGEA_REGION)")
	fs.StringVar(&cfg.Bucket, "bucket", e.str("PANGEA_BENCH_BUCKET", d.Bucket), "`bucket`, created if missing (env PANGEA_BENCH_BUCKET)")
	fs.Var(&sizes, "size", "object `size`: 4KiB, 1MiB ...; repeatable or comma separated (default 4KiB)")
	fs.Var(&ops, "op", "`ops` to run: put, get or put,get (default put,get)")
	fs.IntVar(&cfg.Concurrency, "concurrency", d.Concurrency, "concurrent requests")
	fs.DurationVar(&cfg.Duration, "duration", d.Duration, "`duration` of each op at each size")
	fs.StringVar(&labDir, "lab", e.str("PANGEA_LAB", ""), "read endpoint and credentials from `DIR`/lab.json (env PANGEA_LAB)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}

	if labDir != "" {
		lf, err := labfile.Read(labDir)
		if err != nil {
			fmt.Fprintf(c.stderr, "pangea bench: %v (is `pangea lab --data %s` running?)\n", err, labDir)
			return 1
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["endpoint"] {
			cfg.Endpoint = lf.Endpoints.Global
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
	if len(sizes) == 0 {
		sizes = listFlag{"4KiB"}
	}
	var err error
	if cfg.Sizes, err = bench.ParseSizes(sizes); err != nil {
		fmt.Fprintf(c.stderr, "pangea bench: %v\n", err)
		return 2
	}
	if len(ops) == 0 {
		ops = listFlag{"put,get"}
	}
	cfg.Ops = nil
	for _, v := range ops {
		for _, op := range strings.Split(v, ",") {
			if op = strings.ToLower(strings.TrimSpace(op)); op != "" {
				cfg.Ops = append(cfg.Ops, op)
			}
		}
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(c.stderr, "pangea bench: %v\n", err)
		return 2
	}
	cfg.Progress = c.stdout

	var sizeNames []string
	for _, s := range cfg.Sizes {
		sizeNames = append(sizeNames, bench.FormatSize(s))
	}
	fmt.Fprintf(c.stdout, "pangea bench: endpoint=%s region=%s bucket=%s ops=%s sizes=%s concurrency=%d duration=%s\n",
		cfg.Endpoint, cfg.Region, cfg.Bucket, strings.Join(cfg.Ops, ","), strings.Join(sizeNames, ","),
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

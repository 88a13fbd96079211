package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// TestBenchReplication_TwoWay runs the bench on a tiny load, two-way between
// the default pair: every written version reaches the other region and is
// counted once, the lag percentiles are positive and ordered, both PUT phases
// ran and the report compares them, in text and in JSON.
func TestBenchReplication_TwoWay(t *testing.T) {
	cfg := defaultReplBenchConfig()
	cfg.Rate, cfg.Duration, cfg.Size, cfg.Writers = 40, 2*time.Second, 1<<10, 4
	cfg.Drain = 60 * time.Second
	cfg.DataDir, cfg.NoFsync = t.TempDir(), true
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var progress bytes.Buffer
	cfg.Progress, cfg.ProgressEvery = &progress, time.Second

	rep, err := runReplBench(t.Context(), cfg)
	if err != nil {
		t.Fatalf("bench: %v\nprogress:\n%s", err, progress.String())
	}
	t.Logf("progress:\n%s", progress.String())
	if !rep.Drained || !rep.complete() {
		t.Errorf("not complete: drained=%v, with %+v, without %+v", rep.Drained, rep.With, rep.Without)
	}
	if len(rep.Pairs) != 2 {
		t.Fatalf("%d pairs, want 2: %+v", len(rep.Pairs), rep.Pairs)
	}
	want := map[string]bool{"us-east-1 -> eu-west-1": true, "eu-west-1 -> us-east-1": true}
	written := 0
	for _, p := range rep.Pairs {
		name := p.Source + " -> " + p.Destination
		if !want[name] {
			t.Errorf("unexpected pair %s", name)
		}
		delete(want, name)
		written += p.Written
		if p.Written == 0 || p.Replicated != p.Written || p.Missing != 0 {
			t.Errorf("%s: written %d, replicated %d, missing %d: want every written version replicated", name, p.Written, p.Replicated, p.Missing)
		}
		if !(p.P50 > 0 && p.P50 <= p.P99 && p.P99 <= p.P9999 && p.P9999 <= p.Max) {
			t.Errorf("%s: lag p50 %v p99 %v p99.99 %v max %v: want positive and ordered", name, p.P50, p.P99, p.P9999, p.Max)
		}
		if p.P99Target != msDuration(35*time.Millisecond+100*time.Millisecond) || p.P9999Target != msDuration(time.Second) {
			t.Errorf("%s: targets %v and %v, want 135ms and 1s", name, p.P99Target, p.P9999Target)
		}
	}
	// Each source's versions go to the one other region.
	if int64(written) != rep.With.OK {
		t.Errorf("pairs hold %d written versions, the PUT phase wrote %d", written, rep.With.OK)
	}
	for _, ph := range []replPhase{rep.Without, rep.With} {
		if ph.OK == 0 || ph.Errors != 0 || ph.PutsPerSec <= 0 || ph.P50 <= 0 || ph.P50 > ph.P99 {
			t.Errorf("phase %+v: want PUTs without errors and ordered latencies", ph)
		}
	}
	if rep.ThroughputPct <= 0 || rep.ThroughputTarget != 85 {
		t.Errorf("throughput comparison %.1f%% (target %.0f%%)", rep.ThroughputPct, rep.ThroughputTarget)
	}
	if rep.Setup.Links[0].OneWay != msDuration(35*time.Millisecond) {
		t.Errorf("setup link %+v, want one-way 35ms", rep.Setup.Links)
	}
	if !strings.Contains(progress.String(), "phase 2/2 (replication on)") || !strings.Contains(progress.String(), "replicated") {
		t.Errorf("progress lacks the replication phase:\n%s", progress.String())
	}

	var text bytes.Buffer
	writeReplSetup(&text, rep.Setup)
	writeReplReport(&text, rep)
	for _, s := range []string{"one-way 35.0ms", "us-east-1 -> eu-west-1", "eu-west-1 -> us-east-1", "throughput with replication / without", "P99.99"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, text.String())
		}
	}
	t.Logf("report:\n%s", text.String())

	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back replReport
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatalf("JSON report does not read back: %v\n%s", err, js)
	}
	if len(back.Pairs) != 2 || back.Pairs[0].Replicated != rep.Pairs[0].Replicated || back.ThroughputPct != rep.ThroughputPct {
		t.Errorf("JSON report %s", js)
	}
}

// TestBenchReplication_Flags checks the defaults and that bad flags are usage
// errors (exit 2) saying what to change.
func TestBenchReplication_Flags(t *testing.T) {
	c, _, errb := testCLI(nil)
	cfg, opts, code, ok := c.benchReplConfig(nil)
	if !ok {
		t.Fatalf("defaults: exit %d: %s", code, errb.String())
	}
	if strings.Join(cfg.Regions, ",") != "us-east-1,eu-west-1" || cfg.Mode != "two-way" || cfg.Size != 4<<10 || cfg.Rate != 200 ||
		cfg.Writers != 16 || cfg.Duration != 30*time.Second || cfg.Drain != 60*time.Second || cfg.NoFsync || opts.json {
		t.Errorf("defaults: %+v %+v", cfg, opts)
	}
	cfg, opts, code, ok = c.benchReplConfig([]string{"--regions", "us-east-1, eu-west-1,ap-southeast-2", "--mode", "one-way",
		"--size", "1MiB", "--rate", "12.5", "--writers", "3", "--duration", "5s", "--drain", "9s", "--no-fsync", "--json"})
	if !ok {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if len(cfg.Regions) != 3 || cfg.Mode != "one-way" || cfg.Size != 1<<20 || cfg.Rate != 12.5 || cfg.Writers != 3 ||
		cfg.Duration != 5*time.Second || cfg.Drain != 9*time.Second || !cfg.NoFsync || !opts.json {
		t.Errorf("parsed: %+v %+v", cfg, opts)
	}
	if got := len(cfg.pairs()); got != 2 {
		t.Errorf("one-way over 3 regions: %d pairs, want 2", got)
	}

	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--regions", "us-east-1"}, "--regions lists 1 regions"},
		{[]string{"--regions", "us-east-1,mars-1"}, `"mars-1" is not a region of the default topology`},
		{[]string{"--regions", "us-east-1,us-east-1"}, "listed twice"},
		{[]string{"--regions", "us-east-1,eu-west-1,ap-southeast-2,us-west-2"}, "--regions lists 4 regions"},
		{[]string{"--mode", "sideways"}, `--mode "sideways"`},
		{[]string{"--size", "lots"}, "--size"},
		{[]string{"--size", "0"}, "--size 0B"},
		{[]string{"--rate", "0"}, "--rate 0"},
		{[]string{"--rate", "-3"}, "--rate -3"},
		{[]string{"--writers", "0"}, "--writers 0"},
		{[]string{"--duration", "0s"}, "--duration 0s"},
		{[]string{"--drain", "-1s"}, "--drain -1s"},
		{[]string{"--rate", "0.1", "--duration", "1s"}, "schedules no PUT"},
		{[]string{"--log-level", "loud"}, "log level"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--bogus"}, "flag provided but not defined"},
	}
	for _, tc := range cases {
		c, _, errb := testCLI(nil)
		if _, _, code, ok := c.benchReplConfig(tc.args); ok || code != 2 {
			t.Errorf("%v: ok=%v exit %d, want a usage error", tc.args, ok, code)
		}
		if !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, errb.String(), tc.want)
		}
	}

	// Through the command: `pangea bench replication` dispatches here.
	c, _, errb = testCLI(nil)
	if code := c.run(t.Context(), []string{"bench", "replication", "--mode", "sideways"}); code != 2 || !strings.Contains(errb.String(), "--mode") {
		t.Errorf("pangea bench replication --mode sideways: exit %d, stderr %q", code, errb.String())
	}
}

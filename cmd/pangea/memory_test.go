package main

import (
	"io"
	"log/slog"
	"runtime/debug"
	"testing"

	"github.com/pangea-s3/pangea/node"
)

// TestIdleTrimmer_TrimsTwiceWhenIdleNeverWhenBusy drives the trimmer with a fake
// allocation counter: it trims on the first two idle looks after activity (the
// second empties sync.Pool's victim cache), then leaves an idle process alone,
// and never trims while the process allocates.
func TestIdleTrimmer_TrimsTwiceWhenIdleNeverWhenBusy(t *testing.T) {
	var allocated uint64
	trims := 0
	tr := &idleTrimmer{
		allocated: func() uint64 { return allocated },
		free:      func() { trims++; allocated += 100 }, // a collection allocates a little
		idleBytes: 1 << 20,
	}
	steps := []struct {
		alloc uint64 // allocated before the look
		trim  bool
	}{
		{64 << 20, false}, // busy
		{10, true},        // idle: trim
		{10, true},        // idle: trim again (the pool's victims)
		{10, false},       // idle, trimmed already
		{10, false},
		{8 << 20, false}, // busy again
		{0, true},
		{0, true},
		{0, false},
	}
	for i, s := range steps {
		allocated += s.alloc
		if got := tr.look(); got != s.trim {
			t.Fatalf("look %d (allocated %d since the last): trimmed %v, want %v", i, s.alloc, got, s.trim)
		}
	}
	if trims != 4 {
		t.Fatalf("%d trims, want 4", trims)
	}
}

func TestMemoryPolicy_SetsTheCollectorUnlessTheEnvironmentDoes(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	prevGC := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(1 << 62)
	defer func() { debug.SetGCPercent(prevGC); debug.SetMemoryLimit(prevLimit) }()
	noEnv := func(string) string { return "" }

	restore := memoryPolicy(Config{GCPercent: 300}, 2, noEnv, logger)
	gc, limit := collectorSettings()
	if want := int64(memoryBase + 2*memoryPerBudget*node.DefaultBodyBudget()); gc != 300 || limit != want {
		t.Fatalf("GOGC %d, limit %d; want 300 and the formula for 2 members, %d", gc, limit, want)
	}
	restore()
	if gc, limit := collectorSettings(); gc != 100 || limit != 1<<62 {
		t.Fatalf("after restore: GOGC %d, limit %d", gc, limit)
	}

	// A lab's nine members: the formula's cap.
	restore = memoryPolicy(Config{GCPercent: 300}, 9, noEnv, logger)
	if _, limit := collectorSettings(); limit != memoryCap || memoryBase+9*memoryPerBudget*node.DefaultBodyBudget() <= memoryCap {
		t.Fatalf("9 members: limit %d, want the cap %d", limit, memoryCap)
	}
	restore()

	restore = memoryPolicy(Config{GCPercent: 300, MemoryLimit: 256 << 20}, 1, noEnv, logger)
	if _, limit := collectorSettings(); limit != 256<<20 {
		t.Fatalf("--memory-limit 256MiB: limit %d", limit)
	}
	restore()

	// GOGC and GOMEMLIMIT set by the operator are the runtime's: left alone.
	env := map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}
	restore = memoryPolicy(Config{GCPercent: 300, MemoryLimit: 256 << 20}, 1, func(k string) string { return env[k] }, logger)
	if gc, limit := collectorSettings(); gc != 100 || limit != 1<<62 {
		t.Fatalf("with GOGC and GOMEMLIMIT set: GOGC %d, limit %d changed", gc, limit)
	}
	restore()

	// none: no limit.
	restore = memoryPolicy(Config{GCPercent: 300, MemoryLimit: -1}, 1, noEnv, logger)
	if _, limit := collectorSettings(); limit != 1<<62 {
		t.Fatalf("--memory-limit none: limit %d", limit)
	}
	restore()
}

func TestParseMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"auto", 0, false}, {"", 0, false}, {"none", -1, false}, {"OFF", -1, false},
		{"512MiB", 512 << 20, false}, {"2GiB", 2 << 30, false}, {"268435456", 256 << 20, false}, {"65536KiB", 64 << 20, false},
		{"1MiB", 0, true}, {"-5MiB", 0, true}, {"lots", 0, true}, {"12TB", 0, true}, {"99999999999GiB", 0, true},
	} {
		got, err := parseMemoryLimit(c.in)
		if (err != nil) != c.bad || (!c.bad && got != c.want) {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d (error: %v)", c.in, got, err, c.want, c.bad)
		}
	}
	for n, want := range map[int64]string{-1: "none", 1 << 62: "4294967296GiB", 96 << 20: "96MiB", 1536: "1536B", 3 << 10: "3KiB"} {
		if got := formatLimit(n); got != want {
			t.Errorf("formatLimit(%d) = %s, want %s", n, got, want)
		}
	}
}

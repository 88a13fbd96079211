package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"time"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/bytesize"
	"github.com/pangea-s3/pangea/node"
)

// A process's memory is bounded by design (docs/configuration.md, "Memory"):
//
//   - The request bodies a member works on at once are bounded by its body budget
//     (node.DefaultBodyBudget: four 1 MiB chunks per CPU); an upload waiting for
//     its turn holds no buffer, and a chunk's buffer is at most twice its share.
//     What a chunk costs on its way to the disk (its encoded record, the store
//     transaction's pages, the raft entry) is a small multiple of it, so the live
//     heap of a loaded member is a few body budgets, whatever the number of
//     uploads.
//   - Each connection costs its goroutine's stack and net/http's buffers, a few
//     tens of KiB (measured in docs/benchmarks.md).
//   - The collector then decides how far above the live heap the heap may grow.
//     Go's default (GOGC=100: twice the live heap) made a loaded member collect so
//     often that 1 MiB PUTs cost 20% more CPU; GOGC=400 (defaultGCPercent) costs
//     five times the live heap instead, so a soft limit (the memory formula,
//     autoMemoryLimit) caps it: the collector runs more often only when the heap
//     nears the limit.
//   - Once idle, the process gives what it no longer uses back to the system
//     (idleTrimmer) instead of keeping the heap of its busiest moment until the
//     runtime's own scavenger gets to it.
const (
	defaultGCPercent = 400
	// memoryBase and memoryPerBudget make the memory formula: memoryBase plus
	// memoryPerBudget body budgets per member in the process.
	memoryBase      = 48 << 20
	memoryPerBudget = 8
	// memoryCap caps the formula for a process of many members (the lab: 9),
	// which share its CPUs and rarely all take uploads at once. Measured on the
	// default lab under 16 concurrent 1 MiB or 64 KiB transfers: no loss of
	// throughput against the 624 MiB of the uncapped formula, and peak RSS
	// 468 MiB instead of 810-995 MiB (docs/benchmarks.md, "The global tier").
	memoryCap = 256 << 20

	trimEvery = 10 * time.Second
	// trimIdleRate: a process that allocated less than this many bytes per second
	// over the last trimEvery is idle.
	trimIdleRate = 1 << 20
)

// autoMemoryLimit is the memory formula: the soft memory limit of a process
// serving members region members with the default body budget, at most
// memoryCap.
func autoMemoryLimit(members int) int64 {
	return min(memoryCap, memoryBase+int64(members)*memoryPerBudget*int64(node.DefaultBodyBudget()))
}

// memoryPolicy sets the collector of this process for members members, unless
// GOGC or GOMEMLIMIT in the environment set them already (the Go runtime read
// them; they win). It returns a func that restores the previous settings (tests
// serve many times in one process).
func memoryPolicy(cfg Config, members int, getenv func(string) string, logger *slog.Logger) (restore func()) {
	gcPercent, limit := cfg.GCPercent, cfg.MemoryLimit
	if limit == 0 {
		limit = autoMemoryLimit(members)
	}
	prevGC, prevLimit := -2, int64(-2) // unchanged
	if v := getenv("GOGC"); v != "" {
		logger.Info("collector pace from the environment", "GOGC", v)
	} else {
		prevGC = debug.SetGCPercent(gcPercent)
	}
	if v := getenv("GOMEMLIMIT"); v != "" {
		logger.Info("memory limit from the environment", "GOMEMLIMIT", v)
	} else if limit > 0 {
		prevLimit = debug.SetMemoryLimit(limit)
	}
	gc, lim := collectorSettings()
	logger.Info("memory policy", "gc_percent", gc, "memory_limit", formatLimit(lim),
		"members", members, "body_budget_per_member", bytesize.Format(int64(node.DefaultBodyBudget())))
	return func() {
		if prevGC != -2 {
			debug.SetGCPercent(prevGC)
		}
		if prevLimit != -2 {
			debug.SetMemoryLimit(prevLimit)
		}
	}
}

// collectorSettings reads the collector's pace (GOGC) and soft memory limit in
// effect, without changing them.
func collectorSettings() (gcPercent int64, limit int64) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		gcPercent = int64(s[0].Value.Uint64())
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		limit = int64(min(s[1].Value.Uint64(), 1<<63-1))
	}
	return gcPercent, limit
}

// idleTrimmer gives the heap's unused memory back to the system once the process
// is idle: after a load, the heap of its busiest moment (and the chunk buffers
// pooled then) would otherwise stay mapped until the runtime's next forced
// collection and its slow background scavenger, minutes later. Every trimEvery it
// looks at how much was allocated since its last look; on the first two idle looks
// after activity it collects and returns free memory (debug.FreeOSMemory; twice,
// because the first collection only moves sync.Pool's buffers to its victim
// cache). A busy process is never trimmed: its collector's pace already bounds it.
type idleTrimmer struct {
	allocated func() uint64 // bytes allocated since the process started
	free      func()        // collect and return free memory to the system
	idleBytes uint64        // less than this allocated in one look: idle

	last    uint64
	trimmed int // trims since the last busy look
}

func newIdleTrimmer() *idleTrimmer {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	t := &idleTrimmer{
		allocated: func() uint64 {
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return 0
			}
			return sample[0].Value.Uint64()
		},
		free:      debug.FreeOSMemory,
		idleBytes: uint64(trimIdleRate * trimEvery.Seconds()),
	}
	t.last = t.allocated()
	return t
}

// look is one look: it reports whether it trimmed.
func (t *idleTrimmer) look() bool {
	now := t.allocated()
	busy := now-t.last >= t.idleBytes
	t.last = now
	if busy {
		t.trimmed = 0
		return false
	}
	if t.trimmed >= 2 {
		return false
	}
	t.free()
	t.trimmed++
	t.last = t.allocated() // what free allocated is not activity
	return true
}

// run looks every interval until ctx ends.
func (t *idleTrimmer) run(ctx context.Context, every time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if t.look() {
				logger.Debug("idle: returned free memory to the system")
			}
		}
	}
}

// maxMemoryLimit is the largest --memory-limit: 1 PiB, far beyond any machine.
const maxMemoryLimit = 1 << 50

// parseMemoryLimit parses --memory-limit: auto (0), none (-1) or a size.
func parseMemoryLimit(v string) (int64, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "auto", "":
		return 0, nil
	case "none", "off":
		return -1, nil
	}
	n, err := bytesize.Parse(v, maxMemoryLimit)
	if err != nil {
		return 0, fmt.Errorf("%w: want auto, none, or a size such as 256MiB or 1GiB", err)
	}
	if n < 16<<20 {
		return 0, fmt.Errorf("%q: under 16MiB, a process could not hold even its body budget", v)
	}
	return n, nil
}

// formatLimit prints a memory limit as --memory-limit takes it, or "none" for no
// limit.
func formatLimit(n int64) string {
	if n < 0 || n == 1<<63-1 {
		return "none"
	}
	return bytesize.Format(n)
}

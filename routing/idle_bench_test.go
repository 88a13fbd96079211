package routing

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkIdleCPU_12Pools measures the CPU the lab's gossip costs at rest: 9
// members and 3 edges in one process, joined, then left alone for 10 s. It
// reports the process's CPU time (user + system, getrusage) as a percentage of
// one core. Run it with:
//
//	go test ./routing/ -run '^$' -bench IdleCPU -benchtime 1x
func BenchmarkIdleCPU_12Pools(b *testing.B) {
	const idle = 10 * time.Second
	var pools []*Pool
	for i := range 12 {
		region := []string{"eu-west-1", "us-east-1", "ap-southeast-2"}[i%3]
		cfg := testConfig(b, fmt.Sprintf("p%02d", i), region, region+"-loc")
		cfg.Logger = discardLogger()
		if i >= 9 {
			cfg.Role = RoleEdge
		}
		if i > 0 {
			cfg.Seeds = []string{pools[0].GossipAddr()}
		}
		pools = append(pools, startPool(b, cfg))
	}
	waitAllAlive(b, pools, pools)
	for b.Loop() {
		before := cpuTime(b)
		start := time.Now()
		time.Sleep(idle) // the measurement is of a pool left alone: nothing to poll
		used, wall := cpuTime(b)-before, time.Since(start)
		b.ReportMetric(100*used.Seconds()/wall.Seconds(), "%cpu")
		b.Logf("12 idle pools: %v CPU in %v of wall time (%.2f%% of one core)", used, wall.Round(time.Millisecond), 100*used.Seconds()/wall.Seconds())
	}
}

func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package main

import (
	"strings"
	"testing"
	"time"
)

// TestBenchMRAP_Report runs pangea bench mrap's measurement small: both paths
// measured, the near region taken down, GETs through the MRAP served by the
// far one; the report prints both phases. (Figures are not asserted: speed
// targets live in the benchmark's output.)
func TestBenchMRAP_Report(t *testing.T) {
	rep, err := runMRAPBench(t.Context(), mrapBenchConfig{Requests: 20, Failover: 30 * time.Second, NoFsync: true, DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("runMRAPBench: %v", err)
	}
	if rep.Direct.N != 20 || rep.ViaMRAP.N != 20 || rep.Direct.P50 <= 0 || rep.ViaMRAP.P50 > rep.ViaMRAP.Max {
		t.Fatalf("overhead phase %+v %+v", rep.Direct, rep.ViaMRAP)
	}
	if rep.FailoverAfter <= 0 || rep.GETsDuringSwitch < 1 {
		t.Fatalf("failover not measured: %+v", rep)
	}
	var out strings.Builder
	writeMRAPReport(&out, rep)
	for _, want := range []string{"through the MRAP (SigV4A)", "added by the MRAP at p50", "Failover: us-east-1 down", "served by eu-west-1 after"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("report lacks %q:\n%s", want, out.String())
		}
	}
}

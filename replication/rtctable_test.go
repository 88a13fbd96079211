package replication

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestWriteTable_Rows(t *testing.T) {
	st := []RuleStatus{
		{SourceRegion: "eu-west", Dest: "us-east", Rule: "logs", RTC: true, Replicated: 1024, Failed: 2, MissedThreshold: 3,
			PendingOps: 12, PendingBytes: 1258291, OldestPending: 190 * time.Second,
			LagSamples: 50, LagP50: 38 * time.Millisecond, LagP99: 1200 * time.Millisecond, LagMax: 190 * time.Second},
		{SourceRegion: "eu-west", Dest: "us-east", Rule: "", Replicated: 7},
	}
	ev := []Event{
		{Time: time.Date(2026, 12, 8, 9, 4, 5, 0, time.UTC), Type: EventOperationReplicatedAfterThreshold, Dest: "us-east",
			Rule: "logs", Bucket: "src", Key: "a/b.txt", VersionID: "v9", Latency: 16 * time.Minute},
		{Time: time.Date(2026, 12, 8, 9, 3, 0, 0, time.FixedZone("x", 3600)), Type: EventOperationFailedReplication, Dest: "us-east",
			Rule: "logs", Bucket: "src", Key: "c\td", VersionID: "v8", Reason: "checksum mismatch", Latency: 2 * time.Second},
	}
	var b strings.Builder
	WriteTable(&b, st, ev)
	out := b.String()
	t.Log("\n" + out)

	lines := strings.Split(out, "\n")
	fields := func(prefix string) []string {
		t.Helper()
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1)
			}
		}
		t.Fatalf("no line starting %q in\n%s", prefix, out)
		return nil
	}
	want := [][]string{
		{"SOURCE → DEST", "RULE", "RTC", "LAG p50/p99/max", "PENDING", "OLDEST", "REPLICATED", "FAILED", "MISSED"},
		{"eu-west → us-east", "logs", "yes", "38ms/1.2s/3m10s", "12 (1.2 MiB)", "3m10s", "1024", "2", "3"},
		{"eu-west → us-east", "-", "no", "-", "0", "-", "7", "0", "-"},
	}
	var rows [][]string
	for _, l := range lines[:3] {
		rows = append(rows, regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1))
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d: %q, want %q", i, rows[i], want[i])
		}
	}
	// The columns line up: each header starts where its values start.
	if strings.Index(lines[0], "REPLICATED") != strings.Index(lines[1], "1024") {
		t.Errorf("REPLICATED column misaligned:\n%s\n%s", lines[0], lines[1])
	}

	if !strings.Contains(out, "\nRecent events\n") {
		t.Fatalf("no events heading in\n%s", out)
	}
	if got := strings.Join(fields("09:04:05"), "|"); got != "09:04:05|OperationReplicatedAfterThreshold|us-east|logs|src/a/b.txt|v9|latency 16m00s" {
		t.Errorf("event row %q", got)
	}
	if got := strings.Join(fields("08:03:00"), "|"); got != "08:03:00|OperationFailedReplication|us-east|logs|src/c d|v8|checksum mismatch, age 2.0s" {
		t.Errorf("event row %q", got)
	}
}

func TestWriteTable_Empty(t *testing.T) {
	var b strings.Builder
	WriteTable(&b, nil, nil)
	out := b.String()
	if !strings.Contains(out, "No replication rules are active on this region's leader.") ||
		!strings.Contains(out, "no events") || strings.Contains(out, "SOURCE") {
		t.Fatalf("empty table:\n%s", out)
	}
}

func TestWriteTable_FromTracker(t *testing.T) {
	tr := NewTracker(TrackerConfig{SourceRegion: "eu", Threshold: time.Minute})
	tr.Pending(rtcOp("us", "r1", 1, 2048, 0, true))
	tr.Pending(rtcOp("us", "r1", 2, 512, 0, true))
	tr.Acked("us", 1, rtcT0.Add(250*time.Millisecond))
	tr.Check(rtcT0.Add(2 * time.Minute))
	var b strings.Builder
	WriteTable(&b, tr.Snapshot(rtcT0.Add(2*time.Minute)), tr.Events(10))
	out := b.String()
	for _, want := range []string{"eu → us", "250ms/250ms/250ms", "1 (512 B)", "2m00s", "OperationMissedThreshold", "src/k2", "age 2m00s"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestTableHumanUnits(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {-time.Second, "0s"}, {850 * time.Microsecond, "850µs"}, {38 * time.Millisecond, "38ms"},
		{999*time.Millisecond + 600*time.Microsecond, "1.0s"}, {1240 * time.Millisecond, "1.2s"},
		{9960 * time.Millisecond, "10s"}, {42 * time.Second, "42s"}, {59600 * time.Millisecond, "1m00s"},
		{190 * time.Second, "3m10s"}, {2*time.Hour + 5*time.Minute, "2h05m"}, {76 * time.Hour, "3d04h"},
	} {
		if got := humanDuration(c.d); got != c.want {
			t.Errorf("humanDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1258291, "1.2 MiB"}, {1048575, "1.0 MiB"},
		{3 << 30, "3.0 GiB"}, {5 << 40, "5.0 TiB"}, {5 << 50, "5120.0 TiB"},
	} {
		if got := humanBytes(c.n); got != c.want {
			t.Errorf("humanBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

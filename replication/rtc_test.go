package replication

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// rtcT0 is the time the tests' versions are written around.
var rtcT0 = time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)

// rtcOp returns an operation of rule towards dest written at rtcT0 plus w.
func rtcOp(dest, rule string, seq uint64, bytes int64, w time.Duration, rtc bool) Op {
	return Op{
		Dest: dest, Rule: rule, DestBucket: "dst-" + rule, Bucket: "src", Key: fmt.Sprintf("k%d", seq),
		VersionID: fmt.Sprintf("v%d", seq), Seq: seq, Bytes: bytes, Written: rtcT0.Add(w), RTC: rtc,
	}
}

// ruleStatus returns the Snapshot entry of rule towards dest, failing without one.
func ruleStatus(t *testing.T, tr *Tracker, now time.Time, dest, rule string) RuleStatus {
	t.Helper()
	for _, s := range tr.Snapshot(now) {
		if s.Dest == dest && s.Rule == rule {
			return s
		}
	}
	t.Fatalf("no status for %s/%q", dest, rule)
	return RuleStatus{}
}

// slogTo returns a logger writing text to w.
func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// eventTypesOf returns the types of events, in order.
func eventTypesOf(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type)
	}
	return out
}

func TestTracker_LatencyAndPercentiles(t *testing.T) {
	tr := NewTracker(TrackerConfig{SourceRegion: "eu"})
	for i := uint64(1); i <= 100; i++ {
		tr.Pending(rtcOp("us", "r1", i, 10, 0, true))
	}
	// One at a time, op i replicated i ms after its write.
	for i := uint64(1); i <= 100; i++ {
		tr.Acked("us", i, rtcT0.Add(time.Duration(i)*time.Millisecond))
	}
	s := ruleStatus(t, tr, rtcT0.Add(time.Second), "us", "r1")
	if s.Replicated != 100 || s.PendingOps != 0 || s.PendingBytes != 0 || s.OldestPending != 0 {
		t.Fatalf("status %+v", s)
	}
	if s.LagSamples != 100 || s.LagP50 != 50*time.Millisecond || s.LagP99 != 99*time.Millisecond || s.LagMax != 100*time.Millisecond {
		t.Fatalf("lags %d %v %v %v, want 100 50ms 99ms 100ms", s.LagSamples, s.LagP50, s.LagP99, s.LagMax)
	}
	if s.SourceRegion != "eu" || s.DestBucket != "dst-r1" || !s.RTC {
		t.Fatalf("status %+v", s)
	}

	// A window of 10 keeps the latest ten latencies only.
	tr = NewTracker(TrackerConfig{Window: 10})
	for i := uint64(1); i <= 25; i++ {
		tr.Pending(rtcOp("us", "r1", i, 10, 0, false))
		tr.Acked("us", i, rtcT0.Add(time.Duration(i)*time.Second))
	}
	s = ruleStatus(t, tr, rtcT0, "us", "r1")
	if s.LagSamples != 10 || s.LagP50 != 20*time.Second || s.LagMax != 25*time.Second || s.Replicated != 25 {
		t.Fatalf("windowed status %+v", s)
	}

	// A clock behind the write does not make a negative latency.
	tr.Pending(rtcOp("us", "r1", 26, 10, time.Hour, false))
	tr.Acked("us", 26, rtcT0)
	if s := ruleStatus(t, tr, rtcT0, "us", "r1"); s.LagP50 < 0 || s.Replicated != 26 {
		t.Fatalf("status %+v", s)
	}
}

func TestTracker_AckCumulativeIgnoresDuplicates(t *testing.T) {
	tr := NewTracker(TrackerConfig{SourceRegion: "eu"})
	tr.Pending(rtcOp("us", "r1", 1, 100, 0, true))
	tr.Pending(rtcOp("us", "r1", 2, 200, time.Second, true))
	tr.Pending(rtcOp("us", "r2", 3, 300, 2*time.Second, true))
	tr.Pending(rtcOp("us", "r1", 5, 500, 3*time.Second, true))
	// Out of order and duplicates, as after a reconnect: ignored.
	tr.Pending(rtcOp("us", "r1", 2, 200, time.Second, true))
	tr.Pending(rtcOp("us", "r1", 4, 400, time.Second, true))
	tr.Pending(rtcOp("us", "r1", 5, 500, time.Second, true))
	// Another destination has sequences of its own.
	tr.Pending(rtcOp("ap", "r1", 1, 7, 0, true))

	now := rtcT0.Add(10 * time.Second)
	if s := ruleStatus(t, tr, now, "us", "r1"); s.PendingOps != 3 || s.PendingBytes != 800 || s.OldestPending != 10*time.Second {
		t.Fatalf("r1 %+v", s)
	}
	if s := ruleStatus(t, tr, now, "us", "r2"); s.PendingOps != 1 || s.PendingBytes != 300 || s.OldestPending != 8*time.Second {
		t.Fatalf("r2 %+v", s)
	}

	tr.Acked("us", 2, rtcT0.Add(4*time.Second))
	tr.Acked("us", 2, rtcT0.Add(5*time.Second)) // again
	tr.Acked("us", 1, rtcT0.Add(6*time.Second)) // behind
	r1 := ruleStatus(t, tr, now, "us", "r1")
	if r1.Replicated != 2 || r1.PendingOps != 1 || r1.PendingBytes != 500 || r1.OldestPending != 7*time.Second {
		t.Fatalf("r1 after ack through 2: %+v", r1)
	}
	if r1.LagSamples != 2 || r1.LagMax != 4*time.Second || r1.LagP50 != 3*time.Second {
		t.Fatalf("r1 lags %+v", r1)
	}
	if s := ruleStatus(t, tr, now, "us", "r2"); s.Replicated != 0 || s.PendingOps != 1 {
		t.Fatalf("r2 after ack through 2: %+v", s)
	}
	if s := ruleStatus(t, tr, now, "ap", "r1"); s.Replicated != 0 || s.PendingOps != 1 {
		t.Fatalf("ap unaffected: %+v", s)
	}

	// An acknowledgement past every pending one (entries skipped for this
	// destination) moves the mark: older sequences are not tracked later.
	tr.Acked("us", 9, rtcT0.Add(6*time.Second))
	tr.Pending(rtcOp("us", "r1", 8, 1, 0, true))
	r1 = ruleStatus(t, tr, now, "us", "r1")
	if r1.Replicated != 3 || r1.PendingOps != 0 || r1.PendingBytes != 0 || r1.OldestPending != 0 {
		t.Fatalf("r1 after ack through 9: %+v", r1)
	}
	if s := ruleStatus(t, tr, now, "us", "r2"); s.Replicated != 1 || s.PendingOps != 0 {
		t.Fatalf("r2 after ack through 9: %+v", s)
	}
	if ev := tr.Events(0); len(ev) != 0 {
		t.Fatalf("events %v", ev)
	}
}

func TestTracker_FailedIsNotReplicated(t *testing.T) {
	tr := NewTracker(TrackerConfig{SourceRegion: "eu"})
	tr.Pending(rtcOp("us", "r1", 1, 10, 0, true))
	tr.Pending(rtcOp("us", "r1", 2, 20, 0, true))
	tr.Pending(rtcOp("us", "plain", 3, 30, 0, false))
	tr.Pending(rtcOp("us", "r1", 4, 40, 0, true))

	tr.Failed("us", 2, "checksum mismatch", rtcT0.Add(time.Second))
	tr.Failed("us", 3, "bucket gone", rtcT0.Add(2*time.Second)) // a rule without RTC too
	tr.Failed("us", 99, "unknown", rtcT0)                       // ignored
	tr.Failed("us", 2, "again", rtcT0)                          // ignored

	r1 := ruleStatus(t, tr, rtcT0, "us", "r1")
	if r1.Failed != 1 || r1.PendingOps != 2 || r1.PendingBytes != 50 {
		t.Fatalf("r1 %+v", r1)
	}
	tr.Acked("us", 4, rtcT0.Add(3*time.Second))
	r1 = ruleStatus(t, tr, rtcT0, "us", "r1")
	if r1.Replicated != 2 || r1.Failed != 1 || r1.PendingOps != 0 || r1.PendingBytes != 0 || r1.LagSamples != 2 {
		t.Fatalf("r1 after ack %+v", r1)
	}
	plain := ruleStatus(t, tr, rtcT0, "us", "plain")
	if plain.Replicated != 0 || plain.Failed != 1 || plain.PendingOps != 0 || plain.LagSamples != 0 {
		t.Fatalf("plain %+v", plain)
	}

	ev := tr.Events(0)
	if len(ev) != 2 {
		t.Fatalf("events %+v", ev)
	}
	want := Event{Time: rtcT0.Add(2 * time.Second), Type: EventOperationFailedReplication, SourceRegion: "eu",
		Dest: "us", Rule: "plain", Bucket: "src", Key: "k3", VersionID: "v3", Seq: 3, Reason: "bucket gone",
		Latency: 2 * time.Second}
	if ev[0] != want {
		t.Fatalf("newest event %+v, want %+v", ev[0], want)
	}
	if ev[1].Type != EventOperationFailedReplication || ev[1].Seq != 2 || ev[1].Reason != "checksum mismatch" {
		t.Fatalf("older event %+v", ev[1])
	}
}

func TestTracker_ThresholdMissedOnceThenReplicatedAfter(t *testing.T) {
	tr := NewTracker(TrackerConfig{SourceRegion: "eu", Threshold: time.Minute})
	tr.Pending(rtcOp("us", "r1", 1, 10, 0, true))
	tr.Pending(rtcOp("us", "r1", 2, 10, 30*time.Second, true))

	tr.Check(rtcT0.Add(time.Minute)) // not more than the threshold yet
	if ev := tr.Events(0); len(ev) != 0 {
		t.Fatalf("events before the threshold: %+v", ev)
	}
	tr.Check(rtcT0.Add(61 * time.Second))
	tr.Check(rtcT0.Add(62 * time.Second))
	ev := tr.Events(0)
	if len(ev) != 1 || ev[0].Type != EventOperationMissedThreshold || ev[0].Seq != 1 || ev[0].Latency != 61*time.Second {
		t.Fatalf("events %+v", ev)
	}
	if s := ruleStatus(t, tr, rtcT0, "us", "r1"); s.MissedThreshold != 1 || s.ReplicatedAfterThreshold != 0 {
		t.Fatalf("status %+v", s)
	}

	// Op 2 is acknowledged within its threshold: no event for it.
	tr.Acked("us", 2, rtcT0.Add(80*time.Second))
	ev = tr.Events(0)
	if got := eventTypesOf(ev); strings.Join(got, ",") != EventOperationReplicatedAfterThreshold+","+EventOperationMissedThreshold {
		t.Fatalf("event types %v", got)
	}
	if ev[0].Seq != 1 || ev[0].Latency != 80*time.Second || !ev[0].Time.Equal(rtcT0.Add(80*time.Second)) {
		t.Fatalf("replicated after threshold %+v", ev[0])
	}
	s := ruleStatus(t, tr, rtcT0, "us", "r1")
	if s.MissedThreshold != 1 || s.ReplicatedAfterThreshold != 1 || s.Replicated != 2 {
		t.Fatalf("status %+v", s)
	}
	tr.Check(rtcT0.Add(time.Hour)) // nothing pending
	if n := len(tr.Events(0)); n != 2 {
		t.Fatalf("%d events after a late Check", n)
	}

	// Acknowledged past the threshold without a Check in between: it missed
	// it all the same.
	tr.Pending(rtcOp("us", "r1", 3, 10, 0, true))
	tr.Acked("us", 3, rtcT0.Add(5*time.Minute))
	tr.Check(rtcT0.Add(time.Hour))
	ev = tr.Events(2)
	if got := eventTypesOf(ev); strings.Join(got, ",") != EventOperationReplicatedAfterThreshold+","+EventOperationMissedThreshold || ev[0].Seq != 3 || ev[1].Seq != 3 {
		t.Fatalf("events %+v", ev)
	}
	if s := ruleStatus(t, tr, rtcT0, "us", "r1"); s.MissedThreshold != 2 || s.ReplicatedAfterThreshold != 2 {
		t.Fatalf("status %+v", s)
	}
}

func TestTracker_NonRTCRuleHasNoThresholdEvents(t *testing.T) {
	tr := NewTracker(TrackerConfig{Threshold: time.Minute})
	tr.Pending(rtcOp("us", "plain", 1, 10, 0, false))
	tr.Pending(rtcOp("us", "plain", 2, 10, 0, false))
	tr.Check(rtcT0.Add(time.Hour))
	tr.NotTracked("us", 2, "version gone", rtcT0.Add(time.Hour))
	tr.Acked("us", 2, rtcT0.Add(2*time.Hour))
	if ev := tr.Events(0); len(ev) != 0 {
		t.Fatalf("events %+v", ev)
	}
	s := ruleStatus(t, tr, rtcT0, "us", "plain")
	if s.RTC || s.MissedThreshold != 0 || s.ReplicatedAfterThreshold != 0 || s.NotTracked != 0 || s.Replicated != 1 || s.PendingOps != 0 || s.LagMax != 2*time.Hour {
		t.Fatalf("status %+v", s)
	}
}

func TestTracker_NotTracked(t *testing.T) {
	tr := NewTracker(TrackerConfig{SourceRegion: "eu", Threshold: time.Minute})
	tr.Pending(rtcOp("us", "r1", 1, 10, 0, true))
	tr.Pending(rtcOp("us", "r1", 2, 20, 0, true))
	tr.NotTracked("us", 1, "version deleted before shipping", rtcT0.Add(time.Second))
	tr.NotTracked("us", 7, "unknown", rtcT0) // ignored

	s := ruleStatus(t, tr, rtcT0, "us", "r1")
	if s.NotTracked != 1 || s.PendingOps != 1 || s.PendingBytes != 20 {
		t.Fatalf("status %+v", s)
	}
	// No longer tracked: no threshold event, not replicated.
	tr.Check(rtcT0.Add(2 * time.Minute))
	tr.Acked("us", 2, rtcT0.Add(3*time.Minute))
	s = ruleStatus(t, tr, rtcT0, "us", "r1")
	if s.Replicated != 1 || s.MissedThreshold != 1 || s.Failed != 0 {
		t.Fatalf("status %+v", s)
	}
	ev := tr.Events(0)
	if len(ev) != 3 {
		t.Fatalf("events %+v", ev)
	}
	nt := ev[2]
	if nt.Type != EventOperationNotTracked || nt.Seq != 1 || nt.Reason != "version deleted before shipping" || nt.Key != "k1" {
		t.Fatalf("not tracked event %+v", nt)
	}
	if ev[1].Type != EventOperationMissedThreshold || ev[1].Seq != 2 {
		t.Fatalf("missed event %+v", ev[1])
	}
}

func TestTracker_ResetKeepsCounters(t *testing.T) {
	tr := NewTracker(TrackerConfig{Threshold: time.Minute})
	for i := uint64(1); i <= 4; i++ {
		tr.Pending(rtcOp("us", "r1", i, 10, 0, true))
	}
	tr.Acked("us", 2, rtcT0.Add(time.Second))
	tr.Failed("us", 3, "refused", rtcT0.Add(time.Second))
	tr.Reset()

	s := ruleStatus(t, tr, rtcT0, "us", "r1")
	if s.Replicated != 2 || s.Failed != 1 || s.PendingOps != 0 || s.PendingBytes != 0 || s.LagSamples != 2 || s.OldestPending != 0 {
		t.Fatalf("after Reset %+v", s)
	}
	// Forgotten: op 4 misses no threshold here, and its ack counts nothing.
	tr.Check(rtcT0.Add(time.Hour))
	tr.Acked("us", 4, rtcT0.Add(time.Hour))
	if s := ruleStatus(t, tr, rtcT0, "us", "r1"); s.Replicated != 2 || s.MissedThreshold != 0 {
		t.Fatalf("after Reset, Check and Acked %+v", s)
	}
	if ev := tr.Events(0); len(ev) != 1 || ev[0].Type != EventOperationFailedReplication {
		t.Fatalf("events %+v", ev)
	}

	// Leading again, the shipper tracks from its acknowledged mark once more.
	tr.Reset()
	tr.Pending(rtcOp("us", "r1", 4, 10, 0, true))
	if s := ruleStatus(t, tr, rtcT0, "us", "r1"); s.PendingOps != 1 {
		t.Fatalf("re-tracked %+v", s)
	}
	tr.Acked("us", 4, rtcT0.Add(2*time.Second))
	if s := ruleStatus(t, tr, rtcT0, "us", "r1"); s.Replicated != 3 || s.PendingOps != 0 {
		t.Fatalf("re-tracked and acked %+v", s)
	}
}

func TestTracker_EventsKeepTheMostRecent(t *testing.T) {
	var logs strings.Builder
	tr := NewTracker(TrackerConfig{MaxEvents: 3, Logger: slogTo(&logs)})
	if ev := tr.Events(5); len(ev) != 0 {
		t.Fatalf("events %+v", ev)
	}
	for i := uint64(1); i <= 5; i++ {
		tr.Pending(rtcOp("us", "r1", i, 10, 0, false))
		tr.Failed("us", i, "no", rtcT0)
	}
	var seqs []uint64
	for _, e := range tr.Events(0) {
		seqs = append(seqs, e.Seq)
	}
	if fmt.Sprint(seqs) != "[5 4 3]" {
		t.Fatalf("kept %v, want [5 4 3]", seqs)
	}
	if ev := tr.Events(2); len(ev) != 2 || ev[0].Seq != 5 || ev[1].Seq != 4 {
		t.Fatalf("Events(2) %+v", ev)
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"replication event\" component=replication-rtc"); n != 5 {
		t.Fatalf("%d events logged, want 5:\n%s", n, logs.String())
	}
	if s := ruleStatus(t, tr, rtcT0, "us", "r1"); s.Failed != 5 {
		t.Fatalf("status %+v", s)
	}
}

func TestTracker_ManyOpsStayConsistent(t *testing.T) {
	// Enough operations to compact the queues and rebuild the deadline heap:
	// every fifth fails, one in 7 is no longer tracked, the rest are
	// acknowledged in steps; half of them had missed the threshold.
	tr := NewTracker(TrackerConfig{Threshold: time.Minute})
	const n = 5000
	for i := uint64(1); i <= n; i++ {
		tr.Pending(rtcOp("us", fmt.Sprint("r", i%3), i, 1, time.Duration(i)*time.Millisecond, true))
	}
	var failed, notTracked uint64
	for i := uint64(1); i <= n; i++ {
		switch {
		case i%5 == 0:
			tr.Failed("us", i, "no", rtcT0)
			failed++
		case i%7 == 0:
			tr.NotTracked("us", i, "gone", rtcT0)
			notTracked++
		}
	}
	tr.Acked("us", n/2, rtcT0.Add(time.Second))
	tr.Check(rtcT0.Add(time.Hour))
	for through := uint64(n / 2); through <= n; through += 100 {
		tr.Acked("us", through, rtcT0.Add(2*time.Hour))
	}
	var sum RuleStatus
	for _, s := range tr.Snapshot(rtcT0) {
		sum.Replicated += s.Replicated
		sum.Failed += s.Failed
		sum.NotTracked += s.NotTracked
		sum.MissedThreshold += s.MissedThreshold
		sum.ReplicatedAfterThreshold += s.ReplicatedAfterThreshold
		sum.PendingOps += s.PendingOps
		sum.PendingBytes += s.PendingBytes
	}
	replicated := n - failed - notTracked
	var early uint64 // replicated by the first ack, within the threshold
	for i := uint64(1); i <= n/2; i++ {
		if i%5 != 0 && i%7 != 0 {
			early++
		}
	}
	if sum.Replicated != replicated || sum.Failed != failed || sum.NotTracked != notTracked ||
		sum.PendingOps != 0 || sum.PendingBytes != 0 ||
		sum.MissedThreshold != replicated-early || sum.ReplicatedAfterThreshold != replicated-early {
		t.Fatalf("sums %+v; want replicated %d failed %d not tracked %d missed %d", sum, replicated, failed, notTracked, replicated-early)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if q := tr.queues["us"]; len(q.ops) != 0 || tr.heapLive != 0 || len(tr.heap) != 0 {
		t.Fatalf("left: queue %d, heap %d (%d live)", len(q.ops), len(tr.heap), tr.heapLive)
	}
}

func TestTracker_JSON(t *testing.T) {
	tr := NewTracker(TrackerConfig{SourceRegion: "eu"})
	tr.Pending(rtcOp("us", "r1", 1, 10, 0, true))
	tr.Failed("us", 1, "no", rtcT0.Add(time.Second))
	b, err := json.Marshal(struct {
		S []RuleStatus
		E []Event
	}{tr.Snapshot(rtcT0), tr.Events(0)})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"source_region":"eu"`, `"dest":"us"`, `"rule":"r1"`, `"failed":1`,
		`"pending_ops":0`, `"lag_p99_ns":0`, `"type":"OperationFailedReplication"`, `"version_id":"v1"`,
		`"latency_ns":1000000000`, `"time":"2026-12-08T10:00:01Z"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
}

func TestTracker_Collector(t *testing.T) {
	tr := NewTracker(TrackerConfig{SourceRegion: "eu", Threshold: time.Minute})
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(tr); err != nil {
		t.Fatal(err)
	}
	lats := []time.Duration{15625 * time.Microsecond, 500 * time.Millisecond, 2 * time.Second, 1000 * time.Second}
	for i, lat := range lats {
		seq := uint64(i + 1)
		tr.Pending(rtcOp("us", "r1", seq, 10, 0, true))
		tr.Acked("us", seq, rtcT0.Add(lat))
	}
	tr.Pending(rtcOp("us", "r1", 5, 1000, 0, true))
	tr.Pending(rtcOp("us", "r1", 6, 24, 0, true))
	tr.Pending(rtcOp("us", "r1", 7, 5, 0, true))
	tr.Failed("us", 7, "no", rtcT0)

	labels := `destination_region="us",rule_id="r1",source_region="eu"`
	want := `
# HELP pangea_replication_latency_seconds Time from the write of a version at the source to the acknowledgement of its replication by the destination region.
# TYPE pangea_replication_latency_seconds histogram
pangea_replication_latency_seconds_bucket{L,le="0.005"} 0
pangea_replication_latency_seconds_bucket{L,le="0.01"} 0
pangea_replication_latency_seconds_bucket{L,le="0.025"} 1
pangea_replication_latency_seconds_bucket{L,le="0.05"} 1
pangea_replication_latency_seconds_bucket{L,le="0.1"} 1
pangea_replication_latency_seconds_bucket{L,le="0.25"} 1
pangea_replication_latency_seconds_bucket{L,le="0.5"} 2
pangea_replication_latency_seconds_bucket{L,le="1"} 2
pangea_replication_latency_seconds_bucket{L,le="2.5"} 3
pangea_replication_latency_seconds_bucket{L,le="5"} 3
pangea_replication_latency_seconds_bucket{L,le="10"} 3
pangea_replication_latency_seconds_bucket{L,le="30"} 3
pangea_replication_latency_seconds_bucket{L,le="60"} 3
pangea_replication_latency_seconds_bucket{L,le="300"} 3
pangea_replication_latency_seconds_bucket{L,le="900"} 3
pangea_replication_latency_seconds_bucket{L,le="+Inf"} 4
pangea_replication_latency_seconds_sum{L} 1002.515625
pangea_replication_latency_seconds_count{L} 4
# HELP pangea_replication_bytes_pending Bytes of the operations pending replication.
# TYPE pangea_replication_bytes_pending gauge
pangea_replication_bytes_pending{L} 1024
# HELP pangea_replication_operations_pending Operations pending replication.
# TYPE pangea_replication_operations_pending gauge
pangea_replication_operations_pending{L} 2
# HELP pangea_replication_operations_failed_total Operations the destination region refused for good.
# TYPE pangea_replication_operations_failed_total counter
pangea_replication_operations_failed_total{L} 1
# HELP pangea_replication_operations_replicated_total Operations the destination region acknowledged as replicated.
# TYPE pangea_replication_operations_replicated_total counter
pangea_replication_operations_replicated_total{L} 4
# HELP pangea_replication_events_total Replication events, by type (OperationMissedThreshold and the other S3 Replication Time Control events).
# TYPE pangea_replication_events_total counter
pangea_replication_events_total{L,type="OperationFailedReplication"} 1
pangea_replication_events_total{L,type="OperationMissedThreshold"} 1
pangea_replication_events_total{L,type="OperationNotTracked"} 0
pangea_replication_events_total{L,type="OperationReplicatedAfterThreshold"} 1
`
	want = strings.ReplaceAll(want, "{L", "{"+labels)
	compareGathered(t, reg, want)

	// A second rule and destination add their own series; Reset zeroes the
	// pending gauges and keeps the counters.
	tr.Pending(rtcOp("ap", "", 1, 3, 0, false))
	tr.Reset()
	want2 := `
# HELP pangea_replication_operations_pending Operations pending replication.
# TYPE pangea_replication_operations_pending gauge
pangea_replication_operations_pending{destination_region="ap",rule_id="",source_region="eu"} 0
pangea_replication_operations_pending{L} 0
# HELP pangea_replication_operations_replicated_total Operations the destination region acknowledged as replicated.
# TYPE pangea_replication_operations_replicated_total counter
pangea_replication_operations_replicated_total{destination_region="ap",rule_id="",source_region="eu"} 0
pangea_replication_operations_replicated_total{L} 4
`
	want2 = strings.ReplaceAll(want2, "{L", "{"+labels)
	compareGathered(t, reg, want2, "pangea_replication_operations_pending", "pangea_replication_operations_replicated_total")

	// Two trackers in one process register side by side.
	if err := reg.Register(NewTracker(TrackerConfig{SourceRegion: "sa"})); err != nil {
		t.Fatalf("second tracker: %v", err)
	}
}

// compareGathered gathers reg and compares the families named (all if none) to
// want, in the text exposition format: its HELP, TYPE and sample lines, with
// the labels of a sample sorted by name, and le last. (The testutil package
// needs a module this one does not require.)
func compareGathered(t *testing.T, reg *prometheus.Registry, want string, names ...string) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	got := make(map[string]string)
	for _, mf := range mfs {
		name := mf.GetName()
		if len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		got["# HELP "+name] = mf.GetHelp()
		got["# TYPE "+name] = strings.ToLower(mf.GetType().String())
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sample := func(suffix string, v float64, extra ...string) {
				got[name+suffix+"{"+strings.Join(append(slices.Clone(labels), extra...), ",")+"}"] = strconv.FormatFloat(v, 'g', -1, 64)
			}
			switch mf.GetType() {
			case dto.MetricType_GAUGE:
				sample("", m.GetGauge().GetValue())
			case dto.MetricType_COUNTER:
				sample("", m.GetCounter().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					sample("_bucket", float64(b.GetCumulativeCount()), fmt.Sprintf("le=%q", strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)))
				}
				sample("_bucket", float64(h.GetSampleCount()), `le="+Inf"`)
				sample("_sum", h.GetSampleSum())
				sample("_count", float64(h.GetSampleCount()))
			default:
				t.Fatalf("%s: unexpected type %v", name, mf.GetType())
			}
		}
	}
	wanted := make(map[string]string)
	for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			wanted["# HELP "+name] = help
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			wanted["# TYPE "+name] = typ
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("want line %q: %v", line, err)
		}
		wanted[line[:i]] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	for k, w := range wanted {
		if g, ok := got[k]; !ok {
			t.Errorf("missing %s %s", k, w)
		} else if g != w {
			t.Errorf("%s = %s, want %s", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := wanted[k]; !ok {
			t.Errorf("unexpected %s %s", k, g)
		}
	}
}

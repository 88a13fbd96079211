package replication

import (
	"cmp"
	"container/heap"
	"context"
	"log/slog"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Event types a Tracker emits, named as S3 Replication Time Control names its
// replication events.
const (
	// EventOperationMissedThreshold: an operation of a rule with RTC was still
	// not replicated Threshold after its version was written.
	EventOperationMissedThreshold = "OperationMissedThreshold"
	// EventOperationReplicatedAfterThreshold: an operation that had missed the
	// threshold was replicated.
	EventOperationReplicatedAfterThreshold = "OperationReplicatedAfterThreshold"
	// EventOperationNotTracked: an operation of a rule with RTC that was being
	// tracked no longer is (its version vanished before it was shipped, say).
	EventOperationNotTracked = "OperationNotTracked"
	// EventOperationFailedReplication: the destination refused an operation
	// for good. Emitted for every rule, with RTC or not.
	EventOperationFailedReplication = "OperationFailedReplication"
)

// eventTypes are the event types, in the order the events counter reports them.
var eventTypes = [...]string{
	EventOperationMissedThreshold,
	EventOperationReplicatedAfterThreshold,
	EventOperationNotTracked,
	EventOperationFailedReplication,
}

// latencyBuckets are the upper bounds, in seconds, of the replication latency
// histogram: from a few milliseconds to S3's 15 minute threshold.
var latencyBuckets = [...]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}

// TrackerConfig configures a Tracker; zero optional fields take defaults.
type TrackerConfig struct {
	// SourceRegion is this region, reported in statuses, events and as the
	// constant label source_region of the metrics.
	SourceRegion string
	// Threshold is how long after its version was written an operation of a
	// rule with RTC may stay unreplicated (default 15 minutes, as S3's).
	Threshold time.Duration
	// MaxEvents is how many recent events are kept (default 256).
	MaxEvents int
	// Window is how many recent latencies are kept per rule and destination
	// for the percentiles of Snapshot (default 4096).
	Window int
	// Logger logs each event once, at Warn for missed thresholds and failures,
	// at Info for the others; nil discards.
	Logger *slog.Logger
}

// Op is one operation to replicate: an object version of the source outbox for
// one destination region.
type Op struct {
	Dest       string // destination region
	Rule       string // replication rule ID ("" allowed)
	DestBucket string // destination bucket
	Bucket     string // source bucket
	Key        string
	VersionID  string
	// Seq is the outbox sequence, strictly increasing per Dest: an Op whose Seq
	// is not above the greatest seen (or acknowledged) for Dest is ignored, so
	// re-tracking after a reconnect does not count an operation twice.
	Seq     uint64
	Bytes   int64
	Written time.Time // when the source wrote the version (its Last-Modified)
	// RTC is whether the rule has ReplicationTime enabled: only then do the
	// threshold events (and NotTracked) apply.
	RTC bool
}

// RuleStatus is the replication state of one rule towards one destination
// region, as Snapshot reports it.
type RuleStatus struct {
	SourceRegion string `json:"source_region"`
	Dest         string `json:"dest"`
	Rule         string `json:"rule"`
	DestBucket   string `json:"dest_bucket"` // of the rule's latest operation
	RTC          bool   `json:"rtc"`         // whether the rule's latest operation had RTC

	Replicated               uint64 `json:"replicated"`
	Failed                   uint64 `json:"failed"`
	MissedThreshold          uint64 `json:"missed_threshold"`
	ReplicatedAfterThreshold uint64 `json:"replicated_after_threshold"`
	NotTracked               uint64 `json:"not_tracked"`

	PendingOps   uint64 `json:"pending_ops"`
	PendingBytes int64  `json:"pending_bytes"`
	// OldestPending is the age at Snapshot's now of the rule's pending
	// operation queued longest (lowest Seq); 0 with none pending.
	OldestPending time.Duration `json:"oldest_pending_ns"`

	// LagSamples is how many latencies LagP50, LagP99 and LagMax are over: the
	// most recent ones, at most the Tracker's Window. With none, they are 0.
	LagSamples int           `json:"lag_samples"`
	LagP50     time.Duration `json:"lag_p50_ns"`
	LagP99     time.Duration `json:"lag_p99_ns"`
	LagMax     time.Duration `json:"lag_max_ns"`
}

// Event is one replication event of a Tracker.
type Event struct {
	Time         time.Time `json:"time"`
	Type         string    `json:"type"`
	SourceRegion string    `json:"source_region"`
	Dest         string    `json:"dest"`
	Rule         string    `json:"rule"`
	Bucket       string    `json:"bucket"`
	Key          string    `json:"key"`
	VersionID    string    `json:"version_id"`
	Seq          uint64    `json:"seq"`
	Reason       string    `json:"reason,omitempty"`
	// Latency is, for OperationReplicatedAfterThreshold, the replication
	// latency; for the other types, the operation's age at the event.
	Latency time.Duration `json:"latency_ns"`
}

// seriesKey names the state kept per rule and destination.
type seriesKey struct{ dest, rule string }

// series is the state of one rule towards one destination region.
type series struct {
	destBucket string
	rtc        bool

	replicated, failed, missed, after, notTracked uint64
	events                                        [len(eventTypes)]uint64

	pendingOps   uint64
	pendingBytes int64

	// window holds the most recent latencies, a ring once full (next is
	// where the next one goes).
	window []time.Duration
	next   int

	// The histogram: counts per bucket (not cumulative, the last one is
	// +Inf), their sum in seconds.
	buckets [len(latencyBuckets) + 1]uint64
	count   uint64
	sum     float64
}

// pendingOp is an operation tracked as pending.
type pendingOp struct {
	Op
	s      *series
	done   bool // replicated, failed or no longer tracked: dropped from the queue lazily
	missed bool // OperationMissedThreshold emitted
	inHeap bool // in the Tracker's deadline heap, not yet missed nor done
}

// destQueue holds the operations of one destination in Seq order; ops[:head]
// are popped.
type destQueue struct {
	ops  []*pendingOp
	head int
}

// find returns the queued operation with seq, or nil.
func (q *destQueue) find(seq uint64) *pendingOp {
	live := q.ops[q.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].Seq >= seq })
	if i < len(live) && live[i].Seq == seq && !live[i].done {
		return live[i]
	}
	return nil
}

// trim pops the done operations at the front, and compacts the slice once most
// of it is popped.
func (q *destQueue) trim() {
	for q.head < len(q.ops) && q.ops[q.head].done {
		q.ops[q.head] = nil
		q.head++
	}
	switch {
	case q.head == len(q.ops):
		q.ops, q.head = q.ops[:0], 0
	case q.head >= 64 && q.head*2 >= len(q.ops):
		q.ops = append(make([]*pendingOp, 0, 2*(len(q.ops)-q.head)), q.ops[q.head:]...)
		q.head = 0
	}
}

// deadlines is a min-heap of pending RTC operations by Written: Check pops the
// ones past the threshold. Operations done meanwhile stay in it until popped or
// until the Tracker rebuilds it.
type deadlines []*pendingOp

func (h deadlines) Len() int           { return len(h) }
func (h deadlines) Less(i, j int) bool { return h[i].Written.Before(h[j].Written) }
func (h deadlines) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlines) Push(x any)        { *h = append(*h, x.(*pendingOp)) }
func (h *deadlines) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}

// Tracker tracks replication the way S3 Replication Time Control reports it,
// per replication rule and destination region: the latency of replicated
// operations, the operations and bytes pending, the failed operations, and the
// events of operations that miss the threshold, replicate after it, fail or are
// no longer tracked. It is the region leader's: the shipper reports operations
// to it as it reads them from the outbox, and the destination's
// acknowledgements. A Tracker is safe for concurrent use, and is a
// prometheus.Collector of its state.
type Tracker struct {
	cfg    TrackerConfig
	logger *slog.Logger

	latency, bytesPending, opsPending, failed, replicated, events *prometheus.Desc

	mu     sync.Mutex
	series map[seriesKey]*series
	queues map[string]*destQueue
	// last is, per destination, the greatest Seq seen or acknowledged.
	last map[string]uint64
	// heap holds live (pending, RTC, not missed) operations, heapLive of
	// them, and done ones not popped yet.
	heap     deadlines
	heapLive int
	// ring holds the recent events, a ring once full (evNext is where the
	// next one goes).
	ring   []Event
	evNext int
}

// NewTracker returns a Tracker with nothing tracked.
func NewTracker(cfg TrackerConfig) *Tracker {
	if cfg.Threshold <= 0 {
		cfg.Threshold = 15 * time.Minute
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 256
	}
	if cfg.Window <= 0 {
		cfg.Window = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	constLabels := prometheus.Labels{"source_region": cfg.SourceRegion}
	labels := []string{"destination_region", "rule_id"}
	return &Tracker{
		cfg:    cfg,
		logger: cfg.Logger.With("component", "replication-rtc", "source_region", cfg.SourceRegion),
		latency: prometheus.NewDesc("pangea_replication_latency_seconds",
			"Time from the write of a version at the source to the acknowledgement of its replication by the destination region.",
			labels, constLabels),
		bytesPending: prometheus.NewDesc("pangea_replication_bytes_pending",
			"Bytes of the operations pending replication.",
			labels, constLabels),
		opsPending: prometheus.NewDesc("pangea_replication_operations_pending",
			"Operations pending replication.",
			labels, constLabels),
		failed: prometheus.NewDesc("pangea_replication_operations_failed_total",
			"Operations the destination region refused for good.",
			labels, constLabels),
		replicated: prometheus.NewDesc("pangea_replication_operations_replicated_total",
			"Operations the destination region acknowledged as replicated.",
			labels, constLabels),
		events: prometheus.NewDesc("pangea_replication_events_total",
			"Replication events, by type (OperationMissedThreshold and the other S3 Replication Time Control events).",
			append(labels[:2:2], "type"), constLabels),
		series: make(map[seriesKey]*series),
		queues: make(map[string]*destQueue),
		last:   make(map[string]uint64),
	}
}

// Pending tracks op as pending replication. It is ignored if its Seq is not
// above the greatest Seq seen or acknowledged for op.Dest since the last Reset.
func (t *Tracker) Pending(op Op) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.last[op.Dest]; ok && op.Seq <= last {
		return
	}
	t.last[op.Dest] = op.Seq
	s := t.seriesOf(op.Dest, op.Rule)
	s.destBucket, s.rtc = op.DestBucket, op.RTC
	s.pendingOps++
	s.pendingBytes += op.Bytes
	p := &pendingOp{Op: op, s: s}
	q := t.queues[op.Dest]
	if q == nil {
		q = &destQueue{}
		t.queues[op.Dest] = q
	}
	q.ops = append(q.ops, p)
	if op.RTC {
		p.inHeap = true
		heap.Push(&t.heap, p)
		t.heapLive++
	}
}

// Acked records the destination's cumulative acknowledgement: every pending
// operation of dest with Seq <= through is replicated at at. Its latency,
// at minus Written, is observed; an RTC operation past the threshold emits
// OperationReplicatedAfterThreshold, preceded by OperationMissedThreshold if
// Check had not emitted it yet. Report the failures an acknowledgement carries
// with Failed before it, as they are not replicated.
func (t *Tracker) Acked(dest string, through uint64, at time.Time) {
	var logs []Event
	t.mu.Lock()
	if through > t.last[dest] {
		t.last[dest] = through
	}
	if q := t.queues[dest]; q != nil {
		for ; q.head < len(q.ops) && q.ops[q.head].Seq <= through; q.head++ {
			p := q.ops[q.head]
			q.ops[q.head] = nil
			if p.done {
				continue
			}
			lat := max(at.Sub(p.Written), 0)
			t.finish(p)
			s := p.s
			s.replicated++
			s.observe(lat, t.cfg.Window)
			if p.RTC && !p.missed && lat > t.cfg.Threshold {
				p.missed = true
				s.missed++
				logs = t.emit(logs, p, EventOperationMissedThreshold, at, "", lat)
			}
			if p.RTC && p.missed {
				s.after++
				logs = t.emit(logs, p, EventOperationReplicatedAfterThreshold, at, "", lat)
			}
		}
		q.trim()
	}
	t.mu.Unlock()
	t.log(logs)
}

// Failed records that the destination refused the pending operation seq of dest
// for good: it is no longer pending, counts as failed, and emits
// OperationFailedReplication (with RTC or not). An unknown seq is ignored.
func (t *Tracker) Failed(dest string, seq uint64, reason string, at time.Time) {
	var logs []Event
	t.mu.Lock()
	if p := t.drop(dest, seq); p != nil {
		p.s.failed++
		logs = t.emit(logs, p, EventOperationFailedReplication, at, reason, max(at.Sub(p.Written), 0))
	}
	t.mu.Unlock()
	t.log(logs)
}

// NotTracked stops tracking the pending operation seq of dest (its version
// vanished before it was shipped, say) and, if its rule has RTC, emits
// OperationNotTracked. An unknown seq is ignored.
func (t *Tracker) NotTracked(dest string, seq uint64, reason string, at time.Time) {
	var logs []Event
	t.mu.Lock()
	if p := t.drop(dest, seq); p != nil && p.RTC {
		p.s.notTracked++
		logs = t.emit(logs, p, EventOperationNotTracked, at, reason, max(at.Sub(p.Written), 0))
	}
	t.mu.Unlock()
	t.log(logs)
}

// Check emits OperationMissedThreshold, once, for each pending RTC operation
// whose version was written more than Threshold before now.
func (t *Tracker) Check(now time.Time) {
	var logs []Event
	t.mu.Lock()
	for len(t.heap) > 0 && now.Sub(t.heap[0].Written) > t.cfg.Threshold {
		p := heap.Pop(&t.heap).(*pendingOp)
		if !p.inHeap {
			continue // done meanwhile
		}
		p.inHeap = false
		t.heapLive--
		p.missed = true
		p.s.missed++
		logs = t.emit(logs, p, EventOperationMissedThreshold, now, "", now.Sub(p.Written))
	}
	t.mu.Unlock()
	t.log(logs)
}

// Reset forgets every pending operation, and the sequences seen, as when the
// region leader loses its leadership: whoever leads next tracks them again.
// Counters, latencies and events are kept.
func (t *Tracker) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.queues)
	clear(t.last)
	clear(t.heap)
	t.heap, t.heapLive = t.heap[:0], 0
	for _, s := range t.series {
		s.pendingOps, s.pendingBytes = 0, 0
	}
}

// Snapshot returns the state of every rule and destination seen, sorted by
// destination then rule; ages are as of now.
func (t *Tracker) Snapshot(now time.Time) []RuleStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]RuleStatus, 0, len(t.series))
	oldest := t.oldestPending()
	for k, s := range t.series {
		st := RuleStatus{
			SourceRegion:             t.cfg.SourceRegion,
			Dest:                     k.dest,
			Rule:                     k.rule,
			DestBucket:               s.destBucket,
			RTC:                      s.rtc,
			Replicated:               s.replicated,
			Failed:                   s.failed,
			MissedThreshold:          s.missed,
			ReplicatedAfterThreshold: s.after,
			NotTracked:               s.notTracked,
			PendingOps:               s.pendingOps,
			PendingBytes:             s.pendingBytes,
			LagSamples:               len(s.window),
		}
		if w, ok := oldest[k]; ok {
			st.OldestPending = max(now.Sub(w), 0)
		}
		if n := len(s.window); n > 0 {
			lat := slices.Clone(s.window)
			slices.Sort(lat)
			st.LagP50, st.LagP99, st.LagMax = rank(lat, 0.50), rank(lat, 0.99), lat[n-1]
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b RuleStatus) int {
		return cmp.Or(cmp.Compare(a.Dest, b.Dest), cmp.Compare(a.Rule, b.Rule))
	})
	return out
}

// Events returns the n most recent events kept, newest first; all of them if n
// is <= 0 or more than are kept.
func (t *Tracker) Events(n int) []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n <= 0 || n > len(t.ring) {
		n = len(t.ring)
	}
	out := make([]Event, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, t.ring[(t.evNext-i+len(t.ring))%len(t.ring)])
	}
	return out
}

// Describe sends the descriptions of the Tracker's metrics.
func (t *Tracker) Describe(ch chan<- *prometheus.Desc) {
	ch <- t.latency
	ch <- t.bytesPending
	ch <- t.opsPending
	ch <- t.failed
	ch <- t.replicated
	ch <- t.events
}

// Collect sends the Tracker's metrics as of now. A rule ID that is no valid
// label value fails its own samples, not the scrape.
func (t *Tracker) Collect(ch chan<- prometheus.Metric) {
	var ms []prometheus.Metric
	metric := func(d *prometheus.Desc, typ prometheus.ValueType, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, typ, v, labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err)
		}
		ms = append(ms, m)
	}
	t.mu.Lock()
	for k, s := range t.series {
		cum := make(map[float64]uint64, len(latencyBuckets))
		var n uint64
		for i, le := range latencyBuckets {
			n += s.buckets[i]
			cum[le] = n
		}
		h, err := prometheus.NewConstHistogram(t.latency, s.count, s.sum, cum, k.dest, k.rule)
		if err != nil {
			h = prometheus.NewInvalidMetric(t.latency, err)
		}
		ms = append(ms, h)
		metric(t.bytesPending, prometheus.GaugeValue, float64(s.pendingBytes), k.dest, k.rule)
		metric(t.opsPending, prometheus.GaugeValue, float64(s.pendingOps), k.dest, k.rule)
		metric(t.failed, prometheus.CounterValue, float64(s.failed), k.dest, k.rule)
		metric(t.replicated, prometheus.CounterValue, float64(s.replicated), k.dest, k.rule)
		for i, typ := range eventTypes {
			metric(t.events, prometheus.CounterValue, float64(s.events[i]), k.dest, k.rule, typ)
		}
	}
	t.mu.Unlock()
	for _, m := range ms {
		ch <- m
	}
}

// seriesOf returns the state of rule towards dest, created if new.
func (t *Tracker) seriesOf(dest, rule string) *series {
	k := seriesKey{dest, rule}
	s := t.series[k]
	if s == nil {
		s = &series{}
		t.series[k] = s
	}
	return s
}

// finish marks p done: no longer pending nor waiting for its deadline.
func (t *Tracker) finish(p *pendingOp) {
	p.done = true
	p.s.pendingOps--
	p.s.pendingBytes -= p.Bytes
	if p.inHeap {
		p.inHeap = false
		t.heapLive--
		// Done operations stay in the heap until their deadline: rebuild
		// it once they are most of it, so that it stays the size of what
		// is pending.
		if len(t.heap) > 64 && len(t.heap) > 2*t.heapLive {
			live := t.heap[:0]
			for _, q := range t.heap {
				if q.inHeap {
					live = append(live, q)
				}
			}
			clear(t.heap[len(live):])
			t.heap = live
			heap.Init(&t.heap)
		}
	}
}

// drop finishes the pending operation seq of dest and returns it; nil if there
// is none.
func (t *Tracker) drop(dest string, seq uint64) *pendingOp {
	q := t.queues[dest]
	if q == nil {
		return nil
	}
	p := q.find(seq)
	if p == nil {
		return nil
	}
	t.finish(p)
	q.trim()
	return p
}

// oldestPending returns, per rule and destination with operations pending,
// the Written of the one queued longest. It walks each destination's queue
// until it has found every rule pending there.
func (t *Tracker) oldestPending() map[seriesKey]time.Time {
	want := make(map[string]int)
	for k, s := range t.series {
		if s.pendingOps > 0 {
			want[k.dest]++
		}
	}
	out := make(map[seriesKey]time.Time)
	for dest, q := range t.queues {
		for i := q.head; i < len(q.ops) && want[dest] > 0; i++ {
			p := q.ops[i]
			k := seriesKey{dest, p.Rule}
			if _, ok := out[k]; p.done || ok {
				continue
			}
			out[k] = p.Written
			want[dest]--
		}
	}
	return out
}

// emit records an event of p and appends it to logs.
func (t *Tracker) emit(logs []Event, p *pendingOp, typ string, at time.Time, reason string, lat time.Duration) []Event {
	ev := Event{
		Time:         at,
		Type:         typ,
		SourceRegion: t.cfg.SourceRegion,
		Dest:         p.Dest,
		Rule:         p.Rule,
		Bucket:       p.Bucket,
		Key:          p.Key,
		VersionID:    p.VersionID,
		Seq:          p.Seq,
		Reason:       reason,
		Latency:      lat,
	}
	p.s.events[slices.Index(eventTypes[:], typ)]++
	if len(t.ring) < t.cfg.MaxEvents {
		t.ring = append(t.ring, ev)
		t.evNext = len(t.ring) % t.cfg.MaxEvents
	} else {
		t.ring[t.evNext] = ev
		t.evNext = (t.evNext + 1) % t.cfg.MaxEvents
	}
	return append(logs, ev)
}

// log logs events, outside the Tracker's lock.
func (t *Tracker) log(events []Event) {
	for _, ev := range events {
		level := slog.LevelInfo
		if ev.Type == EventOperationMissedThreshold || ev.Type == EventOperationFailedReplication {
			level = slog.LevelWarn
		}
		t.logger.Log(context.Background(), level, "replication event", "type", ev.Type,
			"destination_region", ev.Dest, "rule_id", ev.Rule, "bucket", ev.Bucket,
			"key", ev.Key, "version_id", ev.VersionID, "outbox_seq", ev.Seq,
			"reason", ev.Reason, "latency", ev.Latency)
	}
}

// observe records a replication latency.
func (s *series) observe(lat time.Duration, window int) {
	if len(s.window) < window {
		s.window = append(s.window, lat)
	} else {
		s.window[s.next] = lat
		s.next = (s.next + 1) % window
	}
	sec := lat.Seconds()
	s.buckets[sort.SearchFloat64s(latencyBuckets[:], sec)]++
	s.count++
	s.sum += sec
}

// rank returns the q-quantile of sorted latencies, by nearest rank.
func rank(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

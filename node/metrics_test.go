package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gathered is one scrape of a registry: metric name -> its samples.
type gathered map[string][]*dto.Metric

func gather(t *testing.T, reg *prometheus.Registry) gathered {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := gathered{}
	for _, f := range fams {
		out[f.GetName()] = f.GetMetric()
	}
	return out
}

// value is the gauge of name whose labels include want; ok false if none.
func (g gathered) value(name string, want map[string]string) (float64, bool) {
	for _, m := range g[name] {
		n := 0
		for _, lp := range m.GetLabel() {
			if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
				n++
			}
		}
		if n == len(want) {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func (g gathered) must(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := g.value(name, labels)
	if !ok {
		t.Fatalf("no %s%v in the scrape", name, labels)
	}
	return v
}

func TestMetrics_CollectorReportsTheLeadersIndexes(t *testing.T) {
	m := openTestMember(t, t.TempDir(), nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())
	self := map[string]string{"region": "us-east-1", "member": "n1"}

	// A single-member region elects itself.
	var g gathered
	testkit.Eventually(t, 10*time.Second, "a ready leader in the scrape", func() error {
		g = gather(t, reg)
		if v, _ := g.value("pangea_raft_leader_ready", self); v != 1 {
			return fmt.Errorf("pangea_raft_leader_ready = %v", v)
		}
		return nil
	})
	for _, s := range raftStates {
		want := bool01(s == "leader")
		if got := g.must(t, "pangea_raft_state", map[string]string{"state": s, "member": "n1"}); got != want {
			t.Errorf("pangea_raft_state{state=%q} = %v, want %v", s, got, want)
		}
	}
	if got := g.must(t, "pangea_raft_leader_known", self); got != 1 {
		t.Errorf("leader_known = %v on the leader", got)
	}
	if got := g.must(t, "pangea_raft_term", self); got < 1 {
		t.Errorf("term = %v", got)
	}
	if got := g.must(t, "pangea_raft_servers", map[string]string{"suffrage": "voter"}); got != 1 {
		t.Errorf("voters = %v, want 1", got)
	}
	commit0 := g.must(t, "pangea_raft_commit_index", self)
	applied0 := g.must(t, "pangea_raft_applied_index", self)
	last0 := g.must(t, "pangea_raft_last_log_index", self)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := m.CreateBucket(ctx, "metered", "", "o"); err != nil {
		t.Fatal(err)
	}
	// The write is committed when it returns; the store reflects it once the
	// flusher commits its batch (fsm.go): poll the scrape for that.
	g = gather(t, reg)
	commit, last := g.must(t, "pangea_raft_commit_index", self), g.must(t, "pangea_raft_last_log_index", self)
	if commit <= commit0 || last <= last0 {
		t.Errorf("indexes after a write: commit %v -> %v, last %v -> %v; want both to advance", commit0, commit, last0, last)
	}
	var applied float64
	testkit.Eventually(t, 10*time.Second, "the applied index to advance", func() error {
		g = gather(t, reg)
		if applied = g.must(t, "pangea_raft_applied_index", self); applied <= applied0 {
			return fmt.Errorf("applied index %v, was %v; the write committed at %v", applied, applied0, commit)
		}
		return nil
	})
	commit, last = g.must(t, "pangea_raft_commit_index", self), g.must(t, "pangea_raft_last_log_index", self)
	if applied > commit || commit > last {
		t.Errorf("applied %v, commit %v, last %v: want applied <= commit <= last", applied, commit, last)
	}
	if uint64(applied) > m.AppliedIndex() {
		t.Errorf("applied index reported %v, beyond the member's %d", applied, m.AppliedIndex())
	}
}

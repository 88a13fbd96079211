package node

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// raftStates are the values of pangea_raft_state's state label, as raft names them
// (Status.State) in lower case.
var raftStates = []string{"follower", "candidate", "leader", "shutdown"}

// memberCollector reports a Member's raft state, read at scrape time.
type memberCollector struct {
	m *Member

	state, term, commit, applied, lastLog, leaderKnown, ready, servers *prometheus.Desc
}

// Collector returns a prometheus.Collector of m's raft state (docs/metrics.md),
// read from Status at each scrape and labelled with m's region and ID. Register it
// with the registry of the process object serving m; it holds no state of its own.
func (m *Member) Collector() prometheus.Collector {
	labels := prometheus.Labels{"region": m.cfg.Region, "member": m.cfg.ID}
	desc := func(name, help string, variable ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, variable, labels)
	}
	return &memberCollector{
		m:           m,
		state:       desc("pangea_raft_state", "1 for the member's current raft state, 0 for the others.", "state"),
		term:        desc("pangea_raft_term", "The member's current raft term."),
		commit:      desc("pangea_raft_commit_index", "The highest raft log index the member knows committed."),
		applied:     desc("pangea_raft_applied_index", "The highest raft log index reflected in the member's store."),
		lastLog:     desc("pangea_raft_last_log_index", "The last index in the member's raft log (or snapshot)."),
		leaderKnown: desc("pangea_raft_leader_known", "1 while the member knows a leader of its region, else 0."),
		ready:       desc("pangea_raft_leader_ready", "1 while the member leads and has applied every earlier term's entries, else 0."),
		servers:     desc("pangea_raft_servers", "Servers of the raft configuration as the member sees it, by suffrage.", "suffrage"),
	}
}

func (c *memberCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.term, c.commit, c.applied, c.lastLog, c.leaderKnown, c.ready, c.servers} {
		ch <- d
	}
}

func (c *memberCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.m.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	state := strings.ToLower(st.State)
	for _, s := range raftStates {
		gauge(c.state, bool01(s == state), s)
	}
	gauge(c.term, float64(st.Term))
	gauge(c.commit, float64(st.CommitIndex))
	gauge(c.applied, float64(st.AppliedIndex))
	gauge(c.lastLog, float64(st.LastLogIndex))
	gauge(c.leaderKnown, bool01(st.LeaderID != ""))
	gauge(c.ready, bool01(st.Ready))
	bySuffrage := map[string]int{"voter": 0, "nonvoter": 0, "staging": 0}
	for _, s := range st.Servers {
		bySuffrage[strings.ToLower(s.Suffrage)]++
	}
	for s, n := range bySuffrage {
		gauge(c.servers, float64(n), s)
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

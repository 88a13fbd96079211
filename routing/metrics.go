package routing

import (
	"github.com/prometheus/client_golang/prometheus"
)

// healthStates are the values of the health label, in Health order.
var healthStates = []Health{HealthAlive, HealthSuspect, HealthDead, HealthLeft}

// directoryCollector reports the pool as a Directory sees it, at scrape time.
type directoryCollector struct {
	d Directory

	health, rtt, peers *prometheus.Desc
}

// NewCollector returns a prometheus.Collector of d's view of the pool
// (docs/metrics.md): each other process's health and smoothed RTT, and how many
// processes are in each health state. It reads d at each scrape and holds no
// state of its own; register it with the registry of the process object that
// owns d.
func NewCollector(d Directory) prometheus.Collector {
	peer := []string{"peer", "peer_region", "peer_role"}
	return &directoryCollector{
		d: d,
		health: prometheus.NewDesc("pangea_gossip_peer_health",
			"1 for the health state the failure detector gives the peer, 0 for the others.",
			[]string{"peer", "peer_region", "peer_role", "health"}, nil),
		rtt: prometheus.NewDesc("pangea_gossip_peer_rtt_seconds",
			"Smoothed round-trip time of the gossip probes to the peer (absent until a probe completed).",
			peer, nil),
		peers: prometheus.NewDesc("pangea_gossip_peers",
			"Other processes of the gossip pool known, by health state.",
			[]string{"health"}, nil),
	}
}

func (c *directoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.health
	ch <- c.rtt
	ch <- c.peers
}

func (c *directoryCollector) Collect(ch chan<- prometheus.Metric) {
	// Names come from other processes: one that is no valid label value fails
	// its own sample in the scrape, not the process.
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err)
		}
		ch <- m
	}
	counts := make(map[Health]int, len(healthStates))
	for _, p := range c.d.Peers() {
		if p.Self {
			continue
		}
		counts[p.Health]++
		role := ""
		if p.Role != 0 {
			role = p.Role.String()
		}
		for _, h := range healthStates {
			v := 0.0
			if p.Health == h {
				v = 1
			}
			gauge(c.health, v, p.Name, p.Region, role, h.String())
		}
		if rtt, ok := c.d.RTT(p.Name); ok {
			gauge(c.rtt, rtt.Seconds(), p.Name, p.Region, role)
		}
	}
	for _, h := range healthStates {
		gauge(c.peers, float64(counts[h]), h.String())
	}
}

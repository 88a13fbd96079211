package main

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/s3api"
)

// memberMetrics is one served member's Prometheus registry (never the default
// registry: a lab runs many members in one process) and what fills it. The S3
// endpoint answers it at s3api.MetricsPath; docs/metrics.md lists the metrics.
type memberMetrics struct {
	reg *prometheus.Registry
	s3  *s3api.Metrics
}

// newMemberMetrics registers the Go runtime's and the process's collectors (per OS
// process: a lab's members all report the same), the S3 request metrics, and m's
// raft state when m is a raft member (not a standalone node; nil for an edge).
func newMemberMetrics(m regionMember) *memberMetrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if rm, ok := m.(*node.Member); ok {
		reg.MustRegister(rm.Collector())
	}
	return &memberMetrics{reg: reg, s3: s3api.NewMetrics(reg)}
}

// handler serves the registry; a collector's failure drops its samples only.
func (mm *memberMetrics) handler(logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(mm.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      mm.reg, // promhttp_metric_handler_errors_total
	})
}

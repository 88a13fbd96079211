package s3api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricsPath is where a Server answers Config.MetricsHandler: path-style only and
// unauthenticated, like the health endpoints (health.go), so that no bucket named
// "metrics" is shadowed. docs/metrics.md lists what is served.
const MetricsPath = "/" + healthBucket + "/metrics"

// latencyBuckets are the upper bounds, in seconds, of the request latency
// histograms: from a cached small GET on loopback to a large body over a slow link.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Metrics counts and times the requests of one or more Servers. Its methods do
// nothing on a nil *Metrics, so a Server without metrics pays nothing for them.
type Metrics struct {
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	forwards        *prometheus.CounterVec
	forwardDuration *prometheus.HistogramVec
	mrapRequests    *prometheus.CounterVec
	mrapBytes       *prometheus.CounterVec
}

// NewMetrics returns Metrics registered with reg (not registered when reg is nil).
// Call it once per registry: a second registration of the same names panics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pangea_s3_requests_total",
			Help: "S3 requests answered, by region, operation and HTTP status.",
		}, []string{"region", "op", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pangea_s3_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its response, by region, operation and HTTP status.",
			Buckets: latencyBuckets,
		}, []string{"region", "op", "status"}),
		forwards: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pangea_s3_forwarded_requests_total",
			Help: "S3 requests forwarded to another region, by that region and the HTTP status it answered (\"error\": no answer).",
		}, []string{"region", "status"}),
		forwardDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pangea_s3_forward_duration_seconds",
			Help:    "Time a forwarded S3 request took, by target region and HTTP status (\"error\": no answer).",
			Buckets: latencyBuckets,
		}, []string{"region", "status"}),
		mrapRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pangea_mrap_requests_total",
			Help: "Requests addressed to a Multi-Region Access Point, by its alias, the region that served them (\"\" none) and HTTP status.",
		}, []string{"mrap", "region", "status"}),
		mrapBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pangea_mrap_bytes_total",
			Help: "Body bytes of requests addressed to a multi-region access point, by the region that served them and direction: in (request bodies, as declared) or out (response bodies).",
		}, []string{"mrap", "region", "direction"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.requestDuration, m.forwards, m.forwardDuration, m.mrapRequests, m.mrapBytes)
	}
	return m
}

// ObserveForward records a request forwarded to region: the HTTP status that region
// answered (zero or less when it gave no answer: labelled "error") and how long it took.
func (m *Metrics) ObserveForward(region string, status int, d time.Duration) {
	if m == nil {
		return
	}
	st := statusLabel(status)
	m.forwards.WithLabelValues(region, st).Inc()
	m.forwardDuration.WithLabelValues(region, st).Observe(d.Seconds())
}

// observeRequest records one request answered by a Server of region.
func (m *Metrics) observeRequest(region string, o op, status int, d time.Duration) {
	if m == nil {
		return
	}
	if status == 0 {
		status = http.StatusOK // nothing written: net/http answers 200
	}
	st := statusLabel(status)
	m.requests.WithLabelValues(region, o.name(), st).Inc()
	m.requestDuration.WithLabelValues(region, o.name(), st).Observe(d.Seconds())
}

// observeMRAP records one request addressed to the MRAP alias, served by
// region ("" when no region took it).
func (m *Metrics) observeMRAP(alias, region string, status int, in, out int64) {
	if m == nil {
		return
	}
	m.mrapRequests.WithLabelValues(alias, region, statusLabel(status)).Inc()
	if in > 0 {
		m.mrapBytes.WithLabelValues(alias, region, "in").Add(float64(in))
	}
	if out > 0 {
		m.mrapBytes.WithLabelValues(alias, region, "out").Add(float64(out))
	}
}

func statusLabel(status int) string {
	if status <= 0 {
		return "error"
	}
	return strconv.Itoa(status)
}

// metrics answers GET/HEAD MetricsPath with Config.MetricsHandler, without
// authentication; a Server without one answers that there is nothing there.
func (s *Server) metrics(rc *reqCtx) {
	if s.cfg.MetricsHandler == nil {
		s.writeError(rc, apiErr("NoSuchKey", "This server serves no metrics."))
		return
	}
	rc.w.Header().Set("Cache-Control", "no-store")
	s.cfg.MetricsHandler.ServeHTTP(rc.w, rc.r)
}

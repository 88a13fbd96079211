package s3api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/s3api/auth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseMetrics parses a text exposition body.
func parseMetrics(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse metrics: %v\n%s", err, body)
	}
	return fams
}

// sample returns the metric of fam whose labels include want, if any.
func sample(fam *dto.MetricFamily, want map[string]string) (*dto.Metric, bool) {
	if fam == nil {
		return nil, false
	}
	for _, m := range fam.GetMetric() {
		n := 0
		for _, lp := range m.GetLabel() {
			if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
				n++
			}
		}
		if n == len(want) {
			return m, true
		}
	}
	return nil, false
}

func TestMetrics_CountsRequestsByOpStatusAndRegion(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	l := openLocal(t)
	srv := New(Config{
		Region:         "us-east-1",
		Credentials:    auth.StaticCredentials{ownerAK: ownerSK},
		Logger:         testLogger(t),
		Metrics:        m,
		MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}, l)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &testEnv{t: t, ts: ts, local: l}
	// A second server of another region sharing the metrics (as an edge's might).
	other := httptest.NewServer(New(Config{Region: "eu-west-1", Metrics: m}, l))
	t.Cleanup(other.Close)

	e.createBucket("counted")
	e.put("counted", "k", "v")
	for range 2 {
		if r := e.ownerDo(http.MethodGet, "/counted/missing", nil, nil); r.status != http.StatusNotFound {
			t.Fatalf("GET missing: %d %s", r.status, r.body)
		}
	}
	if r := e.do(http.MethodGet, "/counted/k", nil, nil, "", ""); r.status != http.StatusForbidden {
		t.Fatalf("anonymous GET: %d %s", r.status, r.body)
	}
	resp, err := other.Client().Get(other.URL + HealthLivePath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m.ObserveForward("ap-southeast-2", http.StatusOK, 30*time.Millisecond)
	m.ObserveForward("ap-southeast-2", 0, time.Second)

	// Unauthenticated, like the health endpoints.
	r := e.do(http.MethodGet, MetricsPath, nil, nil, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", MetricsPath, r.status, r.body)
	}
	if r.header.Get("X-Amz-Request-Id") == "" {
		t.Errorf("GET %s: no request ID", MetricsPath)
	}
	fams := parseMetrics(t, r.body)
	counts := []struct {
		region, op, status string
		want               float64
	}{
		{"us-east-1", "CreateBucket", "200", 1},
		{"us-east-1", "PutObject", "200", 1},
		{"us-east-1", "GetObject", "404", 2},
		{"us-east-1", "GetObject", "403", 1},
		{"eu-west-1", "HealthLive", "200", 1},
	}
	for _, c := range counts {
		labels := map[string]string{"region": c.region, "op": c.op, "status": c.status}
		got, ok := sample(fams["pangea_s3_requests_total"], labels)
		if !ok || got.GetCounter().GetValue() != c.want {
			t.Errorf("pangea_s3_requests_total%v = %v (found %v), want %v", labels, got.GetCounter().GetValue(), ok, c.want)
		}
		h, ok := sample(fams["pangea_s3_request_duration_seconds"], labels)
		if !ok || h.GetHistogram().GetSampleCount() != uint64(c.want) {
			t.Errorf("pangea_s3_request_duration_seconds%v count = %v (found %v), want %v", labels, h.GetHistogram().GetSampleCount(), ok, c.want)
		}
	}
	for _, status := range []string{"200", "error"} {
		labels := map[string]string{"region": "ap-southeast-2", "status": status}
		if got, ok := sample(fams["pangea_s3_forwarded_requests_total"], labels); !ok || got.GetCounter().GetValue() != 1 {
			t.Errorf("pangea_s3_forwarded_requests_total%v = %v (found %v), want 1", labels, got.GetCounter().GetValue(), ok)
		}
		if h, ok := sample(fams["pangea_s3_forward_duration_seconds"], labels); !ok || h.GetHistogram().GetSampleCount() != 1 {
			t.Errorf("pangea_s3_forward_duration_seconds%v: found %v, %v observations, want 1", labels, ok, h.GetHistogram().GetSampleCount())
		}
	}

	// The scrape itself is counted, and HEAD answers too.
	r = e.do(http.MethodHead, MetricsPath, nil, nil, "", "")
	if r.status != http.StatusOK || len(r.body) != 0 {
		t.Fatalf("HEAD %s: %d, %d body bytes", MetricsPath, r.status, len(r.body))
	}
	fams = parseMetrics(t, e.do(http.MethodGet, MetricsPath, nil, nil, "", "").body)
	if got, _ := sample(fams["pangea_s3_requests_total"], map[string]string{"op": "Metrics", "status": "200"}); got.GetCounter().GetValue() != 2 {
		t.Errorf("scrapes counted %v, want 2 before this one", got.GetCounter().GetValue())
	}
}

func TestMetrics_PathWithoutHandlerAndShadowing(t *testing.T) {
	e := newEnv(t) // no metrics at all: requests are served as before
	if r := e.do(http.MethodGet, MetricsPath, nil, nil, "", ""); r.status != http.StatusNotFound || r.code() != "NoSuchKey" {
		t.Errorf("GET %s without a handler: %d %s, want NoSuchKey", MetricsPath, r.status, r.body)
	}
	if r := e.ownerDo(http.MethodPut, MetricsPath, []byte("x"), nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("PUT %s: %d %s, want 405", MetricsPath, r.status, r.body)
	}
	// A bucket named "metrics" is not shadowed.
	e.createBucket("metrics")
	e.put("metrics", "k", "an object")
	if r := e.ownerDo(http.MethodGet, "/metrics/k", nil, nil); r.status != http.StatusOK || string(r.body) != "an object" {
		t.Errorf("GET /metrics/k: %d %q", r.status, r.body)
	}
}

package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/s3api"
)

// scrape GETs a member's metrics endpoint, unauthenticated, and parses it.
func scrape(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url + s3api.MetricsPath)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", s3api.MetricsPath, resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(strings.NewReader(string(body)))
}

// metricValue is the value (gauge or counter) of the sample of fams[name] whose
// labels include want.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, error) {
	f := fams[name]
	if f == nil {
		return 0, fmt.Errorf("no %s", name)
	}
	for _, m := range f.GetMetric() {
		n := 0
		for _, lp := range m.GetLabel() {
			if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
				n++
			}
		}
		if n != len(want) {
			continue
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue(), nil
		}
		return m.GetGauge().GetValue(), nil
	}
	return 0, fmt.Errorf("no %s%v", name, want)
}

// expectedSample is a sample a scrape must hold, and what its value must satisfy.
type expectedSample struct {
	name   string
	labels map[string]string
	ok     func(float64) bool
}

// TestLab_MembersServeTheirOwnMetrics scrapes each member of a two-region lab:
// each answers at /_pangea/metrics, unauthenticated, from a registry of its own,
// with its S3 requests, its raft state and its gossip pool's view of the other.
func TestLab_MembersServeTheirOwnMetrics(t *testing.T) {
	topo, err := topology.Parse([]byte(twoLoners))
	if err != nil {
		t.Fatal(err)
	}
	pl := startTestPlanet(t, topo)
	lf := labfile0(pl)
	ra, rb := pl.regions[0].members[0], pl.regions[1].members[0]
	if _, err := regionS3(lf, ra.url, "ra").ListBuckets(t.Context(), &s3.ListBucketsInput{}); err != nil {
		t.Fatal(err)
	}

	check := func(m *planetMember, self, other string, requests bool) func() error {
		return func() error {
			fams, err := scrape(m.url)
			if err != nil {
				return err
			}
			want := []expectedSample{
				{"pangea_raft_state", map[string]string{"region": self, "member": "n1", "state": "leader"}, func(v float64) bool { return v == 1 }},
				{"pangea_raft_commit_index", map[string]string{"region": self, "member": "n1"}, func(v float64) bool { return v > 0 }},
				{"pangea_raft_applied_index", map[string]string{"region": self, "member": "n1"}, func(v float64) bool { return v > 0 }},
				{"pangea_gossip_peer_health", map[string]string{"peer": other + "/n1", "peer_region": other, "health": "alive"}, func(v float64) bool { return v == 1 }},
				{"pangea_gossip_peer_rtt_seconds", map[string]string{"peer": other + "/n1"}, func(v float64) bool { return v > 0 }},
				{"pangea_gossip_peers", map[string]string{"health": "alive"}, func(v float64) bool { return v == 1 }},
				{"go_goroutines", nil, func(v float64) bool { return v > 0 }},
			}
			if requests {
				want = append(want, expectedSample{"pangea_s3_requests_total", map[string]string{"region": self, "op": "ListBuckets", "status": "200"}, func(v float64) bool { return v == 1 }})
			}
			for _, w := range want {
				v, err := metricValue(fams, w.name, w.labels)
				if err != nil {
					return err
				}
				if !w.ok(v) {
					return fmt.Errorf("%s%v = %v", w.name, w.labels, v)
				}
			}
			// Its own registry: nothing of the other member's raft.
			if _, err := metricValue(fams, "pangea_raft_state", map[string]string{"region": other}); err == nil {
				return testkit.Stop(fmt.Errorf("%s's endpoint reports %s's raft state", self, other))
			}
			return nil
		}
	}
	testkit.Eventually(t, 15*time.Second, "ra/n1's metrics", check(ra, "ra", "rb", true))
	testkit.Eventually(t, 15*time.Second, "rb/n1's metrics", check(rb, "rb", "ra", false))
}

// TestRun_NodeServesMetrics runs `pangea node` as a single-member region and as a
// standalone node: both answer their metrics with the S3 requests; only the raft
// member reports raft state, and neither has a gossip pool to report.
func TestRun_NodeServesMetrics(t *testing.T) {
	for _, standalone := range []bool{false, true} {
		t.Run(fmt.Sprintf("standalone=%v", standalone), func(t *testing.T) {
			dir := t.TempDir()
			c, _, _ := testCLI(nil)
			args := []string{"node", "--data", dir, "--addr", "127.0.0.1:0", "--no-fsync", "--log-level", "warn"}
			if standalone {
				args = append(args, "--standalone")
			}
			lf, _ := startServe(t, c, dir, args...)
			url := lf.Endpoints.Global
			createBucket(t, url+"/counted", lf.AccessKey, lf.SecretKey)
			fams, err := scrape(url)
			if err != nil {
				t.Fatal(err)
			}
			labels := map[string]string{"region": DefaultConfig().Region, "op": "CreateBucket", "status": "200"}
			if v, err := metricValue(fams, "pangea_s3_requests_total", labels); err != nil || v != 1 {
				t.Errorf("pangea_s3_requests_total%v = %v (%v), want 1", labels, v, err)
			}
			_, err = metricValue(fams, "pangea_raft_commit_index", nil)
			if standalone != (err != nil) {
				t.Errorf("standalone %v, raft commit index reported: %v", standalone, err == nil)
			}
			if _, err := metricValue(fams, "pangea_gossip_peers", nil); err == nil {
				t.Error("a node without a gossip pool reports gossip peers")
			}
		})
	}
}

package nodetest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/s3api"
)

// healthOf asks a member's S3 endpoint for its health over HTTP.
func healthOf(ctx context.Context, t *testing.T, n *Node, path string) (int, s3api.Health) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.S3URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("health of %s: %v", n.ID, err)
	}
	defer resp.Body.Close()
	var h s3api.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("health of %s: %v", n.ID, err)
	}
	return resp.StatusCode, h
}

// TestHarness_ReadinessFollowsTheRegion: every member is ready once the region has a
// leader; a member cut off from the majority turns not ready (but stays live) while
// the majority stays ready, and is ready again once the partition heals.
func TestHarness_ReadinessFollowsTheRegion(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c := Start(t, Options{NoSync: true, LeaderWait: time.Second})
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	ready := func(n *Node) bool {
		code, _ := healthOf(ctx, t, n, s3api.HealthReadyPath)
		return code == http.StatusOK
	}
	for _, n := range c.Nodes(region) {
		if err := WaitFor(ctx, func() bool { return ready(n) }); err != nil {
			t.Fatalf("%s never ready: %v", n.ID, err)
		}
	}

	fs := followers(c, leader)
	isolated := fs[0]
	c.Partition([]*Node{leader, fs[1]}, []*Node{isolated})
	var h s3api.Health
	err = WaitFor(ctx, func() bool {
		var code int
		code, h = healthOf(ctx, t, isolated, s3api.HealthReadyPath)
		return code == http.StatusServiceUnavailable
	})
	if err != nil {
		t.Fatalf("isolated member still ready: %v", err)
	}
	if h.Status != "unavailable" || !strings.Contains(h.Reason, "leader") {
		t.Errorf("isolated member's readiness: %+v, want a reason naming the leader", h)
	}
	if code, h := healthOf(ctx, t, isolated, s3api.HealthLivePath); code != http.StatusOK {
		t.Errorf("isolated member not live: %d %+v", code, h)
	}
	for _, n := range []*Node{leader, fs[1]} {
		if err := WaitFor(ctx, func() bool { return ready(n) }); err != nil {
			t.Errorf("majority member %s not ready during the partition: %v", n.ID, err)
		}
	}

	c.Heal()
	if err := WaitFor(ctx, func() bool { return ready(isolated) }); err != nil {
		t.Fatalf("isolated member not ready after healing: %v", err)
	}
}

package nodetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
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
	ready := func(n *Node) func() error {
		return func() error {
			if code, h := healthOf(ctx, t, n, s3api.HealthReadyPath); code != http.StatusOK {
				return fmt.Errorf("readiness %d %+v", code, h)
			}
			return nil
		}
	}
	for _, n := range c.Nodes(region) {
		if err := testkit.Poll(ctx, ready(n)); err != nil {
			t.Fatalf("%s never ready: %v", n.ID, err)
		}
	}

	fs := followers(c, leader)
	isolated := fs[0]
	c.Partition([]*Node{leader, fs[1]}, []*Node{isolated})
	var h s3api.Health
	err = testkit.Poll(ctx, func() error {
		var code int
		if code, h = healthOf(ctx, t, isolated, s3api.HealthReadyPath); code != http.StatusServiceUnavailable {
			return fmt.Errorf("readiness %d %+v", code, h)
		}
		return nil
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
		if err := testkit.Poll(ctx, ready(n)); err != nil {
			t.Errorf("majority member %s not ready during the partition: %v", n.ID, err)
		}
	}

	c.Heal()
	if err := testkit.Poll(ctx, ready(isolated)); err != nil {
		t.Fatalf("isolated member not ready after healing: %v", err)
	}
}

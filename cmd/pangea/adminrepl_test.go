package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/adminapi"
	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/replication"
	"github.com/pangea-s3/pangea/routing/topology"
)

// findRule returns region src's row for destination dest and rule id in st.
func findRule(st adminReplication, src, dest, id string) (replication.RuleStatus, bool) {
	for _, r := range st.Regions {
		if r.Name != src {
			continue
		}
		for _, row := range r.Rules {
			if row.Dest == dest && row.Rule == id {
				return row, true
			}
		}
	}
	return replication.RuleStatus{}, false
}

// TestAdmin_ReplicationStatus: on a fresh two-region planet GET /replication
// shows both leaders and no rule, and `pangea ctl replication` says how to
// configure one; once ra's bucket replicates to rb and three objects are PUT,
// the endpoint's row for the rule counts three replicated and none pending, the
// shipper has them acknowledged and rb's receiver applied them; the ctl table
// shows the region pair, the rule and the count, --json the JSON, --watch
// prints again until interrupted; a planet node serves its own part.
func TestAdmin_ReplicationStatus(t *testing.T) {
	topo, err := topology.Parse([]byte(twoFar))
	if err != nil {
		t.Fatal(err)
	}
	pl := startTestPlanet(t, topo)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	admin, err := startAdmin("127.0.0.1:0", pl, pl.cfg.ClusterSecret, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.close) // before the planet stops
	cl := &adminapi.Client{Base: admin.URL(), Secret: pl.cfg.ClusterSecret}
	env := map[string]string{"PANGEA_CLUSTER_SECRET": pl.cfg.ClusterSecret}
	ctl := func(args ...string) string {
		t.Helper()
		c, out, errb := testCLI(env)
		if code := c.run(t.Context(), append([]string{"ctl", "--admin", admin.URL(), "replication"}, args...)); code != 0 {
			t.Fatalf("ctl replication %v: exit %d: %s%s", args, code, out.String(), errb.String())
		}
		return out.String()
	}

	// Fresh: leaders, no rule.
	var st adminReplication
	if err := cl.Do(t.Context(), http.MethodGet, "/replication", nil, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Regions) != 2 || st.Regions[0].Name != "ra" || st.Regions[1].Name != "rb" || st.configured() {
		t.Fatalf("fresh planet's replication: %+v", st)
	}
	for _, r := range st.Regions {
		if r.Leader != "n1" || len(r.Members) != 1 || !r.Members[0].Leader || r.Rules == nil || r.Events == nil || r.Shippers == nil {
			t.Errorf("fresh region %s: %+v", r.Name, r)
		}
	}
	if out := ctl(); !strings.Contains(out, "No replication rule is configured") || !strings.Contains(out, "aws s3api put-bucket-replication") {
		t.Errorf("ctl replication on a fresh planet:\n%s", out)
	}

	// Replicate ra's left to rb's right and PUT three objects.
	lf := labfile0(pl)
	ra, rb := regionS3(lf, pl.regions[0].members[0].url, "ra"), regionS3(lf, pl.regions[1].members[0].url, "rb")
	replBucket(t, ra, "left", "ra")
	replBucket(t, rb, "right", "rb")
	replicateTo(t, ra, "left", allRule("to-right", "right", 1))
	const puts = 3
	for i := range puts {
		if _, err := ra.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("left"), Key: aws.String(fmt.Sprintf("k%d", i)),
			Body: strings.NewReader(fmt.Sprintf("body %d", i))}); err != nil {
			t.Fatalf("PUT k%d: %v", i, err)
		}
	}
	testkit.Eventually(t, 30*time.Second, "the rule's row counts every PUT replicated", func() error {
		st = adminReplication{}
		if err := cl.Do(t.Context(), http.MethodGet, "/replication", nil, &st); err != nil {
			return err
		}
		row, ok := findRule(st, "ra", "rb", "to-right")
		if !ok || row.Replicated != puts || row.PendingOps != 0 {
			return fmt.Errorf("row ra → rb to-right %+v (found %v), want %d replicated, 0 pending", row, ok, puts)
		}
		return nil
	})
	rs := st.Regions[0]
	if len(rs.Shippers) != 1 || rs.Shippers[0].Dest != "rb" || rs.Shippers[0].AckedSeq == 0 || rs.Shippers[0].Pending != 0 {
		t.Errorf("ra's shippers: %+v", rs.Shippers)
	}
	if src := st.Regions[1].Members[0].Sources; len(src) != 1 || src[0].SourceRegion != "ra" || src[0].VersionsApplied != puts || src[0].LastApplied == nil {
		t.Errorf("rb/n1's receiver: %+v", src)
	}

	// The table.
	out := ctl()
	t.Logf("pangea ctl replication:\n%s", out)
	row := regexp.MustCompile(`ra → rb +to-right +no +\S+ +0 +- +3 +0 `)
	for _, want := range []string{"== ra (leader n1)", "== rb (leader n1): replicates to no region", "shipper ra → rb: acked ", "pending 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("ctl replication lacks %q", want)
		}
	}
	recv := regexp.MustCompile(`rb/n1 +ra +3 +3 `)
	for _, re := range []*regexp.Regexp{row, recv} {
		if !re.MatchString(out) {
			t.Errorf("ctl replication has no row matching %s", re)
		}
	}

	// --json: the API's JSON.
	var js adminReplication
	if err := json.Unmarshal([]byte(ctl("--json")), &js); err != nil {
		t.Fatalf("ctl replication --json: %v", err)
	}
	if row, ok := findRule(js, "ra", "rb", "to-right"); !ok || row.Replicated != puts {
		t.Errorf("ctl replication --json: row %+v (found %v)", row, ok)
	}

	// --watch prints again until interrupted.
	ctx, cancel := context.WithCancel(t.Context())
	c, wout, werr := testCLI(env)
	code := make(chan int, 1)
	go func() { code <- c.run(ctx, []string{"ctl", "--admin", admin.URL(), "replication", "--watch", "100ms"}) }()
	testkit.Eventually(t, 10*time.Second, "two prints", func() error {
		if n := strings.Count(wout.String(), "replication at "); n < 2 {
			return fmt.Errorf("%d prints so far; stderr %s", n, werr.String())
		}
		return nil
	})
	cancel()
	if n := <-code; n != 0 || strings.Contains(wout.String(), clearScreen) {
		t.Errorf("ctl replication --watch: exit %d after the interrupt, or cleared a screen that is no terminal", n)
	}

	// A wrong secret ends a watch at once.
	c, _, errb := testCLI(map[string]string{"PANGEA_CLUSTER_SECRET": "not-the-secret"})
	if n := c.run(t.Context(), []string{"ctl", "--admin", admin.URL(), "replication", "--watch", "1s"}); n != 1 || !strings.Contains(errb.String(), "refused the signature") {
		t.Errorf("ctl replication --watch with a wrong secret: exit %d: %s", n, errb.String())
	}

	// A planet node's own part, under /_pangea/admin.
	m := pl.regions[0].members[0]
	pn := &planetNode{sm: m.servedMember, pool: m.pool, verify: adminapi.NewVerifier(pl.cfg.ClusterSecret, nil), logger: logger}
	srv := httptest.NewServer(pn.withStatus(http.NotFoundHandler()))
	defer srv.Close()
	var ns adminReplication
	ncl := &adminapi.Client{Base: srv.URL + planetStatusPrefix, Secret: pl.cfg.ClusterSecret}
	if err := ncl.Do(t.Context(), http.MethodGet, "/replication", nil, &ns); err != nil {
		t.Fatalf("planet node's GET /replication: %v", err)
	}
	if row, ok := findRule(ns, "ra", "rb", "to-right"); ns.Viewer != "ra/n1" || len(ns.Regions) != 1 || ns.Regions[0].Leader != "n1" || !ok || row.Replicated != puts {
		t.Errorf("planet node's replication: %+v", ns)
	}
}

// TestCtlReplication_Usage: replication needs a lab, takes no arguments, and a
// sensible --watch period.
func TestCtlReplication_Usage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ctl", "replication"}, "acts on a running lab"},
		{[]string{"ctl", "--admin", "http://127.0.0.1:1", "replication", "extra"}, "takes no arguments"},
		{[]string{"ctl", "--admin", "http://127.0.0.1:1", "replication", "--watch", "1ns"}, "at least 100ms"},
	} {
		c, _, errb := testCLI(map[string]string{"PANGEA_CLUSTER_SECRET": "s"})
		if code := c.run(t.Context(), tc.args); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

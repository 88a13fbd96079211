package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pangea-s3/pangea/routing"
)

// adminMRAPs is the lab's Multi-Region Access Points as the admin API's
// GET /mraps reports them: each MRAP with its regions and routes, whether each
// region can serve now, and where requests entering at each edge go now.
type adminMRAPs struct {
	Time  time.Time   `json:"time"`
	MRAPs []adminMRAP `json:"mraps"`
}

type adminMRAP struct {
	Name    string            `json:"name"`
	Alias   string            `json:"alias"`
	ARN     string            `json:"arn"`
	Status  string            `json:"status"`
	Regions []adminMRAPRegion `json:"regions"`
	// Edges says, per edge, the regions a request entering there goes to now,
	// in order (the first serves it; the others are the fallbacks).
	Edges []adminMRAPEdge `json:"edges"`
}

type adminMRAPRegion struct {
	Region  string `json:"region"`
	Bucket  string `json:"bucket"`
	Dial    int    `json:"traffic_dial"`
	Healthy bool   `json:"healthy"` // some member of the region is alive
}

type adminMRAPEdge struct {
	Edge     string   `json:"edge"`
	Location string   `json:"location"`
	Order    []string `json:"order"`
	// RTTs are the measured round trips to Order's regions (0: this
	// location, or not measured yet), in milliseconds.
	RTTms []float64 `json:"rtt_ms"`
}

// mraps reports the lab's MRAPs as the first edge's cached catalog has them.
func (p *planet) mraps() adminMRAPs {
	out := adminMRAPs{Time: time.Now().UTC(), MRAPs: []adminMRAP{}}
	p.mu.Lock()
	edges := append([]*edgeProc(nil), p.edges...)
	p.mu.Unlock()
	if len(edges) == 0 {
		return out
	}
	snap := edges[0].front.cat.Snapshot()
	for _, m := range snap.MRAPs {
		am := adminMRAP{Name: m.Name, Alias: m.Alias, ARN: m.ARN(), Status: m.Status, Regions: []adminMRAPRegion{}, Edges: []adminMRAPEdge{}}
		for _, r := range m.Regions {
			am.Regions = append(am.Regions, adminMRAPRegion{Region: r.Region, Bucket: r.Bucket, Dial: r.TrafficDial,
				Healthy: len(routing.MemberAddrs(edges[0].pool, r.Region)) > 0})
		}
		for _, e := range edges {
			ae := adminMRAPEdge{Edge: e.name, Location: e.location, Order: []string{}, RTTms: []float64{}}
			for _, pr := range e.front.picker.Pick(m) {
				ae.Order = append(ae.Order, pr.Region)
				ae.RTTms = append(ae.RTTms, float64(pr.RTT.Microseconds())/1000)
			}
			am.Edges = append(am.Edges, ae)
		}
		out.MRAPs = append(out.MRAPs, am)
	}
	sort.Slice(out.MRAPs, func(i, j int) bool { return out.MRAPs[i].Name < out.MRAPs[j].Name })
	return out
}

// ctlMRAP prints the lab's MRAPs: `pangea ctl --lab DIR mrap`.
func (c *cli) ctlMRAP(ctx context.Context, labDir, adminURL, secret string, secretSet bool) int {
	cl, code := c.labAdminClient(labDir, adminURL, secret, secretSet)
	if cl == nil {
		return code
	}
	var st adminMRAPs
	if err := cl.Do(ctx, http.MethodGet, "/mraps", nil, &st); err != nil {
		fmt.Fprintf(c.stderr, "pangea ctl mrap: %v\n", err)
		return 1
	}
	printMRAPs(c.stdout, st)
	return 0
}

// printMRAPs writes st for people.
func printMRAPs(w io.Writer, st adminMRAPs) {
	if len(st.MRAPs) == 0 {
		fmt.Fprintln(w, "No multi-region access point. Create one with `pangea lab --mrap NAME`, or with the S3 Control API")
		fmt.Fprintln(w, "(aws s3control create-multi-region-access-point through `pangea lab --proxy`: docs/mrap-clients.md).")
		return
	}
	for i, m := range st.MRAPs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "== %s  %s  %s\n", m.Name, m.Status, m.ARN)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "REGION\tBUCKET\tROUTE\tHEALTH")
		for _, r := range m.Regions {
			route, health := "active", "up"
			if r.Dial == 0 {
				route = "passive"
			}
			if !r.Healthy {
				health = "DOWN"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s (%d)\t%s\n", r.Region, r.Bucket, route, r.Dial, health)
		}
		tw.Flush()
		fmt.Fprintln(w, "requests entering at each edge go to (then fall back to):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, e := range m.Edges {
			var hops []string
			for j, r := range e.Order {
				hops = append(hops, fmt.Sprintf("%s (%.0f ms)", r, e.RTTms[j]))
			}
			to := strings.Join(hops, " → ")
			if to == "" {
				to = "nowhere: no active region is up (503)"
			}
			fmt.Fprintf(tw, "  %s\tat %s\t%s\n", e.Edge, e.Location, to)
		}
		tw.Flush()
	}
}

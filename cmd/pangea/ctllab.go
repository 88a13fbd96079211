package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/adminapi"
	"github.com/pangea-s3/pangea/cmd/pangea/internal/labfile"
)

// `pangea ctl --lab DIR` (or --admin URL): the lab's admin API.

// labCommands are the ctl commands only a lab's admin API serves.
var labCommands = map[string]bool{
	"latency": true, "partition": true, "heal": true,
	"region-down": true, "region-up": true, "member-stop": true, "member-start": true,
	"replication": true, "mrap": true,
}

// linkOpts are the latency command's optional settings.
type linkOpts struct {
	jitter    time.Duration
	loss      float64
	bandwidth int64
}

// ctlLab runs a ctl command against a lab's admin API. The lab's lab.json gives
// the API's URL and the cluster secret; --cluster-secret given on the command
// line, or --admin URL with the secret from PANGEA_CLUSTER_SECRET, override.
func (c *cli) ctlLab(ctx context.Context, rest []string, labDir, adminURL, secret string, secretSet bool, lo linkOpts) int {
	usage := func(format string, a ...any) int {
		fmt.Fprintf(c.stderr, "pangea ctl: "+format+"\n", a...)
		return 2
	}
	// Check the command line before reading anything.
	var method, path string
	var body any
	switch cmd, args := rest[0], rest[1:]; cmd {
	case "status":
		if len(args) != 0 {
			return usage("status takes no arguments, got %q", strings.Join(args, " "))
		}
		method, path = http.MethodGet, "/status"
	case "latency":
		if len(args) != 3 {
			return usage("usage: latency LOCATION_A LOCATION_B RTT [--jitter D] [--loss F] [--bandwidth BYTES_PER_S], e.g. latency us-east eu-west 150ms")
		}
		rtt, err := time.ParseDuration(args[2])
		if err != nil || rtt < 0 {
			return usage("latency: RTT %q is not a duration such as 150ms", args[2])
		}
		if lo.jitter < 0 || lo.loss < 0 || lo.loss >= 1 || lo.bandwidth < 0 {
			return usage("latency: --jitter must be >= 0, --loss in [0, 1), --bandwidth >= 0")
		}
		d := adminapi.Duration(rtt)
		method, path = http.MethodPost, "/links"
		body = adminapi.LinkRequest{A: args[0], B: args[1], RTT: &d, Jitter: adminapi.Duration(lo.jitter), Loss: lo.loss, Bandwidth: lo.bandwidth}
	case "partition", "heal":
		if len(args) != 2 {
			return usage("usage: %s LOCATION_A LOCATION_B (locations, as in pangea ctl --lab DIR status)", cmd)
		}
		method, path, body = http.MethodPost, "/"+cmd, adminapi.PairRequest{A: args[0], B: args[1]}
	case "region-down", "region-up":
		if len(args) != 1 || !adminapi.ValidName(args[0]) {
			return usage("usage: %s REGION, e.g. %s eu-west-1", cmd, cmd)
		}
		method, path = http.MethodPost, "/regions/"+args[0]+"/"+strings.TrimPrefix(cmd, "region-")
	case "member-stop", "member-start":
		if len(args) != 2 || !adminapi.ValidName(args[0]) || !adminapi.ValidName(args[1]) {
			return usage("usage: %s REGION ID, e.g. %s us-east-1 n2", cmd, cmd)
		}
		method, path = http.MethodPost, "/members/"+args[0]+"/"+args[1]+"/"+strings.TrimPrefix(cmd, "member-")
	default:
		return usage("unknown lab command %q: use status, latency, partition, heal, region-down, region-up, member-stop, member-start or replication", strings.Join(rest, " "))
	}

	cl, code := c.labAdminClient(labDir, adminURL, secret, secretSet)
	if cl == nil {
		return code
	}
	adminURL = cl.Base
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	if method == http.MethodGet {
		var st adminapi.Status
		if err := cl.Do(ctx, method, path, nil, &st); err != nil {
			return c.ctlLabFailed(adminURL, err)
		}
		printPlanetStatus(c.stdout, st)
		return 0
	}
	var res map[string]string
	if err := cl.Do(ctx, method, path, body, &res); err != nil {
		return c.ctlLabFailed(adminURL, err)
	}
	fmt.Fprintln(c.stdout, res["result"])
	return 0
}

// labAdminClient is the client of the lab's admin API that --lab DIR (its
// lab.json) or --admin URL names, signing with lab.json's cluster secret unless
// --cluster-secret was given (secretSet), or else with secret. On a failure it
// says so and returns nil with the exit status.
func (c *cli) labAdminClient(labDir, adminURL, secret string, secretSet bool) (*adminapi.Client, int) {
	usage := func(format string, a ...any) (*adminapi.Client, int) {
		fmt.Fprintf(c.stderr, "pangea ctl: "+format+"\n", a...)
		return nil, 2
	}
	if labDir != "" && adminURL == "" {
		lf, err := labfile.Read(labDir)
		if err != nil {
			fmt.Fprintf(c.stderr, "pangea ctl: %v (is pangea lab running with --data %s?)\n", err, labDir)
			return nil, 1
		}
		if lf.Admin == "" {
			fmt.Fprintf(c.stderr, "pangea ctl: %s has no admin address: it was written by pangea node or an older pangea lab\n", labfile.Path(labDir))
			return nil, 1
		}
		adminURL = lf.Admin
		if !secretSet && lf.ClusterSecret != "" {
			secret = lf.ClusterSecret
		}
	}
	if !strings.Contains(adminURL, "://") {
		adminURL = "http://" + adminURL
	}
	if u, err := url.Parse(adminURL); err != nil || u.Host == "" {
		return usage("--admin %q: want a URL such as http://127.0.0.1:PORT (lab.json's \"admin\")", adminURL)
	}
	if secret == "" {
		return usage("the cluster secret is required: give --lab DIR, or set PANGEA_CLUSTER_SECRET (lab.json's cluster_secret)")
	}
	return &adminapi.Client{Base: adminURL, Secret: secret}, 0
}

func (c *cli) ctlLabFailed(adminURL string, err error) int {
	fmt.Fprintf(c.stderr, "pangea ctl: %v\n", err)
	var ae *adminapi.APIError
	switch {
	case errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
		fmt.Fprintln(c.stderr, "pangea ctl: the lab refused the signature: use --lab DIR (its lab.json holds the secret), or set PANGEA_CLUSTER_SECRET to lab.json's cluster_secret; check the clock if it says timestamp")
	case errors.As(err, &ae):
	default:
		fmt.Fprintf(c.stderr, "pangea ctl: is the lab running? %s is lab.json's \"admin\" address\n", adminURL)
	}
	return 1
}

// printPlanetStatus prints the planet readable at a glance: one line per member,
// then the RTT matrix gossip measures, then the links that are more than a
// plain RTT or differ from the topology's.
func printPlanetStatus(w io.Writer, st adminapi.Status) {
	fmt.Fprintf(w, "planet: %d regions, control region %s; %s\n", len(st.Regions), st.ControlRegion, st.Catalog)
	if st.Viewer != "" {
		fmt.Fprintf(w, "health as gossip at %s sees it\n\n", st.Viewer)
	} else {
		fmt.Fprint(w, "every member is stopped: no gossip view\n\n")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tLOCATION\tMEMBER\tRAFT\tHEALTH\tS3 ENDPOINT\tCLUSTER\tGOSSIP")
	for _, r := range st.Regions {
		for _, m := range r.Members {
			raft := m.RaftState
			if m.Leader {
				raft = "LEADER"
			}
			region := r.Name
			if r.Down {
				region += " (DOWN)"
			} else if r.Leader == "" {
				region += " (no leader)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", region, r.Location, m.ID, raft, m.Health, m.S3, m.Cluster, m.Gossip)
		}
	}
	for _, e := range st.Edges {
		fmt.Fprintf(tw, "(edge)\t%s\t%s\t-\t%s\t%s\t-\t-\n", e.Location, e.Name, e.Health, e.S3)
	}
	tw.Flush()

	var locs []string
	cell := map[[2]string]adminapi.LinkStatus{}
	for _, l := range st.Links {
		if l.A == l.B { // each location's row starts with itself
			locs = append(locs, l.A)
		}
		cell[[2]string{l.A, l.B}], cell[[2]string{l.B, l.A}] = l, l
	}
	fmt.Fprint(w, "\nRTT measured by gossip (configured in brackets; cut: partitioned)\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "\t")
	for _, b := range locs {
		fmt.Fprintf(tw, "%s\t", b)
	}
	fmt.Fprintln(tw)
	for _, a := range locs {
		fmt.Fprintf(tw, "%s\t", a)
		for _, b := range locs {
			l := cell[[2]string{a, b}]
			v := "-"
			if l.Samples > 0 {
				v = roundRTT(time.Duration(l.Measured))
			}
			if a != b {
				v += " (" + time.Duration(l.ConfiguredRTT).String() + ")"
			}
			if l.Cut {
				v = "cut"
			}
			fmt.Fprintf(tw, "%s\t", v)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()

	changed := false
	for _, l := range st.Links {
		if l.A == l.B {
			continue
		}
		if 2*l.Latency != l.ConfiguredRTT || l.Jitter != 0 || l.Loss != 0 || l.Bandwidth != 0 || l.Cut {
			if !changed {
				fmt.Fprint(w, "\nlinks changed at run time, cut, or with jitter, loss or a bandwidth cap\n")
				tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "A\tB\tRTT\tJITTER\tLOSS\tBANDWIDTH\tSTATE")
				changed = true
			}
			state, bw := "up", "unlimited"
			if l.Cut {
				state = "PARTITIONED"
			}
			if l.Bandwidth > 0 {
				bw = fmt.Sprintf("%d B/s", l.Bandwidth)
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%g\t%s\t%s\n", l.A, l.B, 2*time.Duration(l.Latency), time.Duration(l.Jitter), l.Loss, bw, state)
		}
	}
	if changed {
		tw.Flush()
	}
}

// roundRTT prints an RTT to a useful precision.
func roundRTT(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(10 * time.Microsecond).String()
	}
}

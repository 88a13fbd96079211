package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/adminapi"
	"github.com/pangea-s3/pangea/replication"
)

// `pangea ctl --lab DIR replication`: the planet's cross-region replication at a
// glance, from the admin API's GET /replication (adminrepl.go).

// replEventsPrinted is how many of a region's recent events the table shows
// (--json gives every one the API returns).
const replEventsPrinted = 10

// clearScreen moves a terminal's cursor home and clears the screen.
const clearScreen = "\x1b[H\x1b[2J"

// replOpts are the replication command's flags.
type replOpts struct {
	json  bool
	watch time.Duration
}

// bind registers the replication command's flags on fs.
func (o *replOpts) bind(fs *flag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "replication: print the admin API's JSON as it comes")
	fs.DurationVar(&o.watch, "watch", 0, "replication: print again every `duration` (e.g. 2s) until interrupted")
}

// ctlReplication is `pangea ctl --lab DIR replication [--json] [--watch D]`.
// With --watch it reprints until ctx ends (clearing the screen first when
// stdout is a terminal), reporting a failed read and trying again at the next
// tick; without, or when the lab refuses the signature, a failed read exits 1.
func (c *cli) ctlReplication(ctx context.Context, args []string, labDir, adminURL, secret string, secretSet bool, o replOpts) int {
	if len(args) != 0 {
		fmt.Fprintf(c.stderr, "pangea ctl: replication takes no arguments (flags --json, --watch DURATION), got %q\n", strings.Join(args, " "))
		return 2
	}
	if o.watch < 0 || (o.watch > 0 && o.watch < 100*time.Millisecond) {
		fmt.Fprintf(c.stderr, "pangea ctl: --watch %v: give a period of at least 100ms, such as 2s\n", o.watch)
		return 2
	}
	cl, code := c.labAdminClient(labDir, adminURL, secret, secretSet)
	if cl == nil {
		return code
	}
	clearFirst := o.watch > 0 && isTerminal(c.stdout)
	var tick *time.Ticker
	if o.watch > 0 {
		tick = time.NewTicker(o.watch)
		defer tick.Stop()
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, ctlTimeout)
		var raw json.RawMessage
		err := cl.Do(rctx, http.MethodGet, "/replication", nil, &raw)
		cancel()
		if clearFirst {
			fmt.Fprint(c.stdout, clearScreen)
		}
		switch {
		case err != nil && (tick == nil || refused(err)):
			return c.ctlLabFailed(cl.Base, err)
		case err != nil && ctx.Err() != nil:
			return 0 // interrupted while watching
		case err != nil:
			fmt.Fprintf(c.stdout, "%s  pangea ctl: %v (trying again in %v)\n", time.Now().UTC().Format(time.TimeOnly), err, o.watch)
		case o.json:
			fmt.Fprintln(c.stdout, strings.TrimSpace(string(raw)))
		default:
			var st adminReplication
			if err := json.Unmarshal(raw, &st); err != nil {
				fmt.Fprintf(c.stderr, "pangea ctl: the admin API's replication status: %v (is the lab's pangea the same version as this one?)\n", err)
				return 1
			}
			printReplication(c.stdout, st)
		}
		if tick == nil {
			return 0
		}
		select {
		case <-ctx.Done():
			return 0
		case <-tick.C:
		}
	}
}

// refused reports whether err is the admin API refusing the request's
// signature: trying again would not help.
func refused(err error) bool {
	var ae *adminapi.APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden)
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// printReplication prints st for people: per source region, a table of its
// rules by destination (replication.WriteTable) with its recent events and a
// line per destination with the shipper's sequences; then what each member
// applied from each source. With no rule anywhere, it says how to configure one.
func printReplication(w io.Writer, st adminReplication) {
	fmt.Fprintf(w, "replication at %s UTC", st.Time.UTC().Format(time.DateTime))
	if st.Viewer != "" {
		fmt.Fprintf(w, ", as planet node %s sees it (its own state only)", st.Viewer)
	}
	fmt.Fprintln(w)
	if !st.configured() {
		fmt.Fprint(w, "\nNo replication rule is configured in any region (no leader has a rule or a destination).\n"+
			"Configure one on a source bucket, both it and the destination bucket versioned, e.g.:\n\n"+
			"  aws s3api put-bucket-versioning --endpoint-url URL --bucket SRC --versioning-configuration Status=Enabled\n"+
			"  aws s3api put-bucket-replication --endpoint-url URL --bucket SRC --replication-configuration \\\n"+
			"    '{\"Role\": \"arn:aws:iam::000000000000:role/replication\", \"Rules\": [{\"ID\": \"to-dst\", \"Priority\": 1,\n"+
			"      \"Status\": \"Enabled\", \"Filter\": {\"Prefix\": \"\"}, \"DeleteMarkerReplication\": {\"Status\": \"Enabled\"},\n"+
			"      \"Destination\": {\"Bucket\": \"arn:aws:s3:::DST\"}}]}'\n")
		var leaderless []string
		for _, r := range st.Regions {
			if r.Leader == "" {
				leaderless = append(leaderless, r.Name)
			}
		}
		if len(leaderless) > 0 {
			fmt.Fprintf(w, "\nNo member leads %s now: rules there show once a leader is elected.\n", strings.Join(leaderless, ", "))
		}
		return
	}
	for _, r := range st.Regions {
		fmt.Fprintln(w)
		switch {
		case r.Leader == "":
			fmt.Fprintf(w, "== %s: no member leads it now (its rules show once one is elected)\n", r.Name)
			continue
		case len(r.Rules) == 0 && len(r.Shippers) == 0 && len(r.Events) == 0:
			fmt.Fprintf(w, "== %s (leader %s): replicates to no region\n", r.Name, r.Leader)
			continue
		}
		fmt.Fprintf(w, "== %s (leader %s)\n", r.Name, r.Leader)
		ev := r.Events
		if len(ev) > replEventsPrinted {
			ev = ev[:replEventsPrinted]
		}
		replication.WriteTable(w, r.Rules, ev)
		if len(r.Events) > len(ev) {
			fmt.Fprintf(w, "(%d more events: --json)\n", len(r.Events)-len(ev))
		}
		if len(r.Shippers) > 0 {
			fmt.Fprintln(w)
		}
		for _, s := range r.Shippers {
			fmt.Fprintf(w, "shipper %s → %s: acked %d, shipped %d, pending %d (batches %d, versions %d, %d bytes, failures %d)\n",
				r.Name, s.Dest, s.AckedSeq, s.ShippedSeq, s.Pending, s.Batches, s.VersionsShipped, s.BytesShipped, s.Failures)
		}
		for _, b := range r.Backfills {
			state := "running"
			if b.Done {
				state = "done"
			}
			fmt.Fprintf(w, "backfill of %s (existing objects): %s, %d versions scanned, %d queued\n", b.Bucket, state, b.Scanned, b.Queued)
		}
	}
	printReceivers(w, st)
}

// printReceivers prints what each member applied from each source region, if
// any member applied anything.
func printReceivers(w io.Writer, st adminReplication) {
	var tw *tabwriter.Writer
	for _, r := range st.Regions {
		for _, m := range r.Members {
			for _, s := range m.Sources {
				if tw == nil {
					fmt.Fprint(w, "\nReceived, per member (counters since it started)\n")
					tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "MEMBER\tFROM\tAPPLIED THROUGH\tVERSIONS\tBYTES\tFAILED\tSTREAM\tLAST APPLIED (UTC)")
				}
				stream, last := "closed", "-"
				if s.Connected {
					stream = "open"
				}
				if s.LastApplied != nil {
					last = s.LastApplied.UTC().Format(time.TimeOnly)
				}
				fmt.Fprintf(tw, "%s/%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n",
					r.Name, m.ID, s.SourceRegion, s.AppliedThroughSeq, s.VersionsApplied, s.BytesApplied, s.VersionsFailed, stream, last)
			}
		}
	}
	if tw != nil {
		tw.Flush()
	}
}

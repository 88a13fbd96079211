package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pangea-s3/pangea/node"
)

// ctlTimeout bounds one ctl command (membership changes wait for a leader).
const ctlTimeout = 30 * time.Second

func (c *cli) ctlCmd(ctx context.Context, args []string) int {
	fs := c.newFlagSet("ctl", "Inspect and change a region through any member's cluster address:\n\n"+
		"  pangea ctl [flags] status            the region as the member sees it\n"+
		"  pangea ctl [flags] add ID ADDR       add a member (started with --join) at cluster address ADDR\n"+
		"  pangea ctl [flags] remove ID         remove a member\n\n"+
		"Inspect and shake a running lab through its admin API (--lab DIR, or --admin URL with the cluster secret):\n\n"+
		"  pangea ctl --lab DIR status                 regions, members, leaders, health, links and measured RTTs\n"+
		"  pangea ctl --lab DIR latency A B RTT        set the link between locations A and B: round trip RTT (e.g. 150ms),\n"+
		"                 [--jitter D] [--loss F] [--bandwidth B]   plus jitter, packet loss in [0,1), bytes/s (0: unlimited)\n"+
		"  pangea ctl --lab DIR partition A B          cut every link between locations A and B\n"+
		"  pangea ctl --lab DIR heal A B               restore it\n"+
		"  pangea ctl --lab DIR region-down R          stop every member of region R, as a crash would\n"+
		"  pangea ctl --lab DIR region-up R            start them again on their data\n"+
		"  pangea ctl --lab DIR member-stop R ID       stop one member (e.g. us-east-1 n2)\n"+
		"  pangea ctl --lab DIR member-start R ID      start it again\n"+
		"  pangea ctl --lab DIR replication            cross-region replication: lag, backlog, failures, events per rule,\n"+
		"                 [--json] [--watch D]         shippers' sequences, receivers; the raw JSON; again every D\n"+
		"  pangea ctl --lab DIR mrap                   multi-region access points: regions, routes, health, and where\n"+
		"                                              requests entering at each edge go now")
	e := c.getenv
	var addr, secret, labDir, adminURL string
	var lo linkOpts
	var ro replOpts
	fs.StringVar(&addr, "cluster-addr", e.str("PANGEA_CLUSTER_ADDR", "127.0.0.1:7000"), "a member's cluster `host:port` (env PANGEA_CLUSTER_ADDR)")
	fs.StringVar(&secret, "cluster-secret", e.str("PANGEA_CLUSTER_SECRET", ""), "the region's cluster `secret` (env PANGEA_CLUSTER_SECRET)")
	fs.StringVar(&labDir, "lab", e.str("PANGEA_LAB", ""), "a running lab's data `directory`: its lab.json gives the admin API and the cluster secret (env PANGEA_LAB)")
	fs.StringVar(&adminURL, "admin", e.str("PANGEA_ADMIN", ""), "the lab's admin API `URL` (lab.json's \"admin\"), with the cluster secret (env PANGEA_ADMIN)")
	fs.DurationVar(&lo.jitter, "jitter", 0, "latency: random extra one-way `delay` in [0, D)")
	fs.Float64Var(&lo.loss, "loss", 0, "latency: `fraction` of gossip packets dropped, in [0, 1)")
	fs.Int64Var(&lo.bandwidth, "bandwidth", 0, "latency: `bytes` per second per direction and connection; 0 unlimited")
	ro.bind(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	// Flags may also follow the command words: `pangea ctl status --cluster-addr X`.
	var rest []string
	for left := fs.Args(); len(left) > 0; left = fs.Args() {
		rest = append(rest, left[0])
		if err := fs.Parse(left[1:]); err != nil {
			return 2
		}
	}
	if len(rest) == 0 {
		fmt.Fprintln(c.stderr, "pangea ctl: missing command: status, add ID ADDR or remove ID; with --lab DIR also latency, partition, heal, region-down, region-up, member-stop, member-start, replication, mrap")
		return 2
	}
	secretSet := false
	fs.Visit(func(f *flag.Flag) { secretSet = secretSet || f.Name == "cluster-secret" })
	if rest[0] == "replication" && (labDir != "" || adminURL != "") {
		return c.ctlReplication(ctx, rest[1:], labDir, adminURL, secret, secretSet, ro)
	}
	if rest[0] == "mrap" && (labDir != "" || adminURL != "") {
		if len(rest) > 1 {
			fmt.Fprintf(c.stderr, "pangea ctl mrap: unexpected arguments %q\n", rest[1:])
			return 2
		}
		return c.ctlMRAP(ctx, labDir, adminURL, secret, secretSet)
	}
	if labDir != "" || adminURL != "" {
		return c.ctlLab(ctx, rest, labDir, adminURL, secret, secretSet, lo)
	}
	if labCommands[rest[0]] {
		fmt.Fprintf(c.stderr, "pangea ctl: %s acts on a running lab: give --lab DIR (its data directory) or --admin URL\n", rest[0])
		return 2
	}
	if secret == "" {
		fmt.Fprintln(c.stderr, "pangea ctl: the cluster secret is required: set PANGEA_CLUSTER_SECRET or --cluster-secret")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	cl, err := node.DialCluster(addr, secret, nil)
	if err != nil {
		return c.ctlFailed(addr, err)
	}
	defer cl.Close()
	switch cmd := rest[0]; {
	case cmd == "status" && len(rest) == 1:
		st, err := cl.Status(ctx)
		if err != nil {
			return c.ctlFailed(addr, err)
		}
		printStatus(c.stdout, st)
	case cmd == "add" && len(rest) == 3:
		idx, err := cl.AddMember(ctx, rest[1], rest[2])
		if err != nil {
			return c.ctlFailed(addr, err)
		}
		fmt.Fprintf(c.stdout, "added %s at %s (configuration index %d)\n", rest[1], rest[2], idx)
	case cmd == "remove" && len(rest) == 2:
		idx, err := cl.RemoveMember(ctx, rest[1])
		if err != nil {
			return c.ctlFailed(addr, err)
		}
		fmt.Fprintf(c.stdout, "removed %s (configuration index %d)\n", rest[1], idx)
	default:
		fmt.Fprintf(c.stderr, "pangea ctl: unknown command %q: use status, add ID ADDR or remove ID\n", strings.Join(rest, " "))
		return 2
	}
	return 0
}

// ctlFailed reports a failed ctl call, with what to check when the member refused
// the connection, and returns the exit status.
func (c *cli) ctlFailed(addr string, err error) int {
	fmt.Fprintf(c.stderr, "pangea ctl: %v\n", err)
	if errors.Is(err, node.ErrHandshake) {
		fmt.Fprintf(c.stderr, "pangea ctl: check that %s is a member's cluster address (--cluster-addr, not its S3 address) "+
			"and that PANGEA_CLUSTER_SECRET (or --cluster-secret) is the secret the region's members run with\n", addr)
	}
	return 1
}

func printStatus(w io.Writer, st node.Status) {
	state := st.State
	if st.Ready {
		state += " (ready)"
	}
	fmt.Fprintf(w, "member   %s (region %s)\nstate    %s, term %d\nleader   %s %s\nindexes  commit %d, applied %d, last log %d\n\n",
		st.ID, st.Region, state, st.Term, st.LeaderID, st.LeaderAddr, st.CommitIndex, st.AppliedIndex, st.LastLogIndex)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tSUFFRAGE\tROLE")
	for _, s := range st.Servers {
		role := ""
		if s.ID == st.LeaderID {
			role = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.Addr, s.Suffrage, role)
	}
	tw.Flush()
}

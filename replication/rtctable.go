package replication

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes st and ev as a person reads them at a glance: one row per
// rule and destination region with its lag percentiles, pending operations,
// age of the oldest pending and counts, then the events given (newest first as
// Events returns them). Times are UTC.
func WriteTable(w io.Writer, st []RuleStatus, ev []Event) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(st) == 0 {
		fmt.Fprintln(tw, "No replication rules are active on this region's leader.")
	} else {
		fmt.Fprintln(tw, "SOURCE → DEST\tRULE\tRTC\tLAG p50/p99/max\tPENDING\tOLDEST\tREPLICATED\tFAILED\tMISSED")
		for _, s := range st {
			lag := "-"
			if s.LagSamples > 0 {
				lag = humanDuration(s.LagP50) + "/" + humanDuration(s.LagP99) + "/" + humanDuration(s.LagMax)
			}
			pending, oldest := "0", "-"
			if s.PendingOps > 0 {
				pending = fmt.Sprintf("%d (%s)", s.PendingOps, humanBytes(s.PendingBytes))
				oldest = humanDuration(s.OldestPending)
			}
			rtc, missed := "no", "-"
			if s.RTC || s.MissedThreshold > 0 {
				missed = fmt.Sprint(s.MissedThreshold)
			}
			if s.RTC {
				rtc = "yes"
			}
			fmt.Fprintf(tw, "%s → %s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n",
				orDash(s.SourceRegion), orDash(s.Dest), orDash(s.Rule), rtc, lag, pending, oldest,
				s.Replicated, s.Failed, missed)
		}
	}
	tw.Flush()

	fmt.Fprintln(w)
	fmt.Fprintln(w, "Recent events")
	if len(ev) == 0 {
		fmt.Fprintln(w, "no events")
		return
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tTYPE\tDEST\tRULE\tKEY\tVERSION\tDETAIL")
	for _, e := range ev {
		var detail []string
		if e.Reason != "" {
			detail = append(detail, e.Reason)
		}
		switch e.Type {
		case EventOperationReplicatedAfterThreshold:
			detail = append(detail, "latency "+humanDuration(e.Latency))
		default:
			detail = append(detail, "age "+humanDuration(e.Latency))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			e.Time.UTC().Format(time.TimeOnly), e.Type, orDash(e.Dest), orDash(e.Rule),
			cell(e.Bucket+"/"+e.Key), orDash(e.VersionID), cell(strings.Join(detail, ", ")))
	}
	tw.Flush()
}

// orDash returns s, or "-" for an empty s.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return cell(s)
}

// cell keeps a value on its row and in its column: tabs and newlines become
// spaces.
func cell(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' {
			return ' '
		}
		return r
	}, s)
}

// humanDuration formats d with two or three significant figures: 0s, 850µs, 38ms,
// 1.2s, 42s, 3m10s, 2h05m, 3d04h.
func humanDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Millisecond {
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
	if ms := d.Round(time.Millisecond); ms < time.Second {
		return fmt.Sprintf("%dms", ms.Milliseconds())
	}
	if t := d.Round(100 * time.Millisecond); t < 10*time.Second {
		return fmt.Sprintf("%.1fs", t.Seconds())
	}
	s := d.Round(time.Second)
	switch {
	case s < time.Minute:
		return fmt.Sprintf("%ds", s/time.Second)
	case s < time.Hour:
		return fmt.Sprintf("%dm%02ds", s/time.Minute, s%time.Minute/time.Second)
	}
	m := d.Round(time.Minute)
	if m < 24*time.Hour {
		return fmt.Sprintf("%dh%02dm", m/time.Hour, m%time.Hour/time.Minute)
	}
	h := d.Round(time.Hour)
	return fmt.Sprintf("%dd%02dh", h/(24*time.Hour), h%(24*time.Hour)/time.Hour)
}

// humanBytes formats n in binary units: 512 B, 1.2 KiB, 1.2 MiB, 3.0 GiB.
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		if v < 1023.95 || unit == "TiB" {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	panic("unreachable")
}

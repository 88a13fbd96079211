package main

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/proto/replicationpb"
	"github.com/pangea-s3/pangea/replication"
)

// GET /replication on the lab's admin API (and under /_pangea/admin on a planet
// node): cross-region replication as the regions' leaders track it, read only.
//
// A region's replication state lives on its leader: the RTC tracker (per rule
// and destination: lag, backlog, counters, events) and the shippers (per
// destination: sequences shipped and acknowledged) are fed while it leads. Every
// member runs a receiver, which tells what it applied from each source region.

// replEventsShown is how many of a region's most recent events GET /replication
// returns.
const replEventsShown = 50

// adminReplication is the body of GET /replication.
type adminReplication struct {
	// Time is when the state was read; ages in the rows are as of then.
	Time time.Time `json:"time"`
	// Viewer names the member that answered when a planet node does (it knows
	// its own state only); empty from the lab, which reads every member.
	Viewer  string            `json:"viewer,omitempty"`
	Regions []adminReplRegion `json:"regions"`
}

// adminReplRegion is one region as a source of replication, and its members as
// receivers.
type adminReplRegion struct {
	Name string `json:"name"`
	// Leader is the member that leads the region now, whose tracker and
	// shippers Rules, Events and Shippers come from; empty when none does (then
	// they are empty: a new leader's appear once it is elected).
	Leader string `json:"leader,omitempty"`
	// Rules has a row per destination region and rule that the leader has
	// shipped for, sorted by destination then rule.
	Rules []replication.RuleStatus `json:"rules"`
	// Events are the leader's most recent events, newest first.
	Events []replication.Event `json:"events"`
	// Shippers has the leader's progress per destination region, sorted by it.
	Shippers []adminReplShipper `json:"shippers"`
	// Backfills has the progress of each bucket's backfill of existing
	// objects (ExistingObjectReplication), sorted by bucket.
	Backfills []adminReplBackfill `json:"backfills"`
	Members   []adminReplMember   `json:"members"`
}

// adminReplBackfill is one bucket's backfill progress (storage.BackfillState).
type adminReplBackfill struct {
	Bucket  string `json:"bucket"`
	Scanned uint64 `json:"scanned"` // versions looked at
	Queued  uint64 `json:"queued"`  // versions queued for replication
	Done    bool   `json:"done"`
}

// adminReplShipper is the leader's shipping progress to one destination region
// (replication.ShipperStats).
type adminReplShipper struct {
	Dest            string `json:"dest"`
	ShippedSeq      uint64 `json:"shipped_seq"`      // through_seq of the last batch sent
	AckedSeq        uint64 `json:"acked_seq"`        // acknowledged by the destination
	Pending         uint64 `json:"pending"`          // outbox entries after acked_seq
	Batches         uint64 `json:"batches"`          // batches sent
	VersionsShipped uint64 `json:"versions_shipped"` // version headers sent
	BytesShipped    uint64 `json:"bytes_shipped"`    // chunk bytes sent, as stored
	Skipped         uint64 `json:"skipped"`          // entries not for this destination, or gone
	Failures        uint64 `json:"failures"`         // versions the destination refused for good
	WindowWaits     uint64 `json:"window_waits"`     // waits for the flow-control window
}

// adminReplMember is one member of a region as a receiver of replication.
type adminReplMember struct {
	ID      string `json:"id"`
	Running bool   `json:"running"`
	Leader  bool   `json:"leader"`
	// Sources is what the member's receiver applied from each source region,
	// sorted by it (counters since the member started).
	Sources []adminReplSource `json:"sources"`
}

// adminReplSource is what a member applied from one source region
// (replicationpb.SourceStatus).
type adminReplSource struct {
	SourceRegion      string     `json:"source_region"`
	AppliedThroughSeq uint64     `json:"applied_through_seq"`
	LastApplied       *time.Time `json:"last_applied,omitempty"`
	SourceTerm        uint64     `json:"source_term"`
	Connected         bool       `json:"connected"`
	VersionsApplied   uint64     `json:"versions_applied"`
	BytesApplied      uint64     `json:"bytes_applied"`
	VersionsFailed    uint64     `json:"versions_failed"`
}

// configured reports whether any region's leader has a rule row or a shipper:
// a replication rule is configured somewhere (as far as the leaders know).
func (s adminReplication) configured() bool {
	return slices.ContainsFunc(s.Regions, func(r adminReplRegion) bool { return len(r.Rules) > 0 || len(r.Shippers) > 0 })
}

// newReplRegion is region name with nothing read yet (empty lists, not null).
func newReplRegion(name string) adminReplRegion {
	return adminReplRegion{Name: name, Rules: []replication.RuleStatus{}, Events: []replication.Event{},
		Shippers: []adminReplShipper{}, Backfills: []adminReplBackfill{}, Members: []adminReplMember{}}
}

// readMemberReplication reads running member sm (ID id) into rs: its receiver's
// sources as a member row and, if it leads the region (the first that says so),
// its tracker's rows and events and its shippers.
func readMemberReplication(ctx context.Context, sm *servedMember, id string, now time.Time, rs *adminReplRegion) {
	ms := adminReplMember{ID: id, Running: true, Leader: sm.member.Ready(), Sources: []adminReplSource{}}
	nm, _ := sm.member.(*node.Member)
	if nm != nil && nm.Receiver() != nil {
		// The receiver answers from memory: no error but a cancelled ctx.
		if resp, err := nm.Receiver().Status(ctx, &replicationpb.StatusRequest{}); err == nil {
			for _, s := range resp.GetSources() {
				src := adminReplSource{
					SourceRegion: s.GetSourceRegion(), AppliedThroughSeq: s.GetAppliedThroughSeq(),
					SourceTerm: s.GetSourceTerm(), Connected: s.GetConnected(),
					VersionsApplied: s.GetVersionsApplied(), BytesApplied: s.GetBytesApplied(), VersionsFailed: s.GetVersionsFailed(),
				}
				if ns := s.GetLastAppliedUnixNanos(); ns != 0 {
					t := time.Unix(0, ns).UTC()
					src.LastApplied = &t
				}
				ms.Sources = append(ms.Sources, src)
			}
		}
	}
	rs.Members = append(rs.Members, ms)
	if !ms.Leader || rs.Leader != "" {
		return
	}
	rs.Leader = id
	if sm.tracker != nil {
		rs.Rules, rs.Events = sm.tracker.Snapshot(now), sm.tracker.Events(replEventsShown)
	}
	if nm != nil {
		if bfs, err := nm.Store().Backfills(); err == nil {
			for _, b := range slices.Sorted(maps.Keys(bfs)) {
				st := bfs[b]
				rs.Backfills = append(rs.Backfills, adminReplBackfill{Bucket: b, Scanned: st.Scanned, Queued: st.Queued, Done: st.Done})
			}
		}
		stats := nm.ReplicationStats()
		for _, dest := range slices.Sorted(maps.Keys(stats)) {
			st := stats[dest]
			rs.Shippers = append(rs.Shippers, adminReplShipper{
				Dest: dest, ShippedSeq: st.ShippedSeq, AckedSeq: st.AckedSeq, Pending: st.Pending, Batches: st.Batches,
				VersionsShipped: st.VersionsShipped, BytesShipped: st.BytesShipped, Skipped: st.Skipped,
				Failures: st.Failures, WindowWaits: st.WindowWaits,
			})
		}
	}
}

// replication reports the planet's replication: every region in topology
// order, with its current leader's rules, events and shippers, and every
// member's receiver.
func (p *planet) replication(ctx context.Context) adminReplication {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	out := adminReplication{Time: now.UTC(), Regions: []adminReplRegion{}}
	for _, r := range p.regions {
		rs := newReplRegion(r.Name)
		for _, m := range r.members {
			if m.servedMember == nil {
				rs.Members = append(rs.Members, adminReplMember{ID: m.id, Sources: []adminReplSource{}})
				continue
			}
			readMemberReplication(ctx, m.servedMember, m.id, now, &rs)
		}
		out.Regions = append(out.Regions, rs)
	}
	return out
}

// replication reports this planet node's own replication: its region, with
// itself as its only member (rules, events and shippers only while it leads).
func (pn *planetNode) replication(ctx context.Context) adminReplication {
	self := pn.pool.Self()
	now := time.Now()
	rs := newReplRegion(self.Region)
	readMemberReplication(ctx, pn.sm, strings.TrimPrefix(self.Name, self.Region+"/"), now, &rs)
	return adminReplication{Time: now.UTC(), Viewer: self.Name, Regions: []adminReplRegion{rs}}
}

package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/pangea-s3/pangea/proto/regionpb"
	"github.com/pangea-s3/pangea/storage"
)

// The region format gate (DESIGN.md, "Upgrades"). Every member knows the newest
// storage.Format its binary can apply (MemberConfig.Format). The region's format is
// state: a committed SetRegionFormat entry raises it. The leader raises it only once
// every voter has answered, through Status, that it knows the new format, and it
// proposes an operation only when the region's format covers it. A member that
// meets an entry it cannot read anyway (a non-voter, a member added while the gate
// was open, a corrupt entry) stops instead of skipping it.

var (
	// ErrFormatNotReady: the operation needs a region format the region has not
	// raised yet, because a voter runs a binary that does not know it. Nothing was
	// applied; the client may retry after the upgrade (503).
	ErrFormatNotReady = errors.New("node: the region's format does not allow this operation yet; upgrade every member of the region")

	// ErrUnreadableEntry: a committed log entry that this member's binary cannot
	// decode or apply. The member stops (HaltErr) rather than skip it.
	ErrUnreadableEntry = errors.New("node: a committed log entry this member cannot read")
)

// DefaultFormatCheck is how often a leader whose region is behind its own binary's
// format asks the voters which format they know.
const DefaultFormatCheck = 5 * time.Second

// checkFormat refuses the commands that the region's format does not cover yet.
// SetRegionFormat itself passes: the leader proposes it after asking the voters.
func (m *Member) checkFormat(cmds []storage.Command) error {
	rf := m.fsm.regionFormat()
	for _, c := range cmds {
		if _, raise := c.(storage.SetRegionFormatCmd); raise {
			continue
		}
		if need := storage.FormatOf(c); need > rf {
			return unavailable(ErrFormatNotReady, fmt.Errorf("%v needs region format %d, the region is at %d", c.Op(), need, rf))
		}
	}
	return nil
}

// RegionFormat returns the region's format as this member has applied it.
func (m *Member) RegionFormat() storage.Format { return m.fsm.regionFormat() }

// FormatChecks counts the times this member, as leader, asked the voters which
// format they know (tests wait on it instead of on time).
func (m *Member) FormatChecks() uint64 { return m.formatChecks.Load() }

// raiseFormat runs on a ready leader for as long as it leads (gen): while the
// region's format is below this binary's, it asks every voter which format it
// knows and raises the region's format to the lowest answer once that is higher.
func (m *Member) raiseFormat(gen uint64) {
	defer m.wg.Done()
	held := storage.Format(0) // the last hold-back logged, to log each one once
	for m.sameGen(gen) && m.stopCtx.Err() == nil {
		cur := m.fsm.regionFormat()
		if cur >= m.cfg.Format {
			return
		}
		target, lagging, err := m.votersFormat(m.stopCtx)
		switch {
		case err != nil:
			m.logger.Debug("region format check", "err", err)
		case target > cur:
			res, err := m.propose(m.stopCtx, []storage.Command{storage.SetRegionFormatCmd{Format: target}})
			if err == nil {
				err = res[0].Err
			}
			if err != nil {
				m.logger.Warn("raising the region format failed; retrying", "format", target, "err", err)
			} else {
				m.logger.Info("region format raised", "from", cur, "to", target)
				continue
			}
		case held != target:
			held = target
			m.logger.Info("region format held back until every voter is upgraded",
				"region_format", cur, "this_binary", m.cfg.Format, "lagging_member", lagging, "its_format", target)
		}
		if pause(m.stopCtx, m.cfg.FormatCheck) != nil {
			return
		}
	}
}

// votersFormat asks every voter of the current configuration which format its
// binary knows and returns the lowest (capped at this binary's) and a member that
// knows only that. A member that answers without a format runs a binary from
// before the gate: Format1.
func (m *Member) votersFormat(ctx context.Context) (storage.Format, string, error) {
	m.formatChecks.Add(1)
	f := m.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return 0, "", err
	}
	low, who := m.cfg.Format, m.cfg.ID
	for _, s := range f.Configuration().Servers {
		if s.Suffrage != raft.Voter || string(s.ID) == m.cfg.ID {
			continue
		}
		known, err := m.memberFormat(ctx, string(s.Address))
		if err != nil {
			return 0, "", fmt.Errorf("ask %s: %w", s.ID, err)
		}
		if known < low {
			low, who = known, string(s.ID)
		}
	}
	return low, who, nil
}

// memberFormat asks the member at addr which format its binary knows.
func (m *Member) memberFormat(ctx context.Context, addr string) (storage.Format, error) {
	ctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	pc, err := m.peers.ready(ctx, addr, probeWait)
	if err != nil {
		return 0, err
	}
	st, err := pc.rpc.Status(ctx, &regionpb.StatusRequest{})
	if err != nil {
		return 0, err
	}
	return max(storage.Format(st.GetFormat()), storage.Format1), nil
}

package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pangea-s3/pangea/proto/replicationpb"
	"github.com/pangea-s3/pangea/replication"
)

// ReplicationConfig wires cross-region replication into a member
// (MemberConfig.Replication): what the member's shipper, run while it leads its
// region, needs to know of the planet.
type ReplicationConfig struct {
	// BucketRegion returns the region that holds a bucket (the global catalog).
	BucketRegion func(ctx context.Context, bucket string) (string, error)
	// Addrs returns the cluster addresses of a region's members, best first.
	Addrs func(region string) []string
	// Tracker, if set, follows each shipped operation for the RTC metrics.
	Tracker *replication.Tracker
	// Refresh is how often the leader reads the buckets' replication
	// configurations again (default 2 s).
	Refresh time.Duration
}

// ErrNoMembers: a region has no member this process knows of.
var ErrNoMembers = errors.New("node: no member of the region is known")

// replicationLocator is a member as the replication.Manager's Locator.
type replicationLocator struct {
	m   *Member
	cfg *ReplicationConfig
}

func (l replicationLocator) BucketRegion(ctx context.Context, bucket string) (string, error) {
	return l.cfg.BucketRegion(ctx, bucket)
}

func (l replicationLocator) Client(region string, attempt int) (replicationpb.ReplicationClient, error) {
	addrs := l.cfg.Addrs(region)
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNoMembers, region)
	}
	pc, err := l.m.peers.get(addrs[attempt%len(addrs)])
	if err != nil {
		return nil, err
	}
	return replicationpb.NewReplicationClient(pc.cc), nil
}

// Receiver is the member's replication receiver: the Replication service it
// serves on its cluster port, applying versions shipped from other regions.
func (m *Member) Receiver() *replication.Receiver { return m.receiver }

// ReplicationStats is the leader's shipping progress per destination region
// (empty on a member that does not lead, or without replication).
func (m *Member) ReplicationStats() map[string]replication.ShipperStats {
	if mg := m.manager.Load(); mg != nil {
		return mg.Stats()
	}
	return map[string]replication.ShipperStats{}
}

// runReplication runs the replication manager for one leadership of term, until
// ctx ends with it. Each batch the store commits wakes it (new outbox entries are
// shipped at once, not at the next poll).
func (m *Member) runReplication(ctx context.Context, term uint64) {
	defer m.wg.Done()
	wake := make(chan struct{}, 1)
	mg := replication.NewManager(replication.ManagerConfig{
		Region: m.cfg.Region, MemberID: m.cfg.ID, Term: term, Store: m.store,
		Commit:  m.Commit,
		Locator: replicationLocator{m: m, cfg: m.cfg.Replication},
		Tracker: m.cfg.Replication.Tracker,
		Logger:  m.logger, Refresh: m.cfg.Replication.Refresh, Wake: wake,
	})
	m.manager.Store(mg)
	defer m.manager.CompareAndSwap(mg, nil)
	go func() {
		for {
			m.fsm.mu.Lock()
			ch := m.fsm.advance
			m.fsm.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-ch:
			}
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	mg.Run(ctx)
}

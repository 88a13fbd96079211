package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// Peer names one member of a region: its raft server ID and its cluster address.
type Peer struct {
	ID   string
	Addr string
}

// RaftTimeouts are hashicorp/raft's timing knobs. Zero fields take the defaults of
// DefaultRaftTimeouts.
type RaftTimeouts struct {
	Heartbeat   time.Duration // follower without contact this long starts an election
	Election    time.Duration // candidate without a result this long retries
	LeaderLease time.Duration // leader without a quorum this long steps down (<= Heartbeat)
	Commit      time.Duration // idle leader heartbeat for commit propagation
}

// DefaultRaftTimeouts suits a LAN: a dead leader is replaced within about 1-1.5 s
// (heartbeat timeout, randomised up to twice, plus one election round).
//
// The leader lease equals the heartbeat timeout. A shorter lease only makes a
// leader that missed a few heartbeat replies (a CPU-starved moment) step down
// before any follower would have started an election, an outage for nothing:
// reads are linearized by a quorum round (VerifyLeader) and writes by the log, so
// no guarantee rests on the lease (measurements: docs/benchmarks.md, "Why the
// member is tuned as it is").
func DefaultRaftTimeouts() RaftTimeouts {
	return RaftTimeouts{Heartbeat: 500 * time.Millisecond, Election: 500 * time.Millisecond, LeaderLease: 500 * time.Millisecond, Commit: 20 * time.Millisecond}
}

// LabRaftTimeouts is the faster profile of `pangea lab` (one machine, loopback).
func LabRaftTimeouts() RaftTimeouts {
	return RaftTimeouts{Heartbeat: 200 * time.Millisecond, Election: 200 * time.Millisecond, LeaderLease: 200 * time.Millisecond, Commit: 10 * time.Millisecond}
}

func (t RaftTimeouts) withDefaults() RaftTimeouts {
	d := DefaultRaftTimeouts()
	if t.Heartbeat <= 0 {
		t.Heartbeat = d.Heartbeat
	}
	if t.Election <= 0 {
		t.Election = d.Election
	}
	if t.LeaderLease <= 0 {
		t.LeaderLease = min(d.LeaderLease, t.Heartbeat)
	}
	if t.Commit <= 0 {
		t.Commit = d.Commit
	}
	return t
}

// MemberConfig configures a region member.
type MemberConfig struct {
	Dir    string // data directory: store.db, raft.db, snapshots/
	Region string // e.g. "us-east-1"
	ID     string // raft server ID, unique and stable within the region

	// ClusterAddr is where raft and gRPC listen (one port, multiplexed), e.g.
	// "10.0.0.5:7000" or "127.0.0.1:0". Listener, if set, is used instead (the test
	// harness binds every port before starting any member). AdvertiseAddr is the
	// address peers dial; default: this member's entry in Peers, else the bound address.
	ClusterAddr   string
	Listener      net.Listener
	AdvertiseAddr string

	// Peers is the static member list of a region's first start, this member
	// included. Empty: a single-member region that bootstraps itself. Peers also
	// serve as the address book: raft dials a server ID at the address given here,
	// so members may change addresses across restarts.
	Peers []Peer
	// Join starts a member that is new to an existing region: it does not
	// bootstrap and waits to be added (pangea ctl add, or Member.AddMember).
	Join bool

	// Secret is the cluster secret every raft and gRPC connection must prove. Empty
	// is allowed only for a single-member region (a random one is used).
	Secret string

	Logger *slog.Logger
	NoSync bool // skip fsync on the store and the raft log (tests only)
	Now    func() time.Time

	GCGrace, GCInterval time.Duration

	Raft              RaftTimeouts
	SnapshotThreshold uint64        // log entries between snapshots; default 4096
	SnapshotInterval  time.Duration // how often to check the threshold; default 30 s
	TrailingLogs      uint64        // entries kept after a snapshot; default 1024
	MaxAppendEntries  int           // entries per append RPC and per leader batch; default 32 (see setDefaults)
	// CommitDelay is how long applied entries wait for more to share the store
	// commit (their answers do not wait: the raft log holds them, and a reader
	// waiting for them has them committed at once). Default 50 ms; negative: commit
	// every batch at once.
	CommitDelay time.Duration

	// LeaderWait bounds how long a request waits for a reachable leader (elections,
	// forwarding retries) and for a read barrier before answering 503. Default 5 s.
	LeaderWait time.Duration
	// ApplyTimeout bounds the enqueueing of a proposal on the leader. Default 5 s.
	ApplyTimeout time.Duration

	// Upload is the slowest a request body may arrive: an upload that falls behind
	// is cut with ErrUploadTooSlow (400 RequestTimeout). Zero fields: the defaults
	// (see UploadPace).
	Upload UploadPace

	// OnLeadership, if set, is told when this member becomes a ready leader and when
	// that leadership ends, for work that runs on the leader only (a replication
	// shipper, say). The contract:
	//
	//   - {Leader: true, Term: T} comes once the member serves as the leader of term
	//     T (Ready reports true): it has applied every entry of earlier terms and its
	//     clock is past every version ID they carry. A leadership lost before that
	//     is not announced at all.
	//   - Exactly one {Leader: false, Term: T} follows each {Leader: true, Term: T}:
	//     when raft reports the loss, or when the member stops (Close, Crash, a
	//     storage failure, its removal; Close returns after it).
	//   - Calls come from one goroutine, one at a time, in that order; the terms of
	//     successive {Leader: true} events never decrease.
	//   - ctx ends when the announced leadership ends (in a {Leader: false} call it
	//     has ended already): work started on {Leader: true} stops with it.
	//   - The events trail raft: when {Leader: true} arrives the member may have lost
	//     leadership already. They say when to start and stop work, not that a
	//     write will succeed; writes go through the log, which decides.
	//
	// The callback must return quickly (start a goroutine for anything slow) and
	// must not call Close: raft waits for the goroutine that calls it before it
	// reports the next change, and Close waits for it too.
	OnLeadership func(ctx context.Context, ev LeadershipEvent)

	// Replication, if set, runs cross-region replication while the member leads
	// its region (replication.Manager): a shipper per destination region of the
	// region's buckets' replication rules. Every member serves the Replication
	// service (the receiver) whether set or not.
	Replication *ReplicationConfig
	// ReplicaApplied, if set, is told of each version replicated into the
	// region that this member's receiver committed (replication.ReceiverOptions
	// Applied): benchmarks measure replication lag with it.
	ReplicaApplied func(source string, v storage.ObjectVersion, at time.Time)

	// Dial opens raw connections to cluster addresses (the harness injects faults
	// here). Default: TCP.
	Dial Dialer

	// Format is the newest region format this member may apply: default (0)
	// storage.LatestFormat, what the binary knows. Tests set an older one to play a
	// member running an older binary. FormatCheck is how often a leader asks the
	// voters whether it may raise the region's format (default DefaultFormatCheck).
	// See format.go.
	Format      storage.Format
	FormatCheck time.Duration
}

func (c *MemberConfig) setDefaults() error {
	switch {
	case c.Dir == "":
		return errors.New("node: MemberConfig.Dir is empty")
	case c.Region == "":
		return errors.New("node: MemberConfig.Region is empty")
	case c.ID == "":
		return errors.New("node: MemberConfig.ID is empty")
	}
	if len(c.Peers) > 0 {
		self := false
		seen := map[string]bool{}
		for _, p := range c.Peers {
			if p.ID == "" || p.Addr == "" {
				return fmt.Errorf("node: peer %+v: want ID and address", p)
			}
			if seen[p.ID] {
				return fmt.Errorf("node: peer %q listed twice", p.ID)
			}
			seen[p.ID] = true
			self = self || p.ID == c.ID
		}
		if !self && !c.Join {
			return fmt.Errorf("node: peers must include this member (%q)", c.ID)
		}
	}
	if c.Secret == "" {
		if len(c.Peers) > 1 || c.Join {
			return errors.New("node: a cluster secret is required for a region of several members")
		}
		var b [32]byte
		rand.Read(b[:])
		c.Secret = fmt.Sprintf("%x", b)
	}
	if c.ClusterAddr == "" && c.Listener == nil {
		c.ClusterAddr = "127.0.0.1:0"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.GCGrace <= 0 {
		c.GCGrace = DefaultGCGrace
	}
	if c.GCInterval <= 0 {
		c.GCInterval = DefaultGCInterval
	}
	c.Raft = c.Raft.withDefaults()
	// A member's own snapshot is a marker (the store is its state, see
	// snapshots.go); the threshold only sets how often the log is compacted, and
	// log entries are cheap to keep (history: docs/benchmarks.md, "Why the member
	// is tuned as it is").
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 4096
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = 30 * time.Second
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 1024
	}
	// Entries per append RPC and per leader log write. Entries can be 1 MiB body
	// chunks and a member catching up through the log receives full batches, so
	// this bounds the memory a catch-up takes (TestRegion_LargeUploadMemoryIsBounded);
	// 32 is the smallest that kept the small-PUT rate (docs/benchmarks.md, "Why the
	// member is tuned as it is").
	if c.MaxAppendEntries <= 0 {
		c.MaxAppendEntries = 32
	}
	if c.CommitDelay == 0 {
		c.CommitDelay = 50 * time.Millisecond
	}
	if c.LeaderWait <= 0 {
		c.LeaderWait = 5 * time.Second
	}
	if c.ApplyTimeout <= 0 {
		c.ApplyTimeout = 5 * time.Second
	}
	if c.Dial == nil {
		c.Dial = defaultDial
	}
	if c.Format == 0 {
		c.Format = storage.LatestFormat
	}
	if c.Format > storage.LatestFormat {
		return fmt.Errorf("node: MemberConfig.Format %d is newer than this binary's %d", c.Format, storage.LatestFormat)
	}
	if c.FormatCheck <= 0 {
		c.FormatCheck = DefaultFormatCheck
	}
	return nil
}

package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/pangea-s3/pangea/proto/regionpb"
	"github.com/pangea-s3/pangea/storage"
)

// maxMessageSize bounds one gRPC message: a submission carries at most a chunk
// (1 MiB) plus a final command with an inline body, far below it.
const maxMessageSize = 64 << 20

// newGRPCConn returns a lazily connecting client for a cluster address. Its
// connections go through d: the secret handshake, then the gRPC channel. The
// transport itself is plain (insecure.NewCredentials): authentication happened in
// the handshake underneath.
func newGRPCConn(addr string, d *clusterDialer) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return d.dialChannel(ctx, a, chanGRPC)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize)),
		// Reconnect quickly: a leader that comes back must be reachable within an
		// election, not after gRPC's default two-minute backoff ceiling.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}),
	)
}

// peerPool caches one gRPC client per cluster address.
type peerPool struct {
	d      *clusterDialer
	mu     sync.Mutex
	conns  map[string]*peerConn
	closed bool
}

type peerConn struct {
	cc  *grpc.ClientConn
	rpc regionpb.RegionClient
}

func newPeerPool(d *clusterDialer) *peerPool {
	return &peerPool{d: d, conns: make(map[string]*peerConn)}
}

func (p *peerPool) get(addr string) (*peerConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if pc, ok := p.conns[addr]; ok {
		return pc, nil
	}
	cc, err := newGRPCConn(addr, p.d)
	if err != nil {
		return nil, err
	}
	pc := &peerConn{cc: cc, rpc: regionpb.NewRegionClient(cc)}
	p.conns[addr] = pc
	return pc, nil
}

// ready returns a client whose connection is up, waiting at most wait for it. An
// error means nothing can be sent to addr now, so a request not sent is known not
// to have happened.
func (p *peerPool) ready(ctx context.Context, addr string, wait time.Duration) (*peerConn, error) {
	pc, err := p.get(addr)
	if err != nil {
		return nil, err
	}
	if pc.cc.GetState() == connectivity.Ready {
		return pc, nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	pc.cc.Connect()
	for {
		s := pc.cc.GetState()
		if s == connectivity.Ready {
			return pc, nil
		}
		if s == connectivity.Shutdown {
			return nil, fmt.Errorf("connection to %s shut down", addr)
		}
		if !pc.cc.WaitForStateChange(ctx, s) {
			return nil, fmt.Errorf("member %s unreachable (connection %v)", addr, s)
		}
	}
}

func (p *peerPool) close() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.closed = true
	p.mu.Unlock()
	for _, pc := range conns {
		pc.cc.Close()
	}
}

// regionServer serves the Region gRPC service of one member.
type regionServer struct {
	regionpb.UnimplementedRegionServer
	m *Member
}

// Commit proposes a forwarded submission. Only the leader accepts one: a member
// that is not the leader answers NOT_LEADER instead of forwarding again, so a stale
// view of the leader can never make a request loop.
func (s *regionServer) Commit(ctx context.Context, sub *regionpb.Submission) (*regionpb.Results, error) {
	m := s.m
	if m.closed.Load() {
		return &regionpb.Results{Error: errorToPB(ErrClosed)}, nil
	}
	if !m.IsLeader() {
		return &regionpb.Results{Error: errorToPB(errNotLeader)}, nil
	}
	cmds, err := unmarshalCommands(sub.GetCommands())
	if errors.Is(err, storage.ErrUnknownOp) {
		// Sent by a member with a newer binary: this leader cannot propose it.
		err = unavailable(ErrFormatNotReady, fmt.Errorf("this leader's binary does not know the operation: %w", err))
		return &regionpb.Results{Error: errorToPB(err)}, nil
	}
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "submission: %v", err)
	}
	res, err := m.propose(ctx, cmds)
	if err != nil {
		return &regionpb.Results{Error: errorToPB(err)}, nil
	}
	return &regionpb.Results{Results: resultsToPB(res)}, nil
}

// ReadIndex confirms leadership and returns the commit index (coalesced with the
// leader's own reads).
func (s *regionServer) ReadIndex(ctx context.Context, _ *regionpb.ReadIndexRequest) (*regionpb.ReadIndexResponse, error) {
	m := s.m
	if m.closed.Load() {
		return &regionpb.ReadIndexResponse{Error: errorToPB(ErrClosed)}, nil
	}
	if !m.IsLeader() {
		return &regionpb.ReadIndexResponse{Error: errorToPB(errNotLeader)}, nil
	}
	idx, err := m.reads.index(ctx)
	if err != nil {
		return &regionpb.ReadIndexResponse{Error: errorToPB(err)}, nil
	}
	return &regionpb.ReadIndexResponse{Index: idx}, nil
}

func (s *regionServer) Join(ctx context.Context, req *regionpb.JoinRequest) (*regionpb.MembershipResponse, error) {
	idx, err := s.m.AddMember(ctx, req.GetId(), req.GetAddress())
	return &regionpb.MembershipResponse{Error: errorToPB(err), Index: idx}, nil
}

func (s *regionServer) Remove(ctx context.Context, req *regionpb.RemoveRequest) (*regionpb.MembershipResponse, error) {
	idx, err := s.m.RemoveMember(ctx, req.GetId())
	return &regionpb.MembershipResponse{Error: errorToPB(err), Index: idx}, nil
}

func (s *regionServer) Status(context.Context, *regionpb.StatusRequest) (*regionpb.StatusResponse, error) {
	return statusToPB(s.m.Status()), nil
}

func (s *regionServer) ActiveBlobs(context.Context, *regionpb.ActiveBlobsRequest) (*regionpb.ActiveBlobsResponse, error) {
	ids := s.m.activeBlobs()
	out := &regionpb.ActiveBlobsResponse{Blobs: make([][]byte, len(ids))}
	for i, id := range ids {
		out.Blobs[i] = append([]byte(nil), id[:]...)
	}
	return out, nil
}

// ---- membership and status ----

// Status describes a member and the region as that member sees it.
type Status struct {
	ID, Region   string
	State        string // Leader, Follower, Candidate, Shutdown
	Ready        bool   // a leader that has applied every earlier term's entries
	LeaderID     string
	LeaderAddr   string
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64 // reflected in the store
	LastLogIndex uint64
	Format       storage.Format // the newest region format this member's binary knows
	RegionFormat storage.Format // the region's format, as this member has applied it
	Servers      []ServerInfo
}

// ServerInfo is one entry of the raft configuration.
type ServerInfo struct {
	ID, Addr string
	Suffrage string // Voter, Nonvoter, Staging
}

// Status returns this member's view of the region.
func (m *Member) Status() Status {
	lid, laddr := m.Leader()
	st := Status{
		ID: m.cfg.ID, Region: m.cfg.Region, State: m.raft.State().String(), Ready: m.Ready(),
		LeaderID: lid, LeaderAddr: laddr,
		Term: m.raft.CurrentTerm(), CommitIndex: m.raft.CommitIndex(), AppliedIndex: m.fsm.applied.Load(),
		LastLogIndex: m.raft.LastIndex(), Format: m.cfg.Format, RegionFormat: m.fsm.regionFormat(),
	}
	if f := m.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			st.Servers = append(st.Servers, ServerInfo{ID: string(s.ID), Addr: string(s.Address), Suffrage: s.Suffrage.String()})
		}
	}
	return st
}

func statusToPB(s Status) *regionpb.StatusResponse {
	out := &regionpb.StatusResponse{
		Id: s.ID, Region: s.Region, State: s.State, LeaderId: s.LeaderID, LeaderAddress: s.LeaderAddr,
		Term: s.Term, CommitIndex: s.CommitIndex, AppliedIndex: s.AppliedIndex, LastLogIndex: s.LastLogIndex,
		Format: uint32(s.Format), RegionFormat: uint32(s.RegionFormat),
	}
	if s.Ready {
		out.State += " (ready)"
	}
	for _, sv := range s.Servers {
		out.Servers = append(out.Servers, &regionpb.Server{Id: sv.ID, Address: sv.Addr, Suffrage: sv.Suffrage})
	}
	return out
}

func statusFromPB(p *regionpb.StatusResponse) Status {
	s := Status{
		ID: p.GetId(), Region: p.GetRegion(), State: p.GetState(), LeaderID: p.GetLeaderId(), LeaderAddr: p.GetLeaderAddress(),
		Term: p.GetTerm(), CommitIndex: p.GetCommitIndex(), AppliedIndex: p.GetAppliedIndex(), LastLogIndex: p.GetLastLogIndex(),
		Format: max(storage.Format(p.GetFormat()), storage.Format1), RegionFormat: max(storage.Format(p.GetRegionFormat()), storage.Format1),
	}
	if st, ok := cutSuffix(s.State, " (ready)"); ok {
		s.State, s.Ready = st, true
	}
	for _, sv := range p.GetServers() {
		s.Servers = append(s.Servers, ServerInfo{ID: sv.GetId(), Addr: sv.GetAddress(), Suffrage: sv.GetSuffrage()})
	}
	return s
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

// AddMember adds a voter to the region (or updates its address) and returns the
// raft index of the configuration change. The new member must be running with
// Join set (or with state from an earlier membership); it catches up from a
// snapshot and the log. Any member accepts the call and forwards it to the leader.
// It refuses, changing nothing, unless a member answers at addr with the cluster
// secret, under id, in this region.
func (m *Member) AddMember(ctx context.Context, id, addr string) (uint64, error) {
	if id == "" || addr == "" {
		return 0, errors.New("node: add member: want an ID and a cluster address")
	}
	if err := m.probeMember(ctx, id, addr); err != nil {
		return 0, err
	}
	return m.onLeader(ctx, func() raft.IndexFuture {
		return m.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, m.cfg.ApplyTimeout)
	}, func(ctx context.Context, pc *peerConn) (*regionpb.MembershipResponse, error) {
		return pc.rpc.Join(ctx, &regionpb.JoinRequest{Id: id, Address: addr})
	})
}

// probeWait bounds AddMember's check that the new member answers.
const probeWait = 2 * time.Second

// probeMember checks that a member answers at addr with the cluster secret, under
// the ID given and in this region. raft adds whatever address it is given: a typo
// would add a voter that never answers, and a one-member region that gains a dead
// voter has lost its majority.
func (m *Member) probeMember(ctx context.Context, id, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	fail := func(err error) error {
		return fmt.Errorf("node: add member %s: no member answers at %s with this region's cluster secret "+
			"(start it first, with --join and the same PANGEA_CLUSTER_SECRET): %w", id, addr, err)
	}
	pc, err := m.peers.ready(ctx, addr, probeWait)
	if err != nil {
		return fail(err)
	}
	st, err := pc.rpc.Status(ctx, &regionpb.StatusRequest{})
	if err != nil {
		return fail(err)
	}
	if st.GetId() != id {
		return fmt.Errorf("node: add member %s: the member at %s is %q", id, addr, st.GetId())
	}
	if st.GetRegion() != m.cfg.Region {
		return fmt.Errorf("node: add member %s: the member at %s serves region %q, not %q", id, addr, st.GetRegion(), m.cfg.Region)
	}
	if known, rf := max(storage.Format(st.GetFormat()), storage.Format1), m.fsm.regionFormat(); known < rf {
		return fmt.Errorf("node: add member %s: its binary applies region formats up to %d, this region is at %d: upgrade it first", id, known, rf)
	}
	return nil
}

// RemoveMember removes a member from the region. Removing the leader makes it step
// down once the change commits. Any member accepts the call.
func (m *Member) RemoveMember(ctx context.Context, id string) (uint64, error) {
	if id == "" {
		return 0, errors.New("node: remove member: want an ID")
	}
	return m.onLeader(ctx, func() raft.IndexFuture {
		return m.raft.RemoveServer(raft.ServerID(id), 0, m.cfg.ApplyTimeout)
	}, func(ctx context.Context, pc *peerConn) (*regionpb.MembershipResponse, error) {
		return pc.rpc.Remove(ctx, &regionpb.RemoveRequest{Id: id})
	})
}

// onLeader runs a configuration change locally if this member leads, else on the
// leader through gRPC, retrying through elections for up to LeaderWait. A call to
// the leader ends early when this member sees another leader (leaderCall). A
// change sent and never answered may have been made: if no later attempt
// answers, the outcome is unknown.
func (m *Member) onLeader(ctx context.Context, local func() raft.IndexFuture,
	remote func(context.Context, *peerConn) (*regionpb.MembershipResponse, error)) (uint64, error) {
	wctx, cancel := context.WithTimeout(ctx, m.cfg.LeaderWait)
	defer cancel()
	var last error = ErrNoLeader
	var unanswered error // a request that may have reached the leader, never answered
	for {
		if m.closed.Load() {
			return 0, unavailable(ErrClosed, nil)
		}
		if m.IsLeader() {
			f := local()
			err := m.futureErr(f)
			if err == nil {
				return f.Index(), nil
			}
			if !errors.Is(err, raft.ErrNotLeader) {
				if errors.Is(err, raft.ErrLeadershipLost) {
					return 0, unknownOutcome(err)
				}
				return 0, fmt.Errorf("node: configuration change: %w", err)
			}
			last = err
		} else if id, addr := m.Leader(); addr != "" && id != m.cfg.ID {
			idx, answered, sent, err := m.remoteChange(wctx, addr, remote)
			if answered {
				return idx, err
			}
			if sent {
				unanswered = err
			}
			last = err
		}
		if err := pause(wctx, 20*time.Millisecond); err != nil {
			if unanswered != nil {
				if last != unanswered {
					unanswered = fmt.Errorf("%w (last attempt: %v)", unanswered, last)
				}
				return 0, unknownOutcome(unanswered)
			}
			return 0, unavailable(ErrNoLeader, last)
		}
	}
}

// remoteChange makes one attempt at a configuration change through the leader at
// addr, bounded by ctx and by leaderCall. answered: the leader answered, with err
// (nil: the change is at index idx). Otherwise err says why there is no answer,
// and sent whether the request may have reached the leader.
func (m *Member) remoteChange(ctx context.Context, addr string,
	remote func(context.Context, *peerConn) (*regionpb.MembershipResponse, error)) (idx uint64, answered, sent bool, err error) {
	ctx, done := m.leaderCall(ctx, addr)
	defer done()
	pc, err := m.peers.ready(ctx, addr, m.cfg.Raft.Heartbeat*2)
	if err == nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		return 0, false, false, err // nothing sent
	}
	resp, err := remote(ctx, pc)
	if err != nil {
		return 0, false, true, fmt.Errorf("configuration change sent to leader %s, no answer: %w", addr, err)
	}
	switch rerr := errorFromPB(resp.GetError()); {
	case errors.Is(rerr, errNotLeader):
		return 0, false, false, errNotLeader
	case rerr != nil:
		return 0, true, false, rerr
	}
	return resp.GetIndex(), true, false, nil
}

// Client talks to a region through any member's cluster address: what `pangea
// ctl` uses. It authenticates with the cluster secret like a member does.
type Client struct {
	cc  *grpc.ClientConn
	rpc regionpb.RegionClient
	// refused is the failure of the last handshake, nil once one succeeds: gRPC
	// reports a refused connection as a generic Unavailable, and the caller needs
	// to know it was the secret.
	refused atomic.Pointer[error]
}

// DialCluster returns a client for the member at addr. dial nil means TCP. The
// connection is made on first use; a wrong secret surfaces as an error of the
// first call mentioning the failed handshake.
func DialCluster(addr, secret string, dial Dialer) (*Client, error) {
	if secret == "" {
		return nil, errors.New("node: the cluster secret is required")
	}
	if dial == nil {
		dial = defaultDial
	}
	c := &Client{}
	cc, err := newGRPCConn(addr, &clusterDialer{dial: dial, secret: []byte(secret), handshook: func(err error) {
		if err == nil {
			c.refused.Store(nil)
		} else {
			c.refused.Store(&err)
		}
	}})
	if err != nil {
		return nil, fmt.Errorf("node: dial %s: %w", addr, err)
	}
	c.cc, c.rpc = cc, regionpb.NewRegionClient(cc)
	return c, nil
}

// callErr wraps the error of the call op; an unavailable member whose last
// connection failed the handshake is reported as that failure (ErrHandshake).
func (c *Client) callErr(op string, err error) error {
	if status.Code(err) == codes.Unavailable {
		if p := c.refused.Load(); p != nil {
			return fmt.Errorf("%s: %w", op, *p)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Close closes the client's connection.
func (c *Client) Close() error { return c.cc.Close() }

// Status returns the member's view of its region.
func (c *Client) Status(ctx context.Context) (Status, error) {
	resp, err := c.rpc.Status(ctx, &regionpb.StatusRequest{}, grpc.WaitForReady(false))
	if err != nil {
		return Status{}, c.callErr("status", err)
	}
	return statusFromPB(resp), nil
}

// AddMember adds (or re-addresses) a voter; see Member.AddMember.
func (c *Client) AddMember(ctx context.Context, id, addr string) (uint64, error) {
	resp, err := c.rpc.Join(ctx, &regionpb.JoinRequest{Id: id, Address: addr})
	if err != nil {
		return 0, c.callErr("add member", err)
	}
	if err := errorFromPB(resp.GetError()); err != nil {
		return 0, fmt.Errorf("add member: %w", err)
	}
	return resp.GetIndex(), nil
}

// RemoveMember removes a member; see Member.RemoveMember.
func (c *Client) RemoveMember(ctx context.Context, id string) (uint64, error) {
	resp, err := c.rpc.Remove(ctx, &regionpb.RemoveRequest{Id: id})
	if err != nil {
		return 0, c.callErr("remove member", err)
	}
	if err := errorFromPB(resp.GetError()); err != nil {
		return 0, fmt.Errorf("remove member: %w", err)
	}
	return resp.GetIndex(), nil
}

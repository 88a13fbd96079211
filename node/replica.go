package node

import (
	"context"

	"github.com/pangea-s3/pangea/storage"
)

// ReplicaSink is the member as a cross-region replication receiver needs it
// (replication.Sink): it commits the staged chunks and ApplyReplica commands of
// versions shipped from another region through the region's raft, from any
// member (forwarded to the leader like every write), with the member's blob IDs
// and inline limit.
type ReplicaSink struct{ m *Member }

// ReplicaSink returns the member's replication sink.
func (m *Member) ReplicaSink() ReplicaSink { return ReplicaSink{m} }

// Region is the member's region.
func (s ReplicaSink) Region() string { return s.m.Region() }

// Commit commits cmds through the region's raft (Member.Commit).
func (s ReplicaSink) Commit(ctx context.Context, cmds []storage.Command) ([]storage.Result, error) {
	return s.m.Commit(ctx, cmds...)
}

// NewBlobID returns a new blob ID, as the member's uploads use.
func (ReplicaSink) NewBlobID() storage.BlobID { return newBlobID() }

// InlineMax is the largest body the member keeps inside its version record.
func (ReplicaSink) InlineMax() int { return inlineMax }

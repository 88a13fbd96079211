package replication_test

import (
	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/replication"
)

// A region member is the receiver's sink (node.Member.ReplicaSink).
var _ replication.Sink = node.ReplicaSink{}

// Package node is a region member. Member is one raft replica of a region that
// serves S3 (it implements s3api.Backend): it owns the write path (streaming bodies
// into staged chunks, each its own log entry; deciding blob and upload IDs where the
// request arrives), forwarding of writes to the raft leader over the authenticated
// internal gRPC channel, the leader's stamping of version IDs and times from its
// hybrid logical clock, the raft FSM that hands committed entries to storage in
// batches (one transaction per batch), the read barrier that makes reads on any
// member linearizable, membership changes, the leader-only collection of staged
// blobs that were never referenced, and, on a member of the control region, the
// global bucket catalog (catalog.go: ReserveBucket, ReleaseBucket, a linearizable
// Catalog, and WatchCatalog woken by the FSM when the catalog changes) with its
// Multi-Region Access Points (mrap.go: CreateMRAP, DeleteMRAP, PutMRAPPolicy,
// CompleteMRAPOperation, SubmitMRAPRoutes, MRAPOperation(s)). It also
// serves the internal HTTP channel (internal.go: forwarded S3 requests and the
// catalog's calls, after the cluster-secret handshake). Member.Collector
// (metrics.go) reports its raft state to Prometheus, read at scrape time.
//
// Local is the single-node variant without raft (group commit straight into the
// store), kept for embedding and as the baseline of benchmarks. Both share the
// prepare/answer code in backend.go.
//
// node holds no S3 protocol code and does not import s3api. DESIGN.md lists the
// files by job and explains the write path, the read barrier, unknown outcomes and
// what a retry means, and upgrades (the region format gate).
package node

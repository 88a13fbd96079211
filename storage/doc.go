// Package storage is the persistent state of one region member: buckets, their
// configurations, object versions and delete markers, multipart uploads, and object
// bodies, in one bbolt file whose layout is documented in SCHEMA.md.
//
// It owns the domain types (types.go), the S3 versioning rules (null versions,
// suspended buckets, delete markers, "the latest version is the greatest VersionID"),
// body chunking with optional S2 compression, the digests clients send (Digester),
// snapshot/restore of the whole state, and the global bucket catalog (catalog.go:
// bucket name -> owning region, written only in the control region's store by
// ReserveBucket and ReleaseBucket, read whole with Catalog).
//
// Writes are deterministic commands applied by Store.Apply, all of a batch in one
// bbolt transaction. Everything non-deterministic (version IDs, times, blob and upload
// IDs, the compression decision) is chosen by the caller before Apply, so a raft log
// of marshalled commands replays to the same state on every replica. Bodies are staged
// first (PutChunk commands, one chunk each), then referenced by the PutObject or
// PutPart that commits them; a staged blob nobody commits is found by StagedBlobs and
// removed with DiscardBlob.
//
// Cross-region replication has two halves here (SCHEMA.md, "Replication"). Client
// writes to a bucket with a replication configuration append entries to the outbox
// in their own transaction, numbered by a counter kept in the same file (Outbox,
// OutboxLast; TrimOutbox drops acknowledged ones); ApplyReplica writes a version
// received from another region, idempotently and in any order, and never writes
// the outbox. A body travels as stored: read at the origin chunk by chunk, S2
// chunks left compressed (ReadChunksStored), checked and staged unchanged at the
// destination (ReplicaBody: PutChunk commands, one or more blobs). Version IDs
// travel in their 16-byte form (VersionID.Bytes, VersionIDFromBytes).
//
// Each operation is a value type in a file of its own (op_*.go: its fields, codec,
// checks and apply) registered by one line in ops.go with the region format that
// introduced it; code outside the operation files never switches on the operation.
//
// Reads run in short read transactions and copy out what they return; OpenObject
// streams a body one chunk (one transaction) at a time.
//
// It does not speak HTTP, raft, gRPC or gossip, and knows nothing of S3 XML.
package storage

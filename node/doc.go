// Package node is a region member. In this round it is Local, the single-node
// backend that s3api serves: it owns the write path (streaming bodies into staged
// chunks, deciding version IDs, times, upload and blob IDs before anything is
// applied), group commit of prepared commands through a Committer, and garbage
// collection of staged blobs that were never referenced. Reads go straight to
// storage.
//
// node holds no S3 protocol code and does not import s3api; the next round puts a
// raft log between the Committer and storage.Store.Apply without changing how
// commands are prepared.
package node

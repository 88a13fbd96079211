package storage

// Format is a region format: the set of operations (and encodings) a member must
// understand to follow a region's log. A region starts at Format1; a leader raises
// it with SetRegionFormatCmd only once every voter runs a binary that knows the new
// one, and proposes an operation only when the region's format covers it
// (node/DESIGN.md, "Upgrades").
type Format uint16

const (
	// Format1: the operations of the first release (ops 1 to 13).
	Format1 Format = 1
	// Format2: SetRegionFormat and Noop; members halt, never skip, on an entry
	// they cannot decode.
	Format2 Format = 2

	// Format3: ReserveBucket and ReleaseBucket, the global bucket catalog.
	Format3 Format = 3

	// Format4: ApplyReplica and TrimOutbox, and the replication outbox: from
	// Format4 on, client writes to a bucket with a replication configuration
	// append outbox entries (every member of the region, in the same apply).
	Format4 Format = 4

	// Format5: SetReplicationMark and BackfillOutbox, ApplyReplica's
	// metadata-only form, and the outbox decided by the bucket's rules: from
	// Format5 on, a change goes to the outbox only if a rule selects it, and a
	// selected new version starts PENDING (outbox.go, replicates). At Format4
	// every change of a replicated bucket goes, with no status.
	Format5 Format = 5

	// Format6: the MRAP catalog: PutMRAP, DeleteMRAP, PutMRAPPolicy,
	// CompleteMRAPOperation and SubmitMRAPRoutes (mrap_catalog.go), applied in
	// the control region only.
	Format6 Format = 6

	// LatestFormat is the newest format this binary knows.
	LatestFormat = Format6
)

// opSpec registers an operation: its name, the region format that introduced it,
// and how to decode it.
type opSpec struct {
	name   string
	since  Format
	decode func(d *decoder) Command
}

// registry lists every operation by code. A new operation is a file of its own
// (the type, its code, codec, checks and apply) plus one line here; a code that is
// used twice does not compile.
var registry = [...]opSpec{
	OpCreateBucket:          {"CreateBucket", Format1, decodeAs[CreateBucketCmd]},
	OpDeleteBucket:          {"DeleteBucket", Format1, decodeAs[DeleteBucketCmd]},
	OpSetVersioning:         {"SetVersioning", Format1, decodeAs[SetVersioningCmd]},
	OpPutBucketConfig:       {"PutBucketConfig", Format1, decodeAs[PutBucketConfigCmd]},
	OpPutChunk:              {"PutChunk", Format1, decodeAs[PutChunkCmd]},
	OpPutObject:             {"PutObject", Format1, decodeAs[PutObjectCmd]},
	OpDeleteObject:          {"DeleteObject", Format1, decodeAs[DeleteObjectCmd]},
	OpPutObjectTagging:      {"PutObjectTagging", Format1, decodeAs[PutObjectTaggingCmd]},
	OpCreateUpload:          {"CreateUpload", Format1, decodeAs[CreateUploadCmd]},
	OpPutPart:               {"PutPart", Format1, decodeAs[PutPartCmd]},
	OpCompleteUpload:        {"CompleteUpload", Format1, decodeAs[CompleteUploadCmd]},
	OpAbortUpload:           {"AbortUpload", Format1, decodeAs[AbortUploadCmd]},
	OpDiscardBlob:           {"DiscardBlob", Format1, decodeAs[DiscardBlobCmd]},
	OpSetRegionFormat:       {"SetRegionFormat", Format2, decodeAs[SetRegionFormatCmd]},
	OpNoop:                  {"Noop", Format2, decodeAs[NoopCmd]},
	OpReserveBucket:         {"ReserveBucket", Format3, decodeAs[ReserveBucketCmd]},
	OpReleaseBucket:         {"ReleaseBucket", Format3, decodeAs[ReleaseBucketCmd]},
	OpApplyReplica:          {"ApplyReplica", Format4, decodeAs[ApplyReplicaCmd]},
	OpTrimOutbox:            {"TrimOutbox", Format4, decodeAs[TrimOutboxCmd]},
	OpSetReplicationMark:    {"SetReplicationMark", Format5, decodeAs[SetReplicationMarkCmd]},
	OpBackfillOutbox:        {"BackfillOutbox", Format5, decodeAs[BackfillOutboxCmd]},
	OpPutMRAP:               {"PutMRAP", Format6, decodeAs[PutMRAPCmd]},
	OpDeleteMRAP:            {"DeleteMRAP", Format6, decodeAs[DeleteMRAPCmd]},
	OpPutMRAPPolicy:         {"PutMRAPPolicy", Format6, decodeAs[PutMRAPPolicyCmd]},
	OpCompleteMRAPOperation: {"CompleteMRAPOperation", Format6, decodeAs[CompleteMRAPOperationCmd]},
	OpSubmitMRAPRoutes:      {"SubmitMRAPRoutes", Format6, decodeAs[SubmitMRAPRoutesCmd]},
}

// specOf returns the registration of op.
func specOf(op Op) (opSpec, bool) {
	if int(op) >= len(registry) || registry[op].decode == nil {
		return opSpec{}, false
	}
	return registry[op], true
}

// Package rules owns S3 replication configurations (PutBucketReplication /
// GetBucketReplication bodies): the schema as Go types, parsing with S3's validation and
// error codes, a canonical XML form, and matching an object against the rules for the
// replication engine. It is pure: no storage, no HTTP, no clock.
//
// Both schemas S3 accepts are supported. A rule with a Filter follows the current ("V2")
// schema: it needs Priority and DeleteMarkerReplication, may use tag filters (which
// forbid delete marker replication) and ReplicaModifications. A rule with a top-level
// Prefix follows the deprecated V1 schema: it always replicates delete markers and may
// not use ReplicaModifications or DeleteMarkerReplication. One configuration uses one
// schema for all of its rules.
//
// Errors are *Error values whose Code is the S3 error code: MalformedXML for documents
// that are not well-formed or break the XML schema (unknown, repeated or missing
// elements, enum values other than S3's, case-sensitively), InvalidArgument and
// InvalidRequest for breaches of replication's own rules. Where S3's exact code or
// message for a rule is not documented, Pangea answers InvalidRequest with a clear
// message; the judgement calls are:
//
//   - duplicate V2 priorities: InvalidRequest ("Found overlapping priority");
//   - V1 rules whose prefixes overlap: InvalidRequest, since V1 has no priority to
//     decide between them;
//   - mixing V1 and V2 rules: InvalidRequest;
//   - the Role is not checked against IAM (Pangea has none); it must be non-empty.
//
// Parse does not invent IDs for rules that have none (S3 assigns random ones): the
// caller decides, so the write path stays deterministic.
package rules

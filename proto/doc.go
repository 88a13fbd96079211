// Package proto holds the .proto files of Pangea's inter-node protocols and the Go
// code generated from them, committed next to them and never edited by hand.
//
//   - regionpb: pangea.internal.v1.Region, the gRPC service between the members of
//     one region (write forwarding to the raft leader, read index for linearizable
//     follower reads, membership, status). The raft log entries themselves are not
//     protobuf: they are storage.Command encodings in node's submission envelope.
//   - replicationpb: pangea.replication.v1.Replication, the gRPC service a member
//     of a destination region serves to a source region's leader. Ship is a
//     bidirectional stream: the source opens it with a Hello (protocol_version,
//     refused with FAILED_PRECONDITION when unknown), then sends Batches of
//     outbox entries, each a Version header followed by its body as Chunks of at
//     most storage.ChunkSize, sent in their stored encoding (raw or S2), so an
//     object of any size streams in bounded memory. The destination answers with
//     an Accept (where to resume, the flow-control window in bytes and batches)
//     and then Acks carrying the highest contiguous outbox sequence applied and
//     any terminal failures. Status reports, per source region, what this
//     region has applied. The shipper and receiver live in package replication.
//
// Regenerate after editing a .proto file:
//
//	make proto
//
// which installs protoc (Debian's protobuf-compiler) when missing and the pinned
// protoc-gen-go and protoc-gen-go-grpc in bin/proto, then runs, from this
// directory:
//
//	protoc --go_out=. --go_opt=paths=source_relative \
//	       --go-grpc_out=. --go-grpc_opt=paths=source_relative */*.proto
//
// (`go generate ./proto` runs the same with whatever tools are on PATH.)
//
// gen_test.go checks that the committed code is what the pinned tools make of the
// .proto files: it always checks that the generated files' headers name the
// Makefile's pinned generator versions, and, when protoc and the pinned
// generators are found (bin/proto, then PATH), regenerates into a temporary
// directory and compares byte for byte. Without them it skips, saying so;
// `make proto-check` installs them and runs it with PANGEA_PROTO_CHECK=1, which
// turns the skip into a failure.
//
// Compatibility rule: append fields and enum values, never renumber or reuse them.
package proto

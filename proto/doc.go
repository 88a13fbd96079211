// Package proto holds the .proto files of Pangea's inter-node protocols and the Go
// code generated from them, committed next to them and never edited by hand.
//
//   - regionpb: pangea.internal.v1.Region, the gRPC service between the members of
//     one region (write forwarding to the raft leader, read index for linearizable
//     follower reads, membership, status). The raft log entries themselves are not
//     protobuf: they are storage.Command encodings in node's submission envelope.
//
// Regenerate after editing a .proto file (protoc, protoc-gen-go and
// protoc-gen-go-grpc on PATH):
//
//	go generate ./proto
//
// which runs, from this directory:
//
//	protoc --go_out=. --go_opt=paths=source_relative \
//	       --go-grpc_out=. --go-grpc_opt=paths=source_relative regionpb/region.proto
//
// Compatibility rule: append fields and enum values, never renumber or reuse them.
package proto

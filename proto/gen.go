package proto

// Regenerate with `make proto` (installs protoc and the pinned generators), or with
// `go generate ./proto` (needs protoc, protoc-gen-go and
// protoc-gen-go-grpc on PATH). The generated files are committed: builds never run
// protoc; `make proto-check` (run by CI) checks they are current.
//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative regionpb/region.proto replicationpb/replication.proto

// Package nodetest is the in-process cluster harness: it starts regions of raft
// members (node.Member), each with its own S3 endpoint on a real loopback port, in
// one test process, and lets a test kill, restart and partition members and wait
// for conditions by polling with a deadline.
//
// It is a regular package (not _test files) so that the tests of other packages
// (node, integration, later replication and routing) share it. Partitions (loud:
// refused and closed connections; silent: dropped packets) and frozen members (as
// SIGSTOP leaves them) go through Network, the fault-injecting dialer every
// member's raft and gRPC connections use; production members dial plain TCP
// instead.
package nodetest

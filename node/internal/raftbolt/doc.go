// Package raftbolt is a hashicorp/raft LogStore and StableStore on one bbolt file
// (a member's <data>/raft.db), kept apart from the object store so that log
// appends and truncations never contend with object writes for bbolt's single
// writer. It replaces raft-boltdb, whose metrics dependency does not fit this
// module; the format is its own and documented in store.go. Cache keeps recent
// small entries in memory in front of it (cache.go).
package raftbolt

// Package replication is Pangea's asynchronous cross-region replication: rule matching,
// the leader-only shipper, the receiver, idempotent apply, backfill and RTC-style lag
// metrics. So far it holds the rules subpackage, which parses, validates and matches
// S3 replication configurations; the Receiver, the destination side of the
// replicationpb Ship stream, which applies each source region's versions, with their
// bodies as the source stores them, through a Sink (the destination region's raft
// log) and acknowledges them; and the Shipper, the source side, which ships a
// Source's outbox (a region leader's store, StoreSource) to one destination region in
// batches within the destination's flow-control window and persists the acknowledged
// mark. The wiring of both into node (leadership, backoff, outbox trimming, rule
// matching per key) is to come.
package replication

// Package replication is Pangea's asynchronous cross-region replication: rule matching,
// the leader-only shipper, the receiver, idempotent apply, backfill and RTC-style lag
// metrics. So far it holds the rules subpackage, which parses, validates and matches
// S3 replication configurations, and the Receiver, the destination side of the
// replicationpb Ship stream: it applies each source region's versions, with their
// bodies as the source stores them, through a Sink (the destination region's raft
// log) and acknowledges them. The shipper and the wiring of both into node are to
// come.
package replication

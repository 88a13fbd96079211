// Package replication is Pangea's asynchronous cross-region replication: rule matching,
// the leader-only shipper, the receiver, idempotent apply, backfill and RTC-style lag
// metrics. This round only holds the rules subpackage, which parses, validates and
// matches S3 replication configurations.
package replication

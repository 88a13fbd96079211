// Package s3api is Pangea's S3 HTTP front end.
//
// It owns everything between the socket and a Backend: turning an HTTP request into a
// typed S3 operation (path-style and virtual-host-style addressing, sub-resources),
// authenticating it (through s3api/auth), authorizing it (bucket owner, bucket policy
// through s3api/policy, public access block), running the operation against a Backend,
// and writing S3-shaped XML responses and headers. errors.go is the single place where
// any error (storage sentinels, auth, policy and replication-rule errors, context
// errors, retryable errors such as unknown outcomes, anything else) becomes an S3
// error response. metrics.go counts and times the requests it answers (Metrics, also
// the observation point of forwarded requests) and serves a process's metrics at
// MetricsPath.
//
// In a planet of regions it also owns the resolve step and forwarding (resolve.go,
// forward.go, breaker.go): a bucket of another region is served by forwarding the
// authenticated request over the internal channel (Config.Forward) to that region,
// which serves it through InternalHandler with the principal the entry verified.
//
// It does not own signature verification (s3api/auth), policy language evaluation
// (s3api/policy), replication configuration validation (replication/rules), storage
// (the Backend) or where buckets live (the Resolver). It must not import raft or
// gRPC: the Backend interface is the seam behind which the raft region member and the
// single-node store live, the Resolver the one behind which the catalog and the
// gossip pool do.
//
// See DESIGN.md for the request pipeline and the reasoning behind it.
package s3api

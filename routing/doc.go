// Package routing owns how requests find a region.
//
// Its global tier is a hashicorp/memberlist gossip pool that every member and
// edge joins (Pool): each process advertises its region, location, role, S3
// endpoint, internal address and whether it leads its region; memberlist's
// probes give every peer's health, a smoothed RTT and a Vivaldi network
// coordinate. Consumers see it through the narrow Directory interface (who is
// where, how far, who is healthy).
// NewCollector (metrics.go) reports a Directory's view (each peer's health and
// RTT) to Prometheus.
// Gossip is encrypted and authenticated with a key derived from the cluster
// secret. DESIGN.md explains the timing choices and failure modes.
//
// The Picker that sends an MRAP request to the nearest healthy active region,
// the gossip of MRAP state, and the WAN emulation (routing/wan) that delays
// the project's own links build on it.
//
// It also carries the global bucket catalog to every process (catalog.go): the
// control region's members serve it over the authenticated internal channel
// (CatalogHandler, over a CatalogStore that node.Member implements), and Catalog
// is each process's client and cached copy, kept fresh by a long-poll of the
// nearest control member; the data path reads only the cache. Resolver
// (resolve.go) places a bucket's requests with it and the pool (the owning
// region's healthy members, the leader first), and Reconcile (reconcile.go)
// brings the catalog in line with a region's store. The package never stores
// objects.
package routing

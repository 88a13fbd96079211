// Command pangea is the Pangea binary: `pangea node` serves one region member (in a
// planet with --seeds), `pangea edge` an edge (an S3 endpoint at a location that
// stores nothing), `pangea lab` the whole emulated planet on loopback (every member
// of every region of a topology and its edges, their links delayed by an emulated
// WAN), `pangea ctl` drives membership and the lab's chaos controls,
// `pangea bench` drives any S3 endpoint with load, and `pangea version` prints the
// build. This package owns flags, environment fallbacks, configuration checks and
// wiring (front.go: what a process of a planet adds to its S3 front end, the
// catalog copy, the resolver and the internal transports); the logic lives in the
// packages it assembles, and the wiring itself in run, which tests drive in-process.
package main

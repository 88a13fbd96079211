// Command pangea is the Pangea binary: `pangea node` serves one region member,
// `pangea lab` the whole emulated planet on loopback (every member of every region
// of a topology, their links delayed by an emulated WAN),
// `pangea bench` drives any S3 endpoint with load, and `pangea version` prints the
// build. This package owns flags, environment fallbacks, configuration checks and
// wiring; the logic lives in the packages it assembles, and the wiring itself in
// run, which tests drive in-process.
package main

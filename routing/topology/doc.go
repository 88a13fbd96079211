// Package topology owns the description of the emulated planet: the locations
// where regions, nodes and edges stand, and the round-trip time (with optional
// jitter, loss and bandwidth cap) of the link between every pair of locations.
//
// A Topology comes from Default (three AWS-like regions), from Sized (the first
// N regions of a built-in catalog, for the lab's --regions and
// --nodes-per-region flags) or from a YAML file (Parse, Load). Every
// constructor returns a topology that has passed Validate, so consumers (the
// lab, routing/wan, the Picker) can index it without further checks.
//
// The package only describes; routing/wan turns a topology into delayed
// connections, and nothing here opens a socket.
package topology

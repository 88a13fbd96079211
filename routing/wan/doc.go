// Package wan owns the emulated wide-area network between Pangea's own
// processes: a link table (Net) saying how far apart every two locations are,
// and per-process Endpoints that wrap dialers, listeners and memberlist's
// transport so that traffic between two locations is delayed by the link's
// one-way latency (with jitter, loss, bandwidth cap and cuts), all in user
// space and without package-global state, so that many emulated processes can
// share one Go process. See DESIGN.md for how and why.
package wan

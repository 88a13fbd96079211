// Package routing will own how requests find a region: memberlist membership and the
// gossip of MRAP state, RTT estimation between locations, the Picker that sends an MRAP
// request to the nearest healthy active region, failover, and the WAN emulation that
// delays the project's own links so one machine behaves like a planet.
//
// It is empty in the single-node round; it must never store objects.
package routing

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/routing/wan"
)

// runEdge serves an edge of topo's planet at cfg.Location until ctx ends: its S3
// endpoint on cfg.Addr, its gossip pool joining cfg.Seeds, its links to the
// regions through the emulated WAN of its location (edgeserve.go).
func (c *cli) runEdge(ctx context.Context, cfg Config, topo *topology.Topology, logger *slog.Logger) error {
	wn := wan.New(topo, wan.Options{Logger: logger})
	ep, err := wn.Endpoint(cfg.Location)
	if err != nil {
		return err
	}
	gossipIP, gossipPort, err := cfg.gossipBind(ctx, cfg.Addr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another process using the port? pick another with --addr)", cfg.Addr, err)
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	name := "edge-" + cfg.Location
	errs := make(chan error, 1)
	e, err := startEdge(ctx, edgeSpec{
		Name: name, Location: cfg.Location, Topo: topo, EP: ep, Ln: ln, AdvertiseS3: advertisedS3(cfg, ln.Addr(), host),
		BindAddr: gossipIP, BindPort: gossipPort, Seeds: cfg.Seeds, Cfg: cfg, Logger: logger,
	}, errs)
	if err != nil {
		return err
	}
	go func() {
		jctx, cancel := context.WithTimeout(ctx, gossipJoinTimeout)
		defer cancel()
		if err := e.pool.Join(jctx, cfg.Seeds); err != nil && ctx.Err() == nil {
			logger.Warn("not joined to the planet's gossip pool yet; retrying in the background", "seeds", cfg.Seeds, "err", err)
		}
	}()
	fmt.Fprintf(c.stdout, "pangea edge: %s at location %s serving S3 on %s: gossip %s, seeds %s\n",
		name, cfg.Location, e.url, e.pool.GossipAddr(), strings.Join(cfg.Seeds, ","))
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errs:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	e.stop(sctx)
	return serveErr
}

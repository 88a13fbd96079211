package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/pangea-s3/pangea/routing/topology"
)

// runEdge serves an edge of topo's planet at cfg.Location until ctx ends.
func (c *cli) runEdge(ctx context.Context, cfg Config, topo *topology.Topology, logger *slog.Logger) error {
	return errors.New("edge: not built yet")
}

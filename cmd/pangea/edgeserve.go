package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/pangea-s3/pangea/routing"
	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/routing/wan"
	"github.com/pangea-s3/pangea/s3api"
	"github.com/pangea-s3/pangea/s3api/auth"
)

// edgeProc is one edge: an S3 endpoint at a location that stores nothing. It
// authenticates each request and forwards it to the region that owns the
// bucket, paying the emulated latency from its location; it is in the gossip
// pool (role edge) and keeps its own copy of the catalog.
type edgeProc struct {
	name     string
	location string
	pool     *routing.Pool
	front    *planetFront
	srv      *http.Server
	ln       net.Listener
	url      string
	logger   *slog.Logger
}

// edgeSpec is what starting an edge needs.
type edgeSpec struct {
	Name     string
	Location string
	Topo     *topology.Topology
	EP       *wan.Endpoint // its location on the (emulated) WAN
	Ln       net.Listener  // the S3 endpoint, bound
	// AdvertiseS3 is the S3 URL the others are told; "": from Ln.
	AdvertiseS3 string
	// BindAddr/BindPort: the gossip address; Seeds: whom to join.
	BindAddr string
	BindPort int
	Seeds    []string
	Cfg      Config
	Logger   *slog.Logger
}

// edgeRegion is the region an edge is grouped with in the pool: the one at its
// location, else the location itself.
func edgeRegion(topo *topology.Topology, location string) string {
	for _, r := range topo.Regions {
		if r.Location == location {
			return r.Name
		}
	}
	return location
}

// startEdge starts an edge and serves its S3 endpoint. Errors from serving
// after the start go to errs.
func startEdge(ctx context.Context, es edgeSpec, errs chan<- error) (*edgeProc, error) {
	logger := es.Logger.With("edge", es.Name)
	url := es.Cfg.endpoint(es.Ln.Addr())
	if es.AdvertiseS3 != "" {
		url = es.AdvertiseS3
	}
	gc := gossipConfig{
		Name: es.Name, Region: edgeRegion(es.Topo, es.Location), Location: es.Location, Edge: true,
		S3Endpoint: url, Secret: es.Cfg.ClusterSecret,
		BindAddr: es.BindAddr, BindPort: es.BindPort, Seeds: es.Seeds, Logger: es.Logger,
	}
	pool, err := startGossip(ctx, gc, es.EP)
	if err != nil {
		es.Ln.Close()
		return nil, fmt.Errorf("edge %s: %w", es.Name, err)
	}
	front := startFront(ctx, frontConfig{Pool: pool, Topo: es.Topo, Secret: es.Cfg.ClusterSecret, Dial: es.EP.DialTCP, Logger: logger,
		MRAPRouteDelay: es.Cfg.MRAPRouteDelay})
	mm := newMemberMetrics(nil)
	mm.reg.MustRegister(routing.NewCollector(pool))
	sc := s3api.Config{
		BaseDomain:     es.Cfg.BaseDomain,
		Credentials:    auth.StaticCredentials{es.Cfg.AccessKey: es.Cfg.SecretKey},
		Logger:         logger,
		Metrics:        mm.s3,
		MetricsHandler: mm.handler(logger),
	}
	front.configure(&sc)
	e := &edgeProc{
		name: es.Name, location: es.Location, pool: pool, front: front, ln: es.Ln, url: url, logger: logger,
		srv: &http.Server{
			Handler:           s3api.New(sc, nil),
			ReadHeaderTimeout: readHeaderTimeout,
			IdleTimeout:       idleTimeout,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
	}
	serve := func() error { return e.srv.Serve(es.Ln) }
	if es.Cfg.serverTLS != nil {
		e.srv.TLSConfig = es.Cfg.serverTLS.Clone()
		serve = func() error { return e.srv.ServeTLS(es.Ln, "", "") }
	}
	go func() {
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case errs <- fmt.Errorf("edge %s: %w", es.Name, err):
			default:
			}
		}
	}()
	logger.Info("edge started", "s3", url, "location", es.Location, "gossip", pool.GossipAddr())
	return e, nil
}

// stop shuts the S3 endpoint down gracefully, then leaves the pool.
func (e *edgeProc) stop(ctx context.Context) {
	if err := e.srv.Shutdown(ctx); err != nil {
		e.srv.Close()
	}
	e.front.close()
	leaveGossip(e.pool, e.logger)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/adminapi"
	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/routing"
	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/routing/wan"
)

// The lab's admin API: chaos controls (links, partitions, regions and members
// down and up), the planet's status and its replication (adminrepl.go), over HTTP on loopback, every request
// signed with the cluster secret (see package adminapi for the scheme). Its
// address is lab.json's "admin"; `pangea ctl --lab DIR` calls it.
//
// Link changes act on the emulated WAN at once (wan.Net applies them to bytes not
// yet delivered). Stopping a member closes its S3 listener first, so it refuses
// connections as soon as the call returns; starting one returns once its S3
// endpoint listens again (its raft election and gossip rejoin follow, within
// about a second on the lab's timeouts).

// adminOpTimeout bounds one admin operation (starting a region's members).
const adminOpTimeout = 30 * time.Second

// adminServer serves the admin API for a planet.
type adminServer struct {
	pl     *planet
	verify *adminapi.Verifier
	logger *slog.Logger
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}
}

// startAdmin serves pl's admin API on addr (loopback only; port 0 picks one).
func startAdmin(addr string, pl *planet, secret string, logger *slog.Logger) (*adminServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin API listener on %s (--admin-addr): %w", addr, err)
	}
	a := &adminServer{pl: pl, verify: adminapi.NewVerifier(secret, nil), logger: logger.With("component", "admin"), ln: ln, done: make(chan struct{})}
	a.srv = &http.Server{Handler: a, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Error("admin API stopped", "err", err)
		}
	}()
	return a, nil
}

// URL is the API's base URL, as lab.json's "admin".
func (a *adminServer) URL() string { return "http://" + a.ln.Addr().String() }

// close stops serving; operations in flight finish first.
func (a *adminServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		a.srv.Close()
	}
	<-a.done
}

func (a *adminServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, adminapi.MaxBody))
	if err != nil {
		writeAdminError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: %v (at most %d bytes)", err, adminapi.MaxBody))
		return
	}
	if err := a.verify.Verify(r.Header.Get("Authorization"), r.Method, r.URL.RequestURI(), body); err != nil {
		code := http.StatusForbidden
		if errors.Is(err, adminapi.ErrUnauthenticated) {
			code = http.StatusUnauthorized
		}
		a.logger.Warn("admin request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		writeAdminError(w, code, err.Error())
		return
	}
	op, err := adminapi.ParseRequest(r.Method, r.URL.Path, body)
	if err != nil {
		code := http.StatusBadRequest
		switch {
		case errors.Is(err, adminapi.ErrNotFound):
			code = http.StatusNotFound
		case errors.Is(err, adminapi.ErrMethod):
			code = http.StatusMethodNotAllowed
		}
		writeAdminError(w, code, err.Error())
		return
	}
	if op.Kind == adminapi.OpStatus {
		writeAdminJSON(w, http.StatusOK, a.pl.status())
		return
	}
	if op.Kind == adminapi.OpReplication {
		writeAdminJSON(w, http.StatusOK, a.pl.replication(r.Context()))
		return
	}
	if op.Kind == adminapi.OpMRAPs {
		writeAdminJSON(w, http.StatusOK, a.pl.mraps())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminOpTimeout)
	defer cancel()
	msg, err := a.pl.apply(ctx, op)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, errAdminUnknown) {
			code = http.StatusNotFound
		}
		writeAdminError(w, code, err.Error())
		return
	}
	a.logger.Info("admin: "+msg, "op", op.Kind)
	writeAdminJSON(w, http.StatusOK, map[string]string{"result": msg})
}

func writeAdminJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeAdminError(w http.ResponseWriter, code int, msg string) {
	writeAdminJSON(w, code, adminapi.Error{Error: msg})
}

// errAdminUnknown is wrapped when an operation names a location, region or
// member the planet does not have (404).
var errAdminUnknown = errors.New("unknown")

func (p *planet) location(name string) error {
	if slices.Contains(p.topo.Locations, name) {
		return nil
	}
	return fmt.Errorf("%w location %q: the planet's are %s", errAdminUnknown, name, strings.Join(p.topo.Locations, ", "))
}

func (p *planet) region(name string) (*planetRegion, error) {
	var names []string
	for _, r := range p.regions {
		if r.Name == name {
			return r, nil
		}
		names = append(names, r.Name)
	}
	return nil, fmt.Errorf("%w region %q: the planet's are %s", errAdminUnknown, name, strings.Join(names, ", "))
}

// apply performs a chaos operation and says what it did.
func (p *planet) apply(ctx context.Context, op adminapi.Op) (string, error) {
	switch op.Kind {
	case adminapi.OpLink, adminapi.OpPartition, adminapi.OpHeal:
		if err := errors.Join(p.location(op.A), p.location(op.B)); err != nil {
			return "", err
		}
		switch op.Kind {
		case adminapi.OpLink:
			old, _ := p.net.Link(op.A, op.B)
			l := wan.Link{Latency: op.Latency, Jitter: op.Jitter, Loss: op.Loss, Bandwidth: op.Bandwidth, Cut: old.Cut}
			if err := p.net.Set(op.A, op.B, l); err != nil {
				return "", err
			}
			return fmt.Sprintf("link %s <-> %s: rtt %v (one way %v), jitter %v, loss %g, bandwidth %d B/s%s",
				op.A, op.B, 2*l.Latency, l.Latency, l.Jitter, l.Loss, l.Bandwidth, map[bool]string{true: " (still partitioned)"}[l.Cut]), nil
		case adminapi.OpPartition:
			if err := p.net.Partition(op.A, op.B); err != nil {
				return "", err
			}
			return fmt.Sprintf("partitioned %s from %s", op.A, op.B), nil
		default:
			if err := p.net.Heal(op.A, op.B); err != nil {
				return "", err
			}
			return fmt.Sprintf("healed %s <-> %s", op.A, op.B), nil
		}
	}
	r, err := p.region(op.Region)
	if err != nil {
		return "", err
	}
	targets := r.members
	if op.Member != "" {
		i := slices.IndexFunc(r.members, func(m *planetMember) bool { return m.id == op.Member })
		if i < 0 {
			return "", fmt.Errorf("%w member %q in region %s: it has n1 to n%d", errAdminUnknown, op.Member, r.Name, len(r.members))
		}
		targets = r.members[i : i+1]
	}
	p.ops.Lock()
	defer p.ops.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(targets))
	for i, m := range targets {
		wg.Go(func() {
			switch op.Kind {
			case adminapi.OpRegionDown, adminapi.OpMemberStop:
				p.stopMember(m)
			default:
				errs[i] = p.restartMember(ctx, m)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	what := "region " + r.Name
	if op.Member != "" {
		what = "member " + r.Name + "/" + op.Member
	}
	switch op.Kind {
	case adminapi.OpRegionDown, adminapi.OpMemberStop:
		return what + " stopped", nil
	default:
		return what + " started", nil
	}
}

// status reports the planet: members with their raft state and their health as
// the first running member's pool sees it, and every pair of locations with its
// configured and current link and the RTT gossip measures.
func (p *planet) status() adminapi.Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := adminapi.Status{ControlRegion: p.topo.ControlRegion().Name, Catalog: "no member runs: no catalog copy to show"}
	var viewer *routing.Pool
	var pools []*routing.Pool
	for _, m := range p.allMembers() {
		if m.pool != nil {
			pools = append(pools, m.pool)
			if viewer == nil {
				viewer = m.pool
				st.Viewer = m.name()
				catalogStatus(&st, m.front.cat)
			}
		}
	}
	for _, e := range p.edges {
		es := adminapi.Edge{Name: e.name, Location: e.location, S3: e.url, Health: "unknown"}
		if viewer != nil {
			if peer, ok := viewer.Peer(e.name); ok {
				es.Health = peer.Health.String()
			}
		}
		st.Edges = append(st.Edges, es)
	}
	for _, r := range p.regions {
		rs := adminapi.Region{Name: r.Name, Location: r.Location, Down: true}
		for _, m := range r.members {
			ms := adminapi.Member{ID: m.id, S3: m.url, Cluster: m.clusterAddr, Gossip: m.gossipAddr, RaftState: "stopped", Health: "unknown"}
			if m.servedMember != nil {
				rs.Down = false
				ms.Running = true
				ms.RaftState = "running"
				if nm, ok := m.member.(*node.Member); ok {
					ms.RaftState = nm.Status().State
				}
				ms.Leader = m.member.Ready()
				if ms.Leader {
					rs.Leader = m.id
				}
			}
			if viewer != nil {
				if peer, ok := viewer.Peer(m.name()); ok {
					ms.Health, ms.GossipLead = peer.Health.String(), peer.Leader
				}
			}
			rs.Members = append(rs.Members, ms)
		}
		st.Regions = append(st.Regions, rs)
	}
	// Measured RTTs: every running pool's smoothed RTT to every live peer,
	// averaged per pair of locations.
	measured := rttSamples{}
	for _, pool := range pools {
		measured.add(pool)
	}
	st.Links = linkStatuses(p.topo, p.net, measured)
	return st
}

// catalogStatus describes cat's copy of the catalog in st.
func catalogStatus(st *adminapi.Status, cat *routing.Catalog) {
	snap := cat.Snapshot()
	st.CatalogBuckets, st.CatalogVersion = len(snap.Entries), snap.Version
	st.Catalog = fmt.Sprintf("catalog: %d buckets, version %d", len(snap.Entries), snap.Version)
	if !cat.Fresh() {
		st.Catalog += " (stale: the control region does not answer)"
	}
}

// rttSamples sums smoothed RTTs per pair of locations (locPair).
type rttSamples map[[2]string]*rttSum

type rttSum struct {
	sum time.Duration
	n   int
}

// add takes pool's smoothed RTT to each of its live peers.
func (m rttSamples) add(pool *routing.Pool) {
	from := pool.Self().Location
	for _, peer := range pool.Peers() {
		if peer.Self || peer.Health != routing.HealthAlive {
			continue
		}
		if rtt, ok := pool.RTT(peer.Name); ok {
			k := locPair(from, peer.Location)
			if m[k] == nil {
				m[k] = &rttSum{}
			}
			m[k].sum += rtt
			m[k].n++
		}
	}
}

// linkStatuses lists every pair of topo's locations (each with itself too) with
// its configured RTT, its current link in n, and the RTT measured.
func linkStatuses(topo *topology.Topology, n *wan.Net, measured rttSamples) []adminapi.LinkStatus {
	var out []adminapi.LinkStatus
	locs := topo.Locations
	for i, a := range locs {
		for _, b := range locs[i:] {
			ls := adminapi.LinkStatus{A: a, B: b, ConfiguredRTT: adminapi.Duration(topo.RTT(a, b))}
			if l, ok := n.Link(a, b); ok {
				ls.Latency, ls.Jitter, ls.Loss, ls.Bandwidth, ls.Cut = adminapi.Duration(l.Latency), adminapi.Duration(l.Jitter), l.Loss, l.Bandwidth, l.Cut
			}
			if m := measured[locPair(a, b)]; m != nil {
				ls.Measured, ls.Samples = adminapi.Duration(m.sum/time.Duration(m.n)), m.n
			}
			out = append(out, ls)
		}
	}
	return out
}

func locPair(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

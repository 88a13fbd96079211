package s3api

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// probeInterval is how often an internal address a forward failed to reach is
// probed in the background (GET of its liveness endpoint) until it answers.
const probeInterval = 2 * time.Second

// probeTimeout bounds one probe.
const probeTimeout = 5 * time.Second

// unreachable remembers the internal addresses forwards could not reach, so
// that while a link stays cut the requests after the first do not each wait the
// same timeouts: they go to the region's other members, or, when every one
// failed, answer 503 at once. A failed address is left out until a background
// probe finds it answering again (or a forward through it succeeds); requests
// never wait for a probe. One per Server.
type unreachable struct {
	mu    sync.Mutex
	addrs map[string]*downAddr
}

type downAddr struct {
	next    time.Time // when to probe again
	probing bool
}

func (u *unreachable) mark(addr string, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.addrs == nil {
		u.addrs = make(map[string]*downAddr)
	}
	if d, ok := u.addrs[addr]; ok {
		d.next = now.Add(probeInterval)
		return
	}
	u.addrs[addr] = &downAddr{next: now.Add(probeInterval)}
}

func (u *unreachable) clear(addr string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.addrs, addr)
}

// usable filters addrs down to those not known to be unreachable, in order,
// and starts a probe of each failed one whose turn has come.
func (u *unreachable) usable(addrs []string, now time.Time, probe func(addr string)) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		d, ok := u.addrs[a]
		if !ok {
			out = append(out, a)
			continue
		}
		if !d.probing && !now.Before(d.next) {
			d.probing = true
			go probe(a)
		}
	}
	return out
}

// probeDone records a probe's outcome.
func (u *unreachable) probeDone(addr string, ok bool, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	d, found := u.addrs[addr]
	if !found {
		return
	}
	if ok {
		delete(u.addrs, addr)
		return
	}
	d.probing, d.next = false, now.Add(probeInterval)
}

// probe asks addr's liveness endpoint over the internal channel: any HTTP
// answer means it can be reached again.
func (s *Server) probe(addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	ok := false
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+HealthLivePath, nil)
	if err == nil {
		resp, err := s.cfg.Forward.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			ok = true
		}
	}
	s.unreachable.probeDone(addr, ok, time.Now())
}

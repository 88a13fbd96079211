package s3api

import (
	"sync"
	"time"
)

// unreachableFor is how long a forward skips an internal address that failed
// (refused, timed out, broke) before trying it again.
const unreachableFor = 5 * time.Second

// unreachable remembers the internal addresses a forward could not reach
// lately, so that while a link stays cut the requests after the first do not
// each wait the same timeouts: they go to the region's other members, or, when
// every one failed, answer 503 at once. One per Server.
type unreachable struct {
	mu    sync.Mutex
	until map[string]time.Time
}

func (u *unreachable) mark(addr string, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.until == nil {
		u.until = make(map[string]time.Time)
	}
	u.until[addr] = now.Add(unreachableFor)
}

func (u *unreachable) clear(addr string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.until, addr)
}

// usable filters addrs down to those not failed lately, in order.
func (u *unreachable) usable(addrs []string, now time.Time) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if t, ok := u.until[a]; ok {
			if now.Before(t) {
				continue
			}
			delete(u.until, a)
		}
		out = append(out, a)
	}
	return out
}

package s3api

import (
	"context"
	"encoding/json"
	"net/http"
)

// Health endpoints, for load balancers, orchestrators and `pangea health`:
//
//	GET /_pangea/health/live    200 while the backend can serve at all; 503 once it has
//	                            stopped (a storage failure, or the member's removal)
//	GET /_pangea/health/ready   200 when requests are served now without waiting; 503
//	                            while there is no leader, this member is cut off from
//	                            it, or it is catching up
//
// They are path-style only and unauthenticated, like the health checks of other S3
// servers: "_pangea" is not a valid bucket name, so no S3 request is shadowed, and the
// answer says no more than whether this endpoint serves. HEAD answers the status alone.
const (
	healthBucket = "_pangea"
	// HealthLivePath and HealthReadyPath are the endpoints' paths.
	HealthLivePath  = "/" + healthBucket + "/health/live"
	HealthReadyPath = "/" + healthBucket + "/health/ready"
)

// HealthReporter is implemented by backends whose health can change (the region
// member). A backend without it is live and ready whenever its server answers.
type HealthReporter interface {
	// Liveness returns why the backend can no longer serve at all, or nil.
	Liveness() error
	// Readiness returns why a request now would fail or wait, or nil. It returns
	// within a few seconds.
	Readiness(ctx context.Context) error
}

// Health is the JSON body of a health answer.
type Health struct {
	Status string `json:"status"`           // "ok" or "unavailable"
	Reason string `json:"reason,omitempty"` // why not ok
}

func healthOp(key string) (op, bool) {
	switch key {
	case "health/live":
		return opHealthLive, true
	case "health/ready":
		return opHealthReady, true
	case "metrics":
		return opMetrics, true
	}
	return opUnknown, false
}

// unauthenticated reports whether o is one of the /_pangea endpoints, answered
// without authentication.
func (o op) unauthenticated() bool {
	return o == opHealthLive || o == opHealthReady || o == opMetrics
}

// health answers a health endpoint (no authentication, no backend call but the check),
// or the metrics endpoint.
func (s *Server) health(rc *reqCtx) {
	if rc.op == opMetrics {
		s.metrics(rc)
		return
	}
	var err error
	if hr, ok := s.b.(HealthReporter); ok {
		if rc.op == opHealthReady {
			err = hr.Readiness(rc.r.Context())
		} else {
			err = hr.Liveness()
		}
	}
	body, status := Health{Status: "ok"}, http.StatusOK
	if err != nil {
		body, status = Health{Status: "unavailable", Reason: err.Error()}, http.StatusServiceUnavailable
		rc.errCode = "Unavailable"
	}
	h := rc.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	rc.w.WriteHeader(status)
	if rc.r.Method == http.MethodHead {
		return
	}
	buf, _ := json.Marshal(body) // plain strings: cannot fail
	rc.w.Write(append(buf, '\n'))
}

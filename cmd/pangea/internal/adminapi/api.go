package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Duration is a time.Duration written in JSON as Go's duration string ("70ms").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler: a duration string ("35ms", "1.5s").
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"70ms\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q: %v", s, err)
	}
	*d = Duration(v)
	return nil
}

// MaxLatency bounds a link's latency and jitter: more is a typo, not a planet.
const MaxLatency = time.Minute

// LinkRequest is the body of POST /links. Exactly one of RTT (the round trip,
// halved into the one-way latency as the topology does) or Latency (one way).
// The link is replaced: omitted jitter, loss and bandwidth become 0; a cut link
// stays cut until healed.
type LinkRequest struct {
	A         string    `json:"a"`
	B         string    `json:"b"`
	RTT       *Duration `json:"rtt,omitempty"`
	Latency   *Duration `json:"latency,omitempty"`
	Jitter    Duration  `json:"jitter,omitempty"`
	Loss      float64   `json:"loss,omitempty"`
	Bandwidth int64     `json:"bandwidth,omitempty"` // bytes per second per direction; 0 unlimited
}

// PairRequest is the body of POST /partition and POST /heal.
type PairRequest struct {
	A string `json:"a"`
	B string `json:"b"`
}

// Op kinds.
const (
	OpStatus      = "status"
	OpReplication = "replication"
	OpMRAPs       = "mraps"
	OpLink        = "link"
	OpPartition   = "partition"
	OpHeal        = "heal"
	OpRegionDown  = "region-down"
	OpRegionUp    = "region-up"
	OpMemberStop  = "member-stop"
	OpMemberStart = "member-start"
)

// Op is a parsed admin request.
type Op struct {
	Kind   string
	A, B   string // locations (link, partition, heal)
	Region string // region-*, member-*
	Member string // member-*
	// Link settings (link): one-way latency and jitter.
	Latency, Jitter time.Duration
	Loss            float64
	Bandwidth       int64
}

// ErrBadRequest is wrapped by ParseRequest's errors (HTTP 400).
var ErrBadRequest = errors.New("bad request")

// ErrNotFound is wrapped for an unknown path (HTTP 404).
var ErrNotFound = errors.New("not found")

// ErrMethod is wrapped for a known path with the wrong method (HTTP 405).
var ErrMethod = errors.New("method not allowed")

// MaxBody bounds a request body.
const MaxBody = 64 << 10

// ParseRequest turns a request into an Op, checking its shape only (names
// well formed, numbers in range); whether a location, region or member exists is
// the server's business. path has no query.
func ParseRequest(method, path string, body []byte) (Op, error) {
	bad := func(format string, a ...any) (Op, error) {
		return Op{}, fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, a...))
	}
	want := func(m string) error {
		if method != m {
			return fmt.Errorf("%w: %s %s (use %s)", ErrMethod, method, path, m)
		}
		return nil
	}
	if len(body) > MaxBody {
		return bad("body larger than %d bytes", MaxBody)
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case path == "/status":
		if err := want("GET"); err != nil {
			return Op{}, err
		}
		return Op{Kind: OpStatus}, nil
	case path == "/replication":
		if err := want("GET"); err != nil {
			return Op{}, err
		}
		return Op{Kind: OpReplication}, nil
	case path == "/mraps":
		if err := want("GET"); err != nil {
			return Op{}, err
		}
		return Op{Kind: OpMRAPs}, nil
	case path == "/links":
		if err := want("POST"); err != nil {
			return Op{}, err
		}
		var lr LinkRequest
		if err := decode(body, &lr); err != nil {
			return bad("%v; want {\"a\": LOCATION, \"b\": LOCATION, \"rtt\": \"70ms\" or \"latency\": \"35ms\", \"jitter\": \"5ms\", \"loss\": 0.01, \"bandwidth\": BYTES_PER_S}", err)
		}
		if err := checkPair(lr.A, lr.B); err != nil {
			return bad("%v", err)
		}
		op := Op{Kind: OpLink, A: lr.A, B: lr.B, Jitter: time.Duration(lr.Jitter), Loss: lr.Loss, Bandwidth: lr.Bandwidth}
		switch {
		case lr.RTT != nil && lr.Latency != nil:
			return bad("give rtt or latency, not both")
		case lr.RTT != nil:
			op.Latency = time.Duration(*lr.RTT) / 2
		case lr.Latency != nil:
			op.Latency = time.Duration(*lr.Latency)
		default:
			return bad("rtt (round trip) or latency (one way) is required")
		}
		switch {
		case op.Latency < 0 || op.Latency > MaxLatency:
			return bad("latency %v outside [0, %v]", op.Latency, MaxLatency)
		case op.Jitter < 0 || op.Jitter > MaxLatency:
			return bad("jitter %v outside [0, %v]", op.Jitter, MaxLatency)
		case math.IsNaN(op.Loss) || op.Loss < 0 || op.Loss >= 1:
			return bad("loss %v outside [0, 1)", op.Loss)
		case op.Bandwidth < 0:
			return bad("negative bandwidth %d", op.Bandwidth)
		}
		return op, nil
	case path == "/partition" || path == "/heal":
		if err := want("POST"); err != nil {
			return Op{}, err
		}
		var pr PairRequest
		if err := decode(body, &pr); err != nil {
			return bad("%v; want {\"a\": LOCATION, \"b\": LOCATION}", err)
		}
		if err := checkPair(pr.A, pr.B); err != nil {
			return bad("%v", err)
		}
		kind := OpPartition
		if path == "/heal" {
			kind = OpHeal
		}
		return Op{Kind: kind, A: pr.A, B: pr.B}, nil
	case len(parts) == 3 && parts[0] == "regions" && (parts[2] == "down" || parts[2] == "up"):
		if err := want("POST"); err != nil {
			return Op{}, err
		}
		if !ValidName(parts[1]) {
			return bad("region name %q", parts[1])
		}
		kind := OpRegionDown
		if parts[2] == "up" {
			kind = OpRegionUp
		}
		return Op{Kind: kind, Region: parts[1]}, nil
	case len(parts) == 4 && parts[0] == "members" && (parts[3] == "stop" || parts[3] == "start"):
		if err := want("POST"); err != nil {
			return Op{}, err
		}
		if !ValidName(parts[1]) || !ValidName(parts[2]) {
			return bad("region %q or member %q is not a name", parts[1], parts[2])
		}
		kind := OpMemberStop
		if parts[3] == "start" {
			kind = OpMemberStart
		}
		return Op{Kind: kind, Region: parts[1], Member: parts[2]}, nil
	}
	return Op{}, fmt.Errorf("%w: %s %s; the API has GET /status, GET /replication, POST /links, /partition, /heal, /regions/{region}/down|up, /members/{region}/{id}/stop|start", ErrNotFound, method, path)
}

func decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body is not the expected JSON: %v", err)
	}
	if dec.More() {
		return errors.New("body has data after its JSON object")
	}
	return nil
}

func checkPair(a, b string) error {
	switch {
	case !ValidName(a) || !ValidName(b):
		return fmt.Errorf("locations a %q and b %q must both be names (letters, digits, '-', '.', '_')", a, b)
	case a == b:
		return fmt.Errorf("a and b are both %q: traffic inside a location is not emulated", a)
	}
	return nil
}

// ValidName reports whether s can name a location, region or member: 1 to 63
// of ASCII letters, digits, '-', '.', '_'.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// Status is the body of GET /status: the planet as the lab sees it.
type Status struct {
	// Viewer names the gossip pool whose view Health and Measured come from:
	// the first running member's (every member when none is named).
	Viewer        string `json:"viewer"`
	ControlRegion string `json:"control_region"`
	// Catalog describes the global bucket catalog in words (size, version, as
	// the viewer's copy holds it); CatalogBuckets and CatalogVersion in numbers.
	Catalog        string   `json:"catalog"`
	CatalogBuckets int      `json:"catalog_buckets"`
	CatalogVersion uint64   `json:"catalog_version"`
	Regions        []Region `json:"regions"`
	// Edges lists the edges with their health as the viewer sees it.
	Edges []Edge `json:"edges,omitempty"`
	// Links lists every pair of locations, the same location included (its
	// RTT is measured, never emulated).
	Links []LinkStatus `json:"links"`
}

// Edge is one edge of the planet.
type Edge struct {
	Name     string `json:"name"`
	Location string `json:"location"`
	S3       string `json:"s3"`
	Health   string `json:"health"`
}

// Region is one region of the planet.
type Region struct {
	Name     string   `json:"name"`
	Location string   `json:"location"`
	Leader   string   `json:"leader,omitempty"` // member ID of the raft leader, if any runs
	Down     bool     `json:"down"`             // every member stopped (region-down)
	Members  []Member `json:"members"`
}

// Member is one region member.
type Member struct {
	ID         string `json:"id"`
	S3         string `json:"s3_endpoint"`
	Cluster    string `json:"cluster_addr"`
	Gossip     string `json:"gossip_addr"`
	Running    bool   `json:"running"`
	RaftState  string `json:"raft_state"` // Leader, Follower, Candidate; "stopped"
	Leader     bool   `json:"leader"`
	Health     string `json:"health"`      // alive, suspect, dead, left; "unknown" if the viewer never saw it
	GossipLead bool   `json:"gossip_lead"` // the leader flag the viewer sees in gossip
}

// LinkStatus is one pair of locations.
type LinkStatus struct {
	A             string   `json:"a"`
	B             string   `json:"b"`
	ConfiguredRTT Duration `json:"configured_rtt"` // the topology's
	Latency       Duration `json:"latency"`        // one way, now
	Jitter        Duration `json:"jitter"`
	Loss          float64  `json:"loss"`
	Bandwidth     int64    `json:"bandwidth"`
	Cut           bool     `json:"cut"`
	// Measured is the mean RTT gossip measured between running members at a
	// and at b (0 with Samples 0: none yet).
	Measured Duration `json:"measured_rtt"`
	Samples  int      `json:"samples"`
}

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
}

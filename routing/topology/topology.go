package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxNameLen is the longest location, region or edge name accepted. It keeps
// names short enough to travel in routing/wan's one-byte-length preamble.
const MaxNameLen = 63

// Topology lists the locations of an emulated planet, the links between them,
// the regions and the edges. The first region is the control region. A
// Topology returned by this package has passed Validate; a caller that edits
// one must call Validate again before handing it on.
type Topology struct {
	// Locations names every place a region, node or edge can stand.
	Locations []string `yaml:"locations"`
	// Links gives, for every unordered pair of distinct locations, the link
	// between them. Validate insists on exactly one per pair, so a forgotten
	// pair is an error rather than a silent zero-latency shortcut.
	Links []Link `yaml:"links"`
	// Regions lists the regions; the first one is the control region.
	Regions []Region `yaml:"regions"`
	// Edges lists the edges (stateless S3 front doors). When the YAML omits
	// the key, Parse puts one edge beside every location; "edges: []" means
	// no edge at all.
	Edges []Edge `yaml:"edges"`
	// MRAPs names Multi-Region Access Points the lab makes at start-up, each
	// over a bucket in every region (as pangea lab --mrap NAME does).
	MRAPs []string `yaml:"mraps,omitempty"`
}

// Link describes the path between two distinct locations. It is symmetric:
// the order in Between does not matter.
type Link struct {
	// Between names the two locations.
	Between [2]string `yaml:"between,flow"`
	// RTT is the round-trip time; each direction is delayed by RTT/2.
	RTT time.Duration `yaml:"rtt"`
	// Jitter is the most that is added at random to each one-way delay
	// (uniformly in [0, Jitter)); it never makes a delay shorter than RTT/2.
	Jitter time.Duration `yaml:"jitter,omitempty"`
	// Loss is the fraction of datagrams (memberlist packets) dropped, in
	// [0, 1). Streams are reliable, as TCP is, and do not lose bytes.
	Loss float64 `yaml:"loss,omitempty"`
	// Bandwidth caps each direction of each connection, in bytes per
	// second; 0 means unlimited.
	Bandwidth int64 `yaml:"bandwidth,omitempty"`
}

// Region is one Pangea region: a raft group of Members nodes at Location.
type Region struct {
	Name     string `yaml:"name"`
	Location string `yaml:"location"`
	Members  int    `yaml:"members"`
}

// Edge is one edge process at Location.
type Edge struct {
	Name     string `yaml:"name"`
	Location string `yaml:"location"`
}

// ErrInvalid is wrapped by every error Validate (and so Parse and Load)
// returns for a topology that is well-formed YAML but not a usable topology.
var ErrInvalid = errors.New("topology: invalid")

// Default returns the lab's default topology: us-east-1, eu-west-1 and
// ap-southeast-2, three members each, one edge per location, with round-trip
// times of 70, 200 and 250 ms between them (close to what AWS shows between
// those regions). us-east-1 is the control region.
func Default() *Topology {
	t, err := Sized(3, 3)
	if err != nil {
		// Sized(3, 3) only reads the built-in catalog, which the tests check.
		panic(fmt.Sprintf("topology: built-in default is invalid: %v", err))
	}
	return t
}

// Sized returns a topology of the first regions entries of the built-in
// catalog (us-east-1, eu-west-1, ap-southeast-2, us-west-2, ap-northeast-1,
// sa-east-1, eu-central-1, ap-south-1), each with membersPerRegion members
// and one edge, with round-trip times close to the public figures between
// those AWS regions. It is what the lab's --regions and --nodes-per-region
// flags build. regions must be in [1, 8] (more would need invented places
// and distances, which nobody could check) and membersPerRegion at least 1.
func Sized(regions, membersPerRegion int) (*Topology, error) {
	if regions < 1 || regions > len(catalog) {
		return nil, fmt.Errorf("%w: regions: %d is outside [1, %d] (use a topology file for other shapes)", ErrInvalid, regions, len(catalog))
	}
	if membersPerRegion < 1 {
		return nil, fmt.Errorf("%w: members per region: %d is less than 1", ErrInvalid, membersPerRegion)
	}
	t := &Topology{}
	for _, loc := range catalog[:regions] {
		t.Locations = append(t.Locations, loc)
		t.Regions = append(t.Regions, Region{Name: loc, Location: loc, Members: membersPerRegion})
		t.Edges = append(t.Edges, Edge{Name: "edge-" + loc, Location: loc})
	}
	for i := 0; i < regions; i++ {
		for j := i + 1; j < regions; j++ {
			t.Links = append(t.Links, Link{
				Between: [2]string{catalog[i], catalog[j]},
				RTT:     catalogRTT(catalog[i], catalog[j]),
			})
		}
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// Parse decodes a YAML topology strictly (an unknown key is an error, as is a
// second YAML document), fills in the default edges when the edges key is
// absent, and validates the result.
func Parse(data []byte) (*Topology, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var t Topology
	if err := dec.Decode(&t); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty document", ErrInvalid)
		}
		return nil, fmt.Errorf("topology: decode: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one YAML document", ErrInvalid)
	}
	if t.Edges == nil {
		for _, loc := range t.Locations {
			t.Edges = append(t.Edges, Edge{Name: "edge-" + loc, Location: loc})
		}
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// Load reads and parses the topology file at path.
func Load(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Marshal encodes t as YAML that Parse reads back to an equal topology.
func (t *Topology) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(t); err != nil {
		return nil, fmt.Errorf("topology: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("topology: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// Clone returns a deep copy of t, for callers that adjust a topology (say,
// the member count) without touching the original.
func (t *Topology) Clone() *Topology {
	return &Topology{
		Locations: slices.Clone(t.Locations),
		Links:     slices.Clone(t.Links),
		Regions:   slices.Clone(t.Regions),
		Edges:     slices.Clone(t.Edges),
		MRAPs:     slices.Clone(t.MRAPs),
	}
}

// Validate reports the first problem that makes t unusable, naming the field
// (for example "regions[1].location") and the value at fault. The error wraps
// ErrInvalid.
func (t *Topology) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
	if len(t.Locations) == 0 {
		return bad("locations", "no location")
	}
	for i, name := range t.MRAPs {
		if !ValidLabMRAPName(name) || slices.Contains(t.MRAPs[:i], name) {
			return bad(fmt.Sprintf("mraps[%d]", i), "%q: want a unique name of 3 to 40 characters of a-z, 0-9 and -, not starting or ending with -", name)
		}
	}
	locs := make(map[string]bool, len(t.Locations))
	for i, loc := range t.Locations {
		field := fmt.Sprintf("locations[%d]", i)
		if err := checkName(loc); err != nil {
			return bad(field, "%v", err)
		}
		if locs[loc] {
			return bad(field, "duplicate location %q", loc)
		}
		locs[loc] = true
	}

	pairs := make(map[[2]string]bool, len(t.Links))
	for i, l := range t.Links {
		field := fmt.Sprintf("links[%d]", i)
		for k, loc := range l.Between {
			if !locs[loc] {
				return bad(fmt.Sprintf("%s.between[%d]", field, k), "unknown location %q", loc)
			}
		}
		a, b := l.Between[0], l.Between[1]
		if a == b {
			return bad(field+".between", "links %q to itself (a location has no emulated distance to itself)", a)
		}
		key := pairKey(a, b)
		if pairs[key] {
			return bad(field+".between", "second link between %q and %q", a, b)
		}
		pairs[key] = true
		if l.RTT < 0 {
			return bad(field+".rtt", "negative (%v)", l.RTT)
		}
		if l.Jitter < 0 {
			return bad(field+".jitter", "negative (%v)", l.Jitter)
		}
		if math.IsNaN(l.Loss) || l.Loss < 0 || l.Loss >= 1 {
			return bad(field+".loss", "%v is outside [0, 1)", l.Loss)
		}
		if l.Bandwidth < 0 {
			return bad(field+".bandwidth", "negative (%d bytes/s)", l.Bandwidth)
		}
	}
	for i, a := range t.Locations {
		for _, b := range t.Locations[i+1:] {
			if !pairs[pairKey(a, b)] {
				return bad("links", "no link between %q and %q", a, b)
			}
		}
	}

	if len(t.Regions) == 0 {
		return bad("regions", "no region")
	}
	regions := make(map[string]bool, len(t.Regions))
	for i, r := range t.Regions {
		field := fmt.Sprintf("regions[%d]", i)
		if err := checkName(r.Name); err != nil {
			return bad(field+".name", "%v", err)
		}
		if regions[r.Name] {
			return bad(field+".name", "duplicate region %q", r.Name)
		}
		regions[r.Name] = true
		if !locs[r.Location] {
			return bad(field+".location", "unknown location %q", r.Location)
		}
		if r.Members < 1 {
			return bad(field+".members", "%d is less than 1", r.Members)
		}
	}

	edges := make(map[string]bool, len(t.Edges))
	for i, e := range t.Edges {
		field := fmt.Sprintf("edges[%d]", i)
		if err := checkName(e.Name); err != nil {
			return bad(field+".name", "%v", err)
		}
		if edges[e.Name] {
			return bad(field+".name", "duplicate edge %q", e.Name)
		}
		edges[e.Name] = true
		if !locs[e.Location] {
			return bad(field+".location", "unknown location %q", e.Location)
		}
	}
	return nil
}

// ControlRegion returns the first region, which holds the global catalog.
func (t *Topology) ControlRegion() Region {
	return t.Regions[0]
}

// RTT returns the round-trip time between locations a and b. Inside one
// location it is 0: Pangea does not emulate distance within a location (the
// lab's loopback, or a data centre's own network, is the intra-location
// figure). It is also 0 for a location the topology does not list.
func (t *Topology) RTT(a, b string) time.Duration {
	l, _ := t.Link(a, b)
	return l.RTT
}

// Link returns the link between two distinct locations and whether the
// topology has one. The order of a and b does not matter.
func (t *Topology) Link(a, b string) (Link, bool) {
	if a == b {
		return Link{}, false
	}
	key := pairKey(a, b)
	for _, l := range t.Links {
		if pairKey(l.Between[0], l.Between[1]) == key {
			return l, true
		}
	}
	return Link{}, false
}

// HasLocation reports whether loc is one of t's locations.
func (t *Topology) HasLocation(loc string) bool {
	return slices.Contains(t.Locations, loc)
}

// ValidName reports whether s can name a location, region or edge: 1 to
// MaxNameLen characters among ASCII letters, digits, '.', '_' and '-',
// starting with a letter or digit.
func ValidName(s string) bool {
	return checkName(s) == nil
}

func checkName(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("name %.20q... is longer than %d bytes", s, MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return fmt.Errorf("name %q: only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit", s)
		}
	}
	return nil
}

// pairKey orders a pair so that (a, b) and (b, a) are the same key.
func pairKey(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

// ValidLabMRAPName reports whether name can name a lab MRAP (the topology's
// mraps, pangea lab --mrap): an MRAP name short enough that "<name>-<region>"
// is a bucket name.
func ValidLabMRAPName(name string) bool {
	if len(name) < 3 || len(name) > 40 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

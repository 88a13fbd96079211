package routing

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Network coordinates in the manner of Vivaldi (Dabek et al., 2004), as serf
// does it, kept small: each process places itself in a 3-dimensional space plus
// a height (its access link) so that the distance between two coordinates
// estimates their RTT. Coordinates ride in memberlist's ping acks, so a process
// learns the coordinate of every peer it probes, and can estimate the RTT
// between any two of them (ctl status' matrix) without measuring it.
const coordDims = 3

// Coord is a network coordinate; distances are in seconds.
type Coord struct {
	Vec    [coordDims]float64
	Height float64 // never below vivaldiHeightMin
	Error  float64 // relative confidence, vivaldiErrorMax at first, shrinking as samples fit
}

// Vivaldi's constants, serf's defaults.
const (
	vivaldiErrorMax   = 1.5   // error of a fresh coordinate
	vivaldiCE         = 0.25  // how fast the error estimate moves
	vivaldiCC         = 0.25  // how fast the coordinate moves
	vivaldiHeightMin  = 10e-6 // 10 µs
	vivaldiGravityRho = 150.0 // pulls coordinates gently back toward the origin
	vivaldiFilter     = 3     // median of the last samples per peer, against outliers
	vivaldiMaxRTT     = 10.0  // seconds; longer samples are not RTTs
	coordVersion      = 1
	coordLen          = 1 + 8*(coordDims+2)
)

func newCoord() Coord { return Coord{Height: vivaldiHeightMin, Error: vivaldiErrorMax} }

// DistanceTo is the RTT the coordinates predict between c and o.
func (c Coord) DistanceTo(o Coord) time.Duration {
	return time.Duration(c.dist(o) * float64(time.Second))
}

func (c Coord) dist(o Coord) float64 {
	var sum float64
	for i := range c.Vec {
		d := c.Vec[i] - o.Vec[i]
		sum += d * d
	}
	return math.Sqrt(sum) + c.Height + o.Height
}

func (c Coord) valid() bool {
	for _, v := range c.Vec {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e3 {
			return false
		}
	}
	return c.Height >= vivaldiHeightMin && c.Height < 1e3 &&
		c.Error > 0 && c.Error <= vivaldiErrorMax
}

// applyForce moves c by force (seconds) away from o (toward it if negative).
func (c Coord) applyForce(force float64, o Coord, rng *rand.Rand) Coord {
	var unit [coordDims]float64
	var mag float64
	for i := range unit {
		unit[i] = c.Vec[i] - o.Vec[i]
		mag += unit[i] * unit[i]
	}
	mag = math.Sqrt(mag)
	if mag > 1e-9 {
		for i := range unit {
			unit[i] /= mag
		}
	} else {
		// Same place: push in a random direction (two fresh coordinates must
		// be able to separate).
		var n float64
		for i := range unit {
			unit[i] = rng.Float64() - 0.5
			n += unit[i] * unit[i]
		}
		for i := range unit {
			unit[i] /= math.Sqrt(n)
		}
	}
	for i := range c.Vec {
		c.Vec[i] += unit[i] * force
	}
	if mag > 1e-9 {
		c.Height = max((c.Height+o.Height)*force/mag+c.Height, vivaldiHeightMin)
	}
	return c
}

// vivaldi is one process's coordinate and what it learned of its peers'.
type vivaldi struct {
	mu      sync.Mutex
	self    Coord
	peers   map[string]Coord
	samples map[string][]float64 // last RTTs, seconds
	rng     *rand.Rand
}

func newVivaldi(rng *rand.Rand) *vivaldi {
	return &vivaldi{self: newCoord(), peers: map[string]Coord{}, samples: map[string][]float64{}, rng: rng}
}

// update takes a measured RTT to peer, whose coordinate is other, and moves
// this process's coordinate to fit it better. Implausible input is ignored.
func (v *vivaldi) update(peer string, other Coord, rtt time.Duration) {
	r := rtt.Seconds()
	if !other.valid() || r <= 0 || r > vivaldiMaxRTT {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	s := append(v.samples[peer], r)
	if len(s) > vivaldiFilter {
		s = s[len(s)-vivaldiFilter:]
	}
	v.samples[peer] = s
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	r = sorted[len(sorted)/2]

	c := v.self
	dist := c.dist(other)
	wrongness := math.Abs(dist-r) / r
	weight := c.Error / (c.Error + other.Error)
	c.Error = min(vivaldiCE*weight*wrongness+c.Error*(1-vivaldiCE*weight), vivaldiErrorMax)
	c = c.applyForce(vivaldiCC*weight*(r-dist), other, v.rng)
	origin := Coord{Height: vivaldiHeightMin}
	g := c.dist(origin) / vivaldiGravityRho
	c = c.applyForce(-g*g, origin, v.rng)
	if c.valid() {
		v.self = c
	} else {
		v.self = newCoord() // numerical trouble: start over rather than spread it
	}
	v.peers[peer] = other
}

// coord returns the coordinate of name ("" for this process).
func (v *vivaldi) coord(name string) (Coord, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if name == "" {
		return v.self, true
	}
	c, ok := v.peers[name]
	return c, ok
}

func (v *vivaldi) forget(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.peers, name)
	delete(v.samples, name)
}

// encodeCoord is the ack payload: version byte, then the vector, height and
// error as little-endian float64s.
func encodeCoord(c Coord) []byte {
	b := make([]byte, 1, coordLen)
	b[0] = coordVersion
	for _, f := range append(c.Vec[:], c.Height, c.Error) {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

var errCoord = errors.New("routing: malformed coordinate")

func decodeCoord(b []byte) (Coord, error) {
	if len(b) != coordLen || b[0] != coordVersion {
		return Coord{}, errCoord
	}
	var f [coordDims + 2]float64
	for i := range f {
		f[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[1+8*i:]))
	}
	var c Coord
	copy(c.Vec[:], f[:coordDims])
	c.Height, c.Error = f[coordDims], f[coordDims+1]
	if !c.valid() {
		return Coord{}, errCoord
	}
	return c, nil
}

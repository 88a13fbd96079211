package routing

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestVivaldi_ConvergesOnThreeRegions places 12 processes in three regions
// whose RTTs (eu-us 80 ms, us-ap 200 ms, eu-ap 250 ms, a few ms inside one)
// are distances in a plane plus access heights, lets them measure random
// peers, and checks the coordinates' estimates.
func TestVivaldi_ConvergesOnThreeRegions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	centers := [][2]float64{{0, 0}, {80, 0}, {180.6, 172.9}} // ms
	type node struct {
		pos    [2]float64
		height float64
		region int
		v      *vivaldi
	}
	var nodes []node
	for i := range 12 {
		c := centers[i%3]
		nodes = append(nodes, node{
			pos:    [2]float64{c[0] + rng.Float64() - 0.5, c[1] + rng.Float64() - 0.5},
			height: 0.2 + 0.3*rng.Float64(),
			region: i % 3,
			v:      newVivaldi(rand.New(rand.NewPCG(uint64(i), 7))),
		})
	}
	truth := func(a, b node) time.Duration {
		ms := math.Hypot(a.pos[0]-b.pos[0], a.pos[1]-b.pos[1]) + a.height + b.height
		return time.Duration(ms * float64(time.Millisecond))
	}
	name := func(i int) string { return string(rune('a' + i)) }
	for range 1000 {
		for i, n := range nodes {
			j := rng.IntN(len(nodes) - 1)
			if j >= i {
				j++
			}
			other, _ := nodes[j].v.coord("")
			// ±5% jitter on every sample, as a real link has.
			rtt := time.Duration(float64(truth(n, nodes[j])) * (0.95 + 0.1*rng.Float64()))
			n.v.update(name(j), other, rtt)
		}
	}
	var sumErr, maxErr float64
	pairs := 0
	for i, a := range nodes {
		ca, _ := a.v.coord("")
		for j, b := range nodes {
			if i == j {
				continue
			}
			cb, _ := b.v.coord("")
			est, want := ca.DistanceTo(cb), truth(a, b)
			if a.region == b.region {
				if d := (est - want).Abs(); d > 10*time.Millisecond {
					t.Errorf("same region %d: estimate %v, truth %v", a.region, est, want)
				}
				continue
			}
			rel := math.Abs(float64(est-want)) / float64(want)
			sumErr += rel
			maxErr = max(maxErr, rel)
			pairs++
		}
	}
	avg := sumErr / float64(pairs)
	t.Logf("between regions: mean relative error %.3f, max %.3f", avg, maxErr)
	if avg > 0.1 || maxErr > 0.25 {
		t.Errorf("estimates too far off: mean relative error %.3f, max %.3f", avg, maxErr)
	}
	if c, _ := nodes[0].v.coord(""); c.Error >= vivaldiErrorMax {
		t.Errorf("error estimate did not shrink: %v", c.Error)
	}
}

func TestVivaldi_IgnoresImplausibleInput(t *testing.T) {
	v := newVivaldi(rand.New(rand.NewPCG(1, 1)))
	before, _ := v.coord("")
	bad := newCoord()
	bad.Vec[0] = math.NaN()
	v.update("x", bad, 10*time.Millisecond)
	v.update("y", newCoord(), 0)
	v.update("z", newCoord(), time.Minute)
	after, _ := v.coord("")
	if after != before {
		t.Errorf("coordinate moved on implausible input: %+v -> %+v", before, after)
	}
	if _, ok := v.coord("x"); ok {
		t.Error("a bad peer coordinate was kept")
	}
}

func TestCoord_EncodeDecode(t *testing.T) {
	c := Coord{Vec: [coordDims]float64{0.01, -0.02, 0.003}, Height: 0.0005, Error: 0.4}
	got, err := decodeCoord(encodeCoord(c))
	if err != nil || got != c {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, c)
	}
	for _, b := range [][]byte{nil, {coordVersion}, append([]byte{coordVersion + 1}, encodeCoord(c)[1:]...)} {
		if _, err := decodeCoord(b); err == nil {
			t.Errorf("decoded %x", b)
		}
	}
}

func FuzzDecodeCoord(f *testing.F) {
	f.Add(encodeCoord(newCoord()))
	f.Add([]byte{coordVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCoord(b)
		if err != nil {
			return
		}
		if !c.valid() {
			t.Fatalf("decoded an invalid coordinate %+v", c)
		}
		v := newVivaldi(rand.New(rand.NewPCG(1, 1)))
		v.update("peer", c, 50*time.Millisecond)
		if self, _ := v.coord(""); !self.valid() {
			t.Fatalf("update with %+v made our coordinate invalid: %+v", c, self)
		}
	})
}

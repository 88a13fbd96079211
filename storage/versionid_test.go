package storage

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestVersionID_TextRoundTripAndOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ids := []VersionID{{}, {Time: ^uint64(0), Region: ^uint32(0), Seq: ^uint32(0)}, {Time: 1}, {Region: 1}, {Seq: 1}}
	for range 500 {
		ids = append(ids, VersionID{Time: r.Uint64() >> r.IntN(64), Region: r.Uint32(), Seq: r.Uint32() >> r.IntN(32)})
	}
	for _, id := range ids {
		s := id.String()
		if len(s) != versionIDLen || strings.ToLower(s) != s || strings.ContainsAny(s, "/+=") {
			t.Fatalf("String() = %q: not fixed-length lower-case URL-safe", s)
		}
		back, err := ParseVersionID(s)
		if err != nil || back != id {
			t.Fatalf("ParseVersionID(%q) = %v, %v; want %v", s, back, err, id)
		}
	}
	// Text order is ID order, so sorted listings of ID strings agree with Compare.
	sort.Slice(ids, func(i, j int) bool { return ids[i].Compare(ids[j]) < 0 })
	for i := 1; i < len(ids); i++ {
		if ids[i-1].Compare(ids[i]) < 0 && ids[i-1].String() >= ids[i].String() {
			t.Fatalf("text order disagrees: %v < %v but %q >= %q", ids[i-1], ids[i], ids[i-1], ids[i])
		}
	}
	if (VersionID{Time: 2}).Compare(VersionID{Time: 1, Region: 9, Seq: 9}) <= 0 ||
		(VersionID{Time: 1, Region: 2}).Compare(VersionID{Time: 1, Region: 1, Seq: 9}) <= 0 ||
		(VersionID{Time: 1, Seq: 2}).Compare(VersionID{Time: 1, Seq: 2}) != 0 {
		t.Fatal("Compare does not order by time, region, seq")
	}
}

func TestParseVersionID_Invalid(t *testing.T) {
	good := VersionID{Time: 12345, Region: 6, Seq: 7}.String()
	for _, s := range []string{"", "null", good[:25], good + "0", strings.ToUpper(good), "wwwwwwwwwwwwwwwwwwwwwwwwww",
		good[:25] + "1", // non-zero spare bits: a second spelling of another ID
	} {
		if _, err := ParseVersionID(s); !errorsIs(err, ErrInvalidVersionID) {
			t.Errorf("ParseVersionID(%q) err = %v", s, err)
		}
	}
}

func FuzzParseVersionID(f *testing.F) {
	f.Add(VersionID{Time: 1 << 40, Region: 3, Seq: 4}.String())
	f.Add("null")
	f.Add("")
	f.Add("00000000000000000000000000")
	f.Add("vvvvvvvvvvvvvvvvvvvvvvvvvv")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseVersionID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("accepted %q but it prints as %q", s, id.String())
		}
	})
}

func TestRegionCode(t *testing.T) {
	// FNV-1a 32 test vectors.
	if RegionCode("") != 0x811c9dc5 || RegionCode("a") != 0xe40c292c || RegionCode("foobar") != 0xbf9cf968 {
		t.Fatal("RegionCode is not FNV-1a 32")
	}
	if RegionCode("us-east-1") == RegionCode("eu-west-1") {
		t.Fatal("region codes collide")
	}
}

func TestHLC(t *testing.T) {
	var mu sync.Mutex
	wall := time.UnixMilli(1_700_000_000_000)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return wall }
	set := func(t time.Time) { mu.Lock(); wall = t; mu.Unlock() }
	h := NewHLC(now)

	a := h.Next()
	if HLCTime(a) != wall.UTC() || a&0xffff != 0 {
		t.Fatalf("first timestamp %x = %v", a, HLCTime(a))
	}
	b := h.Next() // clock did not move: logical tick
	if b != a+1 {
		t.Fatalf("stalled clock: %x after %x", b, a)
	}
	set(wall.Add(-time.Hour)) // clock stepped back: still increasing
	if c := h.Next(); c <= b {
		t.Fatalf("clock step back: %x after %x", c, b)
	}
	remote := uint64(wall.Add(2*time.Hour).UnixMilli()) << 16
	h.Observe(remote)
	h.Observe(remote - 5) // older observations do not move it back
	if d := h.Next(); d != remote+1 {
		t.Fatalf("after Observe: %x, want %x", d, remote+1)
	}
	set(wall.Add(3 * time.Hour))
	if e := h.Next(); HLCTime(e) != wall.UTC() || e&0xffff != 0 {
		t.Fatalf("clock caught up: %v", HLCTime(e))
	}

	// Concurrent callers never see a duplicate.
	var wg sync.WaitGroup
	seen := make(chan uint64, 8*1000)
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				seen <- h.Next()
			}
		})
	}
	wg.Wait()
	close(seen)
	uniq := map[uint64]bool{}
	for ts := range seen {
		if uniq[ts] {
			t.Fatalf("duplicate timestamp %x", ts)
		}
		uniq[ts] = true
	}
}

func TestVersionID_BytesRoundTripAndOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ids := []VersionID{{}, {Time: ^uint64(0), Region: ^uint32(0), Seq: ^uint32(0)}, {Time: 1}, {Region: 1}, {Seq: 1}}
	for range 500 {
		ids = append(ids, VersionID{Time: r.Uint64() >> r.IntN(64), Region: r.Uint32() >> r.IntN(32), Seq: r.Uint32() >> r.IntN(32)})
	}
	for _, id := range ids {
		b := id.Bytes()
		back, err := VersionIDFromBytes(b[:])
		if err != nil || back != id {
			t.Fatalf("VersionIDFromBytes(%x) = %v, %v; want %v", b, back, err, id)
		}
	}
	for i := range ids {
		for j := range ids[:20] {
			bi, bj := ids[i].Bytes(), ids[j].Bytes()
			if got, want := bytes.Compare(bi[:], bj[:]), ids[i].Compare(ids[j]); got != want {
				t.Fatalf("bytes order %d, ID order %d for %v and %v", got, want, ids[i], ids[j])
			}
		}
	}
	for _, n := range []int{0, 15, 17} {
		if _, err := VersionIDFromBytes(make([]byte, n)); !errors.Is(err, ErrInvalidVersionID) {
			t.Errorf("%d bytes: err %v, want ErrInvalidVersionID", n, err)
		}
	}
}

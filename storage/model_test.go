package storage

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed for TestStore_Model (0: PANGEA_SEED or time-based)")

func modelSeed(t *testing.T) uint64 {
	if *seedFlag != 0 {
		return *seedFlag
	}
	if s := os.Getenv("PANGEA_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PANGEA_SEED: %v", err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// modelVersion is one version in the model: the simplest possible representation.
type modelVersion struct {
	id     VersionID
	null   bool
	marker bool
	body   []byte
}

// model is an in-memory reference of one bucket: versions per key, newest first.
type model struct {
	state VersioningState
	keys  map[string][]modelVersion
}

func (m *model) removeNull(key string) {
	m.keys[key] = slices.DeleteFunc(m.keys[key], func(v modelVersion) bool { return v.null })
	if len(m.keys[key]) == 0 {
		delete(m.keys, key)
	}
}

func (m *model) add(key string, v modelVersion) {
	vs := append(m.keys[key], v)
	slices.SortFunc(vs, func(a, b modelVersion) int { return b.id.Compare(a.id) })
	m.keys[key] = vs
}

func (m *model) put(key string, id VersionID, body []byte) {
	null := m.state != VersioningEnabled
	if null {
		m.removeNull(key)
	}
	m.add(key, modelVersion{id: id, null: null, body: body})
}

func (m *model) del(key string, marker VersionID) {
	switch m.state {
	case Unversioned:
		m.removeNull(key)
	case VersioningEnabled:
		m.add(key, modelVersion{id: marker, marker: true})
	case VersioningSuspended:
		m.removeNull(key)
		m.add(key, modelVersion{id: marker, marker: true, null: true})
	}
}

func (m *model) delVersion(key, vid string) {
	m.keys[key] = slices.DeleteFunc(m.keys[key], func(v modelVersion) bool {
		if vid == "null" {
			return v.null
		}
		return !v.null && v.id.String() == vid
	})
	if len(m.keys[key]) == 0 {
		delete(m.keys, key)
	}
}

func (m *model) sortedKeys() []string {
	var ks []string
	for k := range m.keys {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func vidText(v modelVersion) string {
	if v.null {
		return "null"
	}
	return v.id.String()
}

// listObjects is the model's full (unpaginated) ListObjects: keys and common prefixes
// interleaved in order.
func (m *model) listObjects(prefix, delim string) []string {
	var out []string
	for _, k := range m.sortedKeys() {
		if !strings.HasPrefix(k, prefix) || m.keys[k][0].marker {
			continue
		}
		if cp, ok := commonPrefix(k, prefix, delim); ok {
			if len(out) == 0 || out[len(out)-1] != "P:"+cp {
				out = append(out, "P:"+cp)
			}
			continue
		}
		out = append(out, "K:"+k)
	}
	return out
}

func (m *model) listVersions(prefix, delim string) []string {
	var out []string
	for _, k := range m.sortedKeys() {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if cp, ok := commonPrefix(k, prefix, delim); ok {
			if len(out) == 0 || out[len(out)-1] != "P:"+cp {
				out = append(out, "P:"+cp)
			}
			continue
		}
		for i, v := range m.keys[k] {
			out = append(out, fmt.Sprintf("V:%s#%s#%v#%v", k, vidText(v), v.marker, i == 0))
		}
	}
	return out
}

// TestStore_Model runs random operations against the Store and the model and
// compares every read. Reproduce a failure with -seed=N or PANGEA_SEED=N.
func TestStore_Model(t *testing.T) {
	seed := modelSeed(t)
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	h := newHarness(t)
	ctx := context.Background()
	h.createBucket("b")
	m := &model{keys: map[string][]modelVersion{}}
	keys := []string{"a", "a/b", "a/c", "a/b/c", "b", "b\x00", "c/d/e", "c/x", "d", "e/"}
	prefixes := []string{"", "a", "a/", "c/", "x", "b"}
	steps := 600
	if testing.Short() {
		steps = 200
	}

	randomVersionRef := func(key string) string {
		vs := m.keys[key]
		switch n := r.IntN(10); {
		case n == 0:
			return "null"
		case n == 1:
			return h.nextID().String() // missing
		case len(vs) > 0:
			return vidText(vs[r.IntN(len(vs))])
		}
		return "null"
	}

	for step := range steps {
		key := keys[r.IntN(len(keys))]
		op := r.IntN(100)
		what := ""
		switch {
		case op < 35:
			what = "put " + key
			size := r.IntN(64)
			if r.IntN(20) == 0 {
				size = ChunkSize + r.IntN(ChunkSize) // a chunked body now and then
			}
			body := randomBytes(r.Uint64(), size)
			v := h.put("b", key, body)
			m.put(key, v.ID, body)
		case op < 55:
			what = "delete " + key
			res := h.apply(DeleteObjectCmd{Bucket: "b", Key: key, MarkerID: h.nextID(), Time: h.now()})
			if res.Err != nil {
				t.Fatalf("seed %d step %d %s: %v", seed, step, what, res.Err)
			}
			m.del(key, res.Version.ID)
		case op < 68:
			vid := randomVersionRef(key)
			what = "delete " + key + " version " + vid
			res := h.apply(DeleteObjectCmd{Bucket: "b", Key: key, VersionID: vid})
			if res.Err != nil {
				t.Fatalf("seed %d step %d %s: %v", seed, step, what, res.Err)
			}
			m.delVersion(key, vid)
		case op < 72:
			st := VersioningEnabled
			if r.IntN(2) == 0 {
				st = VersioningSuspended
			}
			what = fmt.Sprintf("versioning %d", st)
			h.setVersioning("b", st)
			m.state = st
		case op < 88:
			vid := ""
			if r.IntN(2) == 0 {
				vid = randomVersionRef(key)
			}
			what = "get " + key + " " + vid
			got, err := h.get("b", key, vid)
			var want *modelVersion
			vs := m.keys[key]
			if vid == "" && len(vs) > 0 {
				want = &vs[0]
			}
			for i := range vs {
				if vid != "" && vidText(vs[i]) == vid {
					want = &vs[i]
				}
			}
			switch {
			case want == nil && vid == "":
				if !errors.Is(err, ErrNoSuchKey) {
					t.Fatalf("seed %d step %d %s: err %v, want NoSuchKey", seed, step, what, err)
				}
			case want == nil:
				if !errors.Is(err, ErrNoSuchVersion) {
					t.Fatalf("seed %d step %d %s: err %v, want NoSuchVersion", seed, step, what, err)
				}
			case want.marker:
				if !errors.Is(err, ErrDeleteMarker) || !got.DeleteMarker || got.ID != want.id {
					t.Fatalf("seed %d step %d %s: %+v %v, want marker %v", seed, step, what, got, err, want.id)
				}
			default:
				if err != nil || got.ID != want.id || got.IsNull != want.null || got.IsLatest != (want.id == vs[0].id) {
					t.Fatalf("seed %d step %d %s: %+v %v, want %+v", seed, step, what, got, err, *want)
				}
				if !bytes.Equal(h.read(got, 0, -1), want.body) {
					t.Fatalf("seed %d step %d %s: body differs", seed, step, what)
				}
			}
		case op < 94:
			prefix, delim := prefixes[r.IntN(len(prefixes))], []string{"", "/"}[r.IntN(2)]
			size := 1 + r.IntN(5)
			what = fmt.Sprintf("list %q %q by %d", prefix, delim, size)
			var got []string
			in := ListObjectsInput{Prefix: prefix, Delimiter: delim, MaxKeys: size}
			for pages := 0; ; pages++ {
				res, err := h.s.ListObjects(ctx, "b", in)
				if err != nil || pages > 50 {
					t.Fatalf("seed %d step %d %s: %v (page %d)", seed, step, what, err, pages)
				}
				for _, v := range res.Objects {
					got = append(got, "K:"+v.Key)
				}
				// Objects and prefixes of one page interleave in key order.
				for _, cp := range res.CommonPrefixes {
					got = append(got, "P:"+cp)
				}
				slices.SortFunc(got[len(got)-len(res.Objects)-len(res.CommonPrefixes):], func(a, b string) int { return strings.Compare(a[2:], b[2:]) })
				if !res.IsTruncated {
					break
				}
				in.Marker = res.NextMarker
			}
			if want := m.listObjects(prefix, delim); !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d %s:\n got %q\nwant %q", seed, step, what, got, want)
			}
		default:
			prefix, delim := prefixes[r.IntN(len(prefixes))], []string{"", "/"}[r.IntN(2)]
			size := 1 + r.IntN(5)
			what = fmt.Sprintf("list versions %q %q by %d", prefix, delim, size)
			var got []string
			in := ListVersionsInput{Prefix: prefix, Delimiter: delim, MaxKeys: size}
			for pages := 0; ; pages++ {
				res, err := h.s.ListObjectVersions(ctx, "b", in)
				if err != nil || pages > 500 {
					t.Fatalf("seed %d step %d %s: %v (page %d)", seed, step, what, err, pages)
				}
				var page []string
				for _, v := range res.Versions {
					page = append(page, fmt.Sprintf("V:%s#%s#%v#%v", v.Key, v.VersionIDText(), v.DeleteMarker, v.IsLatest))
				}
				for _, cp := range res.CommonPrefixes {
					page = append(page, "P:"+cp)
				}
				slices.SortStableFunc(page, func(a, b string) int { return strings.Compare(entryKey(a), entryKey(b)) })
				got = append(got, page...)
				if !res.IsTruncated {
					break
				}
				in.KeyMarker, in.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
			}
			if want := m.listVersions(prefix, delim); !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d %s:\n got %q\nwant %q", seed, step, what, got, want)
			}
		}
		_ = what
	}

	// Every body chunk in the database belongs to a live version: nothing leaked.
	live := 0
	for _, vs := range m.keys {
		for _, v := range vs {
			if len(v.body) > InlineMax {
				live += (len(v.body) + ChunkSize - 1) / ChunkSize
			}
		}
	}
	if got := countChunks(t, h.s); got != live {
		t.Fatalf("seed %d: %d chunks stored, %d referenced", seed, got, live)
	}
}

// entryKey is the key a listing entry sorts by.
func entryKey(e string) string {
	if strings.HasPrefix(e, "V:") {
		return e[2:strings.Index(e, "#")]
	}
	return e[2:]
}

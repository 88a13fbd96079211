package storage

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

// mappedRss returns the resident bytes of this process's mappings of path
// (/proc/self/smaps).
func mappedRss(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	var total int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) >= 6 && fields[5] == path
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, err := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			if err != nil {
				t.Fatalf("smaps: %q", line)
			}
			total += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// TestStore_ReadsDoNotStayResident: reading a 24 MiB object back through the
// store copies its chunks out of bbolt's map and gives the mapped pages back, so
// the store file's resident part stays small (before: the whole object stayed
// resident in the process for as long as the store was open).
func TestStore_ReadsDoNotStayResident(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	body := randomBytes(9, 24*ChunkSize)
	v := h.put("b", "big", body)
	path := h.s.db.Path()
	if !bytes.Equal(h.read(v, 0, -1), body) {
		t.Fatal("body differs")
	}
	rss := mappedRss(t, path)
	t.Logf("store.db resident after reading %d MiB: %d KiB", len(body)>>20, rss>>10)
	if rss > 4<<20 {
		t.Fatalf("store.db keeps %d MiB resident after a %d MiB read", rss>>20, len(body)>>20)
	}
	// The pages are still the file's: a second read gives the same bytes.
	if !bytes.Equal(h.read(v, 0, -1), body) {
		t.Fatal("body differs on the second read")
	}
}

// TestDropMapped_LeavesMemoryOutsideTheMapAlone: a slice that is not in bbolt's map
// (heap memory, as bbolt's copies of some values are) is never advised: its bytes
// are intact.
func TestDropMapped_LeavesMemoryOutsideTheMapAlone(t *testing.T) {
	s := newTestStore(t)
	heap := bytes.Repeat([]byte{0xA5}, 4<<20)
	err := s.view(func(tx *bbolt.Tx) error {
		DropMapped(tx, heap)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(heap, []byte{0xA5}); n != len(heap) {
		t.Fatalf("heap memory changed: %d of %d bytes intact", n, len(heap))
	}
}

// TestStore_DropResident: what reads of small values leave resident (too small
// for DropMapped) goes with DropResident, and the values read afterwards are
// intact.
func TestStore_DropResident(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	bodies := make(map[string][]byte)
	var versions []ObjectVersion
	for i := range 400 {
		key := "k" + strconv.Itoa(i)
		bodies[key] = randomBytes(uint64(i), 24<<10) // a 24 KiB chunk each
		versions = append(versions, h.put("b", key, bodies[key]))
	}
	for _, v := range versions {
		h.read(v, 0, -1)
	}
	path := h.s.db.Path()
	before := mappedRss(t, path)
	if err := h.s.DropResident(); err != nil {
		t.Fatal(err)
	}
	after := mappedRss(t, path)
	t.Logf("store.db resident: %d KiB after reading %d objects of 24 KiB, %d KiB after DropResident", before>>10, len(versions), after>>10)
	if before < 4<<20 || after > 1<<20 {
		t.Fatalf("store.db resident %d KiB before DropResident, %d KiB after: want over 4 MiB, then under 1 MiB", before>>10, after>>10)
	}
	for _, v := range versions {
		if !bytes.Equal(h.read(v, 0, -1), bodies[v.Key]) {
			t.Fatalf("%s differs after DropResident", v.Key)
		}
	}
	h.s.Close()
	if err := h.s.DropResident(); !errors.Is(err, ErrClosed) {
		t.Fatalf("DropResident on a closed store: %v, want ErrClosed", err)
	}
}

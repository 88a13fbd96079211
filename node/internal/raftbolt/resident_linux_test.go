package raftbolt

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// residentKiB sums the Rss lines of /proc/self/smaps under the mappings of path.
func residentKiB(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	kib, ours := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Count(f[0], "-") == 1 && !strings.HasSuffix(f[0], ":"):
			ours = f[len(f)-1] == path
		case ours && len(f) == 3 && f[0] == "Rss:":
			n, _ := strconv.Atoi(f[1])
			kib += n
		}
	}
	return kib
}

// TestStore_ReadEntriesDoNotStayResident: a follower reads every entry back to
// apply it, a leader to replicate it. Entries of body chunks are copied out and
// their mapped pages given back, so raft.db's resident part does not grow with the
// log (before: a member that took 200 concurrent 1 MiB PUTs kept 238 MiB of it).
func TestStore_ReadEntriesDoNotStayResident(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := openTest(t, path)
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	const entries = 24
	for i := uint64(1); i <= entries; i++ {
		if err := s.StoreLogs([]*raft.Log{{Index: i, Term: 1, Type: raft.LogCommand, Data: data}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := uint64(1); i <= entries; i++ {
		var l raft.Log
		if err := s.GetLog(i, &l); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(l.Data, data) {
			t.Fatalf("entry %d differs", i)
		}
	}
	kib := residentKiB(t, path)
	t.Logf("raft.db resident after reading %d entries of 1 MiB: %d KiB", entries, kib)
	if kib > 4<<10 {
		t.Fatalf("raft.db keeps %d MiB resident after reading %d MiB of entries", kib>>10, entries)
	}
}

// TestStore_DropResident: small entries read back (too small to be given back one
// by one) and the pages opening the file scanned go with DropResident; entries
// read afterwards are intact.
func TestStore_DropResident(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := openTest(t, path)
	const entries = 2000
	for i := uint64(1); i <= entries; i++ {
		data := bytes.Repeat([]byte{byte(i)}, 8<<10)
		if err := s.StoreLogs([]*raft.Log{{Index: i, Term: 1, Type: raft.LogCommand, Data: data}}); err != nil {
			t.Fatal(err)
		}
	}
	read := func() {
		t.Helper()
		for i := uint64(1); i <= entries; i++ {
			var l raft.Log
			if err := s.GetLog(i, &l); err != nil {
				t.Fatal(err)
			}
			if len(l.Data) != 8<<10 || l.Data[0] != byte(i) || l.Data[len(l.Data)-1] != byte(i) {
				t.Fatalf("entry %d differs", i)
			}
		}
	}
	read()
	before := residentKiB(t, path)
	if err := s.DropResident(); err != nil {
		t.Fatal(err)
	}
	after := residentKiB(t, path)
	t.Logf("raft.db resident: %d KiB after reading %d entries of 8 KiB, %d KiB after DropResident", before, entries, after)
	if before < 4<<10 || after > 1<<10 {
		t.Fatalf("raft.db resident %d KiB, then %d KiB: want over 4 MiB, then under 1 MiB", before, after)
	}
	read()
}

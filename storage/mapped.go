package storage

import (
	"unsafe"

	"go.etcd.io/bbolt"
)

// dropMappedMin is the smallest value whose mapped pages DropMapped gives back:
// below it, the pages are few and likely shared with neighbours read again soon.
const dropMappedMin = 64 << 10

// DropMapped tells the kernel that this process no longer needs the pages of
// bbolt's memory map under b, a value read in tx and already copied out: the
// interior pages of b stop counting in the process's resident memory. They stay in
// the page cache (the file is their backing store, so the data is never lost; a
// later read faults them back in), where the kernel reclaims them like any cached
// file data. Without it, every body chunk read back through the map (each raft
// entry a follower applies or the leader replicates, each chunk a GET returns)
// stays resident in the process: a member that took 200 concurrent 1 MiB PUTs kept
// 238 MiB of its raft log mapped, and a long soak 2.5 GiB of its store.
//
// It does nothing for values under dropMappedMin, for a b that does not lie in the
// database's map (bbolt copies some values to the heap, and madvise must never
// touch heap memory), or where the system has no such call. tx must still be open:
// it holds bbolt's map in place.
func DropMapped(tx *bbolt.Tx, b []byte) {
	if len(b) < dropMappedMin {
		return
	}
	info := tx.DB().Info()
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	end := start + uintptr(len(b))
	if start < info.Data || end > info.Data+uintptr(tx.Size()) {
		return // not in the map
	}
	ps := uintptr(info.PageSize)
	if sys := uintptr(systemPageSize()); sys > ps {
		ps = sys
	}
	lo := (start + ps - 1) / ps * ps // whole pages only: the others may hold neighbours
	hi := end / ps * ps
	if hi <= lo {
		return
	}
	dropPages(b[lo-start : hi-start])
}

// DropResident gives back every page of the store's memory map that this process
// has touched (DropMapped for the whole file): what reads and writes of small
// values leave resident (a leaf rewritten by a commit, a 32 KiB object read back,
// a listing) would otherwise grow with the data read, to the whole file. Pages in
// use fault back in from the page cache (a minor fault each); the data is never
// affected. A member calls it periodically (node), so the store's resident part
// stays about what one period touches. It holds a read transaction for the call
// (milliseconds; bbolt cannot remap meanwhile).
func (s *Store) DropResident() error {
	return s.view(func(tx *bbolt.Tx) error {
		DropResidentPages(tx)
		return nil
	})
}

// DropResidentPages gives back every page of tx's database map that this process
// touched, as Store.DropResident does, for any bbolt file (the raft log's too). tx
// must be open: it holds the map in place.
func DropResidentPages(tx *bbolt.Tx) {
	dropRange(tx.DB().Info().Data, uintptr(tx.Size()))
}

package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

func systemPageSize() int { return os.Getpagesize() }

// dropPages advises the kernel that b, whole pages of a shared file mapping, is not
// needed: MADV_DONTNEED on a shared file mapping unmaps the pages from this
// process and leaves their contents in the file and the page cache. An error
// changes nothing (the pages stay resident), so it is ignored.
func dropPages(b []byte) { _ = unix.Madvise(b, unix.MADV_DONTNEED) }

// dropRange is dropPages for the map's n bytes from addr (the start of bbolt's map,
// page-aligned), given as an address: the whole map is no Go slice.
func dropRange(addr, n uintptr) {
	if n > 0 {
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, addr, n, unix.MADV_DONTNEED)
	}
}

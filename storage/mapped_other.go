//go:build !linux

package storage

import "os"

func systemPageSize() int { return os.Getpagesize() }

// dropPages does nothing where MADV_DONTNEED's meaning for shared file mappings is
// not the one relied on (Linux's): the pages stay resident until the kernel
// reclaims them.
func dropPages([]byte) {}

func dropRange(addr, n uintptr) {}

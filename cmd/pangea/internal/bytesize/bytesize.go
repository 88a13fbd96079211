// Package bytesize reads and writes byte sizes the way Pangea's flags spell them:
// "4KiB", "1MiB", "512", "2GiB", binary units throughout. `pangea bench --size`
// and `pangea node --memory-limit` share it.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"
)

// Parse parses a byte size such as "4KiB", "1MiB", "512", "4k", "1m", "2GiB",
// "1.5MiB" (k, K, KB and KiB all mean 1024) of at most max bytes.
func Parse(s string, max int64) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("size %q: empty", s)
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("size %q: no number", s)
	}
	var mult int64
	switch unit {
	case "", "b":
		mult = 1
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	case "g", "gb", "gib":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, KiB, MiB or GiB)", s, t[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	v := f * float64(mult)
	if v < 0 || v > float64(max) {
		return 0, fmt.Errorf("size %q: out of range (at most %s)", s, Format(max))
	}
	if v != float64(int64(v)) {
		return 0, fmt.Errorf("size %q: not a whole number of bytes", s)
	}
	return int64(v), nil
}

// Format renders n the way Parse reads it back ("4KiB", "1MiB", "1000B").
func Format(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	default:
		return strconv.FormatInt(n, 10) + "B"
	}
}

package bench

import (
	"strings"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/bytesize"
)

// ParseSize parses a byte size such as "4KiB", "1MiB", "512", "4k", "1m", "2GiB",
// "1.5MiB" (bytesize.Parse), up to S3's single-PUT limit.
func ParseSize(s string) (int64, error) { return bytesize.Parse(s, maxSize) }

// maxSize is S3's single-PUT limit.
const maxSize = 5 << 30

// ParseSizes parses repeated and comma-separated sizes ("4KiB,1MiB").
func ParseSizes(values []string) ([]int64, error) {
	var out []int64
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			n, err := ParseSize(part)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
	}
	return out, nil
}

// FormatSize renders n the way ParseSize reads it back ("4KiB", "1MiB", "1000B").
func FormatSize(n int64) string { return bytesize.Format(n) }

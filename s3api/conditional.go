package s3api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// byteRange is a satisfiable byte range of an object: [start, start+length).
type byteRange struct {
	start, length int64
}

// contentRange is the Content-Range header value of r within an object of size.
func (r byteRange) contentRange(size int64) string {
	return "bytes " + itoa(r.start) + "-" + itoa(r.start+r.length-1) + "/" + itoa(size)
}

var errInvalidRange = apiErr("InvalidRange", "The requested range is not satisfiable")

// parseRange interprets a Range header for an object of size bytes, as S3 does:
//   - ok=false, err=nil: no range applies (absent, syntactically invalid, multiple
//     ranges or a unit other than bytes): the whole object is answered with 200;
//   - err=InvalidRange: a well-formed range that is not satisfiable (416);
//   - ok=true: a single satisfiable range, clamped to the object.
func parseRange(h string, size int64) (r byteRange, ok bool, err error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return r, false, nil
	}
	unit, spec, found := strings.Cut(h, "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return r, false, nil
	}
	spec = strings.TrimSpace(spec)
	if strings.Contains(spec, ",") {
		return r, false, nil
	}
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return r, false, nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		// Suffix range: the last n bytes.
		n, perr := parseDigits(last)
		if perr != nil {
			return r, false, nil
		}
		if n == 0 || size == 0 {
			return r, false, errInvalidRange
		}
		if n > size {
			n = size
		}
		return byteRange{start: size - n, length: n}, true, nil
	}
	start, perr := parseDigits(first)
	if perr != nil {
		return r, false, nil
	}
	end := size - 1
	if last != "" {
		e, perr := parseDigits(last)
		if perr != nil || e < start {
			return r, false, nil
		}
		if e < end {
			end = e
		}
	}
	if start >= size {
		return r, false, errInvalidRange
	}
	return byteRange{start: start, length: end - start + 1}, true, nil
}

// parseDigits parses a non-negative decimal integer made only of ASCII digits.
func parseDigits(s string) (int64, error) {
	if s == "" {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// preconditions are the four conditional request headers (or their
// x-amz-copy-source-if-* twins on copies).
type preconditions struct {
	ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince string
}

func requestPreconditions(h http.Header) preconditions {
	return preconditions{
		ifMatch:           h.Get("If-Match"),
		ifNoneMatch:       h.Get("If-None-Match"),
		ifModifiedSince:   h.Get("If-Modified-Since"),
		ifUnmodifiedSince: h.Get("If-Unmodified-Since"),
	}
}

func copySourcePreconditions(h http.Header) preconditions {
	return preconditions{
		ifMatch:           h.Get("X-Amz-Copy-Source-If-Match"),
		ifNoneMatch:       h.Get("X-Amz-Copy-Source-If-None-Match"),
		ifModifiedSince:   h.Get("X-Amz-Copy-Source-If-Modified-Since"),
		ifUnmodifiedSince: h.Get("X-Amz-Copy-Source-If-Unmodified-Since"),
	}
}

// evaluate applies the preconditions to an object with etag (unquoted) and
// modification time, with S3's precedence rules (those of RFC 7232 section 6):
// If-Match, when present, decides alone over If-Unmodified-Since; If-None-Match,
// when present, decides alone over If-Modified-Since; a 412 outcome wins over a 304.
// It returns 0 (proceed), 304 or 412. Unparseable dates are ignored, as S3 does.
func (p preconditions) evaluate(etag string, modTime time.Time) int {
	mod := modTime.Truncate(time.Second)
	if p.ifMatch != "" {
		if !storage.ETagListMatches(p.ifMatch, etag) {
			return http.StatusPreconditionFailed
		}
	} else if p.ifUnmodifiedSince != "" {
		if t, err := http.ParseTime(p.ifUnmodifiedSince); err == nil && mod.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if p.ifNoneMatch != "" {
		if storage.ETagListMatches(p.ifNoneMatch, etag) {
			return http.StatusNotModified
		}
	} else if p.ifModifiedSince != "" {
		if t, err := http.ParseTime(p.ifModifiedSince); err == nil && !mod.After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

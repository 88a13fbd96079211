package storage

import (
	"fmt"
	"strings"
)

// ETagListMatches reports whether an If-Match style list names etag (unquoted, as
// stored): items are separated by commas, surrounding spaces, quotes and a weak W/
// prefix are ignored, and "*" matches any etag. It is the one comparison behind
// both the read preconditions of s3api and the WriteConditions checked by Apply.
//
// Apply's results must be the same on every replica and on every replay of the log:
// changing what this function accepts changes how recorded commands apply, so only
// change it together with a new command format.
func ETagListMatches(list, etag string) bool {
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "*" {
			return true
		}
		item = strings.TrimPrefix(item, "W/")
		if strings.Trim(item, `"`) == etag {
			return true
		}
	}
	return false
}

// checkConditions rejects a write whose conditions do not hold against the latest
// version of key (see WriteConditions). It reads only: called after a handler's
// other validation and before its first write, a failure leaves nothing behind.
func checkConditions(t *bucketTables, key string, c WriteConditions) error {
	if c.IsZero() {
		return nil
	}
	ref, ok, err := latest(t.versions(), t.info.Name, key)
	if err != nil {
		return err
	}
	exists := ok && !ref.v.DeleteMarker
	if c.IfNoneMatch && exists {
		return reject(fmt.Errorf("%w: If-None-Match: %q exists", ErrPreconditionFailed, key))
	}
	if c.IfMatch != "" {
		if !exists {
			return reject(fmt.Errorf("%w: If-Match: %q", ErrNoSuchKey, key))
		}
		if !ETagListMatches(c.IfMatch, ref.v.ETag) {
			return reject(fmt.Errorf("%w: If-Match: %q has another ETag", ErrPreconditionFailed, key))
		}
	}
	return nil
}

package rules

import (
	"sort"
	"strings"
)

// Match returns the enabled rules whose filter selects an object with this key and these
// tags, highest Priority first. When several matching rules share a destination bucket
// only the highest-priority one is kept, as S3 replicates an object once per destination.
// Rules without a Priority (deprecated schema) rank as priority 0; ties keep document
// order. The result is a new slice; a nil Configuration matches nothing.
func (c *Configuration) Match(key string, tags map[string]string) []Rule {
	if c == nil {
		return nil
	}
	var matched []Rule
	for _, r := range c.Rules {
		if r.Enabled() && r.matches(key, tags) {
			matched = append(matched, r)
		}
	}
	sort.SliceStable(matched, func(i, j int) bool { return matched[i].priority() > matched[j].priority() })
	out := matched[:0]
	seen := map[string]bool{}
	for _, r := range matched {
		if seen[r.Destination.Bucket] {
			continue
		}
		seen[r.Destination.Bucket] = true
		out = append(out, r)
	}
	return out
}

func (r Rule) priority() int {
	if r.Priority == nil {
		return 0
	}
	return *r.Priority
}

// matches applies the rule's Prefix (deprecated schema) or Filter.
func (r Rule) matches(key string, tags map[string]string) bool {
	if r.Filter == nil {
		return r.Prefix != nil && strings.HasPrefix(key, *r.Prefix)
	}
	f := r.Filter
	switch {
	case f.Prefix != nil:
		return strings.HasPrefix(key, *f.Prefix)
	case f.Tag != nil:
		return hasTag(tags, *f.Tag)
	case f.And != nil:
		if f.And.Prefix != nil && !strings.HasPrefix(key, *f.And.Prefix) {
			return false
		}
		for _, t := range f.And.Tags {
			if !hasTag(tags, t) {
				return false
			}
		}
		return true
	default:
		return true // an empty Filter selects every object
	}
}

func hasTag(tags map[string]string, t Tag) bool {
	v, ok := tags[t.Key]
	return ok && v == t.Value
}

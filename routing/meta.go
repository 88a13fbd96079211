package routing

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
)

// Role says what a process of the pool is.
type Role uint8

const (
	// RoleMember is a region member: it stores objects and may lead its region.
	RoleMember Role = 1
	// RoleEdge is an entry point that stores nothing and forwards to regions.
	RoleEdge Role = 2
)

// String returns "member" or "edge" (or a placeholder for an unknown value).
func (r Role) String() string {
	switch r {
	case RoleMember:
		return "member"
	case RoleEdge:
		return "edge"
	default:
		return fmt.Sprintf("role(%d)", uint8(r))
	}
}

// ParseRole is the inverse of Role.String.
func ParseRole(s string) (Role, error) {
	switch s {
	case "member":
		return RoleMember, nil
	case "edge":
		return RoleEdge, nil
	}
	return 0, fmt.Errorf("routing: unknown role %q (want member or edge)", s)
}

// Meta is what a process advertises about itself in the pool: memberlist
// carries it, encoded by encodeMeta, in every alive message about the process.
type Meta struct {
	Region       string
	Location     string
	Role         Role
	S3Endpoint   string // base URL clients (and edges) send S3 requests to
	InternalAddr string // cluster address (raft, gRPC, forwarding)
	// Leader is true while the process leads its region's raft.
	Leader bool
	// LeaderSince is when Leader last became true, by the claimant's clock. Two
	// members of a region may both claim the lead for a moment during a change;
	// RegionLeader believes the later claim.
	LeaderSince time.Time
	// Started is when the process started: a peer seen again with another
	// Started is a new process under the old name, not the old one come back.
	Started time.Time
	// Leaving is set just before the process leaves the pool, so that the
	// others tell a departure from a failure (memberlist's public API reports
	// both through the same NotifyLeave).
	Leaving bool
}

// metaVersion is the first byte of an encoded Meta. A decoder refuses other
// versions; a later format adds fields at the end and bumps it.
const metaVersion byte = 1

const (
	flagLeader  byte = 1 << 0
	flagLeaving byte = 1 << 1
	knownFlags       = flagLeader | flagLeaving
)

// maxMetaString bounds each string of a Meta, so that a peer's meta never
// makes us allocate much whatever it claims.
const maxMetaString = memberlist.MetaMaxSize

var errMeta = errors.New("routing: malformed node meta")

// encodeMeta encodes m as:
//
//	version(1) | role(1) | flags(1) | started(uvarint unix ms) | leaderSince(uvarint unix ms)
//	| region | location | s3Endpoint | internalAddr      (each uvarint length | bytes)
//
// A zero time is encoded as 0.
func encodeMeta(m Meta) []byte {
	b := make([]byte, 0, 64+len(m.Region)+len(m.Location)+len(m.S3Endpoint)+len(m.InternalAddr))
	var flags byte
	if m.Leader {
		flags |= flagLeader
	}
	if m.Leaving {
		flags |= flagLeaving
	}
	b = append(b, metaVersion, byte(m.Role), flags)
	b = binary.AppendUvarint(b, unixMilli(m.Started))
	b = binary.AppendUvarint(b, unixMilli(m.LeaderSince))
	for _, s := range []string{m.Region, m.Location, m.S3Endpoint, m.InternalAddr} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// decodeMeta decodes what encodeMeta made. It returns an error, never panics,
// on anything else: meta comes from the network.
func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) < 3 {
		return m, fmt.Errorf("%w: %d bytes", errMeta, len(b))
	}
	if b[0] != metaVersion {
		return m, fmt.Errorf("%w: format version %d, want %d", errMeta, b[0], metaVersion)
	}
	m.Role = Role(b[1])
	if m.Role != RoleMember && m.Role != RoleEdge {
		return m, fmt.Errorf("%w: unknown role %d", errMeta, b[1])
	}
	flags := b[2]
	if flags&^knownFlags != 0 {
		return m, fmt.Errorf("%w: unknown flags %#x", errMeta, flags)
	}
	m.Leader = flags&flagLeader != 0
	m.Leaving = flags&flagLeaving != 0
	rest := b[3:]
	var times [2]time.Time
	for i := range times {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > 1<<53 { // beyond any real clock: garbage
			return Meta{}, fmt.Errorf("%w: bad time", errMeta)
		}
		if v != 0 {
			times[i] = time.UnixMilli(int64(v))
		}
		rest = rest[n:]
	}
	m.Started, m.LeaderSince = times[0], times[1]
	var strs [4]string
	for i := range strs {
		l, n := binary.Uvarint(rest)
		if n <= 0 || l > maxMetaString || l > uint64(len(rest)-n) {
			return Meta{}, fmt.Errorf("%w: bad string length", errMeta)
		}
		s := rest[n : n+int(l)]
		if !utf8.Valid(s) {
			return Meta{}, fmt.Errorf("%w: string not UTF-8", errMeta)
		}
		strs[i] = string(s)
		rest = rest[n+int(l):]
	}
	if len(rest) != 0 {
		return Meta{}, fmt.Errorf("%w: %d trailing bytes", errMeta, len(rest))
	}
	m.Region, m.Location, m.S3Endpoint, m.InternalAddr = strs[0], strs[1], strs[2], strs[3]
	return m, nil
}

// unixMilli is t in Unix milliseconds, 0 for the zero time (or one before 1970).
func unixMilli(t time.Time) uint64 {
	if t.IsZero() || t.UnixMilli() <= 0 {
		return 0
	}
	return uint64(t.UnixMilli())
}

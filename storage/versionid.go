package storage

import (
	"cmp"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sync"
	"time"
)

// versionIDLen is the length of a VersionID's text form: 16 bytes in unpadded base32.
const versionIDLen = 26

// versionIDEncoding is lower-case base32hex: URL-safe, and its alphabet is in ASCII order,
// so the text forms of two IDs sort exactly as the IDs do.
var versionIDEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// Bytes returns the 16-byte big-endian form of v: HLC time (8), region code (4),
// sequence (4). Byte-wise order of the forms is the order Compare gives the IDs.
// It is the form version IDs take on the replication wire (replicationpb).
func (v VersionID) Bytes() [16]byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], v.Time)
	binary.BigEndian.PutUint32(b[8:12], v.Region)
	binary.BigEndian.PutUint32(b[12:16], v.Seq)
	return b
}

// VersionIDFromBytes parses the form made by Bytes. Any length but 16 fails with an
// error wrapping ErrInvalidVersionID; every 16-byte value is an ID.
func VersionIDFromBytes(b []byte) (VersionID, error) {
	if len(b) != 16 {
		return VersionID{}, fmt.Errorf("%w: %d bytes, want 16", ErrInvalidVersionID, len(b))
	}
	return versionIDFrom16((*[16]byte)(b)), nil
}

func versionIDFrom16(b *[16]byte) VersionID {
	return VersionID{
		Time:   binary.BigEndian.Uint64(b[0:8]),
		Region: binary.BigEndian.Uint32(b[8:12]),
		Seq:    binary.BigEndian.Uint32(b[12:16]),
	}
}

// String returns the opaque, URL-safe, fixed-length (26 characters) text form of v.
// Text forms sort in the same order as the IDs.
func (v VersionID) String() string {
	b := v.Bytes()
	return versionIDEncoding.EncodeToString(b[:])
}

// ParseVersionID parses the text form made by String. Anything else, including the
// S3 literal "null", fails with an error wrapping ErrInvalidVersionID.
func ParseVersionID(s string) (VersionID, error) {
	if len(s) != versionIDLen {
		return VersionID{}, fmt.Errorf("%w: %q", ErrInvalidVersionID, s)
	}
	var b [17]byte // 26 base32 characters carry 130 bits
	n, err := versionIDEncoding.Decode(b[:], []byte(s))
	if err != nil || n != 16 {
		return VersionID{}, fmt.Errorf("%w: %q", ErrInvalidVersionID, s)
	}
	v := versionIDFrom16((*[16]byte)(b[:16]))
	// The last character carries two spare bits; only the canonical form is accepted
	// so that one ID has exactly one spelling.
	if v.String() != s {
		return VersionID{}, fmt.Errorf("%w: %q", ErrInvalidVersionID, s)
	}
	return v, nil
}

// Compare orders version IDs by HLC time, then region code, then sequence.
func (v VersionID) Compare(o VersionID) int {
	if c := cmp.Compare(v.Time, o.Time); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Region, o.Region); c != 0 {
		return c
	}
	return cmp.Compare(v.Seq, o.Seq)
}

// IsZero reports whether v is the zero VersionID.
func (v VersionID) IsZero() bool { return v == VersionID{} }

// RegionCode returns the 32-bit FNV-1a hash of a region name, the Region field of the
// version IDs that region mints.
func RegionCode(region string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(region))
	return h.Sum32()
}

// hlcLogicalBits is the width of the logical counter in an HLC timestamp.
const hlcLogicalBits = 16

// HLC is a hybrid logical clock: timestamps are unix milliseconds << 16 | a logical
// counter, strictly increasing even when the wall clock stalls or steps back, and
// never behind any timestamp observed from another region. Safe for concurrent use.
type HLC struct {
	now  func() time.Time
	mu   sync.Mutex
	last uint64
}

// NewHLC returns a clock reading wall time from now (time.Now if nil).
func NewHLC(now func() time.Time) *HLC {
	if now == nil {
		now = time.Now
	}
	return &HLC{now: now}
}

// Next returns a timestamp greater than every timestamp returned or observed before.
func (h *HLC) Next() uint64 {
	ms := h.now().UnixMilli()
	if ms < 0 {
		ms = 0
	}
	pt := uint64(ms) << hlcLogicalBits
	h.mu.Lock()
	defer h.mu.Unlock()
	if pt > h.last {
		h.last = pt
	} else {
		// Wall clock did not advance: count logically. A counter overflow carries into
		// the millisecond field, which keeps the clock monotonic.
		h.last++
	}
	return h.last
}

// Observe moves the clock forward to ts if ts is ahead, so that the next timestamp
// orders after an event seen from elsewhere.
func (h *HLC) Observe(ts uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ts > h.last {
		h.last = ts
	}
}

// HLCTime returns the wall-clock part of an HLC timestamp.
func HLCTime(ts uint64) time.Time {
	return time.UnixMilli(int64(ts >> hlcLogicalBits)).UTC()
}

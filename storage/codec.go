package storage

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"time"
)

// This file holds the binary primitives shared by the persisted records (record.go)
// and the command codec (command.go): uvarints, zig-zag varints, length-prefixed
// bytes. Decoding never panics and never allocates more than the input could encode.

// errCorrupt is wrapped by every decoding failure.
var errCorrupt = errors.New("storage: corrupt encoding")

type encoder struct{ b []byte }

func (e *encoder) byte1(v byte)     { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) u32(v uint32)     { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64)     { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) raw(p []byte)     { e.b = append(e.b, p...) }

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) bytes(p []byte) {
	e.uvarint(uint64(len(p)))
	e.b = append(e.b, p...)
}

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// optBytes keeps the difference between nil and empty (nil deletes, in commands).
func (e *encoder) optBytes(p []byte) {
	if p == nil {
		e.byte1(0)
		return
	}
	e.byte1(1)
	e.bytes(p)
}

// zeroTime is how the zero time.Time is encoded: UnixNano is undefined for it.
const zeroTime = math.MinInt64

func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.varint(zeroTime)
		return
	}
	e.varint(t.UnixNano())
}

func (e *encoder) versionID(v VersionID) {
	e.u64(v.Time)
	e.u32(v.Region)
	e.u32(v.Seq)
}

func (e *encoder) meta(m ObjectMeta) {
	e.str(m.ContentType)
	e.str(m.ContentEncoding)
	e.str(m.ContentDisposition)
	e.str(m.ContentLanguage)
	e.str(m.CacheControl)
	e.str(m.Expires)
	e.str(m.StorageClass)
	// Map order is random; sorted keys keep encodings (and so replicas) byte-identical.
	keys := make([]string, 0, len(m.UserMeta))
	for k := range m.UserMeta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(m.UserMeta[k])
	}
	e.tags(m.Tags)
}

func (e *encoder) tags(tags []Tag) {
	e.uvarint(uint64(len(tags)))
	for _, t := range tags {
		e.str(t.Key)
		e.str(t.Value)
	}
}

func (e *encoder) checksum(c *Checksum) {
	if c == nil {
		e.byte1(0)
		return
	}
	e.byte1(1)
	e.str(c.Algorithm)
	e.str(c.Value)
	e.str(c.Type)
}

func (e *encoder) segment(s segment) {
	e.raw(s.Blob[:])
	e.uvarint(uint64(s.Chunks))
	e.varint(s.Size)
	e.optBytes(s.Inline)
}

type decoder struct {
	b   []byte
	err error
	// shared: byte fields alias b instead of copying it (UnmarshalCommandShared).
	shared bool
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	return d.err
}

func (d *decoder) byte1() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool {
	switch d.byte1() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail()
	return false
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 {
	if len(d.b) < 4 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// count reads an element count and rejects counts the remaining input cannot hold
// (each element takes at least minSize bytes), so garbage cannot force a huge allocation.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)/max(minSize, 1)) {
		d.fail()
		return 0
	}
	return int(n)
}

// take returns the next n bytes without copying.
func (d *decoder) take(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// bytes returns a copy: decoded values outlive the bbolt transaction they came from
// (unless the decoder shares its input: then a slice of it, capped so that an
// append cannot overwrite what follows).
func (d *decoder) bytes() []byte {
	n := d.count(1)
	if d.shared {
		b := d.take(n)
		return b[:len(b):len(b)]
	}
	return slices.Clone(d.take(n))
}

func (d *decoder) str() string {
	n := d.count(1)
	return string(d.take(n))
}

func (d *decoder) optBytes() []byte {
	if !d.bool() {
		return nil
	}
	b := d.bytes()
	if b == nil {
		b = []byte{}
	}
	return b
}

func (d *decoder) time() time.Time {
	n := d.varint()
	if n == zeroTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (d *decoder) versionID() VersionID {
	return VersionID{Time: d.u64(), Region: d.u32(), Seq: d.u32()}
}

func (d *decoder) meta() ObjectMeta {
	var m ObjectMeta
	m.ContentType = d.str()
	m.ContentEncoding = d.str()
	m.ContentDisposition = d.str()
	m.ContentLanguage = d.str()
	m.CacheControl = d.str()
	m.Expires = d.str()
	m.StorageClass = d.str()
	if n := d.count(2); n > 0 {
		m.UserMeta = make(map[string]string, n)
		for range n {
			k := d.str()
			m.UserMeta[k] = d.str()
		}
	}
	m.Tags = d.tags()
	return m
}

func (d *decoder) tags() []Tag {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	tags := make([]Tag, n)
	for i := range tags {
		tags[i] = Tag{Key: d.str(), Value: d.str()}
	}
	return tags
}

func (d *decoder) checksum() *Checksum {
	if !d.bool() {
		return nil
	}
	return &Checksum{Algorithm: d.str(), Value: d.str(), Type: d.str()}
}

func (d *decoder) segment() segment {
	var s segment
	copy(s.Blob[:], d.take(len(s.Blob)))
	c := d.uvarint()
	if c > math.MaxUint32 {
		d.fail()
	}
	s.Chunks = uint32(c)
	s.Size = d.varint()
	s.Inline = d.optBytes()
	return s
}

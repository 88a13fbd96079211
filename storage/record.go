package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// This file is the bbolt schema in code: bucket names, key encodings and value
// encodings. SCHEMA.md describes the same layout in prose; keep them in step.

// formatVersion is the database format written to meta/format. Open upgrades
// format 1 (every chunk in a nested bucket, which format 2 still reads) and refuses
// any other, so that a binary from before format 2 refuses a store it would misread.
const formatVersion = 2

// formatV1 is the format before small chunks became plain values of `chunks`.
const formatV1 = 1

// recordV1 is the version byte that starts every persisted value.
const recordV1 = 1

// Top-level bbolt buckets.
var (
	bktMeta    = []byte("meta")
	bktBuckets = []byte("buckets")
	bktObjects = []byte("objects")
	bktChunks  = []byte("chunks")
	bktStaged  = []byte("staged")
	bktCatalog = []byte("catalog")

	keyFormat = []byte("format")
)

// Sub-buckets of objects/<bucket name>.
var (
	subVersions = []byte("v")
	subUploads  = []byte("u")
	subParts    = []byte("p")
	subConfigs  = []byte("c")
)

// appendEscaped appends s with every 0x00 byte written as 0x00 0xFF, then the
// terminator 0x00 0x00. The result sorts exactly as s does, and no encoded string is a
// prefix of another, so "a" and its versions sort before "a\x00" and "ab".
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			dst = append(dst, 0, 0xFF)
		} else {
			dst = append(dst, s[i])
		}
	}
	return append(dst, 0, 0)
}

// appendEscapedPrefix is appendEscaped without the terminator: the common start of the
// encodings of every string that has s as a prefix.
func appendEscapedPrefix(dst []byte, s string) []byte {
	e := appendEscaped(dst, s)
	return e[:len(e)-2]
}

// splitEscaped decodes one escaped string from the start of b and returns the rest.
func splitEscaped(b []byte) (string, []byte, bool) {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			continue
		}
		if i+1 >= len(b) {
			return "", nil, false
		}
		switch b[i+1] {
		case 0:
			if out == nil {
				return string(b[:i]), b[i+2:], true
			}
			out = append(out, b[:i]...)
			return string(out), b[i+2:], true
		case 0xFF:
			out = append(out, b[:i+1]...)
			b = b[i+2:]
			i = -1
		default:
			return "", nil, false
		}
	}
	return "", nil, false
}

// successor returns the smallest byte string greater than every string that has p as a
// prefix, or nil if there is none (p is all 0xFF).
func successor(p []byte) []byte {
	s := bytes.Clone(p)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 0xFF {
			s[i]++
			return s[:i+1]
		}
	}
	return nil
}

// versionKey is escaped(key) then the bitwise NOT of the 16-byte version ID, so that
// within a key the newest version comes first.
func versionKey(key string, id VersionID) []byte {
	k := appendEscaped(make([]byte, 0, len(key)+2+16), key)
	b := id.Bytes()
	for i := range b {
		b[i] = ^b[i]
	}
	return append(k, b[:]...)
}

func parseVersionKey(k []byte) (string, VersionID, bool) {
	key, rest, ok := splitEscaped(k)
	if !ok || len(rest) != 16 {
		return "", VersionID{}, false
	}
	var b [16]byte
	for i := range b {
		b[i] = ^rest[i]
	}
	return key, versionIDFrom16(&b), true
}

// keyAfterAll is the smallest key after every versions-table (or uploads-table) key of
// key: escaped(key) with its terminator raised.
func keyAfterAll(key string) []byte {
	k := appendEscaped(nil, key)
	k[len(k)-1] = 1 // terminator 0x00 0x00 -> 0x00 0x01: above all versions, below key+"\x00"
	return k
}

// uploadKey is escaped(key) then the upload ID bytes.
func uploadKey(key, uploadID string) []byte {
	return append(appendEscaped(make([]byte, 0, len(key)+len(uploadID)+2), key), uploadID...)
}

func parseUploadKey(k []byte) (string, string, bool) {
	key, rest, ok := splitEscaped(k)
	if !ok {
		return "", "", false
	}
	return key, string(rest), true
}

// partPrefix is escaped(key) then escaped(uploadID); partKey appends the part number.
func partPrefix(key, uploadID string) []byte {
	return appendEscaped(appendEscaped(nil, key), uploadID)
}

func partKey(key, uploadID string, n int) []byte {
	return binary.BigEndian.AppendUint32(partPrefix(key, uploadID), uint32(n))
}

// chunkKey is the blob ID then the big-endian chunk index.
func chunkKey(blob BlobID, index uint32) []byte {
	k := make([]byte, 20)
	copy(k, blob[:])
	binary.BigEndian.PutUint32(k[16:], index)
	return k
}

// checkVersion strips and checks the version byte of a stored value.
func checkVersion(v []byte) (*decoder, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("%w: empty record", errCorrupt)
	}
	if v[0] != recordV1 {
		return nil, fmt.Errorf("%w: record version %d", ErrUnsupportedFormatVersion, v[0])
	}
	return &decoder{b: v[1:]}, nil
}

func encodeBucket(b BucketInfo) []byte {
	e := encoder{b: make([]byte, 0, 64)}
	e.byte1(recordV1)
	e.str(b.Region)
	e.str(b.Owner)
	e.time(b.CreatedAt)
	e.byte1(byte(b.Versioning))
	return e.b
}

func decodeBucket(name string, v []byte) (BucketInfo, error) {
	d, err := checkVersion(v)
	if err != nil {
		return BucketInfo{}, err
	}
	b := BucketInfo{Name: name, Region: d.str(), Owner: d.str(), CreatedAt: d.time()}
	b.Versioning = VersioningState(d.byte1())
	if err := d.done(); err != nil {
		return BucketInfo{}, fmt.Errorf("bucket %q: %w", name, err)
	}
	return b, nil
}

const (
	verFlagNull = 1 << iota
	verFlagDeleteMarker
)

// encodeVersion is the hot record (every PUT and GET): hand-rolled binary, no reflection.
// Bucket, Key and ID live in the bbolt key; IsLatest is computed by reads.
func encodeVersion(v *ObjectVersion) []byte {
	n := 96 + len(v.ETag) + len(v.Owner) + len(v.body)*32
	for _, s := range v.body {
		n += len(s.Inline)
	}
	e := encoder{b: make([]byte, 0, n)}
	e.byte1(recordV1)
	var flags byte
	if v.IsNull {
		flags |= verFlagNull
	}
	if v.DeleteMarker {
		flags |= verFlagDeleteMarker
	}
	e.byte1(flags)
	e.time(v.ModTime)
	e.varint(v.Size)
	e.str(v.ETag)
	e.meta(v.Meta)
	e.checksum(v.Checksum)
	e.uvarint(uint64(len(v.PartSizes)))
	for _, s := range v.PartSizes {
		e.varint(s)
	}
	e.str(v.Owner)
	e.str(v.ReplicationStatus)
	e.uvarint(uint64(len(v.body)))
	for _, s := range v.body {
		e.segment(s)
	}
	return e.b
}

func decodeVersion(bucket string, k, val []byte) (ObjectVersion, error) {
	key, id, ok := parseVersionKey(k)
	if !ok {
		return ObjectVersion{}, fmt.Errorf("%w: version key %x", errCorrupt, k)
	}
	d, err := checkVersion(val)
	if err != nil {
		return ObjectVersion{}, err
	}
	v := ObjectVersion{Bucket: bucket, Key: key, ID: id}
	flags := d.byte1()
	v.IsNull = flags&verFlagNull != 0
	v.DeleteMarker = flags&verFlagDeleteMarker != 0
	v.ModTime = d.time()
	v.Size = d.varint()
	v.ETag = d.str()
	v.Meta = d.meta()
	v.Checksum = d.checksum()
	if n := d.count(1); n > 0 {
		v.PartSizes = make([]int64, n)
		for i := range v.PartSizes {
			v.PartSizes[i] = d.varint()
		}
	}
	v.Owner = d.str()
	v.ReplicationStatus = d.str()
	if n := d.count(18); n > 0 {
		v.body = make([]segment, n)
		for i := range v.body {
			v.body[i] = d.segment()
		}
	}
	if err := d.done(); err != nil {
		return ObjectVersion{}, fmt.Errorf("version %q/%q: %w", bucket, key, err)
	}
	return v, nil
}

func encodeUpload(u MultipartUpload) []byte {
	e := encoder{b: make([]byte, 0, 64)}
	e.byte1(recordV1)
	e.time(u.Initiated)
	e.meta(u.Meta)
	e.str(u.ChecksumAlgorithm)
	e.str(u.Owner)
	return e.b
}

func decodeUpload(bucket string, k, val []byte) (MultipartUpload, error) {
	key, id, ok := parseUploadKey(k)
	if !ok {
		return MultipartUpload{}, fmt.Errorf("%w: upload key %x", errCorrupt, k)
	}
	d, err := checkVersion(val)
	if err != nil {
		return MultipartUpload{}, err
	}
	u := MultipartUpload{Bucket: bucket, Key: key, UploadID: id}
	u.Initiated = d.time()
	u.Meta = d.meta()
	u.ChecksumAlgorithm = d.str()
	u.Owner = d.str()
	if err := d.done(); err != nil {
		return MultipartUpload{}, fmt.Errorf("upload %q/%q: %w", bucket, key, err)
	}
	return u, nil
}

// partRecord is a stored part: the public Part plus where its bytes are.
type partRecord struct {
	Part
	body segment
}

func encodePart(p partRecord) []byte {
	e := encoder{b: make([]byte, 0, 64+len(p.body.Inline))}
	e.byte1(recordV1)
	e.varint(p.Size)
	e.str(p.ETag)
	e.checksum(p.Checksum)
	e.time(p.ModTime)
	e.segment(p.body)
	return e.b
}

func decodePart(k, val []byte) (partRecord, error) {
	if len(k) < 4 {
		return partRecord{}, fmt.Errorf("%w: part key %x", errCorrupt, k)
	}
	d, err := checkVersion(val)
	if err != nil {
		return partRecord{}, err
	}
	var p partRecord
	p.Number = int(binary.BigEndian.Uint32(k[len(k)-4:]))
	p.Size = d.varint()
	p.ETag = d.str()
	p.Checksum = d.checksum()
	p.ModTime = d.time()
	p.body = d.segment()
	if err := d.done(); err != nil {
		return partRecord{}, fmt.Errorf("part %d: %w", p.Number, err)
	}
	return p, nil
}

// stagedRecord tracks a blob whose chunks are written but that no version or part
// references yet. The counters let a commit verify the blob is complete without
// reading its chunks.
type stagedRecord struct {
	Time       int64  // unix nanoseconds of the first PutChunk (from the command)
	Count      uint64 // distinct chunks written
	Next       uint64 // highest index + 1
	RawBytes   uint64 // sum of raw chunk sizes
	ShortCount uint64 // chunks shorter than ChunkSize
	ShortIndex uint64 // index of the last short chunk written
}

func encodeStaged(s stagedRecord) []byte {
	e := encoder{b: make([]byte, 0, 32)}
	e.byte1(recordV1)
	e.varint(s.Time)
	e.uvarint(s.Count)
	e.uvarint(s.Next)
	e.uvarint(s.RawBytes)
	e.uvarint(s.ShortCount)
	e.uvarint(s.ShortIndex)
	return e.b
}

func decodeStaged(val []byte) (stagedRecord, error) {
	d, err := checkVersion(val)
	if err != nil {
		return stagedRecord{}, err
	}
	s := stagedRecord{Time: d.varint(), Count: d.uvarint(), Next: d.uvarint(), RawBytes: d.uvarint(), ShortCount: d.uvarint(), ShortIndex: d.uvarint()}
	if err := d.done(); err != nil {
		return stagedRecord{}, fmt.Errorf("staged record: %w", err)
	}
	return s, nil
}

// encodeChunk frames a stored chunk: version, encoding, raw size, then the bytes.
func encodeChunkRecord(enc ChunkEncoding, rawSize uint32, data []byte) []byte {
	e := encoder{b: make([]byte, 0, len(data)+8)}
	e.byte1(recordV1)
	e.byte1(byte(enc))
	e.uvarint(uint64(rawSize))
	e.raw(data)
	return e.b
}

// decodeChunkRecord returns a view into val (valid only inside its transaction).
func decodeChunkRecord(val []byte) (ChunkEncoding, uint32, []byte, error) {
	d, err := checkVersion(val)
	if err != nil {
		return 0, 0, nil, err
	}
	enc := ChunkEncoding(d.byte1())
	raw := d.uvarint()
	if d.err != nil || raw > ChunkSize || enc > ChunkS2 {
		return 0, 0, nil, fmt.Errorf("%w: chunk header", errCorrupt)
	}
	return enc, uint32(raw), d.b, nil
}

func encodeConfig(data []byte) []byte {
	return append([]byte{recordV1}, data...)
}

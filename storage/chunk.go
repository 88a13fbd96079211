package storage

import (
	"fmt"

	"github.com/klauspost/compress/s2"
)

// InlineMax is the largest body stored inside its version (or part) record instead of
// in chunks: small objects then cost one bbolt value and no chunk lookups.
const InlineMax = 8 << 10

// compressSample is how much of a chunk is test-compressed before compressing it all.
const compressSample = 64 << 10

// compressWorthIt reports whether compressed size c (of raw size n) saves at least
// 12.5%: below that, the decode cost on every GET buys too little disk.
func compressWorthIt(c, n int) bool { return c <= n-n/8 }

// EncodeChunk returns how to store raw: S2-compressed when that saves at least 12.5%,
// raw otherwise. Incompressible data (already compressed or random) is detected from a
// sample estimate, so it costs a fraction of a full compression. The returned slice is
// raw itself when the encoding is ChunkRaw; the caller must not modify raw while the
// returned bytes are in use.
func EncodeChunk(raw []byte) (ChunkEncoding, []byte) {
	if len(raw) < 64 {
		return ChunkRaw, raw
	}
	sample := raw
	if len(sample) > compressSample {
		sample = sample[:compressSample]
	}
	est := s2.EstimateBlockSize(sample)
	if est < 0 || !compressWorthIt(est, len(sample)) {
		return ChunkRaw, raw
	}
	enc := s2.Encode(nil, raw)
	if !compressWorthIt(len(enc), len(raw)) {
		return ChunkRaw, raw
	}
	return ChunkS2, enc
}

// DecodeChunk returns the raw bytes of a chunk stored with encoding enc. For ChunkRaw
// it returns data itself. Corrupt input yields an error, never a panic, and never
// decodes to more than ChunkSize bytes.
func DecodeChunk(enc ChunkEncoding, data []byte) ([]byte, error) {
	return decodeChunkInto(nil, enc, data)
}

// decodeChunkInto is DecodeChunk reusing dst's capacity for S2 output.
func decodeChunkInto(dst []byte, enc ChunkEncoding, data []byte) ([]byte, error) {
	switch enc {
	case ChunkRaw:
		if len(data) > ChunkSize {
			return nil, fmt.Errorf("%w: raw chunk of %d bytes", errCorrupt, len(data))
		}
		return data, nil
	case ChunkS2:
		n, err := s2.DecodedLen(data)
		if err != nil || n > ChunkSize {
			return nil, fmt.Errorf("%w: s2 chunk header", errCorrupt)
		}
		out, err := s2.Decode(dst[:0], data)
		if err != nil {
			return nil, fmt.Errorf("%w: s2 chunk: %v", errCorrupt, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: chunk encoding %d", errCorrupt, enc)
}

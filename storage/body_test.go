package storage

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"
	"testing/iotest"

	"go.etcd.io/bbolt"
)

func TestEncodeChunk(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want ChunkEncoding
	}{
		{"compressible", compressible(ChunkSize), ChunkS2},
		{"random", randomBytes(1, ChunkSize), ChunkRaw},
		{"zeros", make([]byte, 1000), ChunkS2},
		{"tiny", []byte("abc"), ChunkRaw},
		{"empty", nil, ChunkRaw},
		// Random data with a compressible tail: the sample says no, which is the cheap
		// and acceptable answer.
		{"random head", append(randomBytes(2, compressSample), make([]byte, ChunkSize-compressSample)...), ChunkRaw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, data := EncodeChunk(tc.raw)
			if enc != tc.want {
				t.Fatalf("encoding = %v, want %v", enc, tc.want)
			}
			if enc == ChunkS2 && len(data) > len(tc.raw)*7/8 {
				t.Fatalf("compressed %d to %d: not worth it", len(tc.raw), len(data))
			}
			got, err := DecodeChunk(enc, data)
			if err != nil || !bytes.Equal(got, tc.raw) {
				t.Fatalf("round trip: %v", err)
			}
		})
	}
	if _, err := DecodeChunk(ChunkS2, []byte{0xff, 0xff, 0xff, 0xff, 0x7f}); err == nil {
		t.Fatal("garbage decoded")
	}
	if _, err := DecodeChunk(7, []byte("x")); err == nil {
		t.Fatal("unknown encoding decoded")
	}
}

// chunkEncodings counts stored chunks by encoding.
func chunkEncodings(t *testing.T, s *Store) map[ChunkEncoding]int {
	t.Helper()
	out := map[ChunkEncoding]int{}
	err := s.view(func(tx *bbolt.Tx) error {
		chunks := tx.Bucket(bktChunks)
		return chunks.ForEach(func(k, _ []byte) error {
			enc, _, _, err := decodeChunkRecord(getChunkValue(chunks, k))
			out[enc]++
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStore_CompressionRoundTrip(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	text := compressible(3*ChunkSize + 77)
	noise := randomBytes(5, 2*ChunkSize+1)
	vt := h.put("b", "text", text)
	vn := h.put("b", "noise", noise)
	if enc := chunkEncodings(t, h.s); enc[ChunkS2] != 4 || enc[ChunkRaw] != 3 {
		t.Fatalf("encodings = %v, want 4 S2 + 3 raw", enc)
	}
	if !bytes.Equal(h.read(vt, 0, -1), text) || !bytes.Equal(h.read(vn, 0, -1), noise) {
		t.Fatal("round trip differs")
	}
	if got, want := h.read(vt, ChunkSize-5, 10), text[ChunkSize-5:ChunkSize+5]; !bytes.Equal(got, want) {
		t.Fatal("range across compressed chunks differs")
	}
}

func TestStore_RangeReads(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.createUpload("b", "k", "u", "")
	p1 := randomBytes(31, MinPartSize+3) // 5 full chunks and a 3-byte one
	p2 := compressible(MinPartSize)      // exactly 5 chunks
	p3 := []byte("an inline tail segment")
	for i, p := range [][]byte{p1, p2, p3} {
		h.putPart("b", "k", "u", i+1, p)
	}
	res := h.complete("b", "k", "u", []CompletedPart{{1, md5hex(p1), ""}, {2, md5hex(p2), ""}, {3, md5hex(p3), ""}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	v, err := h.get("b", "k", "")
	if err != nil {
		t.Fatal(err)
	}
	whole := bytes.Join([][]byte{p1, p2, p3}, nil)
	size := int64(len(whole))
	seg1 := int64(len(p1))
	seg2 := seg1 + int64(len(p2))
	ranges := [][2]int64{
		{0, -1}, {0, 1}, {0, 0}, {size, 0}, {size, -1}, {size - 1, -1}, {size - 1, 1},
		{ChunkSize - 1, 2}, {ChunkSize, ChunkSize}, {ChunkSize - 1, ChunkSize + 2},
		{seg1 - 4, 8}, {seg1 - 1, 1}, {seg1, 1}, {5 * ChunkSize, 3}, {5*ChunkSize - 1, 5},
		{seg2 - 3, 6}, {seg2, -1}, {seg2 - 1, 2}, {seg1 - 10, int64(len(p2)) + 20},
		{3, size - 6}, {size - 5, 100}, // a length past the end is clipped
	}
	for _, r := range ranges {
		end := size
		if r[1] >= 0 {
			end = min(size, r[0]+r[1])
		}
		if got := h.read(v, r[0], r[1]); !bytes.Equal(got, whole[r[0]:end]) {
			t.Errorf("range %d+%d: got %d bytes, differs from %d", r[0], r[1], len(got), end-r[0])
		}
	}
	// Reader contract across every boundary kind, with odd read sizes.
	rc, _ := h.s.OpenObject(context.Background(), v, seg1-ChunkSize/2, ChunkSize*2)
	if err := iotest.TestReader(rc, whole[seg1-ChunkSize/2:seg1-ChunkSize/2+ChunkSize*2]); err != nil {
		t.Fatal(err)
	}
	rc.Close()

	for _, r := range [][2]int64{{-1, 1}, {size + 1, 0}, {0, -2}} {
		if _, err := h.s.OpenObject(context.Background(), v, r[0], r[1]); !errorsIs(err, ErrInvalidArgument) {
			t.Errorf("range %v: err = %v", r, err)
		}
	}
	// A version without its body reference (not from this store) is refused.
	stripped := v
	stripped.body = nil
	if _, err := h.s.OpenObject(context.Background(), stripped, 0, -1); !errorsIs(err, ErrInvalidArgument) {
		t.Fatalf("stripped version: %v", err)
	}

	// Deleting the object while it streams fails the read instead of returning
	// wrong bytes.
	rc, _ = h.s.OpenObject(context.Background(), v, 0, -1)
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	h.del("b", "k", "")
	if _, err := io.Copy(io.Discard, rc); !errorsIs(err, ErrBlobMissing) {
		t.Fatalf("read after delete: %v", err)
	}
	rc.Close()

	// Context cancellation stops a stream at the next chunk.
	w := h.put("b", "c", randomBytes(9, 3*ChunkSize))
	ctx, cancel := context.WithCancel(context.Background())
	rc, _ = h.s.OpenObject(ctx, w, 0, -1)
	io.ReadFull(rc, make([]byte, ChunkSize))
	cancel()
	if _, err := io.Copy(io.Discard, rc); !errorsIs(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
}

func FuzzDecodeChunk(f *testing.F) {
	_, s2data := EncodeChunk(compressible(4096))
	f.Add(byte(ChunkS2), s2data)
	f.Add(byte(ChunkRaw), []byte("raw"))
	f.Add(byte(ChunkS2), []byte{0xff, 0xff, 0xff, 0x7f, 0})
	f.Fuzz(func(t *testing.T, enc byte, data []byte) {
		out, err := DecodeChunk(ChunkEncoding(enc), data)
		if err == nil && len(out) > ChunkSize {
			t.Fatalf("decoded %d bytes", len(out))
		}
	})
}

// TestStore_ObjectReadersReuseChunkBuffers: a closed reader's chunk buffer serves
// the next reader, so reading a big object again and again allocates far less
// than a chunk each time, and readers in turn of different objects each read
// their own bytes.
func TestStore_ObjectReadersReuseChunkBuffers(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	a, b := randomBytes(7, 2*ChunkSize+5), randomBytes(8, 2*ChunkSize+5)
	va, vb := h.put("b", "a", a), h.put("b", "b", b)
	for i := range 4 { // alternate: a reused buffer must not leak the other's bytes
		v, want := va, a
		if i%2 == 1 {
			v, want = vb, b
		}
		if !bytes.Equal(h.read(v, 0, -1), want) {
			t.Fatalf("read %d differs", i)
		}
	}
	const reads = 10
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range reads {
		r, err := h.s.OpenObject(context.Background(), va, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	runtime.ReadMemStats(&after)
	// Without reuse each read allocates a chunk buffer (10 MiB in all); a
	// collection emptying the pool costs one more.
	if got := after.TotalAlloc - before.TotalAlloc; got > 3*ChunkSize {
		t.Fatalf("%d reads of a 2-chunk object allocated %d bytes, want under %d", reads, got, 3*ChunkSize)
	}
}

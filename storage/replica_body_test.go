package storage

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// storedChunks reads v's body from h's store as stored, copying each chunk.
func storedChunks(t *testing.T, h *harness, v ObjectVersion) []StoredChunk {
	t.Helper()
	var out []StoredChunk
	err := h.s.ReadChunksStored(t.Context(), v, func(c StoredChunk) error {
		c.Data = bytes.Clone(c.Data)
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadChunksStored: %v", err)
	}
	if uint32(len(out)) != v.BodyChunks() {
		t.Fatalf("read %d chunks, BodyChunks says %d", len(out), v.BodyChunks())
	}
	return out
}

// ship replicates v from src to dst as the shipper and receiver would: chunks as
// stored, staged by a ReplicaBody, committed by ApplyReplica. It returns the command
// applied and checks every staged chunk carries the shipped bytes unchanged.
func ship(t *testing.T, src, dst *harness, v ObjectVersion, inlineMax int) ApplyReplicaCmd {
	t.Helper()
	chunks := storedChunks(t, src, v)
	body, err := NewReplicaBody(v.Size, uint32(len(chunks)), inlineMax, dst.now(), dst.nextBlob)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		cmd, ok, err := body.Stage(c)
		if err != nil {
			t.Fatalf("Stage chunk %d: %v", c.Index, err)
		}
		if !ok {
			continue
		}
		if cmd.Encoding != c.Encoding || !bytes.Equal(cmd.Data, c.Data) || int(cmd.RawSize) != c.RawSize {
			t.Fatalf("chunk %d staged as %d/%d bytes, shipped as %d/%d", c.Index, cmd.Encoding, len(cmd.Data), c.Encoding, len(c.Data))
		}
		dst.mustApply(cmd)
	}
	c := ApplyReplicaCmd{
		Bucket: v.Bucket, Key: v.Key, ID: v.ID, Null: v.IsNull, Time: v.ModTime, ETag: v.ETag,
		Meta: v.Meta, Checksum: v.Checksum, PartSizes: v.PartSizes, Owner: v.Owner,
	}
	if err := body.Reference(&c); err != nil {
		t.Fatal(err)
	}
	dst.mustApply(c)
	return c
}

// sameVersion checks that dst holds v of src with identical bytes, size, ETag and
// part sizes, laid out in identical stored chunks.
func sameVersion(t *testing.T, src, dst *harness, v ObjectVersion, body []byte) {
	t.Helper()
	got, err := dst.get(v.Bucket, v.Key, v.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != v.Size || got.ETag != v.ETag || !reflect.DeepEqual(got.PartSizes, v.PartSizes) ||
		got.ReplicationStatus != ReplicationStatusReplica {
		t.Fatalf("replica %+v\norigin %+v", got, v)
	}
	if b := dst.read(got, 0, -1); !bytes.Equal(b, body) {
		t.Fatalf("replica body: %d bytes, differs from the origin's %d", len(b), len(body))
	}
	if a, b := storedChunks(t, src, v), storedChunks(t, dst, got); !reflect.DeepEqual(a, b) {
		t.Fatalf("stored chunks differ: origin %d, replica %d", len(a), len(b))
	}
}

func twoStores(t *testing.T) (src, dst *harness) {
	src, dst = newHarness(t), newHarness(t)
	for _, h := range []*harness{src, dst} {
		h.createBucket("b")
		h.setVersioning("b", VersioningEnabled)
	}
	dst.blobs = 1000 // blob IDs of their own
	return src, dst
}

func TestReplicaBody_PutObject(t *testing.T) {
	src, dst := twoStores(t)
	// Two compressible chunks, a random one and a short random one.
	body := append(compressible(2*ChunkSize), randomBytes(7, ChunkSize+123)...)
	v := src.put("b", "big", body)
	chunks := storedChunks(t, src, v)
	var encs []ChunkEncoding
	for i, c := range chunks {
		if c.Index != uint32(i) {
			t.Fatalf("chunk %d has index %d", i, c.Index)
		}
		encs = append(encs, c.Encoding)
	}
	if want := []ChunkEncoding{ChunkS2, ChunkS2, ChunkRaw, ChunkRaw}; !reflect.DeepEqual(encs, want) {
		t.Fatalf("stored encodings %v, want %v", encs, want)
	}
	if len(chunks[0].Data) >= ChunkSize/2 {
		t.Fatalf("compressible chunk read as %d bytes: not as stored", len(chunks[0].Data))
	}
	c := ship(t, src, dst, v, 2<<10)
	if c.Chunks != 4 || c.MoreBlobs != nil || c.Inline != nil {
		t.Fatalf("body referenced as %d chunks, %d more blobs, inline %d", c.Chunks, len(c.MoreBlobs), len(c.Inline))
	}
	sameVersion(t, src, dst, v, body)

	// Small bodies: inline at the origin, shipped as one raw chunk, inline again
	// below the receiver's limit and staged above it.
	small := []byte("a small body, kept inline")
	sv := src.put("b", "small", small)
	if got := storedChunks(t, src, sv); len(got) != 1 || got[0].Encoding != ChunkRaw || !bytes.Equal(got[0].Data, small) {
		t.Fatalf("inline body read as %+v", got)
	}
	before := countChunks(t, dst.s)
	if c := ship(t, src, dst, sv, InlineMax); !bytes.Equal(c.Inline, small) || c.Chunks != 0 {
		t.Fatalf("small body referenced as %d chunks, inline %q", c.Chunks, c.Inline)
	}
	if n := countChunks(t, dst.s); n != before {
		t.Fatalf("inline replica wrote %d chunks", n-before)
	}
	sameVersion(t, src, dst, sv, small)
	sv2 := src.put("b", "small2", small)
	if c := ship(t, src, dst, sv2, 0); c.Chunks != 1 || c.Inline != nil {
		t.Fatalf("small body with no inline limit referenced as %d chunks, inline %q", c.Chunks, c.Inline)
	}
	sameVersion(t, src, dst, sv2, small)

	// Empty bodies have no chunks at all.
	ev := src.put("b", "empty", nil)
	if ev.BodyChunks() != 0 {
		t.Fatalf("empty body has %d chunks", ev.BodyChunks())
	}
	ship(t, src, dst, ev, InlineMax)
	sameVersion(t, src, dst, ev, nil)
}

func TestReplicaBody_Multipart(t *testing.T) {
	src, dst := twoStores(t)
	src.createUpload("b", "mp", "u", "")
	p1 := randomBytes(31, MinPartSize+3) // 5 full chunks and a 3-byte one
	p2 := compressible(MinPartSize)      // exactly 5 chunks
	p3 := []byte("an inline tail segment")
	for i, p := range [][]byte{p1, p2, p3} {
		src.putPart("b", "mp", "u", i+1, p)
	}
	res := src.complete("b", "mp", "u", []CompletedPart{{1, md5hex(p1), ""}, {2, md5hex(p2), ""}, {3, md5hex(p3), ""}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	v := res.Version
	if v.BodyChunks() != 12 {
		t.Fatalf("BodyChunks = %d, want 6+5+1", v.BodyChunks())
	}
	c := ship(t, src, dst, v, InlineMax)
	// p1's short chunk ends the first blob; p2's full chunks and p3 share the second.
	wantMore := []BlobRun{{Blob: c.MoreBlobs[0].Blob, Chunks: 6, Size: int64(len(p2) + len(p3))}}
	if c.Chunks != 6 || !reflect.DeepEqual(c.MoreBlobs, wantMore) {
		t.Fatalf("referenced as %d chunks then %+v", c.Chunks, c.MoreBlobs)
	}
	whole := bytes.Join([][]byte{p1, p2, p3}, nil)
	sameVersion(t, src, dst, v, whole)
	got, err := dst.get("b", "mp", "")
	if err != nil {
		t.Fatal(err)
	}
	seg1 := int64(len(p1))
	for _, r := range [][2]int64{{seg1 - 2, 4}, {seg1 - ChunkSize/2, 2 * ChunkSize}, {int64(len(whole)) - 30, -1}} {
		end := int64(len(whole))
		if r[1] >= 0 {
			end = r[0] + r[1]
		}
		if b := dst.read(got, r[0], r[1]); !bytes.Equal(b, whole[r[0]:end]) {
			t.Errorf("range %d+%d differs", r[0], r[1])
		}
	}

	// A second delivery is a no-op that discards every blob it staged.
	ship(t, src, dst, v, InlineMax)
	staged, err := dst.s.StagedBlobs(t.Context(), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || len(staged) != 0 {
		t.Fatalf("staged after a repeated delivery: %v %v", staged, err)
	}
	sameVersion(t, src, dst, v, whole)
}

func TestReplicaBody_Refuses(t *testing.T) {
	src, _ := twoStores(t)
	v := src.put("b", "k", append(compressible(ChunkSize), randomBytes(5, 100)...))
	chunks := storedChunks(t, src, v)
	s2, raw := chunks[0], chunks[1]
	if s2.Encoding != ChunkS2 || raw.Encoding != ChunkRaw {
		t.Fatalf("encodings %d, %d", s2.Encoding, raw.Encoding)
	}
	newBody := func() *ReplicaBody {
		b, err := NewReplicaBody(v.Size, 2, 0, time.Time{}, func() BlobID { return BlobID{1} })
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	with := func(c StoredChunk, f func(*StoredChunk)) StoredChunk {
		c.Data = bytes.Clone(c.Data)
		f(&c)
		return c
	}
	for name, c := range map[string]StoredChunk{
		"truncated s2":      with(s2, func(c *StoredChunk) { c.Data = c.Data[:len(c.Data)-9] }),
		"s2 wrong raw size": with(s2, func(c *StoredChunk) { c.RawSize-- }),
		"unknown encoding":  with(s2, func(c *StoredChunk) { c.Encoding = 7 }),
		"s2 sent as raw":    with(s2, func(c *StoredChunk) { c.Encoding = ChunkRaw }),
		"raw size zero":     with(s2, func(c *StoredChunk) { c.RawSize = 0 }),
		"over ChunkSize":    with(s2, func(c *StoredChunk) { c.RawSize = ChunkSize + 1 }),
		"wrong index":       with(s2, func(c *StoredChunk) { c.Index = 1 }),
	} {
		if _, _, err := newBody().Stage(c); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err %v, want ErrInvalidArgument", name, err)
		}
	}
	b := newBody()
	if _, ok, err := b.Stage(s2); err != nil || !ok {
		t.Fatalf("valid chunk: %v %v", ok, err)
	}
	var c ApplyReplicaCmd
	if err := b.Reference(&c); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Reference of an incomplete body: %v", err)
	}
	if _, _, err := b.Stage(with(raw, func(c *StoredChunk) { c.RawSize-- })); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("raw chunk with a wrong RawSize: %v", err)
	}
	if _, _, err := b.Stage(raw); err != nil {
		t.Fatalf("valid last chunk after a refused one: %v", err)
	}
	if _, _, err := b.Stage(raw); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a chunk past the last: %v", err)
	}
	if err := b.Reference(&c); err != nil || c.Chunks != 2 || c.Size != v.Size {
		t.Fatalf("Reference: %+v %v", c, err)
	}
	for _, hdr := range [][2]int64{{-1, 1}, {0, 1}, {5, 0}, {ChunkSize + 1, 1}, {1, 2}} {
		if _, err := NewReplicaBody(hdr[0], uint32(hdr[1]), 0, time.Time{}, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("header %d bytes in %d chunks: %v", hdr[0], hdr[1], err)
		}
	}
	if err := src.s.ReadChunksStored(t.Context(), ObjectVersion{Key: "k", Size: 5}, func(StoredChunk) error { return nil }); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("ReadChunksStored of a version not read from the store: %v", err)
	}
	stop := errors.New("stop")
	if err := src.s.ReadChunksStored(t.Context(), v, func(StoredChunk) error { return stop }); err != stop {
		t.Fatalf("fn's error returned as %v", err)
	}
}

func TestApplyReplica_MoreBlobsChecked(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.setVersioning("b", VersioningEnabled)
	b1, n1, _ := h.stage(randomBytes(1, ChunkSize+5))
	b2, n2, _ := h.stage(randomBytes(2, ChunkSize+6))
	c := ApplyReplicaCmd{Bucket: "b", Key: "k", ID: replicaAt(1), Size: 2*ChunkSize + 11, Blob: b1, Chunks: n1,
		MoreBlobs: []BlobRun{{Blob: b2, Chunks: n2, Size: ChunkSize + 6}}}
	for name, bad := range map[string]func(*ApplyReplicaCmd){
		"twice": func(c *ApplyReplicaCmd) {
			c.MoreBlobs = append(c.MoreBlobs, c.MoreBlobs[0])
			c.Size += c.MoreBlobs[0].Size
		},
		"first again": func(c *ApplyReplicaCmd) {
			c.MoreBlobs[0] = BlobRun{Blob: c.Blob, Chunks: c.Chunks, Size: ChunkSize + 5}
			c.Size = 2 * (ChunkSize + 5)
		},
		"wrong size":    func(c *ApplyReplicaCmd) { c.MoreBlobs[0].Size++ },
		"wrong chunks":  func(c *ApplyReplicaCmd) { c.MoreBlobs[0].Chunks = 1 },
		"no first blob": func(c *ApplyReplicaCmd) { c.Blob, c.Chunks = BlobID{}, 0 },
		"all in more":   func(c *ApplyReplicaCmd) { c.MoreBlobs[0].Size = c.Size },
	} {
		bc := c
		bc.MoreBlobs = append([]BlobRun(nil), c.MoreBlobs...)
		bad(&bc)
		if res := h.apply(bc); !errors.Is(res.Err, ErrInvalidArgument) {
			t.Errorf("%s: err %v, want ErrInvalidArgument", name, res.Err)
		}
	}
	v := h.mustApply(c).Version
	want := append(randomBytes(1, ChunkSize+5), randomBytes(2, ChunkSize+6)...)
	if got := h.read(v, 0, -1); !bytes.Equal(got, want) {
		t.Fatalf("body of two blobs: %d bytes, differs", len(got))
	}
}

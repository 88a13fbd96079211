package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"testing"
)

func (h *harness) createUpload(bucket, key, id, alg string) {
	h.t.Helper()
	h.mustApply(CreateUploadCmd{
		Bucket: bucket, Key: key, UploadID: id, Time: h.now(), ChecksumAlgorithm: alg, Owner: "pangea",
		Meta: ObjectMeta{ContentType: "text/plain", UserMeta: map[string]string{"m": "1"}},
	})
}

func crc32b64(b []byte) string {
	var s [4]byte
	v := crc32.ChecksumIEEE(b)
	s[0], s[1], s[2], s[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return base64.StdEncoding.EncodeToString(s[:])
}

func (h *harness) putPartCmd(bucket, key, id string, n int, body []byte) Command {
	h.t.Helper()
	blob, chunks, inline := h.stage(body)
	return PutPartCmd{
		Bucket: bucket, Key: key, UploadID: id, Number: n, Size: int64(len(body)), ETag: md5hex(body),
		Checksum: &Checksum{Algorithm: "CRC32", Value: crc32b64(body), Type: ChecksumFullObject},
		Time:     h.now(), Blob: blob, Chunks: chunks, Inline: inline,
	}
}

func (h *harness) putPart(bucket, key, id string, n int, body []byte) Part {
	h.t.Helper()
	return h.mustApply(h.putPartCmd(bucket, key, id, n, body)).Part
}

func (h *harness) complete(bucket, key, id string, parts []CompletedPart) Result {
	h.t.Helper()
	return h.apply(CompleteUploadCmd{
		Bucket: bucket, Key: key, UploadID: id, Parts: parts, ID: h.nextID(), Time: h.now(),
	})
}

func TestStore_Multipart(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.createBucket("b")
	h.createUpload("b", "big", "up1", "crc32")

	p1 := randomBytes(11, MinPartSize)         // 5 chunks exactly
	p2old := compressible(MinPartSize + 12345) // replaced below
	p2 := compressible(MinPartSize + 54321)
	p3 := []byte("tail of the object")
	h.putPart("b", "big", "up1", 1, p1)
	h.putPart("b", "big", "up1", 2, p2old)
	h.putPart("b", "big", "up1", 2, p2) // replaces part 2 and releases its blob
	h.putPart("b", "big", "up1", 3, p3)
	p4 := randomBytes(12, 2*ChunkSize)
	h.putPart("b", "big", "up1", 4, p4) // uploaded, not used
	wantChunks := 5 + 6 + 2
	if got := countChunks(t, h.s); got != wantChunks {
		t.Fatalf("chunks after parts = %d, want %d", got, wantChunks)
	}

	lp, err := h.s.ListParts(ctx, "b", "big", "up1", 0, 2)
	if err != nil || len(lp.Parts) != 2 || !lp.IsTruncated || lp.NextPartNumberMarker != 2 || lp.Parts[1].Size != int64(len(p2)) {
		t.Fatalf("ListParts page 1 = %+v, %v", lp, err)
	}
	lp, _ = h.s.ListParts(ctx, "b", "big", "up1", 2, 10)
	if len(lp.Parts) != 2 || lp.IsTruncated || lp.Parts[0].Number != 3 || lp.Upload.ChecksumAlgorithm != "CRC32" {
		t.Fatalf("ListParts page 2 = %+v", lp)
	}

	cp := func(n int, body []byte) CompletedPart {
		return CompletedPart{Number: n, ETag: `"` + md5hex(body) + `"`}
	}
	tests := []struct {
		parts []CompletedPart
		want  error
	}{
		{nil, ErrInvalidArgument},
		{[]CompletedPart{cp(2, p2), cp(1, p1)}, ErrInvalidPartOrder},
		{[]CompletedPart{cp(1, p1), cp(1, p1)}, ErrInvalidPartOrder},
		{[]CompletedPart{cp(1, p1), cp(5, p2)}, ErrInvalidPart},
		{[]CompletedPart{cp(1, p1), cp(2, p2old)}, ErrInvalidPart},
		{[]CompletedPart{cp(1, p1), {Number: 2, ETag: md5hex(p2), Checksum: crc32b64(p1)}}, ErrInvalidPart},
		{[]CompletedPart{cp(3, p3), cp(4, p4)}, ErrEntityTooSmall},
	}
	for i, tc := range tests {
		wantErr(t, h.complete("b", "big", "up1", tc.parts).Err, tc.want)
		if _, err := h.s.MultipartUpload(ctx, "b", "big", "up1"); err != nil {
			t.Fatalf("case %d: failed complete removed the upload: %v", i, err)
		}
	}
	wantErr(t, h.complete("b", "big", "nope", []CompletedPart{cp(1, p1)}).Err, ErrNoSuchUpload)

	before := countChunks(t, h.s)
	res := h.complete("b", "big", "up1", []CompletedPart{cp(1, p1), {Number: 2, ETag: md5hex(p2), Checksum: crc32b64(p2)}, cp(3, p3)})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	v := res.Version
	// The body re-uses the parts' blobs: no chunk was copied, unused part 4 was freed.
	if got := countChunks(t, h.s); got != before-2 {
		t.Fatalf("chunks after complete = %d, want %d", got, before-2)
	}
	whole := bytes.Join([][]byte{p1, p2, p3}, nil)
	if v.Size != int64(len(whole)) || !v.IsLatest || !v.IsNull {
		t.Fatalf("version = %+v", v)
	}
	if want := []int64{int64(len(p1)), int64(len(p2)), int64(len(p3))}; fmt.Sprint(v.PartSizes) != fmt.Sprint(want) {
		t.Fatalf("part sizes = %v, want %v", v.PartSizes, want)
	}
	var md5s []byte
	var crcs []byte
	for _, p := range [][]byte{p1, p2, p3} {
		s := md5.Sum(p)
		md5s = append(md5s, s[:]...)
		c, _ := base64.StdEncoding.DecodeString(crc32b64(p))
		crcs = append(crcs, c...)
	}
	sum := md5.Sum(md5s)
	if want := hex.EncodeToString(sum[:]) + "-3"; v.ETag != want {
		t.Fatalf("etag = %q, want %q", v.ETag, want)
	}
	if v.Checksum == nil || v.Checksum.Value != crc32b64(crcs)+"-3" || v.Checksum.Type != ChecksumComposite || v.Checksum.Algorithm != "CRC32" {
		t.Fatalf("checksum = %+v", v.Checksum)
	}
	if v.Meta.ContentType != "text/plain" || v.Meta.UserMeta["m"] != "1" || v.Owner != "pangea" {
		t.Fatalf("meta not taken from the upload: %+v", v.Meta)
	}
	got, err := h.get("b", "big", "")
	if err != nil || got.ETag != v.ETag {
		t.Fatalf("Object = %+v %v", got, err)
	}
	if !bytes.Equal(h.read(got, 0, -1), whole) {
		t.Fatal("multipart body differs")
	}
	_, err = h.s.MultipartUpload(ctx, "b", "big", "up1")
	wantErr(t, err, ErrNoSuchUpload)
	_, err = h.s.ListParts(ctx, "b", "big", "up1", 0, 10)
	wantErr(t, err, ErrNoSuchUpload)

	// Abort frees every part.
	h.createUpload("b", "gone", "up2", "")
	h.putPart("b", "gone", "up2", 1, randomBytes(13, ChunkSize+5))
	h.putPart("b", "gone", "up2", 2, []byte("small"))
	before = countChunks(t, h.s)
	h.mustApply(AbortUploadCmd{Bucket: "b", Key: "gone", UploadID: "up2"})
	if got := countChunks(t, h.s); got != before-2 {
		t.Fatalf("chunks after abort = %d, want %d", got, before-2)
	}
	wantErr(t, h.apply(AbortUploadCmd{Bucket: "b", Key: "gone", UploadID: "up2"}).Err, ErrNoSuchUpload)
	wantErr(t, h.apply(h.putPartCmd("b", "gone", "up2", 1, []byte("x"))).Err, ErrNoSuchUpload)

	// Overwriting the completed object (unversioned) frees all its segments.
	h.put("b", "big", []byte("small now"))
	if got := countChunks(t, h.s); got != 0 {
		t.Fatalf("chunks after overwrite = %d, want 0", got)
	}
}

func TestStore_PartValidation(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.createUpload("b", "k", "u", "")
	for _, n := range []int{0, -1, MaxPartNumber + 1} {
		wantErr(t, h.apply(h.putPartCmd("b", "k", "u", n, []byte("x"))).Err, ErrInvalidArgument)
	}
	wantErr(t, h.apply(CreateUploadCmd{Bucket: "b", Key: "k", UploadID: "v", ChecksumAlgorithm: "MD4"}).Err, ErrInvalidArgument)
	wantErr(t, h.apply(CreateUploadCmd{Bucket: "b", Key: "k", UploadID: "u"}).Err, ErrInvalidArgument)
	wantErr(t, h.apply(CreateUploadCmd{Bucket: "x", Key: "k", UploadID: "u"}).Err, ErrNoSuchBucket)
	// A single small part is a valid object.
	h.putPart("b", "k", "u", 7, []byte("only"))
	res := h.complete("b", "k", "u", []CompletedPart{{Number: 7, ETag: md5hex([]byte("only"))}})
	if res.Err != nil || string(h.read(res.Version, 0, -1)) != "only" || res.Version.Checksum != nil {
		t.Fatalf("complete = %+v", res)
	}
}

func TestStore_BlobStaging(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.createBucket("b")
	body := randomBytes(21, 2*ChunkSize+100)

	// Incomplete blob: PutObject is refused and nothing is written.
	blob := h.nextBlob()
	chunk := func(i int, raw []byte) Command {
		enc, data := EncodeChunk(raw)
		return PutChunkCmd{Blob: blob, Index: uint32(i), Encoding: enc, RawSize: uint32(len(raw)), Data: data, Time: h.now()}
	}
	h.mustApply(chunk(0, body[:ChunkSize]))
	h.mustApply(chunk(0, body[:ChunkSize])) // retry: idempotent
	wantErr(t, h.apply(chunk(0, body[ChunkSize:2*ChunkSize])).Err, ErrInvalidArgument)
	h.mustApply(chunk(2, body[2*ChunkSize:]))
	put := PutObjectCmd{Bucket: "b", Key: "k", ID: h.nextID(), Size: int64(len(body)), Blob: blob, Chunks: 3}
	wantErr(t, h.apply(put).Err, ErrInvalidArgument)
	if _, err := h.get("b", "k", ""); err == nil {
		t.Fatal("refused put left a version")
	}
	staged, _ := h.s.StagedBlobs(ctx, h.now())
	if len(staged) != 1 || staged[0] != blob {
		t.Fatalf("staged = %x", staged)
	}
	h.mustApply(chunk(1, body[ChunkSize:2*ChunkSize]))
	v := h.mustApply(put).Version
	if staged, _ := h.s.StagedBlobs(ctx, h.now()); len(staged) != 0 {
		t.Fatalf("committed blob still staged: %x", staged)
	}
	// A referenced blob can neither be discarded nor written to, nor used twice.
	h.mustApply(DiscardBlobCmd{Blob: blob})
	wantErr(t, h.apply(chunk(3, []byte("more"))).Err, ErrInvalidArgument)
	put.ID = h.nextID()
	wantErr(t, h.apply(put).Err, ErrInvalidArgument)
	if !bytes.Equal(h.read(v, 0, -1), body) {
		t.Fatal("body damaged")
	}

	// Staged garbage: found by age, discarded.
	old, n, _ := h.stage(randomBytes(22, ChunkSize+1))
	if n != 2 {
		t.Fatalf("staged %d chunks", n)
	}
	cut := h.now()
	young, _, _ := h.stage(randomBytes(23, ChunkSize+1))
	staged, _ = h.s.StagedBlobs(ctx, cut)
	if len(staged) != 1 || staged[0] != old {
		t.Fatalf("staged before cut = %x, want %x", staged, old)
	}
	before := countChunks(t, h.s)
	h.mustApply(DiscardBlobCmd{Blob: old})
	if got := countChunks(t, h.s); got != before-2 {
		t.Fatalf("chunks after discard = %d, want %d", got, before-2)
	}
	staged, _ = h.s.StagedBlobs(ctx, h.now())
	if len(staged) != 1 || staged[0] != young {
		t.Fatalf("staged = %x", staged)
	}

	// Chunk validation.
	bad := []PutChunkCmd{
		{Blob: BlobID{}, RawSize: 1, Data: []byte("x")},
		{Blob: h.nextBlob(), RawSize: 2, Data: []byte("x")},
		{Blob: h.nextBlob(), RawSize: ChunkSize + 1, Data: make([]byte, ChunkSize+1)},
		{Blob: h.nextBlob(), Encoding: ChunkS2, RawSize: 5, Data: []byte("garbage")},
		{Blob: h.nextBlob(), Encoding: 9, RawSize: 1, Data: []byte("x")},
	}
	for i := range bad {
		if res := h.apply(bad[i]); !errorsIs(res.Err, ErrInvalidArgument) {
			t.Errorf("bad chunk %d: %v", i, res.Err)
		}
	}
	// A short chunk that is not the last one makes the blob unusable.
	b2 := h.nextBlob()
	h.mustApply(PutChunkCmd{Blob: b2, Index: 0, RawSize: 10, Data: make([]byte, 10)})
	h.mustApply(PutChunkCmd{Blob: b2, Index: 1, RawSize: ChunkSize, Data: make([]byte, ChunkSize)})
	res := h.apply(PutObjectCmd{Bucket: "b", Key: "s", ID: h.nextID(), Size: ChunkSize + 10, Blob: b2, Chunks: 2})
	wantErr(t, res.Err, ErrInvalidArgument)
}

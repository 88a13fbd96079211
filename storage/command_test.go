package storage

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

func sampleCommands() []Command {
	ts := time.Unix(1_700_000_000, 123456789).UTC()
	id := VersionID{Time: 1 << 40, Region: RegionCode("us-east-1"), Seq: 9}
	blob := BlobID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	meta := ObjectMeta{
		ContentType: "text/plain", ContentEncoding: "gzip", ContentDisposition: "inline", ContentLanguage: "en",
		CacheControl: "no-cache", Expires: "Wed, 21 Oct 2026 07:28:00 GMT", StorageClass: "STANDARD",
		UserMeta: map[string]string{"b": "2", "a": "1", "": "empty"}, Tags: []Tag{{"k", "v"}, {"k2", ""}},
	}
	cs := &Checksum{Algorithm: "CRC32", Value: "AAAAAA==", Type: ChecksumFullObject}
	return []Command{
		{Op: OpCreateBucket, CreateBucket: &CreateBucketCmd{Name: "b", Region: "us-east-1", Owner: "o", Time: ts}},
		{Op: OpCreateBucket, CreateBucket: &CreateBucketCmd{Name: "zero-time"}},
		{Op: OpDeleteBucket, DeleteBucket: &DeleteBucketCmd{Name: "b"}},
		{Op: OpSetVersioning, SetVersioning: &SetVersioningCmd{Bucket: "b", State: VersioningSuspended}},
		{Op: OpPutBucketConfig, PutBucketConfig: &PutBucketConfigCmd{Bucket: "b", Kind: ConfigPolicy, Data: []byte("{}")}},
		{Op: OpPutBucketConfig, PutBucketConfig: &PutBucketConfigCmd{Bucket: "b", Kind: ConfigPolicy, Data: []byte{}}},
		{Op: OpPutBucketConfig, PutBucketConfig: &PutBucketConfigCmd{Bucket: "b", Kind: ConfigPolicy}},
		{Op: OpPutChunk, PutChunk: &PutChunkCmd{Blob: blob, Index: 3, Encoding: ChunkS2, RawSize: ChunkSize, Data: []byte{0, 1, 2, 255}, Time: ts}},
		{Op: OpPutObject, PutObject: &PutObjectCmd{Bucket: "b", Key: "k\x00ey", ID: id, Time: ts, Size: 5, ETag: "e", Meta: meta,
			Checksum: cs, Owner: "o", Inline: []byte("hello"), ReplicationStatus: "PENDING"}},
		{Op: OpPutObject, PutObject: &PutObjectCmd{Bucket: "b", Key: "k", ID: id, Size: 3 << 20, Blob: blob, Chunks: 3}},
		{Op: OpDeleteObject, DeleteObject: &DeleteObjectCmd{Bucket: "b", Key: "k", VersionID: "null", MarkerID: id, Time: ts, Owner: "o"}},
		{Op: OpPutObjectTagging, PutObjectTagging: &PutObjectTaggingCmd{Bucket: "b", Key: "k", VersionID: id.String(), Tags: []Tag{{"a", "b"}}}},
		{Op: OpPutObjectTagging, PutObjectTagging: &PutObjectTaggingCmd{Bucket: "b", Key: "k", Tags: []Tag{}}},
		{Op: OpPutObjectTagging, PutObjectTagging: &PutObjectTaggingCmd{Bucket: "b", Key: "k"}},
		{Op: OpCreateUpload, CreateUpload: &CreateUploadCmd{Bucket: "b", Key: "k", UploadID: "u", Time: ts, Meta: meta, ChecksumAlgorithm: "SHA256", Owner: "o"}},
		{Op: OpPutPart, PutPart: &PutPartCmd{Bucket: "b", Key: "k", UploadID: "u", Number: 10000, Size: 1, ETag: "e", Checksum: cs, Time: ts, Inline: []byte("x")}},
		{Op: OpPutPart, PutPart: &PutPartCmd{Bucket: "b", Key: "k", UploadID: "u", Number: 1, Size: 1 << 20, Blob: blob, Chunks: 1}},
		{Op: OpCompleteUpload, CompleteUpload: &CompleteUploadCmd{Bucket: "b", Key: "k", UploadID: "u", ID: id, Time: ts,
			Parts: []CompletedPart{{1, `"e1"`, ""}, {2, "e2", "c2"}}}},
		{Op: OpAbortUpload, AbortUpload: &AbortUploadCmd{Bucket: "b", Key: "k", UploadID: "u"}},
		{Op: OpDiscardBlob, DiscardBlob: &DiscardBlobCmd{Blob: blob}},
		// Conditional writes: the optional trailing conditions block.
		{Op: OpPutObject, PutObject: &PutObjectCmd{Bucket: "b", Key: "k", ID: id, Time: ts, Size: 1, ETag: "e", Inline: []byte("x"),
			WriteConditions: WriteConditions{IfNoneMatch: true}}},
		{Op: OpPutObject, PutObject: &PutObjectCmd{Bucket: "b", Key: "k", ID: id, Size: 3 << 20, Blob: blob, Chunks: 3,
			ReplicationStatus: "PENDING", WriteConditions: WriteConditions{IfMatch: `"e1", W/"e2"`}}},
		{Op: OpPutObject, PutObject: &PutObjectCmd{Bucket: "b", Key: "k", ID: id, WriteConditions: WriteConditions{IfNoneMatch: true, IfMatch: "*"}}},
		{Op: OpCompleteUpload, CompleteUpload: &CompleteUploadCmd{Bucket: "b", Key: "k", UploadID: "u", ID: id, Time: ts,
			Parts: []CompletedPart{{1, "e1", ""}}, WriteConditions: WriteConditions{IfNoneMatch: true}}},
		{Op: OpCompleteUpload, CompleteUpload: &CompleteUploadCmd{Bucket: "b", Key: "k", UploadID: "u",
			WriteConditions: WriteConditions{IfMatch: "e"}}},
	}
}

// withoutConditions returns a copy of c with its write conditions cleared (c itself
// is left alone).
func withoutConditions(c Command) Command {
	switch {
	case c.PutObject != nil:
		x := *c.PutObject
		x.WriteConditions = WriteConditions{}
		c.PutObject = &x
	case c.CompleteUpload != nil:
		x := *c.CompleteUpload
		x.WriteConditions = WriteConditions{}
		c.CompleteUpload = &x
	}
	return c
}

func conditionsOf(c Command) WriteConditions {
	switch {
	case c.PutObject != nil:
		return c.PutObject.WriteConditions
	case c.CompleteUpload != nil:
		return c.CompleteUpload.WriteConditions
	}
	return WriteConditions{}
}

func TestCommand_MarshalRoundTrip(t *testing.T) {
	for _, c := range sampleCommands() {
		b, err := c.MarshalBinary()
		if err != nil {
			t.Fatalf("%v: %v", c.Op, err)
		}
		if b[0] != commandFormatV1 {
			t.Fatalf("%v: format byte %d", c.Op, b[0])
		}
		got, err := UnmarshalCommand(b)
		if err != nil {
			t.Fatalf("%v: %v", c.Op, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("%v: round trip\n got %#v\nwant %#v", c.Op, got, c)
		}
		// Every strict prefix is rejected (no silent truncation), except, for a
		// conditional write, the one that stops right before the optional
		// conditions block: that is the same write without conditions, which is
		// why commands always travel length-framed (see SCHEMA.md).
		base := -1
		if !conditionsOf(c).IsZero() {
			bb, err := withoutConditions(c).MarshalBinary()
			if err != nil || !bytes.HasPrefix(b, bb) {
				t.Fatalf("%v: conditions are not a trailing block: %v", c.Op, err)
			}
			base = len(bb)
		}
		for i := range b {
			got, err := UnmarshalCommand(b[:i])
			if err == nil && (i != base || !reflect.DeepEqual(got, withoutConditions(c))) {
				t.Fatalf("%v: prefix of %d/%d bytes accepted", c.Op, i, len(b))
			}
		}
		// Trailing garbage is rejected too.
		if _, err := UnmarshalCommand(append(slices.Clone(b), 0)); err == nil {
			t.Fatalf("%v: trailing byte accepted", c.Op)
		}
	}
	// Chunk data is carried as is, not inflated.
	data := randomBytes(1, 4096)
	b, _ := Command{Op: OpPutChunk, PutChunk: &PutChunkCmd{Data: data, RawSize: 4096}}.MarshalBinary()
	if len(b) > len(data)+40 || !bytes.Contains(b, data) {
		t.Fatalf("PutChunk of %d bytes marshals to %d", len(data), len(b))
	}
	// Inconsistent commands do not marshal.
	for _, c := range []Command{{Op: OpPutObject}, {Op: OpPutObject, DeleteBucket: &DeleteBucketCmd{}},
		{Op: OpDeleteBucket, DeleteBucket: &DeleteBucketCmd{}, CreateBucket: &CreateBucketCmd{}}, {Op: 200}} {
		if _, err := c.MarshalBinary(); err == nil {
			t.Fatalf("%+v marshalled", c)
		}
	}
	if _, err := UnmarshalCommand([]byte{9, 1}); !errorsIs(err, ErrUnsupportedFormatVersion) {
		t.Fatalf("unknown format: %v", err)
	}
}

func FuzzUnmarshalCommand(f *testing.F) {
	for _, c := range sampleCommands() {
		b, _ := c.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, byte(OpCompleteUpload), 1, 'b', 1, 'k', 1, 'u', 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := UnmarshalCommand(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to bytes that decode to the same command.
		b2, err := c.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded command does not marshal: %v", err)
		}
		c2, err := UnmarshalCommand(b2)
		if err != nil {
			t.Fatalf("re-marshalled command does not decode: %v", err)
		}
		b3, _ := c2.MarshalBinary()
		if !bytes.Equal(b2, b3) {
			t.Fatal("marshal is not stable")
		}
	})
}

func TestEscapedKeysSortLikeStrings(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte{0, 1, 'a', 'b', '/', 0xfe, 0xff}
	keys := []string{"", "a", "a\x00", "a\x00\x00", "a\x01", "ab", "\xff\xff"}
	for range 300 {
		n := r.IntN(5)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		keys = append(keys, string(b))
	}
	for _, a := range keys {
		ea := appendEscaped(nil, a)
		back, rest, ok := splitEscaped(ea)
		if !ok || back != a || len(rest) != 0 {
			t.Fatalf("splitEscaped(%q) = %q %v %v", a, back, rest, ok)
		}
		for _, b := range keys {
			eb := appendEscaped(nil, b)
			// Versions of a key stay between the key and the next key.
			va := versionKey(a, VersionID{Time: 5})
			if cmpStr(a, b) != bytes.Compare(ea, eb) || cmpStr(a, b) != bytes.Compare(va, versionKey(b, VersionID{Time: 9})) && a != b {
				t.Fatalf("order of %q vs %q not preserved", a, b)
			}
			if a < b && bytes.Compare(keyAfterAll(a), eb) > 0 {
				t.Fatalf("keyAfterAll(%q) skips %q", a, b)
			}
			if len(b) > len(a) && b[:len(a)] == a {
				if succ := successor(appendEscapedPrefix(nil, a)); succ != nil && bytes.Compare(eb, succ) >= 0 {
					t.Fatalf("successor of prefix %q not above %q", a, b)
				}
			}
		}
		if bytes.Compare(keyAfterAll(a), versionKey(a, VersionID{})) <= 0 {
			t.Fatalf("keyAfterAll(%q) is not after its versions", a)
		}
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func FuzzDecodeVersion(f *testing.F) {
	v := ObjectVersion{ID: VersionID{Time: 1}, Size: 3, ETag: "e", Meta: ObjectMeta{UserMeta: map[string]string{"a": "b"}},
		Checksum: &Checksum{"CRC32", "x", "FULL_OBJECT"}, PartSizes: []int64{1, 2}, body: []segment{{Blob: BlobID{1}, Chunks: 1, Size: 3}}}
	f.Add(versionKey("key", v.ID), encodeVersion(&v))
	f.Add([]byte{0, 0}, []byte{1})
	f.Fuzz(func(t *testing.T, k, val []byte) {
		got, err := decodeVersion("b", k, val)
		if err != nil {
			return
		}
		again, err := decodeVersion("b", versionKey(got.Key, got.ID), encodeVersion(&got))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("re-encoding changes the version: %v", err)
		}
	})
}

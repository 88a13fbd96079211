package storage

import (
	"bytes"
	"fmt"
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
		CreateBucketCmd{Name: "b", Region: "us-east-1", Owner: "o", Time: ts},
		CreateBucketCmd{Name: "zero-time"},
		DeleteBucketCmd{Name: "b"},
		SetVersioningCmd{Bucket: "b", State: VersioningSuspended},
		PutBucketConfigCmd{Bucket: "b", Kind: ConfigPolicy, Data: []byte("{}")},
		PutBucketConfigCmd{Bucket: "b", Kind: ConfigPolicy, Data: []byte{}},
		PutBucketConfigCmd{Bucket: "b", Kind: ConfigPolicy},
		PutChunkCmd{Blob: blob, Index: 3, Encoding: ChunkS2, RawSize: ChunkSize, Data: []byte{0, 1, 2, 255}, Time: ts},
		PutObjectCmd{Bucket: "b", Key: "k\x00ey", ID: id, Time: ts, Size: 5, ETag: "e", Meta: meta,
			Checksum: cs, Owner: "o", Inline: []byte("hello"), ReplicationStatus: "PENDING"},
		PutObjectCmd{Bucket: "b", Key: "k", ID: id, Size: 3 << 20, Blob: blob, Chunks: 3},
		DeleteObjectCmd{Bucket: "b", Key: "k", VersionID: "null", MarkerID: id, Time: ts, Owner: "o"},
		PutObjectTaggingCmd{Bucket: "b", Key: "k", VersionID: id.String(), Tags: []Tag{{"a", "b"}}},
		PutObjectTaggingCmd{Bucket: "b", Key: "k", Tags: []Tag{}},
		PutObjectTaggingCmd{Bucket: "b", Key: "k"},
		CreateUploadCmd{Bucket: "b", Key: "k", UploadID: "u", Time: ts, Meta: meta, ChecksumAlgorithm: "SHA256", Owner: "o"},
		PutPartCmd{Bucket: "b", Key: "k", UploadID: "u", Number: 10000, Size: 1, ETag: "e", Checksum: cs, Time: ts, Inline: []byte("x")},
		PutPartCmd{Bucket: "b", Key: "k", UploadID: "u", Number: 1, Size: 1 << 20, Blob: blob, Chunks: 1},
		CompleteUploadCmd{Bucket: "b", Key: "k", UploadID: "u", ID: id, Time: ts,
			Parts: []CompletedPart{{1, `"e1"`, ""}, {2, "e2", "c2"}}},
		AbortUploadCmd{Bucket: "b", Key: "k", UploadID: "u"},
		DiscardBlobCmd{Blob: blob},
		// Conditional writes: the optional trailing conditions block.
		PutObjectCmd{Bucket: "b", Key: "k", ID: id, Time: ts, Size: 1, ETag: "e", Inline: []byte("x"),
			WriteConditions: WriteConditions{IfNoneMatch: true}},
		PutObjectCmd{Bucket: "b", Key: "k", ID: id, Size: 3 << 20, Blob: blob, Chunks: 3,
			ReplicationStatus: "PENDING", WriteConditions: WriteConditions{IfMatch: `"e1", W/"e2"`}},
		PutObjectCmd{Bucket: "b", Key: "k", ID: id, WriteConditions: WriteConditions{IfNoneMatch: true, IfMatch: "*"}},
		CompleteUploadCmd{Bucket: "b", Key: "k", UploadID: "u", ID: id, Time: ts,
			Parts: []CompletedPart{{1, "e1", ""}}, WriteConditions: WriteConditions{IfNoneMatch: true}},
		CompleteUploadCmd{Bucket: "b", Key: "k", UploadID: "u",
			WriteConditions: WriteConditions{IfMatch: "e"}},
		SetRegionFormatCmd{Format: Format2},
		NoopCmd{},
		ReserveBucketCmd{Bucket: "b", Region: "us-east-1", Owner: "o", At: ts},
		ReserveBucketCmd{Bucket: "zero-time", Region: "r"},
		ReleaseBucketCmd{Bucket: "b", Region: "us-east-1", CreatedBefore: ts},
		ReleaseBucketCmd{Bucket: "b", Region: "us-east-1"},
		ApplyReplicaCmd{Bucket: "b", Key: "k\x00ey", ID: id, Null: true, Time: ts, Size: 5, ETag: "e-2", Meta: meta,
			Checksum: cs, PartSizes: []int64{2, 3}, Owner: "o", Inline: []byte("hello")},
		ApplyReplicaCmd{Bucket: "b", Key: "k", ID: id, Size: 3 << 20, Blob: blob, Chunks: 3},
		ApplyReplicaCmd{Bucket: "b", Key: "k", ID: id, Size: 3<<20 + 7, Blob: blob, Chunks: 1, PartSizes: []int64{1<<20 + 3, 2<<20 + 4},
			MoreBlobs: []BlobRun{{Blob: BlobID{9}, Chunks: 1, Size: 3}, {Blob: BlobID{8}, Chunks: 2, Size: 2<<20 + 4}}},
		ApplyReplicaCmd{Bucket: "b", Key: "k", ID: id, DeleteMarker: true, Time: ts, Owner: "o"},
		ApplyReplicaCmd{Bucket: "b", Key: "k", ID: id, Inline: []byte{}},
		TrimOutboxCmd{Through: 1<<64 - 1},
		TrimOutboxCmd{},
		SetReplicationMarkCmd{Dest: "eu-west-1", Through: 9, Failed: []ReplicationFailure{{Seq: 3, Reason: "DstBucketNotFound"}, {Seq: 9}}},
		SetReplicationMarkCmd{Dest: "eu-west-1"},
		PutMRAPCmd{MRAP: MRAP{Account: "123456789012", Name: "n", Alias: "m0.mrap", Created: ts, Status: MRAPCreating,
			PublicAccessBlock: MRAPPublicAccessBlock{BlockPublicAcls: true, RestrictPublicBuckets: true},
			Regions:           []MRAPRegion{{Region: "r1", Bucket: "b1", TrafficDial: 100}, {Region: "r2", Bucket: "b2", BucketAccountID: "a", TrafficDial: 0}},
			Policy:            "{}", ProposedPolicy: `{"x":1}`}, TokenARN: "arn:t", ClientToken: "c"},
		PutMRAPCmd{MRAP: MRAP{Account: "a", Name: "n"}},
		DeleteMRAPCmd{Account: "a", Name: "n", TokenARN: "arn:t", ClientToken: "c", At: ts},
		PutMRAPPolicyCmd{Account: "a", Name: "n", Policy: "{}", TokenARN: "arn:t", ClientToken: "c"},
		CompleteMRAPOperationCmd{TokenARN: "arn:t", ErrorCode: "InternalError", ErrorMessage: "m"},
		SubmitMRAPRoutesCmd{Account: "a", Alias: "m0.mrap", Routes: []MRAPRoute{{Bucket: "b1", TrafficDial: 0}, {Region: "r2", TrafficDial: 100}}},
		SubmitMRAPRoutesCmd{Account: "a", Alias: "m0.mrap"},
	}
}

// withoutConditions returns a copy of c with its write conditions cleared, for the
// operations that have them (c itself is left alone).
func withoutConditions(c Command) Command {
	v := reflect.New(reflect.TypeOf(c)).Elem()
	v.Set(reflect.ValueOf(c))
	if f := v.FieldByName("WriteConditions"); f.IsValid() {
		f.Set(reflect.ValueOf(WriteConditions{}))
	}
	return v.Interface().(Command)
}

func conditionsOf(c Command) WriteConditions {
	if f := reflect.ValueOf(c).FieldByName("WriteConditions"); f.IsValid() {
		return f.Interface().(WriteConditions)
	}
	return WriteConditions{}
}

// commandType is the Go type the registry decodes op into.
func commandType(op Op) reflect.Type {
	s, _ := specOf(op)
	return reflect.TypeOf(s.decode(&decoder{}))
}

// randomCommand fills every field of op's type with random values, the way a
// property test would: the registry alone decides which operations are tested, so
// an operation added to it is round-tripped and fuzzed without a line of test.
func randomCommand(r *rand.Rand, op Op) Command {
	v := reflect.New(commandType(op)).Elem()
	fillRandom(r, v)
	return v.Interface().(Command)
}

func fillRandom(r *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		b := make([]byte, r.IntN(9))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		v.SetString(string(b))
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Int32:
		// Commands carry ints as 32-bit values (decoder.intVarint).
		v.SetInt(int64(int32(r.Uint32())))
	case reflect.Int64:
		v.SetInt(int64(r.Uint64()))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(r.Uint64() & (1<<(8*v.Type().Size()) - 1))
	case reflect.Array:
		for i := range v.Len() {
			fillRandom(r, v.Index(i))
		}
	case reflect.Slice:
		if r.IntN(3) == 0 {
			return // nil
		}
		n := 1 + r.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range s.Len() {
			fillRandom(r, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if r.IntN(3) == 0 {
			return // nil: an empty map decodes as nil
		}
		m := reflect.MakeMap(v.Type())
		for range 1 + r.IntN(3) {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillRandom(r, k)
			fillRandom(r, e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		if r.IntN(3) == 0 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fillRandom(r, p.Elem())
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if r.IntN(4) > 0 {
				v.Set(reflect.ValueOf(time.Unix(0, r.Int64()).UTC()))
			}
			return
		}
		for i := range v.NumField() {
			fillRandom(r, v.Field(i))
		}
	default:
		panic(fmt.Sprintf("fillRandom: add %v", v.Type()))
	}
}

// emptyToNil returns c with every empty byte slice made nil.
func emptyToNil(c Command) Command {
	v := reflect.New(reflect.TypeOf(c)).Elem()
	v.Set(reflect.ValueOf(c))
	for i := range v.NumField() {
		if f := v.Field(i); f.Type() == reflect.TypeFor[[]byte]() && f.Len() == 0 {
			f.SetZero()
		}
	}
	return v.Interface().(Command)
}

// checkRoundTrip checks that c marshals, decodes to itself, and that no strict
// prefix and no longer input decodes to anything else.
func checkRoundTrip(t *testing.T, c Command) {
	t.Helper()
	b, err := MarshalCommand(c)
	if err != nil {
		t.Fatalf("%v: %v", c.Op(), err)
	}
	if b[0] != commandFormatV1 || Op(b[1]) != c.Op() {
		t.Fatalf("%v: header % x", c.Op(), b[:2])
	}
	got, err := UnmarshalCommand(b)
	if err != nil {
		t.Fatalf("%v: %v", c.Op(), err)
	}
	// A plain bytes field decodes nil as empty; re-encoding tells the two apart
	// wherever the encoding does (optBytes: nil deletes).
	if again, _ := MarshalCommand(got); !bytes.Equal(again, b) || !reflect.DeepEqual(emptyToNil(got), emptyToNil(c)) {
		t.Fatalf("%v: round trip\n got %#v\nwant %#v", c.Op(), got, c)
	}
	// The shared decoding gives the same command; the copying one owns its bytes.
	shared, err := UnmarshalCommandShared(slices.Clone(b))
	if err != nil || !reflect.DeepEqual(shared, got) {
		t.Fatalf("%v: shared decoding differs: %v\n got %#v\nwant %#v", c.Op(), err, shared, got)
	}
	scribbled := slices.Clone(b)
	owned, _ := UnmarshalCommand(scribbled)
	for i := 2; i < len(scribbled); i++ {
		scribbled[i] ^= 0xff
	}
	if !reflect.DeepEqual(owned, got) {
		t.Fatalf("%v: a command decoded by UnmarshalCommand changed with its input", c.Op())
	}
	// Every strict prefix is rejected (no silent truncation), except, for a
	// conditional write, the one that stops right before the optional conditions
	// block: that is the same write without conditions, which is why commands
	// always travel length-framed (see SCHEMA.md).
	base := -1
	if !conditionsOf(c).IsZero() {
		bb, err := MarshalCommand(withoutConditions(c))
		if err != nil || !bytes.HasPrefix(b, bb) {
			t.Fatalf("%v: conditions are not a trailing block: %v", c.Op(), err)
		}
		base = len(bb)
	}
	for i := range b {
		got, err := UnmarshalCommand(b[:i])
		if err == nil && (i != base || !reflect.DeepEqual(got, withoutConditions(c))) {
			t.Fatalf("%v: prefix of %d/%d bytes accepted", c.Op(), i, len(b))
		}
	}
	if _, err := UnmarshalCommand(append(slices.Clone(b), 0)); err == nil {
		t.Fatalf("%v: trailing byte accepted", c.Op())
	}
}

func TestCommand_MarshalRoundTrip(t *testing.T) {
	// The hand-written samples hold edge cases; TestRegistry_EveryOpRoundTrips
	// covers every registered operation with random values.
	for _, c := range sampleCommands() {
		checkRoundTrip(t, c)
	}
	// Chunk data is carried as is, not inflated.
	data := randomBytes(1, 4096)
	b, _ := MarshalCommand(PutChunkCmd{Data: data, RawSize: 4096})
	if len(b) > len(data)+40 || !bytes.Contains(b, data) {
		t.Fatalf("PutChunk of %d bytes marshals to %d", len(data), len(b))
	}
	if _, err := MarshalCommand(nil); !errorsIs(err, ErrInvalidArgument) {
		t.Fatalf("nil command marshalled: %v", err)
	}
	if _, err := UnmarshalCommand([]byte{9, 1}); !errorsIs(err, ErrUnsupportedFormatVersion) {
		t.Fatalf("unknown format: %v", err)
	}
	for _, code := range []byte{0, byte(len(registry)), 200, 255} {
		if _, err := UnmarshalCommand([]byte{commandFormatV1, code}); !errorsIs(err, ErrUnknownOp) {
			t.Fatalf("op code %d: %v, want ErrUnknownOp", code, err)
		}
	}
}

// TestRegistry_EveryOpRoundTrips round-trips random values of every registered
// operation, and checks what the registry promises of each.
func TestRegistry_EveryOpRoundTrips(t *testing.T) {
	ops := registeredOps()
	if len(ops) < 15 {
		t.Fatalf("registry lists %d operations", len(ops))
	}
	r := rand.New(rand.NewPCG(11, 12))
	for _, op := range ops {
		s, _ := specOf(op)
		if op.String() != s.name || s.since < Format1 || s.since > LatestFormat {
			t.Fatalf("%d: name %q, since %d", op, op.String(), s.since)
		}
		if commandType(op).Kind() != reflect.Struct {
			t.Fatalf("%v: decodes to %v, want a value type", op, commandType(op))
		}
		for range 200 {
			c := randomCommand(r, op)
			if c.Op() != op {
				t.Fatalf("registry slot %d holds %v", op, c.Op())
			}
			checkRoundTrip(t, c)
		}
	}
}

func FuzzUnmarshalCommand(f *testing.F) {
	for _, c := range sampleCommands() {
		b, _ := MarshalCommand(c)
		f.Add(b)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, op := range registeredOps() {
		b, _ := MarshalCommand(randomCommand(r, op))
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
		b2, err := MarshalCommand(c)
		if err != nil {
			t.Fatalf("decoded command does not marshal: %v", err)
		}
		c2, err := UnmarshalCommand(b2)
		if err != nil {
			t.Fatalf("re-marshalled command does not decode: %v", err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatal("decode(encode(c)) differs from c")
		}
		b3, _ := MarshalCommand(c2)
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

// registeredOps lists the registered operations in code order.
func registeredOps() []Op {
	var out []Op
	for i := range registry {
		if registry[i].decode != nil {
			out = append(out, Op(i))
		}
	}
	return out
}

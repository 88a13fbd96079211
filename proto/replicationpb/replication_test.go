package replicationpb_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/pangea-s3/pangea/proto/replicationpb"
	"github.com/pangea-s3/pangea/storage"
)

// testServer is how an implementation embeds the generated server: by value, so
// methods it does not define answer UNIMPLEMENTED.
type testServer struct {
	replicationpb.UnimplementedReplicationServer
}

var _ replicationpb.ReplicationServer = testServer{}

func TestServerEmbedsUnimplemented(t *testing.T) {
	s := grpc.NewServer()
	defer s.Stop()
	// Panics if the embedding is unusable (e.g. a nil pointer embedding).
	replicationpb.RegisterReplicationServer(s, testServer{})

	_, err := testServer{}.Status(context.Background(), &replicationpb.StatusRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("Status of the embedded server: %v, want UNIMPLEMENTED", err)
	}
	if err := (testServer{}).Ship(nil); status.Code(err) != codes.Unimplemented {
		t.Fatalf("Ship of the embedded server: %v, want UNIMPLEMENTED", err)
	}
}

// wireEncoding maps a storage chunk encoding to the protocol's (offset by one).
func wireEncoding(e storage.ChunkEncoding) replicationpb.ChunkEncoding {
	return replicationpb.ChunkEncoding(e) + 1
}

func TestChunkEncodingMirrorsStorage(t *testing.T) {
	if got := wireEncoding(storage.ChunkRaw); got != replicationpb.ChunkEncoding_CHUNK_ENCODING_RAW {
		t.Errorf("storage.ChunkRaw maps to %v", got)
	}
	if got := wireEncoding(storage.ChunkS2); got != replicationpb.ChunkEncoding_CHUNK_ENCODING_S2 {
		t.Errorf("storage.ChunkS2 maps to %v", got)
	}
}

// versionIDBytes is the wire form of id: storage's exported 16-byte codec.
func versionIDBytes(id storage.VersionID) []byte {
	b := id.Bytes()
	return b[:]
}

// TestVersionIDLayout checks storage's 16-byte codec against the layout
// replication.proto documents (built by hand here) and against storage's text
// form, which is those 16 bytes in lower-case unpadded base32hex.
func TestVersionIDLayout(t *testing.T) {
	enc := base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)
	ids := []storage.VersionID{
		{Time: 1, Region: 2, Seq: 3},
		{Time: 0x0123456789abcdef, Region: storage.RegionCode("eu-west-1"), Seq: 0xfedcba98},
	}
	for _, id := range ids {
		doc := make([]byte, 16)
		binary.BigEndian.PutUint64(doc[0:8], id.Time)
		binary.BigEndian.PutUint32(doc[8:12], id.Region)
		binary.BigEndian.PutUint32(doc[12:16], id.Seq)
		if got := versionIDBytes(id); !bytes.Equal(got, doc) {
			t.Errorf("%+v: storage encodes %x, the documented layout is %x", id, got, doc)
		}
		if got := enc.EncodeToString(doc); got != id.String() {
			t.Errorf("%+v: documented bytes encode to %s, storage says %s", id, got, id.String())
		}
		if back, err := storage.VersionIDFromBytes(doc); err != nil || back != id {
			t.Errorf("%+v: VersionIDFromBytes(%x) = %+v, %v", id, doc, back, err)
		}
	}
	a, b := versionIDBytes(ids[0]), versionIDBytes(ids[1])
	if bytes.Compare(a, b) != ids[0].Compare(ids[1]) {
		t.Errorf("byte order of %x and %x differs from the IDs' order", a, b)
	}
}

// chunked splits body into storage-sized chunks encoded as storage would store
// them.
func chunked(seq uint64, body []byte) []*replicationpb.Entry {
	var entries []*replicationpb.Entry
	for i := 0; len(body) > 0; i++ {
		raw := body[:min(len(body), storage.ChunkSize)]
		body = body[len(raw):]
		enc, data := storage.EncodeChunk(raw)
		entries = append(entries, &replicationpb.Entry{Entry: &replicationpb.Entry_Chunk{Chunk: &replicationpb.Chunk{
			OutboxSeq: seq,
			Index:     uint32(i),
			Encoding:  wireEncoding(enc),
			RawSize:   uint32(len(raw)),
			Data:      bytes.Clone(data),
		}}})
	}
	return entries
}

func TestShipRequestRoundTrip(t *testing.T) {
	// A compressible first chunk (stored S2) and a random, short, raw second one.
	body := bytes.Repeat([]byte("pangea replicates "), storage.ChunkSize/18+1)[:storage.ChunkSize]
	tail := make([]byte, 3000)
	for i := range tail {
		tail[i] = byte(rand.Uint32())
	}
	body = append(body, tail...)

	id := storage.VersionID{Time: 42 << 16, Region: storage.RegionCode("us-east-1"), Seq: 9}
	v := &replicationpb.Version{
		OutboxSeq:        12,
		Bucket:           "dst",
		Key:              "photos/2026/cat.jpg",
		VersionId:        versionIDBytes(id),
		ModTimeUnixNanos: time.Date(2026, 12, 7, 22, 0, 0, 123456789, time.UTC).UnixNano(),
		Size:             int64(len(body)),
		Etag:             "9b2cf535f27731c974343645a3985328",
		Meta: &replicationpb.Meta{
			ContentType:     "image/jpeg",
			ContentEncoding: "identity",
			CacheControl:    "max-age=60",
			UserMeta:        map[string]string{"camera": "x100", "album": "cats"},
			Tags:            []*replicationpb.Tag{{Key: "k", Value: "v"}, {Key: "a", Value: ""}},
			StorageClass:    "STANDARD",
		},
		Checksum:     &replicationpb.Checksum{Algorithm: "CRC32C", Value: "yZRlqg==", Type: "FULL_OBJECT"},
		Owner:        "owner-id",
		ChunkCount:   2,
		SourceBucket: "src",
		RuleId:       "rule-1",
	}
	entries := append([]*replicationpb.Entry{{Entry: &replicationpb.Entry_Version{Version: v}}}, chunked(12, body)...)
	if len(entries) != 3 {
		t.Fatalf("%d entries, want a version and 2 chunks", len(entries))
	}
	if e := entries[1].GetChunk().GetEncoding(); e != replicationpb.ChunkEncoding_CHUNK_ENCODING_S2 {
		t.Fatalf("first chunk encoded %v, want S2", e)
	}
	if e := entries[2].GetChunk().GetEncoding(); e != replicationpb.ChunkEncoding_CHUNK_ENCODING_RAW {
		t.Fatalf("second chunk encoded %v, want RAW", e)
	}
	req := &replicationpb.ShipRequest{Msg: &replicationpb.ShipRequest_Batch{Batch: &replicationpb.Batch{
		BatchSeq: 7, Entries: entries, ThroughSeq: 15,
	}}}

	wire, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var got replicationpb.ShipRequest
	if err := proto.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(req, &got) {
		t.Fatal("ShipRequest changed in a Marshal/Unmarshal round trip")
	}

	// The receiver's view: a version header, then its chunks, decoded as storage does.
	es := got.GetBatch().GetEntries()
	hdr := es[0].GetVersion()
	if hdr.GetKey() != v.Key || !bytes.Equal(hdr.GetVersionId(), v.VersionId) || hdr.GetMeta().GetUserMeta()["camera"] != "x100" {
		t.Fatalf("header after round trip: %v", hdr)
	}
	var rebuilt []byte
	for i, e := range es[1:] {
		c := e.GetChunk()
		if c == nil || c.GetIndex() != uint32(i) || c.GetOutboxSeq() != hdr.GetOutboxSeq() {
			t.Fatalf("entry %d: %v, want chunk %d of seq %d", i+1, e, i, hdr.GetOutboxSeq())
		}
		raw, err := storage.DecodeChunk(storage.ChunkEncoding(c.GetEncoding()-1), c.GetData())
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) != int(c.GetRawSize()) {
			t.Fatalf("chunk %d decodes to %d bytes, raw_size says %d", i, len(raw), c.GetRawSize())
		}
		rebuilt = append(rebuilt, raw...)
	}
	if int64(len(rebuilt)) != hdr.GetSize() || !bytes.Equal(rebuilt, body) {
		t.Fatalf("body after round trip: %d bytes, want %d", len(rebuilt), len(body))
	}
}

// TestFullChunkFitsMinimumBatch checks the bound replication.proto promises: a
// full raw chunk with a heavily annotated version header fits in 2 MiB, the least
// max_batch_bytes a destination may ask for.
func TestFullChunkFitsMinimumBatch(t *testing.T) {
	meta := &replicationpb.Meta{UserMeta: map[string]string{}}
	for i := range 10 {
		meta.Tags = append(meta.Tags, &replicationpb.Tag{Key: strings.Repeat("k", 128), Value: strings.Repeat("v", 256)})
		meta.UserMeta[fmt.Sprint("m", i)] = strings.Repeat("x", 200) // S3 allows 2 KiB in all
	}
	parts := make([]int64, 10000)
	for i := range parts {
		parts[i] = 5 << 30
	}
	v := &replicationpb.Version{
		OutboxSeq: 1 << 60, Bucket: strings.Repeat("b", 63), Key: strings.Repeat("k", 1024),
		VersionId: make([]byte, 16), Size: 5 << 40, Meta: meta, PartSizes: parts, ChunkCount: 1 << 22,
	}
	req := &replicationpb.ShipRequest{Msg: &replicationpb.ShipRequest_Batch{Batch: &replicationpb.Batch{
		BatchSeq: 1 << 40, ThroughSeq: 1 << 60,
		Entries: []*replicationpb.Entry{
			{Entry: &replicationpb.Entry_Version{Version: v}},
			{Entry: &replicationpb.Entry_Chunk{Chunk: &replicationpb.Chunk{
				OutboxSeq: 1 << 60, Index: 1 << 22, Encoding: replicationpb.ChunkEncoding_CHUNK_ENCODING_RAW,
				RawSize: storage.ChunkSize, Data: make([]byte, storage.ChunkSize),
			}}},
		},
	}}}
	if n := proto.Size(req); n > 2<<20 {
		t.Fatalf("a full chunk and its header encode to %d bytes, over 2 MiB", n)
	}
}

package node

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/pangea-s3/pangea/proto/regionpb"
	"github.com/pangea-s3/pangea/storage"
)

func sampleCommands() []storage.Command {
	t := time.Unix(1700000000, 5).UTC()
	return []storage.Command{
		cmdCreateBucket("b", "us-east-1", "o", t),
		cmdPutChunk(storage.BlobID{1, 2}, 3, storage.ChunkRaw, 4, []byte("data"), t),
		cmdPutObject(storage.PutObjectInput{Bucket: "b", Key: "k", Owner: "o", Meta: storage.ObjectMeta{ContentType: "text/plain", UserMeta: map[string]string{"a": "1"}}},
			storage.VersionID{Time: 99, Region: 7, Seq: 1}, t, stagedBody{size: 2, etag: "e", inline: []byte("hi")}),
		cmdDeleteObject("b", "k", "", "o", storage.VersionID{}, time.Time{}),
		cmdDiscardBlob(storage.BlobID{9}),
	}
}

func TestSubmission_RoundTrip(t *testing.T) {
	for _, cmds := range [][]storage.Command{nil, sampleCommands()} {
		b, err := encodeSubmission(cmds)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeSubmission(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(cmds) {
			t.Fatalf("%d commands, want %d", len(got), len(cmds))
		}
		for i := range cmds {
			want, _ := storage.MarshalCommand(cmds[i])
			again, _ := storage.MarshalCommand(got[i])
			if string(want) != string(again) {
				t.Fatalf("command %d changed in the round trip", i)
			}
		}
	}
	// Malformed entries fail cleanly.
	good, _ := encodeSubmission(sampleCommands())
	for _, bad := range [][]byte{nil, {2}, {1}, {1, 5}, good[:len(good)-1], append(append([]byte(nil), good...), 0)} {
		if _, err := decodeSubmission(bad); err == nil {
			t.Errorf("decodeSubmission(%x) accepted", bad)
		}
	}
}

func FuzzDecodeSubmission(f *testing.F) {
	good, _ := encodeSubmission(sampleCommands())
	empty, _ := encodeSubmission(nil)
	f.Add(good)
	f.Add(empty)
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		cmds, err := decodeSubmission(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes and decodes to the same commands.
		again, err := encodeSubmission(cmds)
		if err != nil {
			t.Fatalf("decoded commands do not encode: %v", err)
		}
		cmds2, err := decodeSubmission(again)
		if err != nil || len(cmds2) != len(cmds) {
			t.Fatalf("re-encoded submission: %v", err)
		}
	})
}

// TestErrorCodes_BothWays checks every sentinel survives the wire: the code table
// maps it to a code and back to the same sentinel, with the message kept.
func TestErrorCodes_BothWays(t *testing.T) {
	seen := map[regionpb.ErrorCode]bool{}
	for _, ec := range errorCodes {
		if seen[ec.code] {
			t.Fatalf("code %v listed twice", ec.code)
		}
		seen[ec.code] = true
		err := fmt.Errorf("put object: %w: detail", ec.err)
		pe := errorToPB(err)
		if pe.GetCode() != ec.code || pe.GetMessage() != err.Error() {
			t.Errorf("%v: encoded as %v %q", ec.err, pe.GetCode(), pe.GetMessage())
		}
		back := errorFromPB(pe)
		if !errors.Is(back, ec.err) || back.Error() != err.Error() {
			t.Errorf("%v: decoded as %v (%T)", ec.err, back, back)
		}
	}
	// Every code of the enum except UNSPECIFIED has a sentinel.
	for code := range regionpb.ErrorCode_name {
		if c := regionpb.ErrorCode(code); c != regionpb.ErrorCode_ERROR_CODE_UNSPECIFIED && !seen[c] {
			t.Errorf("wire code %v has no sentinel", c)
		}
	}
	// An error without a sentinel keeps its text and matches none.
	back := errorFromPB(errorToPB(errors.New("disk on fire")))
	if back.Error() != "disk on fire" || errors.Is(back, storage.ErrInvalidArgument) {
		t.Errorf("plain error: %v", back)
	}
	// Retryable outcomes stay retryable across the wire, and an unknown outcome
	// stays unknown while nothing-happened stays known.
	var re *RetryableError
	if err := errorFromPB(errorToPB(unknownOutcome(raft.ErrLeadershipLost))); !errors.As(err, &re) || !re.Retryable() || !re.UnknownOutcome() || !errors.Is(err, ErrUnknownOutcome) {
		t.Errorf("unknown outcome decoded as %v (%T)", err, err)
	}
	for _, sentinel := range []error{ErrNoLeader, ErrClosed} {
		if err := errorFromPB(errorToPB(unavailable(sentinel, nil))); !errors.As(err, &re) || !re.Retryable() || re.UnknownOutcome() || !errors.Is(err, sentinel) {
			t.Errorf("%v decoded as %v (%T)", sentinel, err, err)
		}
	}
	if errorToPB(nil) != nil || errorFromPB(nil) != nil {
		t.Error("nil error not kept nil")
	}
}

func TestResults_RoundTripEveryField(t *testing.T) {
	mod := time.Date(2030, 1, 2, 3, 4, 5, 6000000, time.UTC)
	cs := &storage.Checksum{Algorithm: "CRC32", Value: "AAAAAA==", Type: "FULL_OBJECT"}
	meta := storage.ObjectMeta{
		ContentType: "a", ContentEncoding: "b", ContentDisposition: "c", ContentLanguage: "d", CacheControl: "e",
		Expires: "f", UserMeta: map[string]string{"x": "1", "y": "2"}, Tags: []storage.Tag{{Key: "t", Value: "v"}}, StorageClass: "STANDARD",
	}
	cases := []storage.Result{
		{},
		{Err: fmt.Errorf("put object: %w", storage.ErrNoSuchBucket)},
		{Version: storage.ObjectVersion{
			Bucket: "b", Key: "k", ID: storage.VersionID{Time: 1 << 40, Region: 3, Seq: 9}, IsNull: true, IsLatest: true,
			ModTime: mod, Size: 12, ETag: "abc-2", Meta: meta, Checksum: cs, PartSizes: []int64{5, 7}, Owner: "o", ReplicationStatus: "PENDING",
		}},
		{Version: storage.ObjectVersion{Bucket: "b", Key: "k", DeleteMarker: true, ModTime: mod}, Delete: storage.DeleteResult{VersionID: "v", DeleteMarker: true}},
		{Delete: storage.DeleteResult{VersionID: "null"}},
		{Part: storage.Part{Number: 3, Size: 5 << 20, ETag: "e", Checksum: cs, ModTime: mod}},
		{Upload: storage.MultipartUpload{Bucket: "b", Key: "k", UploadID: "u", Initiated: mod, Meta: meta, ChecksumAlgorithm: "SHA256", Owner: "o"}},
		{VersionID: "null"},
	}
	for i, want := range cases {
		// Through the real protobuf encoding, as over gRPC.
		b, err := proto.Marshal(&regionpb.Results{Results: resultsToPB([]storage.Result{want})})
		if err != nil {
			t.Fatal(err)
		}
		var msg regionpb.Results
		if err := proto.Unmarshal(b, &msg); err != nil {
			t.Fatal(err)
		}
		got := resultsFromPB(msg.GetResults())[0]
		if (got.Err == nil) != (want.Err == nil) || (want.Err != nil && (got.Err.Error() != want.Err.Error() || !errors.Is(got.Err, storage.ErrNoSuchBucket))) {
			t.Fatalf("case %d: err %v, want %v", i, got.Err, want.Err)
		}
		got.Err, want.Err = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
}

func FuzzResultsFromPB(f *testing.F) {
	b, _ := proto.Marshal(&regionpb.Results{Results: resultsToPB([]storage.Result{
		{Err: storage.ErrNoSuchKey, VersionID: "x"},
		{Version: storage.ObjectVersion{Bucket: "b", Key: "k", Size: 3, Meta: storage.ObjectMeta{UserMeta: map[string]string{"a": "b"}}}},
		{Part: storage.Part{Number: 1}, Upload: storage.MultipartUpload{UploadID: "u"}},
	})})
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var msg regionpb.Results
		if proto.Unmarshal(b, &msg) != nil {
			return
		}
		// Any message a peer could send decodes without panicking.
		_ = resultsFromPB(msg.GetResults())
		_ = errorFromPB(msg.GetError())
	})
}

func TestApplyError_Classification(t *testing.T) {
	cases := []struct {
		in      error
		unknown bool
		retry   error
	}{
		{raft.ErrNotLeader, false, errNotLeader},
		{raft.ErrEnqueueTimeout, false, ErrNoLeader},
		{raft.ErrLeadershipLost, true, ErrUnknownOutcome},
		{raft.ErrRaftShutdown, true, ErrUnknownOutcome},
		{errors.New("something else"), true, ErrUnknownOutcome},
	}
	for _, tc := range cases {
		got := applyError(tc.in)
		if !errors.Is(got, tc.retry) {
			t.Errorf("%v: classified %v, want %v", tc.in, got, tc.retry)
		}
		var re *RetryableError
		if isRE := errors.As(got, &re); tc.retry != errNotLeader && (!isRE || re.Unknown != tc.unknown || re.UnknownOutcome() != tc.unknown || !re.Retryable()) {
			t.Errorf("%v: %#v, want a RetryableError with Unknown=%v", tc.in, got, tc.unknown)
		}
	}
}

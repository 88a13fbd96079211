package storage

import (
	"context"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCommand_UnconditionalEncodingUnchanged pins the encoding of PutObject and
// CompleteUpload without conditions to the bytes the codec produced before write
// conditions existed: raft logs written then must decode, and new ones must be the
// same bytes.
func TestCommand_UnconditionalEncodingUnchanged(t *testing.T) {
	samples := sampleCommands()
	golden := []struct {
		index int
		op    Op
		hex   string
	}{
		{8, OpPutObject, "01060162046b0065790000010000000000e3a4b14700000009aab4aed8c7bfce972f0a01650a746578742f706c61696e04677a697006696e6c696e6502656e086e6f2d63616368651d5765642c203231204f637420323032362030373a32383a303020474d54085354414e44415244030005656d707479016101310162013202016b0176026b320001054352433332084141414141413d3d0b46554c4c5f4f424a454354016f0000000000000000000000000000000000010568656c6c6f0750454e44494e47"},
		{9, OpPutObject, "01060162016b0000010000000000e3a4b14700000009ffffffffffffffffff01808080030000000000000000000000000102030405060708090a0b0c0d0e0f10030000"},
		{17, OpCompleteUpload, "010b0162016b01750202042265312200040265320263320000010000000000e3a4b14700000009aab4aed8c7bfce972f"},
	}
	for _, g := range golden {
		c := samples[g.index]
		if c.Op() != g.op || !conditionsOf(c).IsZero() {
			t.Fatalf("sample %d is %v with conditions %+v: the golden table is stale", g.index, c.Op(), conditionsOf(c))
		}
		b, err := MarshalCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != g.hex {
			t.Errorf("%v (sample %d) encodes as\n%s\nwant\n%s", c.Op(), g.index, got, g.hex)
		}
		want, _ := hex.DecodeString(g.hex)
		dec, err := UnmarshalCommand(want)
		if err != nil || !conditionsOf(dec).IsZero() {
			t.Errorf("%v: golden bytes decode as %+v, %v", c.Op(), conditionsOf(dec), err)
		}
	}
}

// TestCommand_ConditionsBlock checks the exact bytes of the conditions block and
// that only its canonical form decodes.
func TestCommand_ConditionsBlock(t *testing.T) {
	base := PutObjectCmd{Bucket: "b", Key: "k", ID: VersionID{Time: 1}}
	plain, err := MarshalCommand(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cond  WriteConditions
		block []byte
	}{
		{WriteConditions{IfNoneMatch: true}, []byte{0x01}},
		{WriteConditions{IfMatch: `"ab"`}, append([]byte{0x02, 4}, `"ab"`...)},
		{WriteConditions{IfNoneMatch: true, IfMatch: "*"}, []byte{0x03, 1, '*'}},
	} {
		c := base
		c.WriteConditions = tc.cond
		b, err := MarshalCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		if want := append(slices.Clone(plain), tc.block...); !slices.Equal(b, want) {
			t.Errorf("%+v: encodes as %x, want %x", tc.cond, b, want)
		}
		got, err := UnmarshalCommand(b)
		if err != nil || conditionsOf(got) != tc.cond {
			t.Errorf("%+v: decodes as %+v, %v", tc.cond, got, err)
		}
	}
	// Non-canonical or unknown blocks are refused, never reinterpreted.
	for _, block := range [][]byte{
		{0x00},              // flags without a condition: would re-encode to nothing
		{0x04},              // an unknown flag
		{0x81},              // an unknown flag next to a known one
		{0x02, 0},           // If-Match flag with an empty list
		{0x02},              // If-Match flag without its list
		{0x02, 5, 'a'},      // list truncated
		{0x01, 0x00},        // trailing byte after the block
		{0x02, 1, 'a', 'b'}, // trailing byte after the list
	} {
		if _, err := UnmarshalCommand(append(slices.Clone(plain), block...)); !errorsIs(err, ErrInvalidArgument) {
			t.Errorf("block %x: %v, want ErrInvalidArgument", block, err)
		}
	}
	// Ops without a conditions block still refuse any trailing byte.
	del, _ := MarshalCommand(DeleteObjectCmd{Bucket: "b", Key: "k"})
	if _, err := UnmarshalCommand(append(del, 0x01)); err == nil {
		t.Error("DeleteObject with a trailing conditions-like byte accepted")
	}
}

func TestETagListMatches(t *testing.T) {
	const etag = "0cc175b9c0f1b6a831c399e269772661"
	for _, tc := range []struct {
		list string
		want bool
	}{
		{etag, true},
		{`"` + etag + `"`, true},
		{`W/"` + etag + `"`, true},
		{`"x", "` + etag + `" , "y"`, true},
		{"*", true},
		{`"x", *`, true},
		{`"x", "y"`, false},
		{strings.ToUpper(etag), false},
		{"", false},
		{",", false},
	} {
		if got := ETagListMatches(tc.list, etag); got != tc.want {
			t.Errorf("ETagListMatches(%q) = %v, want %v", tc.list, got, tc.want)
		}
	}
}

// condPut is a PutObject of body with conditions.
func (h *harness) condPut(bucket, key string, body []byte, c WriteConditions) PutObjectCmd {
	h.t.Helper()
	cmd := h.putCmd(bucket, key, body)
	cmd.WriteConditions = c
	return cmd
}

// stateWithoutClock is dump without meta/maxhlc, which every apply may raise,
// rejected commands included (by design: it bounds every ID ever minted).
func stateWithoutClock(t testing.TB, s *Store) string {
	t.Helper()
	lines := strings.Split(dump(t, s), "\n")
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, `"meta"/"maxhlc"`)
	}), "\n")
}

// TestApply_WriteConditions runs every case of If-None-Match: * and If-Match
// against each bucket versioning state: the outcome, and that a rejected write
// changes nothing.
func TestApply_WriteConditions(t *testing.T) {
	inm := WriteConditions{IfNoneMatch: true}
	ifMatch := func(list string) WriteConditions { return WriteConditions{IfMatch: list} }
	type step struct {
		name string
		cond WriteConditions
		want error // nil: the write succeeds
	}
	const k = "k"
	one, two := []byte("one"), []byte("two")
	e1, e2 := md5hex(one), md5hex(two)
	for _, vs := range []struct {
		name  string
		state VersioningState
	}{{"unversioned", Unversioned}, {"enabled", VersioningEnabled}, {"suspended", VersioningSuspended}} {
		t.Run(vs.name, func(t *testing.T) {
			cases := []struct {
				name  string
				setup func(h *harness)
				steps []step
			}{
				{"absent key", func(*harness) {}, []step{
					{"if-match etag", ifMatch(e1), ErrNoSuchKey},
					{"if-match star", ifMatch("*"), ErrNoSuchKey},
					{"both", WriteConditions{IfNoneMatch: true, IfMatch: e1}, ErrNoSuchKey},
					{"if-none-match", inm, nil},
				}},
				{"existing key", func(h *harness) { h.put("b", k, one) }, []step{
					{"if-none-match", inm, ErrPreconditionFailed},
					{"both", WriteConditions{IfNoneMatch: true, IfMatch: e1}, ErrPreconditionFailed},
					{"if-match other", ifMatch(e2), ErrPreconditionFailed},
					{"if-match list without it", ifMatch(`"x", "` + e2 + `"`), ErrPreconditionFailed},
					{"if-match uppercase", ifMatch(strings.ToUpper(e1)), ErrPreconditionFailed},
					{"if-match list with it", ifMatch(`"x", W/"` + e1 + `", "y"`), nil},
				}},
				{"if-match plain etag", func(h *harness) { h.put("b", k, one) }, []step{{"quoted", ifMatch(`"` + e1 + `"`), nil}}},
				{"if-match star", func(h *harness) { h.put("b", k, one) }, []step{{"star", ifMatch("*"), nil}}},
				{"older version matches", func(h *harness) { h.put("b", k, one); h.put("b", k, two) }, []step{
					{"old etag", ifMatch(e1), ErrPreconditionFailed},
					{"current etag", ifMatch(e2), nil},
				}},
				{"other key exists", func(h *harness) { h.put("b", k+"x", one); h.put("b", "j", one) }, []step{
					{"if-match", ifMatch(e1), ErrNoSuchKey},
					{"if-none-match", inm, nil},
				}},
				{"deleted", func(h *harness) { h.put("b", k, one); h.del("b", k, "") }, []step{
					{"if-match", ifMatch(e1), ErrNoSuchKey},
					{"if-match star", ifMatch("*"), ErrNoSuchKey},
					{"if-none-match", inm, nil},
				}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					h := newHarness(t)
					h.createBucket("b")
					if vs.state != Unversioned {
						h.setVersioning("b", vs.state)
					}
					tc.setup(h)
					chunksBefore := countChunks(t, h.s)
					for _, st := range tc.steps {
						// Bodies above InlineMax go through a staged blob.
						body := randomBytes(uint64(len(st.name)), InlineMax+100)
						cmd := h.condPut("b", k, body, st.cond)
						blob := cmd.Blob
						before := stateWithoutClock(t, h.s)
						res := h.apply(cmd)
						if st.want == nil {
							if res.Err != nil {
								t.Fatalf("%s: %v, want success", st.name, res.Err)
							}
							v, err := h.get("b", k, "")
							if err != nil || v.ETag != md5hex(body) || !v.IsLatest {
								t.Fatalf("%s: current version %+v, %v", st.name, v, err)
							}
							continue
						}
						wantErr(t, res.Err, st.want)
						if after := stateWithoutClock(t, h.s); after != before {
							t.Fatalf("%s: a rejected conditional PutObject changed the store:\nbefore:\n%s\nafter:\n%s", st.name, before, after)
						}
						// The body stays staged, as for any rejected PutObject: the
						// writer's DiscardBlob (or the collector) removes it.
						staged, err := h.s.StagedBlobs(context.Background(), time.Now().Add(time.Hour))
						if err != nil || !slices.Contains(staged, blob) {
							t.Fatalf("%s: blob not staged after rejection: %v %v", st.name, staged, err)
						}
						h.mustApply(DiscardBlobCmd{Blob: blob})
						if n := countChunks(t, h.s); n != chunksBefore {
							t.Fatalf("%s: %d chunks after discard, want %d", st.name, n, chunksBefore)
						}
					}
				})
			}
		})
	}
}

// TestApply_WriteConditionsInOneBatch: conditional writers of one key decided in
// one transaction see each other in order, as they do across batches.
func TestApply_WriteConditionsInOneBatch(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	var cmds []Command
	for i := range 5 {
		cmds = append(cmds, h.condPut("b", "k", []byte{byte('a' + i)}, WriteConditions{IfNoneMatch: true}))
	}
	res := h.s.Apply(cmds)
	if res[0].Err != nil {
		t.Fatalf("first If-None-Match writer: %v", res[0].Err)
	}
	for _, r := range res[1:] {
		wantErr(t, r.Err, ErrPreconditionFailed)
	}
	// A compare-and-swap chain: each If-Match names the ETag its predecessor wrote;
	// a second writer naming the same predecessor loses.
	prev := res[0].Version.ETag
	for i := range 3 {
		body := []byte{byte('p' + i)}
		win := h.condPut("b", "k", body, WriteConditions{IfMatch: `"` + prev + `"`})
		lose := h.condPut("b", "k", []byte("late"), WriteConditions{IfMatch: `"` + prev + `"`})
		r := h.s.Apply([]Command{win, lose})
		if r[0].Err != nil {
			t.Fatalf("cas %d: %v", i, r[0].Err)
		}
		wantErr(t, r[1].Err, ErrPreconditionFailed)
		prev = md5hex(body)
	}
	if v, err := h.get("b", "k", ""); err != nil || v.ETag != prev {
		t.Fatalf("final version %+v, %v; want etag %s", v, err, prev)
	}
}

// TestApply_CompleteUploadConditions: a failed condition leaves the upload and its
// parts in place, so the client can complete it later.
func TestApply_CompleteUploadConditions(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.setVersioning("b", VersioningEnabled)
	complete := func(c WriteConditions, parts []CompletedPart) Result {
		return h.apply(CompleteUploadCmd{
			Bucket: "b", Key: "k", UploadID: "u", Parts: parts, ID: h.nextID(), Time: h.now(), WriteConditions: c,
		})
	}
	h.createUpload("b", "k", "u", "")
	p := h.putPart("b", "k", "u", 1, randomBytes(9, InlineMax+1))
	parts := []CompletedPart{{Number: 1, ETag: p.ETag}}

	wantErr(t, complete(WriteConditions{IfMatch: "*"}, parts).Err, ErrNoSuchKey)
	old := h.put("b", "k", []byte("old"))
	before := stateWithoutClock(t, h.s)
	wantErr(t, complete(WriteConditions{IfNoneMatch: true}, parts).Err, ErrPreconditionFailed)
	wantErr(t, complete(WriteConditions{IfMatch: `"nope"`}, parts).Err, ErrPreconditionFailed)
	if after := stateWithoutClock(t, h.s); after != before {
		t.Fatalf("a rejected conditional CompleteUpload changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	res := complete(WriteConditions{IfMatch: `"` + old.ETag + `"`}, parts)
	if res.Err != nil {
		t.Fatalf("complete with matching If-Match: %v", res.Err)
	}
	if v, err := h.get("b", "k", ""); err != nil || v.ID != res.Version.ID || len(v.PartSizes) != 1 {
		t.Fatalf("current version %+v, %v", v, err)
	}
	// Upload gone; a marker on top makes If-None-Match pass again.
	h.del("b", "k", "")
	h.createUpload("b", "k", "u", "")
	p = h.putPart("b", "k", "u", 1, []byte("x"))
	if r := complete(WriteConditions{IfNoneMatch: true}, []CompletedPart{{Number: 1, ETag: p.ETag}}); r.Err != nil {
		t.Fatalf("If-None-Match over a delete marker: %v", r.Err)
	}
}

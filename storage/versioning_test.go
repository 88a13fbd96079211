package storage

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestStore_Buckets(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.createBucket("b1")
	h.createBucket("a0")

	res := h.apply(CreateBucketCmd{Name: "b1", Owner: "pangea"})
	wantErr(t, res.Err, ErrBucketAlreadyOwnedByYou)
	res = h.apply(CreateBucketCmd{Name: "b1", Owner: "someone-else"})
	wantErr(t, res.Err, ErrBucketAlreadyExists)

	list, err := h.s.ListBuckets(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "a0" || list[1].Name != "b1" {
		t.Fatalf("ListBuckets = %+v, %v", list, err)
	}
	info, err := h.s.Bucket(ctx, "b1")
	if err != nil || info.Owner != "pangea" || info.Region != "us-east-1" || info.Versioning != Unversioned || info.CreatedAt.IsZero() {
		t.Fatalf("Bucket = %+v, %v", info, err)
	}
	_, err = h.s.Bucket(ctx, "nope")
	wantErr(t, err, ErrNoSuchBucket)

	wantErr(t, h.apply(SetVersioningCmd{Bucket: "b1", State: Unversioned}).Err, ErrInvalidArgument)
	wantErr(t, h.apply(SetVersioningCmd{Bucket: "zz", State: VersioningEnabled}).Err, ErrNoSuchBucket)
	h.setVersioning("b1", VersioningEnabled)
	h.setVersioning("b1", VersioningSuspended)
	if info, _ := h.s.Bucket(ctx, "b1"); info.Versioning != VersioningSuspended {
		t.Fatalf("versioning = %v", info.Versioning)
	}

	// Configurations: put, read, delete, and gone with the bucket.
	put := func(kind ConfigKind, data []byte) Result {
		return h.apply(PutBucketConfigCmd{Bucket: "b1", Kind: kind, Data: data})
	}
	if res := put(ConfigPolicy, []byte(`{"v":1}`)); res.Err != nil {
		t.Fatal(res.Err)
	}
	if got, err := h.s.BucketConfig(ctx, "b1", ConfigPolicy); err != nil || string(got) != `{"v":1}` {
		t.Fatalf("BucketConfig = %q, %v", got, err)
	}
	_, err = h.s.BucketConfig(ctx, "b1", ConfigTagging)
	wantErr(t, err, ErrNoSuchConfig)
	_, err = h.s.BucketConfig(ctx, "nope", ConfigTagging)
	wantErr(t, err, ErrNoSuchBucket)
	if res := put(ConfigPolicy, nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := put(ConfigPolicy, nil); res.Err != nil { // deleting a missing one is fine
		t.Fatal(res.Err)
	}
	_, err = h.s.BucketConfig(ctx, "b1", ConfigPolicy)
	wantErr(t, err, ErrNoSuchConfig)
	put(ConfigReplication, []byte("<x/>"))

	// Not empty while a version, a marker or an upload remains.
	h.put("b1", "k", []byte("x"))
	delBucket := DeleteBucketCmd{Name: "b1"}
	wantErr(t, h.apply(delBucket).Err, ErrBucketNotEmpty)
	h.del("b1", "k", "null")
	h.mustApply(CreateUploadCmd{Bucket: "b1", Key: "m", UploadID: "u1", Time: h.now()})
	wantErr(t, h.apply(delBucket).Err, ErrBucketNotEmpty)
	h.mustApply(AbortUploadCmd{Bucket: "b1", Key: "m", UploadID: "u1"})
	h.mustApply(delBucket)
	wantErr(t, h.apply(delBucket).Err, ErrNoSuchBucket)

	h.createBucket("b1")
	if _, err := h.s.BucketConfig(ctx, "b1", ConfigReplication); !errors.Is(err, ErrNoSuchConfig) {
		t.Fatalf("config survived bucket deletion: %v", err)
	}
	if info, _ := h.s.Bucket(ctx, "b1"); info.Versioning != Unversioned {
		t.Fatalf("recreated bucket versioning = %v", info.Versioning)
	}
}

// versionsOf lists every version of one key, newest first.
func versionsOf(t *testing.T, h *harness, bucket, key string) []ObjectVersion {
	t.Helper()
	res, err := h.s.ListObjectVersions(context.Background(), bucket, ListVersionsInput{Prefix: key, MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []ObjectVersion
	for _, v := range res.Versions {
		if v.Key == key {
			out = append(out, v)
		}
	}
	return out
}

// shape renders versions as a compact string: "n" null, "v" versioned, "D" marker,
// "*" latest.
func shape(vs []ObjectVersion) string {
	var b bytes.Buffer
	for _, v := range vs {
		switch {
		case v.DeleteMarker && v.IsNull:
			b.WriteString("nD")
		case v.DeleteMarker:
			b.WriteString("D")
		case v.IsNull:
			b.WriteString("n")
		default:
			b.WriteString("v")
		}
		if v.IsLatest {
			b.WriteString("*")
		}
		b.WriteString(" ")
	}
	return string(bytes.TrimSpace(b.Bytes()))
}

func TestStore_VersioningSemantics(t *testing.T) {
	type step struct {
		do    string // "put", "del", "enable", "suspend"
		shape string // versions of "k" after the step, newest first
		del   DeleteResult
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"unversioned put replaces the null version", []step{
			{do: "put", shape: "n*"},
			{do: "put", shape: "n*"},
			{do: "del", shape: ""},
			{do: "del", shape: ""}, // deleting a missing key is fine
		}},
		{"enabled keeps every version and adds markers", []step{
			{do: "enable"},
			{do: "put", shape: "v*"},
			{do: "put", shape: "v* v"},
			{do: "del", shape: "D* v v", del: DeleteResult{DeleteMarker: true}},
			{do: "del", shape: "D* D v v", del: DeleteResult{DeleteMarker: true}},
			{do: "put", shape: "v* D D v v"},
		}},
		{"unversioned data becomes the null version once enabled", []step{
			{do: "put", shape: "n*"},
			{do: "enable", shape: "n*"},
			{do: "put", shape: "v* n"},
			{do: "del", shape: "D* v n", del: DeleteResult{DeleteMarker: true}},
		}},
		{"suspended writes replace only the null version", []step{
			{do: "enable"},
			{do: "put", shape: "v*"},
			{do: "suspend", shape: "v*"},
			{do: "put", shape: "n* v"},
			{do: "put", shape: "n* v"},
			{do: "del", shape: "nD* v", del: DeleteResult{VersionID: "null", DeleteMarker: true}},
			{do: "put", shape: "n* v"},
			{do: "enable", shape: "n* v"},
			{do: "put", shape: "v* n v"},
			{do: "suspend"},
			{do: "del", shape: "nD* v v", del: DeleteResult{VersionID: "null", DeleteMarker: true}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.createBucket("b")
			for i, st := range tc.steps {
				switch st.do {
				case "put":
					body := []byte{byte(i)}
					v := h.put("b", "k", body)
					if !v.IsLatest {
						t.Fatalf("step %d: put result not latest", i)
					}
					got, err := h.get("b", "k", "")
					if err != nil || got.ID != v.ID || !bytes.Equal(h.read(got, 0, -1), body) {
						t.Fatalf("step %d: read-after-write: %+v %v", i, got, err)
					}
				case "del":
					d := h.del("b", "k", "")
					want := st.del
					if want.DeleteMarker && want.VersionID == "" {
						// An enabled bucket answers with the marker's (fresh) ID.
						if _, err := ParseVersionID(d.VersionID); err != nil {
							t.Fatalf("step %d: delete marker id %q: %v", i, d.VersionID, err)
						}
						want.VersionID = d.VersionID
					}
					if d != want {
						t.Fatalf("step %d: delete = %+v, want %+v", i, d, want)
					}
					if st.shape != "" {
						v, err := h.get("b", "k", "")
						wantErr(t, err, ErrDeleteMarker)
						if !v.DeleteMarker || !v.IsLatest {
							t.Fatalf("step %d: Object returned %+v with the marker error", i, v)
						}
					} else {
						_, err := h.get("b", "k", "")
						wantErr(t, err, ErrNoSuchKey)
					}
				case "enable":
					h.setVersioning("b", VersioningEnabled)
				case "suspend":
					h.setVersioning("b", VersioningSuspended)
				}
				if st.shape == "" && st.do != "put" && st.do != "del" {
					continue
				}
				if got := shape(versionsOf(t, h, "b", "k")); got != st.shape {
					t.Fatalf("step %d (%s): versions = %q, want %q", i, st.do, got, st.shape)
				}
			}
		})
	}
}

func TestStore_ObjectLookupErrors(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	null := h.put("b", "k", []byte("null body"))
	h.setVersioning("b", VersioningEnabled)
	v2 := h.put("b", "k", []byte("v2"))

	tests := []struct {
		bucket, key, version string
		wantErr              error
		wantID               VersionID
	}{
		{"nope", "k", "", ErrNoSuchBucket, VersionID{}},
		{"b", "missing", "", ErrNoSuchKey, VersionID{}},
		{"b", "k", "", nil, v2.ID},
		{"b", "k", "null", nil, null.ID},
		{"b", "k", v2.ID.String(), nil, v2.ID},
		{"b", "k", null.ID.String(), ErrNoSuchVersion, VersionID{}}, // the null version's internal ID is not an address
		{"b", "k", h.nextID().String(), ErrNoSuchVersion, VersionID{}},
		{"b", "missing", "null", ErrNoSuchVersion, VersionID{}},
		{"b", "k", "not-a-version", ErrInvalidVersionID, VersionID{}},
	}
	for _, tc := range tests {
		v, err := h.get(tc.bucket, tc.key, tc.version)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Object(%q,%q,%q) error = %v, want %v", tc.bucket, tc.key, tc.version, err, tc.wantErr)
			}
			continue
		}
		if err != nil || v.ID != tc.wantID {
			t.Errorf("Object(%q,%q,%q) = %v, %v; want id %v", tc.bucket, tc.key, tc.version, v.ID, err, tc.wantID)
		}
	}
	if v, _ := h.get("b", "k", "null"); !v.IsNull || v.IsLatest || v.VersionIDText() != "null" {
		t.Fatalf("null version flags: %+v", v)
	}
	if v, _ := h.get("b", "k", v2.ID.String()); v.IsNull || !v.IsLatest || v.VersionIDText() != v2.ID.String() {
		t.Fatalf("v2 flags: %+v", v)
	}
}

func TestStore_DeleteByVersion(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.setVersioning("b", VersioningEnabled)
	v1 := h.put("b", "k", randomBytes(1, 3*ChunkSize/2))
	v2 := h.put("b", "k", []byte("two"))
	marker := h.del("b", "k", "")
	chunks := countChunks(t, h.s)

	// Removing the marker by ID makes v2 current again ("undelete").
	if d := h.del("b", "k", marker.VersionID); d != (DeleteResult{VersionID: marker.VersionID, DeleteMarker: true}) {
		t.Fatalf("delete marker = %+v", d)
	}
	if v, err := h.get("b", "k", ""); err != nil || v.ID != v2.ID {
		t.Fatalf("after undelete: %v %v", v.ID, err)
	}
	// Missing versions and keys are a success; garbage is not.
	missing := h.nextID().String()
	if d := h.del("b", "k", missing); d != (DeleteResult{VersionID: missing}) {
		t.Fatalf("delete missing = %+v", d)
	}
	if d := h.del("b", "nokey", "null"); d != (DeleteResult{VersionID: "null"}) {
		t.Fatalf("delete missing null = %+v", d)
	}
	res := h.apply(DeleteObjectCmd{Bucket: "b", Key: "k", VersionID: "garbage"})
	wantErr(t, res.Err, ErrInvalidVersionID)

	// Deleting the chunked version frees its chunks.
	if d := h.del("b", "k", v1.ID.String()); d != (DeleteResult{VersionID: v1.ID.String()}) {
		t.Fatalf("delete v1 = %+v", d)
	}
	if got := countChunks(t, h.s); got != chunks-2 {
		t.Fatalf("chunks after deleting v1 = %d, want %d", got, chunks-2)
	}
	if got := shape(versionsOf(t, h, "b", "k")); got != "v*" {
		t.Fatalf("versions = %q", got)
	}
}

func TestStore_NullVersionBodyReleased(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.put("b", "k", randomBytes(2, 2*ChunkSize+10))
	if n := countChunks(t, h.s); n != 3 {
		t.Fatalf("chunks = %d, want 3", n)
	}
	v := h.put("b", "k", randomBytes(3, ChunkSize+1))
	if n := countChunks(t, h.s); n != 2 {
		t.Fatalf("chunks after overwrite = %d, want 2", n)
	}
	if got := h.read(v, 0, -1); !bytes.Equal(got, randomBytes(3, ChunkSize+1)) {
		t.Fatal("body differs after overwrite")
	}
	h.del("b", "k", "")
	if n := countChunks(t, h.s); n != 0 {
		t.Fatalf("chunks after delete = %d, want 0", n)
	}
}

func TestStore_Tagging(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.put("b", "k", []byte("x"))
	tag := func(key, version string, tags []Tag) Result {
		return h.apply(PutObjectTaggingCmd{Bucket: "b", Key: key, VersionID: version, Tags: tags})
	}
	res := tag("k", "", []Tag{{"a", "1"}, {"b", "2"}})
	if res.Err != nil || res.VersionID != "null" {
		t.Fatalf("tagging = %+v", res)
	}
	v, _ := h.get("b", "k", "")
	if len(v.Meta.Tags) != 2 || v.Meta.Tags[1] != (Tag{"b", "2"}) {
		t.Fatalf("tags = %+v", v.Meta.Tags)
	}
	if res := tag("k", "", nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	if v, _ := h.get("b", "k", ""); v.Meta.Tags != nil {
		t.Fatalf("tags after delete = %+v", v.Meta.Tags)
	}
	wantErr(t, tag("missing", "", nil).Err, ErrNoSuchKey)
	wantErr(t, tag("k", "bad", nil).Err, ErrInvalidVersionID)

	h.setVersioning("b", VersioningEnabled)
	v2 := h.put("b", "k", []byte("y"))
	if res := tag("k", "", []Tag{{"x", "y"}}); res.VersionID != v2.ID.String() {
		t.Fatalf("tagging result version = %q, want %q", res.VersionID, v2.ID)
	}
	d := h.del("b", "k", "")
	wantErr(t, tag("k", "", []Tag{{"x", "y"}}).Err, ErrDeleteMarker)
	wantErr(t, tag("k", d.VersionID, []Tag{{"x", "y"}}).Err, ErrDeleteMarker)
	if res := tag("k", "null", []Tag{{"n", "1"}}); res.Err != nil || res.VersionID != "null" {
		t.Fatalf("tag null version = %+v", res)
	}
}

func TestStore_ApplyBatchIsolation(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	ok1 := h.putCmd("b", "one", []byte("1"))
	bad := h.putCmd("nope", "two", []byte("2"))
	dup := h.putCmd("b", "three", []byte("3"))
	dup.ID = ok1.ID
	dup.Key = "one" // same key and ID as ok1: rejected, nothing written
	ok2 := h.putCmd("b", "four", []byte("4"))
	res := h.s.Apply([]Command{ok1, bad, dup, ok2, PutChunkCmd{}})
	if res[0].Err != nil || res[3].Err != nil {
		t.Fatalf("good commands failed: %v %v", res[0].Err, res[3].Err)
	}
	wantErr(t, res[1].Err, ErrNoSuchBucket)
	wantErr(t, res[2].Err, ErrInvalidArgument)
	wantErr(t, res[4].Err, ErrInvalidArgument)
	if v, err := h.get("b", "one", ""); err != nil || string(h.read(v, 0, -1)) != "1" {
		t.Fatalf("one = %v", err)
	}
	if _, err := h.get("b", "four", ""); err != nil {
		t.Fatal(err)
	}

	// A closed store fails the whole batch.
	h.s.Close()
	res = h.s.Apply([]Command{ok1, ok2})
	for i, r := range res {
		wantErr(t, r.Err, ErrClosed)
		_ = i
	}
}

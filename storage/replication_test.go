package storage

import (
	"bytes"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// replicaAt is a version ID minted by another region ("eu") at ms milliseconds
// after a fixed epoch, later than every ID the harness mints.
func replicaAt(ms uint64) VersionID {
	return VersionID{Time: (1_900_000_000_000 + ms) << 16, Region: RegionCode("eu"), Seq: 1}
}

// replicaCmd is the replica of a version of b/k with body, staged in h's store.
func (h *harness) replicaCmd(key string, id VersionID, body []byte) ApplyReplicaCmd {
	h.t.Helper()
	blob, chunks, inline := h.stage(body)
	return ApplyReplicaCmd{
		Bucket: "b", Key: key, ID: id, Time: HLCTime(id.Time), Size: int64(len(body)), ETag: md5hex(body),
		Meta: ObjectMeta{
			ContentType: "text/plain", UserMeta: map[string]string{"origin": "eu"},
			Tags: []Tag{{"team", "blue"}},
		},
		Checksum: &Checksum{Algorithm: "CRC32", Value: crc32b64(body), Type: ChecksumFullObject},
		Owner:    "alice", Blob: blob, Chunks: chunks, Inline: inline,
	}
}

// versionsOf lists the versions of key as "id marker=.. null=.. latest=..", in the
// order ListObjectVersions returns them.
func (h *harness) versionsOf(key string) []string {
	h.t.Helper()
	res, err := h.s.ListObjectVersions(h.t.Context(), "b", ListVersionsInput{Prefix: key, MaxKeys: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, v := range res.Versions {
		if v.Key == key {
			out = append(out, fmt.Sprintf("%s marker=%v null=%v latest=%v", v.ID, v.DeleteMarker, v.IsNull, v.IsLatest))
		}
	}
	return out
}

func row(id VersionID, marker, null, latest bool) string {
	return fmt.Sprintf("%s marker=%v null=%v latest=%v", id, marker, null, latest)
}

func sameRows(t *testing.T, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("versions\n got %q\nwant %q", got, want)
	}
}

// TestApplyReplica_StoresTheOriginsVersion: a replica keeps the origin's ID,
// Last-Modified, ETag, metadata, tags and checksum, gets REPLICA as its status, and
// its body is the staged blob it names.
func TestApplyReplica_StoresTheOriginsVersion(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.setVersioning("b", VersioningEnabled)
	body := randomBytes(3, 2*ChunkSize+17)
	c := h.replicaCmd("k", replicaAt(1), body)
	res := h.mustApply(c)
	if !res.Version.IsLatest {
		t.Fatalf("replica not latest: %+v", res.Version)
	}
	v, err := h.get("b", "k", c.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != c.ID || !v.ModTime.Equal(c.Time) || v.ETag != c.ETag || v.Size != c.Size || v.Owner != "alice" ||
		!reflect.DeepEqual(v.Meta, c.Meta) || !reflect.DeepEqual(v.Checksum, c.Checksum) ||
		v.ReplicationStatus != ReplicationStatusReplica || v.IsNull || v.DeleteMarker {
		t.Fatalf("stored %+v\nfrom %+v", v, c)
	}
	if got := h.read(v, 0, -1); !bytes.Equal(got, body) {
		t.Fatalf("body: %d bytes, want %d", len(got), len(body))
	}
	if hlc, err := h.s.MaxHLC(); err != nil || hlc != c.ID.Time {
		t.Fatalf("maxhlc = %d (%v), want the replica's time %d", hlc, err, c.ID.Time)
	}
	staged, err := h.s.StagedBlobs(t.Context(), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || len(staged) != 0 {
		t.Fatalf("staged after the replica: %v %v", staged, err)
	}
}

// TestApplyReplica_Idempotent: the same version delivered twice is stored once;
// the second delivery succeeds, changes nothing and discards its staged body.
func TestApplyReplica_Idempotent(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.setVersioning("b", VersioningEnabled)
	body := randomBytes(4, ChunkSize+5)
	id := replicaAt(1)
	h.mustApply(h.replicaCmd("k", id, body))
	chunks := countChunks(t, h.s)
	again := h.replicaCmd("k", id, body) // a new staged blob, as a resend brings
	if countChunks(t, h.s) != 2*chunks {
		t.Fatalf("staging the resend: %d chunks, want %d", countChunks(t, h.s), 2*chunks)
	}
	if res := h.apply(again); res.Err != nil {
		t.Fatalf("second delivery: %v", res.Err)
	}
	sameRows(t, h.versionsOf("k"), row(id, false, false, true))
	if got := countChunks(t, h.s); got != chunks {
		t.Fatalf("%d chunks after the duplicate, want %d (its blob discarded, the version's kept)", got, chunks)
	}
	v, err := h.get("b", "k", "")
	if err != nil || !bytes.Equal(h.read(v, 0, -1), body) {
		t.Fatalf("body after the duplicate: %v", err)
	}
	// A normal write that collides with an existing ID is still refused.
	pc := h.putCmd("b", "k", []byte("x"))
	pc.ID = id
	wantErr(t, h.apply(pc).Err, ErrInvalidArgument)
}

// TestApplyReplica_OutOfOrder: the latest version is the greatest ID whatever the
// order of arrival, delete markers included.
func TestApplyReplica_OutOfOrder(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.setVersioning("b", VersioningEnabled)
	v1, v2, m3, v4 := replicaAt(1), replicaAt(2), replicaAt(3), replicaAt(4)

	if res := h.mustApply(h.replicaCmd("k", v2, []byte("two"))); !res.Version.IsLatest {
		t.Fatalf("v2 not latest on arrival")
	}
	if res := h.mustApply(h.replicaCmd("k", v1, []byte("one"))); res.Version.IsLatest {
		t.Fatalf("older v1 became latest")
	}
	sameRows(t, h.versionsOf("k"), row(v2, false, false, true), row(v1, false, false, false))
	if v, err := h.get("b", "k", ""); err != nil || v.ID != v2 || string(h.read(v, 0, -1)) != "two" {
		t.Fatalf("latest = %v %v, want v2", v.ID, err)
	}

	// A replicated delete marker is a version like any other.
	marker := ApplyReplicaCmd{Bucket: "b", Key: "k", ID: m3, DeleteMarker: true, Time: HLCTime(m3.Time), Owner: "alice"}
	h.mustApply(marker)
	if v, err := h.get("b", "k", ""); !errorsIs(err, ErrDeleteMarker) || v.ID != m3 ||
		v.ReplicationStatus != ReplicationStatusReplica {
		t.Fatalf("latest after the marker: %+v %v", v, err)
	}
	h.mustApply(marker) // delivered twice
	// An object newer than the marker arrives before an older one would.
	h.mustApply(h.replicaCmd("k", v4, []byte("four")))
	sameRows(t, h.versionsOf("k"),
		row(v4, false, false, true), row(m3, true, false, false), row(v2, false, false, false), row(v1, false, false, false))

	// A local write after replicas is ordered by its ID too (older here: not latest).
	local := h.put("b", "k", []byte("local"))
	if local.IsLatest {
		t.Fatalf("a local version with a smaller ID is latest")
	}
}

// TestApplyReplica_Null: a replicated null version replaces the key's null version
// only if its ID is greater; otherwise it is a no-op. Versions that are not null
// need a versioned bucket.
func TestApplyReplica_Null(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	old := h.put("b", "k", randomBytes(5, ChunkSize+1)) // unversioned: the null version
	if !old.IsNull {
		t.Fatalf("put to an unversioned bucket is not null")
	}
	wantErr(t, h.apply(h.replicaCmd("k", replicaAt(9), []byte("v"))).Err, ErrInvalidArgument)

	newer := h.replicaCmd("k", replicaAt(2), []byte("newer null"))
	newer.Null = true
	h.mustApply(newer)
	if n := countChunks(t, h.s); n != 0 {
		t.Fatalf("%d chunks left: the replaced null version's body was not released", n)
	}
	sameRows(t, h.versionsOf("k"), row(replicaAt(2), false, true, true))

	older := h.replicaCmd("k", replicaAt(1), randomBytes(6, ChunkSize+2))
	older.Null = true
	if res := h.apply(older); res.Err != nil {
		t.Fatalf("older null replica: %v", res.Err)
	}
	sameRows(t, h.versionsOf("k"), row(replicaAt(2), false, true, true))
	if n := countChunks(t, h.s); n != 0 {
		t.Fatalf("%d chunks left: the ignored replica's staged body was kept", n)
	}
	v, err := h.get("b", "k", "null")
	if err != nil || string(h.read(v, 0, -1)) != "newer null" || v.ReplicationStatus != ReplicationStatusReplica {
		t.Fatalf("null version: %+v %v", v, err)
	}
}

// replicatedBucket makes bucket "b", versioned, with a replication configuration,
// in a region at Format5 (the outbox decided by the rules).
func (h *harness) replicatedBucket() {
	h.t.Helper()
	h.mustApply(SetRegionFormatCmd{Format: Format5})
	h.createBucket("b")
	h.setVersioning("b", VersioningEnabled)
	h.mustApply(PutBucketConfigCmd{Bucket: "b", Kind: ConfigReplication, Data: []byte(allReplicated)})
}

// allReplicated is a replication configuration whose rule selects every object
// and delete marker, and replica tag changes.
const allReplicated = `<ReplicationConfiguration><Role>arn:aws:iam::1:role/r</Role><Rule><ID>all</ID><Priority>1</Priority>
<Status>Enabled</Status><Filter><Prefix></Prefix></Filter><DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication>
<SourceSelectionCriteria><ReplicaModifications><Status>Enabled</Status></ReplicaModifications></SourceSelectionCriteria>
<Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination></Rule></ReplicationConfiguration>`

func (h *harness) outbox(after uint64, max int) []OutboxEntry {
	h.t.Helper()
	es, err := h.s.Outbox(after, max)
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

func seqs(es []OutboxEntry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

// TestOutbox_ClientWrites: each client write that makes a version of a replicated
// bucket (put, multipart complete, delete marker) or changes its tags appends one
// entry in order; deletes of a version, replicas and rejected writes append none.
func TestOutbox_ClientWrites(t *testing.T) {
	h := newHarness(t)
	h.replicatedBucket()

	put := h.put("b", "k", []byte("hello"))
	h.createUpload("b", "mp", "u1", "")
	h.putPart("b", "mp", "u1", 1, []byte("part"))
	mp := h.complete("b", "mp", "u1", []CompletedPart{{Number: 1, ETag: md5hex([]byte("part"))}})
	if mp.Err != nil {
		t.Fatal(mp.Err)
	}
	del := h.del("b", "k", "")
	h.mustApply(PutObjectTaggingCmd{Bucket: "b", Key: "mp", Tags: []Tag{{"a", "b"}}})
	markerID, err := ParseVersionID(del.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	want := []OutboxEntry{
		{Seq: 1, Bucket: "b", Key: "k", VersionID: put.ID, Kind: OutboxPut},
		{Seq: 2, Bucket: "b", Key: "mp", VersionID: mp.Version.ID, Kind: OutboxPut},
		{Seq: 3, Bucket: "b", Key: "k", VersionID: markerID, Kind: OutboxDeleteMarker},
		{Seq: 4, Bucket: "b", Key: "mp", VersionID: mp.Version.ID, Kind: OutboxMetadata},
	}
	if got := h.outbox(0, 0); !reflect.DeepEqual(got, want) {
		t.Fatalf("outbox\n got %+v\nwant %+v", got, want)
	}

	// None of these is replicated.
	h.del("b", "k", put.ID.String()) // a delete naming a version
	h.mustApply(h.replicaCmd("r", replicaAt(1), []byte("replica")))
	h.mustApply(ApplyReplicaCmd{Bucket: "b", Key: "r", ID: replicaAt(2), DeleteMarker: true})
	rejected := h.putCmd("b", "mp", []byte("x"))
	rejected.WriteConditions = WriteConditions{IfNoneMatch: true}
	wantErr(t, h.apply(rejected).Err, ErrPreconditionFailed)
	if got := h.outbox(4, 0); len(got) != 0 || h.s.OutboxLast() != 4 {
		t.Fatalf("entries after non-replicated writes: %+v, last %d", got, h.s.OutboxLast())
	}
}

// TestOutbox_OnlyReplicatedBuckets: no entries for a bucket without a replication
// configuration (or after it is removed), nor before the region runs Format4.
func TestOutbox_OnlyReplicatedBuckets(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.setVersioning("b", VersioningEnabled)
	h.mustApply(PutBucketConfigCmd{Bucket: "b", Kind: ConfigReplication, Data: []byte(allReplicated)})
	h.put("b", "k", []byte("format 1"))
	h.del("b", "k", "")
	if got := h.outbox(0, 0); len(got) != 0 {
		t.Fatalf("entries before Format4: %+v", got)
	}
	h.mustApply(SetRegionFormatCmd{Format: Format4})
	h.put("b", "k", []byte("format 4"))
	h.mustApply(PutBucketConfigCmd{Bucket: "b", Kind: ConfigReplication}) // deleted
	h.put("b", "k", []byte("no configuration"))
	h.createBucket("plain")
	h.setVersioning("plain", VersioningEnabled)
	h.put("plain", "k", []byte("never configured"))
	if got := h.outbox(0, 0); len(got) != 1 || got[0].Seq != 1 {
		t.Fatalf("entries: %+v, want only the one from the configured bucket at Format4", got)
	}
}

// TestOutbox_SameTransaction: an entry exists exactly when its version does. A
// batch that fails as a whole writes neither; a committed one survives a reopen.
func TestOutbox_SameTransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	h := &harness{t: t, s: openTestStore(t, path)}
	h.replicatedBucket()
	if _, err := h.s.ApplyIndexed(10, []Command{h.putCmd("b", "a", []byte("a"))}); err != nil {
		t.Fatal(err)
	}
	// Index 10 again: the whole batch fails, the put with it.
	lost := h.putCmd("b", "lost", []byte("lost"))
	if _, err := h.s.ApplyIndexed(10, []Command{lost}); !errorsIs(err, ErrAlreadyApplied) {
		t.Fatalf("re-applied index: %v", err)
	}
	if _, err := h.get("b", "lost", ""); !errorsIs(err, ErrNoSuchKey) {
		t.Fatalf("the failed batch's version exists: %v", err)
	}
	if got := h.outbox(0, 0); len(got) != 1 || got[0].Key != "a" || h.s.OutboxLast() != 1 {
		t.Fatalf("outbox after a failed batch: %+v, last %d", got, h.s.OutboxLast())
	}
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	h.s = openTestStore(t, path)
	if got := h.outbox(0, 0); len(got) != 1 || got[0].Key != "a" || h.s.OutboxLast() != 1 {
		t.Fatalf("outbox after reopening: %+v, last %d", got, h.s.OutboxLast())
	}
	if v := h.put("b", "b", []byte("b")); h.outbox(1, 0)[0].VersionID != v.ID {
		t.Fatalf("next entry after reopening does not name the new version")
	}
	if h.s.OutboxLast() != 2 {
		t.Fatalf("last = %d after reopening and one put, want 2", h.s.OutboxLast())
	}
}

// TestOutbox_PagingAndTrim: Outbox pages by sequence; TrimOutbox deletes entries
// up to a sequence, idempotently, and sequences are never reused.
func TestOutbox_PagingAndTrim(t *testing.T) {
	h := newHarness(t)
	h.replicatedBucket()
	for i := range 5 {
		h.put("b", fmt.Sprint("k", i), []byte("x"))
	}
	for _, tc := range []struct {
		after uint64
		max   int
		want  string
	}{
		{0, 2, "[1 2]"}, {2, 2, "[3 4]"}, {4, 2, "[5]"}, {5, 2, "[]"}, {0, 0, "[1 2 3 4 5]"}, {3, -1, "[4 5]"},
		{^uint64(0), 0, "[]"},
	} {
		if got := fmt.Sprint(seqs(h.outbox(tc.after, tc.max))); got != tc.want {
			t.Fatalf("Outbox(%d, %d) = %s, want %s", tc.after, tc.max, got, tc.want)
		}
	}
	if got := h.outbox(2, 1); got[0].Key != "k2" {
		t.Fatalf("entry 3 names %q, want k2", got[0].Key)
	}

	h.mustApply(TrimOutboxCmd{Through: 3})
	h.mustApply(TrimOutboxCmd{Through: 3})
	h.mustApply(TrimOutboxCmd{Through: 1})
	if got := fmt.Sprint(seqs(h.outbox(0, 0))); got != "[4 5]" {
		t.Fatalf("after trimming through 3: %s", got)
	}
	h.mustApply(TrimOutboxCmd{Through: 100})
	if got := h.outbox(0, 0); len(got) != 0 || h.s.OutboxLast() != 5 {
		t.Fatalf("after trimming all: %+v, last %d", got, h.s.OutboxLast())
	}
	h.put("b", "k5", []byte("x"))
	if got := fmt.Sprint(seqs(h.outbox(0, 0))); got != "[6]" {
		t.Fatalf("after a trim the next sequence is %s, want [6]", got)
	}
}

// TestReplicationStatus_PendingCompletedFailed: a PENDING version becomes
// COMPLETED when its outbox entry is trimmed (every destination acknowledged it),
// FAILED when a destination refuses it, and stays FAILED through the trim; the
// marks only rise, and a failure reported again after the mark passed it is a
// no-op.
func TestReplicationStatus_PendingCompletedFailed(t *testing.T) {
	h := newHarness(t)
	h.replicatedBucket()
	h.mustApply(PutBucketConfigCmd{Bucket: "b", Kind: ConfigReplication, Data: []byte(strings.Replace(allReplicated,
		"<Prefix></Prefix>", "<Prefix>r/</Prefix>", 1))})
	ok, bad := h.put("b", "r/ok", []byte("ok")), h.put("b", "r/bad", []byte("bad"))
	plain := h.put("b", "plain", []byte("no rule selects it")) // no entry, no status
	if got := fmt.Sprint(seqs(h.outbox(0, 0))); got != "[1 2]" {
		t.Fatalf("outbox %s, want the two selected versions' entries", got)
	}
	status := func(v ObjectVersion) string {
		t.Helper()
		got, err := h.get("b", v.Key, v.ID.String())
		if err != nil {
			t.Fatal(err)
		}
		return got.ReplicationStatus
	}
	if status(ok) != "PENDING" || status(bad) != "PENDING" || status(plain) != "" {
		t.Fatalf("after the puts: %q %q %q", status(ok), status(bad), status(plain))
	}
	h.mustApply(SetReplicationMarkCmd{Dest: "eu-west-1", Through: 2, Failed: []ReplicationFailure{{Seq: 2, Reason: "DstBucketNotFound"}}})
	h.mustApply(SetReplicationMarkCmd{Dest: "eu-west-1", Through: 1}) // lower: ignored
	if status(ok) != "PENDING" || status(bad) != "FAILED" {
		t.Fatalf("after eu-west-1's mark: %q %q, want PENDING FAILED", status(ok), status(bad))
	}
	marks, err := h.s.ReplicationMarks()
	if err != nil || marks["eu-west-1"] != 2 || len(marks) != 1 {
		t.Fatalf("marks %v, %v", marks, err)
	}
	h.mustApply(TrimOutboxCmd{Through: 2})
	if status(ok) != "COMPLETED" || status(bad) != "FAILED" || status(plain) != "" {
		t.Fatalf("after the trim: %q %q %q, want COMPLETED FAILED \"\"", status(ok), status(bad), status(plain))
	}
	// A failure of an entry at or below the mark was settled already.
	h.mustApply(SetReplicationMarkCmd{Dest: "eu-west-1", Through: 2, Failed: []ReplicationFailure{{Seq: 1, Reason: "late"}}})
	if status(ok) != "COMPLETED" {
		t.Fatalf("a late failure changed a settled version: %q", status(ok))
	}
	if res := h.apply(SetReplicationMarkCmd{Dest: "x", Through: 1, Failed: []ReplicationFailure{{Seq: 2}}}); res.Err == nil {
		t.Fatal("a failure above the mark was accepted")
	}
}

// TestBackfillOutbox_QueuesExistingVersions: versions written before the bucket
// replicated get entries (PENDING, delete markers too) when a rule selects them;
// replicas, versions a rule does not select and versions already queued are
// left alone; progress is recorded and starts over for another configuration.
func TestBackfillOutbox_QueuesExistingVersions(t *testing.T) {
	h := newHarness(t)
	h.mustApply(SetRegionFormatCmd{Format: Format5})
	h.createBucket("b")
	h.setVersioning("b", VersioningEnabled)
	old := h.put("b", "r/old", []byte("before the rule"))
	marker := h.del("b", "r/old", "")
	other := h.put("b", "x/other", []byte("no rule selects it"))
	replica := h.mustApply(h.replicaCmd("r/replica", replicaAt(5), []byte("from elsewhere"))).Version
	h.mustApply(PutBucketConfigCmd{Bucket: "b", Kind: ConfigReplication, Data: []byte(strings.Replace(allReplicated,
		"<Prefix></Prefix>", "<Prefix>r/</Prefix>", 1))})
	markerID, err := ParseVersionID(marker.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	refs := []VersionRef{{"r/old", old.ID}, {"r/old", markerID}, {"x/other", other.ID}, {"r/replica", replica.ID}, {"r/gone", replicaAt(9)}}
	h.mustApply(BackfillOutboxCmd{Bucket: "b", Doc: "d1", Refs: refs[:2], NextKeyMarker: "r/old"})
	h.mustApply(BackfillOutboxCmd{Bucket: "b", Doc: "d1", Refs: refs[2:], Done: true})
	es := h.outbox(0, 0)
	if len(es) != 2 || es[0].VersionID != old.ID || es[0].Kind != OutboxPut || es[1].Kind != OutboxDeleteMarker {
		t.Fatalf("outbox after the backfill: %+v", es)
	}
	if v, _ := h.get("b", "r/old", old.ID.String()); v.ReplicationStatus != ReplicationStatusPending {
		t.Fatalf("backfilled version's status %q", v.ReplicationStatus)
	}
	st, err := h.s.Backfill("b")
	if err != nil || st != (BackfillState{Doc: "d1", Scanned: 5, Queued: 2, Done: true}) {
		t.Fatalf("backfill state %+v, %v", st, err)
	}
	// Again (a new leader re-running a page): the version, PENDING now, is not
	// queued twice; the delete marker, which carries no status, is (the
	// destination's apply is idempotent).
	h.mustApply(BackfillOutboxCmd{Bucket: "b", Doc: "d1", Refs: refs[:2], Done: true})
	if es := h.outbox(2, 0); len(es) != 1 || es[0].Kind != OutboxDeleteMarker {
		t.Fatalf("a repeated page queued %+v", es)
	}
	h.mustApply(BackfillOutboxCmd{Bucket: "b", Doc: "d2", NextKeyMarker: "k"})
	if st, _ := h.s.Backfill("b"); st != (BackfillState{Doc: "d2", NextKeyMarker: "k"}) {
		t.Fatalf("another configuration's backfill did not start over: %+v", st)
	}
}

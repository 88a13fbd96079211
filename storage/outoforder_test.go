package storage

import (
	"errors"
	"fmt"
	"testing"
)

// TestStore_OutOfOrderVersionIDs: replication delivers versions and delete markers
// minted elsewhere, out of order. The latest version of a key is the one with the
// greatest ID, not the last to arrive; listings are in ID order; an older marker does
// not hide a newer object, and conditions are checked against the greatest ID.
func TestStore_OutOfOrderVersionIDs(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.setVersioning("b", VersioningEnabled)
	at := func(ms uint64, region uint32) VersionID {
		return VersionID{Time: (1_800_000_000_000 + ms) << 16, Region: region, Seq: 1}
	}
	put := func(id VersionID, body string, cond WriteConditions) Result {
		t.Helper()
		b := []byte(body)
		return h.apply(PutObjectCmd{Bucket: "b", Key: "k", ID: id, Time: HLCTime(id.Time), Size: int64(len(b)),
			ETag: md5hex(b), Inline: b, WriteConditions: cond})
	}
	mark := func(id VersionID) Result {
		t.Helper()
		return h.apply(DeleteObjectCmd{Bucket: "b", Key: "k", MarkerID: id, Time: HLCTime(id.Time)})
	}
	latestIs := func(want VersionID, marker bool) {
		t.Helper()
		v, err := h.get("b", "k", "")
		if v.ID != want || v.DeleteMarker != marker || (marker != errors.Is(err, ErrDeleteMarker)) || (!marker && err != nil) {
			t.Fatalf("latest = %v marker %v (%v), want %v marker %v", v.ID, v.DeleteMarker, err, want, marker)
		}
	}
	row := func(id VersionID, marker, latest bool) string {
		return fmt.Sprintf("%s marker=%v latest=%v", id, marker, latest)
	}
	listIs := func(want ...string) {
		t.Helper()
		res, err := h.s.ListObjectVersions(t.Context(), "b", ListVersionsInput{MaxKeys: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range res.Versions {
			got = append(got, row(v.ID, v.DeleteMarker, v.IsLatest))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("versions\n got %q\nwant %q", got, want)
		}
	}

	v30, v10, m20, v30b, m40 := at(30, 7), at(10, 9), at(20, 9), at(30, 3), at(40, 9)
	if res := put(v30, "thirty", WriteConditions{}); res.Err != nil || !res.Version.IsLatest {
		t.Fatalf("put 30: %+v", res)
	}
	// An older version arrives later: stored, but not the latest.
	if res := put(v10, "ten", WriteConditions{}); res.Err != nil || res.Version.IsLatest {
		t.Fatalf("put 10 after 30: err %v, IsLatest %v; want stored, not latest", res.Err, res.Version.IsLatest)
	}
	latestIs(v30, false)
	// An older marker does not hide the newer object.
	if res := mark(m20); res.Err != nil || res.Version.IsLatest || !res.Delete.DeleteMarker {
		t.Fatalf("marker 20: %+v", res)
	}
	latestIs(v30, false)
	if res, _ := h.s.ListObjects(t.Context(), "b", ListObjectsInput{MaxKeys: 10}); len(res.Objects) != 1 {
		t.Fatalf("ListObjects = %+v, want k listed", res.Objects)
	}
	// The same HLC time from a region with a smaller code sorts just below.
	if res := put(v30b, "thirty from region 3", WriteConditions{}); res.Err != nil || res.Version.IsLatest {
		t.Fatalf("put 30 region 3: %+v", res)
	}
	listIs(row(v30, false, true), row(v30b, false, false), row(m20, true, false), row(v10, false, false))

	// Conditions look at the greatest ID: the ETag of the last arrival does not match.
	if res := put(h.nextID(), "x", WriteConditions{IfMatch: md5hex([]byte("thirty from region 3"))}); !errors.Is(res.Err, ErrPreconditionFailed) {
		t.Fatalf("If-Match with the last arrival's ETag: %v, want ErrPreconditionFailed", res.Err)
	}
	if res := put(at(35, 9), "thirty-five", WriteConditions{IfMatch: md5hex([]byte("thirty"))}); res.Err != nil || !res.Version.IsLatest {
		t.Fatalf("If-Match with the greatest ID's ETag: %+v", res)
	}
	// A newer marker hides it; removing that marker brings back the greatest ID left.
	if res := mark(m40); res.Err != nil || !res.Version.IsLatest {
		t.Fatalf("marker 40: %+v", res)
	}
	latestIs(m40, true)
	h.del("b", "k", m40.String())
	latestIs(at(35, 9), false)

	// Suspended: a null version with an older ID replaces nothing newer, and is not latest.
	h.setVersioning("b", VersioningSuspended)
	if res := put(at(5, 9), "null, old", WriteConditions{}); res.Err != nil || !res.Version.IsNull || res.Version.IsLatest {
		t.Fatalf("null put with an old ID: %+v", res)
	}
	latestIs(at(35, 9), false)
}

package routing

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// fakeRegionStore is a region's bucket list.
type fakeRegionStore struct{ names []string }

func (s *fakeRegionStore) ListBuckets(_ context.Context, in storage.ListBucketsInput) (storage.ListBucketsResult, error) {
	var res storage.ListBucketsResult
	for _, n := range slices.Sorted(slices.Values(s.names)) {
		if n <= in.StartAfter {
			continue
		}
		if in.MaxBuckets > 0 && len(res.Buckets) == in.MaxBuckets {
			res.IsTruncated = true
			break
		}
		res.Buckets = append(res.Buckets, storage.BucketInfo{Name: n, Owner: "o"})
	}
	return res, nil
}

// TestReconcile reserves the region's buckets the catalog lacks, releases the
// region's stale entries without a bucket (not fresh ones, not other regions'),
// and reports a bucket whose name another region holds.
func TestReconcile(t *testing.T) {
	ctx := t.Context()
	store := newMemCatalog()
	cat := newTestCatalog(t, &staticDirectory{}, func(c *CatalogConfig) { c.Local = store })
	for _, e := range []struct{ name, region string }{{"stale", "eu"}, {"fresh", "eu"}, {"theirs", "us"}, {"kept", "eu"}, {"clash", "us"}} {
		if _, err := store.ReserveBucket(ctx, e.name, e.region, "o"); err != nil {
			t.Fatal(err)
		}
	}
	region := &fakeRegionStore{names: []string{"kept", "old-1", "old-2", "clash"}}
	// "fresh" was reserved a moment before now; "stale" (and every other entry)
	// long before: pretend now is later, and make "fresh" young again.
	now := time.Now().Add(2 * ReconcileGrace)
	store.mu.Lock()
	e := store.entries["fresh"]
	e.Created = now.Add(-time.Second)
	store.entries["fresh"] = e
	store.mu.Unlock()

	reserved, released, err := Reconcile(ctx, cat, "eu", region, ReconcileGrace, now)
	if err == nil || !strings.Contains(err.Error(), "clash") {
		t.Errorf("the clash with us's claim is not reported: %v", err)
	}
	if reserved != 2 || released != 1 {
		t.Errorf("reserved %d, released %d; want 2 (old-1, old-2) and 1 (stale)", reserved, released)
	}
	snap, _ := store.Catalog(ctx)
	var got []string
	for _, e := range snap.Entries {
		got = append(got, e.Bucket+"@"+e.Region)
	}
	want := "clash@us fresh@eu kept@eu old-1@eu old-2@eu theirs@us"
	if strings.Join(got, " ") != want {
		t.Errorf("catalog after reconciling: %v, want %s", got, want)
	}
}

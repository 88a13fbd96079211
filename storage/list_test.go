package storage

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

func listKeys(res ListObjectsResult) []string {
	var out []string
	for _, v := range res.Objects {
		out = append(out, v.Key)
	}
	return out
}

func TestStore_ListObjects(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.setVersioning("b", VersioningEnabled)
	for _, k := range []string{"a", "a/1", "a/2", "a/b/1", "b", "c/1", "c/2", "d", "e\x00x", "e"} {
		h.put("b", k, []byte(k))
	}
	h.del("b", "d", "") // a marker hides d
	h.put("b", "f/1", []byte("f"))
	h.del("b", "f/1", "") // and f/ has nothing visible left
	h.put("b", "b", []byte("b2"))

	tests := []struct {
		name          string
		in            ListObjectsInput
		keys, prefixs []string
		truncated     bool
		next          string
	}{
		{"all", ListObjectsInput{MaxKeys: -1}, []string{"a", "a/1", "a/2", "a/b/1", "b", "c/1", "c/2", "e", "e\x00x"}, nil, false, ""},
		{"delimiter", ListObjectsInput{Delimiter: "/", MaxKeys: 1000}, []string{"a", "b", "e", "e\x00x"}, []string{"a/", "c/"}, false, ""},
		{"prefix+delimiter", ListObjectsInput{Prefix: "a/", Delimiter: "/", MaxKeys: 1000}, []string{"a/1", "a/2"}, []string{"a/b/"}, false, ""},
		{"page of 2", ListObjectsInput{Delimiter: "/", MaxKeys: 2}, []string{"a"}, []string{"a/"}, true, "a/"},
		{"after a common prefix", ListObjectsInput{Delimiter: "/", Marker: "a/", MaxKeys: 2}, []string{"b"}, []string{"c/"}, true, "c/"},
		{"marker inside a prefix", ListObjectsInput{Delimiter: "/", Marker: "a/1", MaxKeys: 10}, []string{"b", "e", "e\x00x"}, []string{"c/"}, false, ""},
		{"marker", ListObjectsInput{Marker: "c/1", MaxKeys: 10}, []string{"c/2", "e", "e\x00x"}, nil, false, ""},
		{"marker before prefix", ListObjectsInput{Prefix: "c", Marker: "a", MaxKeys: 10}, []string{"c/1", "c/2"}, nil, false, ""},
		{"marker after prefix", ListObjectsInput{Prefix: "a", Marker: "b", MaxKeys: 10}, nil, nil, false, ""},
		{"truncated exactly", ListObjectsInput{Prefix: "c/", MaxKeys: 1}, []string{"c/1"}, nil, true, "c/1"},
		{"full page is not truncated", ListObjectsInput{Prefix: "c/", MaxKeys: 2}, []string{"c/1", "c/2"}, nil, false, ""},
		{"max keys 0", ListObjectsInput{MaxKeys: 0}, nil, nil, false, ""},
		{"only markers left", ListObjectsInput{Marker: "c/2", Prefix: "d", MaxKeys: 10}, nil, nil, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.s.ListObjects(context.Background(), "b", tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := listKeys(res); !reflect.DeepEqual(got, tc.keys) {
				t.Errorf("keys = %q, want %q", got, tc.keys)
			}
			if !reflect.DeepEqual(res.CommonPrefixes, tc.prefixs) {
				t.Errorf("prefixes = %q, want %q", res.CommonPrefixes, tc.prefixs)
			}
			if res.IsTruncated != tc.truncated || res.NextMarker != tc.next {
				t.Errorf("truncated, next = %v %q; want %v %q", res.IsTruncated, res.NextMarker, tc.truncated, tc.next)
			}
			for _, v := range res.Objects {
				if !v.IsLatest || v.DeleteMarker {
					t.Errorf("listed %q: latest %v marker %v", v.Key, v.IsLatest, v.DeleteMarker)
				}
			}
		})
	}
	if res, _ := h.s.ListObjects(context.Background(), "b", ListObjectsInput{Prefix: "b", MaxKeys: 10}); len(res.Objects) != 1 || string(h.read(res.Objects[0], 0, -1)) != "b2" {
		t.Fatalf("listing returned a stale version: %+v", res.Objects)
	}
	_, err := h.s.ListObjects(context.Background(), "nope", ListObjectsInput{})
	wantErr(t, err, ErrNoSuchBucket)
}

// TestStore_ListObjects_Pagination walks every page size over a tree and checks the
// pages concatenate to the unpaginated listing.
func TestStore_ListObjects_Pagination(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	var cmds []Command
	for _, d := range []string{"x/", "y/z/", "", "q/"} {
		for i := range 7 {
			cmds = append(cmds, h.putCmd("b", d+strings.Repeat("k", i+1), []byte("v")))
		}
	}
	for _, r := range h.s.Apply(cmds) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	for _, delim := range []string{"", "/"} {
		all, _ := h.s.ListObjects(context.Background(), "b", ListObjectsInput{Delimiter: delim, MaxKeys: 1000})
		for size := 1; size <= 12; size++ {
			var keys, prefixes []string
			marker := ""
			for pages := 0; ; pages++ {
				if pages > 100 {
					t.Fatal("pagination does not terminate")
				}
				res, err := h.s.ListObjects(context.Background(), "b", ListObjectsInput{Delimiter: delim, Marker: marker, MaxKeys: size})
				if err != nil {
					t.Fatal(err)
				}
				if n := len(res.Objects) + len(res.CommonPrefixes); n > size || (res.IsTruncated && n != size) {
					t.Fatalf("page of %d entries for size %d (truncated %v)", n, size, res.IsTruncated)
				}
				keys = append(keys, listKeys(res)...)
				prefixes = append(prefixes, res.CommonPrefixes...)
				if !res.IsTruncated {
					break
				}
				marker = res.NextMarker
			}
			if !reflect.DeepEqual(keys, listKeys(all)) || !reflect.DeepEqual(prefixes, all.CommonPrefixes) {
				t.Fatalf("delim %q size %d: pages give %q %q, want %q %q", delim, size, keys, prefixes, listKeys(all), all.CommonPrefixes)
			}
		}
	}
}

func TestStore_ListObjectVersions(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	n1 := h.put("b", "a", []byte("a-null"))
	h.setVersioning("b", VersioningEnabled)
	a2 := h.put("b", "a", []byte("a2"))
	am := h.del("b", "a", "")
	b1 := h.put("b", "b", []byte("b1"))
	c1 := h.put("b", "c/1", []byte("c1"))
	h.setVersioning("b", VersioningSuspended)
	cn := h.put("b", "c/1", []byte("c-null"))

	type row struct {
		key, id string
		marker  bool
		latest  bool
	}
	rows := func(vs []ObjectVersion) []row {
		var out []row
		for _, v := range vs {
			out = append(out, row{v.Key, v.VersionIDText(), v.DeleteMarker, v.IsLatest})
		}
		return out
	}
	all := []row{
		{"a", am.VersionID, true, true},
		{"a", a2.ID.String(), false, false},
		{"a", "null", false, false},
		{"b", b1.ID.String(), false, true},
		{"c/1", "null", false, true},
		{"c/1", c1.ID.String(), false, false},
	}
	_ = n1
	_ = cn
	res, err := h.s.ListObjectVersions(context.Background(), "b", ListVersionsInput{MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if got := rows(res.Versions); !reflect.DeepEqual(got, all) {
		t.Fatalf("versions =\n%v\nwant\n%v", got, all)
	}

	// Every page size paginates to the same sequence, and a page that starts in the
	// middle of a key does not call its first version latest.
	for size := 1; size <= 7; size++ {
		var got []row
		in := ListVersionsInput{MaxKeys: size}
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatal("pagination does not terminate")
			}
			res, err := h.s.ListObjectVersions(context.Background(), "b", in)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rows(res.Versions)...)
			if !res.IsTruncated {
				if res.NextKeyMarker != "" || res.NextVersionIDMarker != "" {
					t.Fatalf("markers set on the last page: %q %q", res.NextKeyMarker, res.NextVersionIDMarker)
				}
				break
			}
			in.KeyMarker, in.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
		}
		if !reflect.DeepEqual(got, all) {
			t.Fatalf("size %d: pages give\n%v\nwant\n%v", size, got, all)
		}
	}

	// Delimiter and prefix.
	res, _ = h.s.ListObjectVersions(context.Background(), "b", ListVersionsInput{Delimiter: "/", MaxKeys: 1000})
	if len(res.Versions) != 4 || !reflect.DeepEqual(res.CommonPrefixes, []string{"c/"}) {
		t.Fatalf("delimited = %v %q", rows(res.Versions), res.CommonPrefixes)
	}
	res, _ = h.s.ListObjectVersions(context.Background(), "b", ListVersionsInput{Prefix: "c/", MaxKeys: 1000})
	if got := rows(res.Versions); !reflect.DeepEqual(got, all[4:]) {
		t.Fatalf("prefixed = %v", got)
	}
	// Key marker alone skips every version of that key.
	res, _ = h.s.ListObjectVersions(context.Background(), "b", ListVersionsInput{KeyMarker: "a", MaxKeys: 1000})
	if got := rows(res.Versions); !reflect.DeepEqual(got, all[3:]) {
		t.Fatalf("after key a = %v", got)
	}
	_, err = h.s.ListObjectVersions(context.Background(), "b", ListVersionsInput{KeyMarker: "a", VersionIDMarker: "zzz"})
	wantErr(t, err, ErrInvalidVersionID)
}

func TestStore_ListMultipartUploads(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	for _, u := range [][2]string{{"a", "u2"}, {"a", "u1"}, {"d/x", "u3"}, {"d/y", "u4"}, {"z", "u5"}} {
		h.mustApply(CreateUploadCmd{Bucket: "b", Key: u[0], UploadID: u[1], Time: h.now()})
	}
	ids := func(r ListUploadsResult) []string {
		var out []string
		for _, u := range r.Uploads {
			out = append(out, u.Key+"#"+u.UploadID)
		}
		return out
	}
	ctx := context.Background()
	res, _ := h.s.ListMultipartUploads(ctx, "b", ListUploadsInput{MaxUploads: 1000})
	if got := ids(res); !reflect.DeepEqual(got, []string{"a#u1", "a#u2", "d/x#u3", "d/y#u4", "z#u5"}) {
		t.Fatalf("uploads = %q", got)
	}
	res, _ = h.s.ListMultipartUploads(ctx, "b", ListUploadsInput{Delimiter: "/", MaxUploads: 2})
	if got := ids(res); !reflect.DeepEqual(got, []string{"a#u1", "a#u2"}) || !res.IsTruncated || res.NextKeyMarker != "a" || res.NextUploadIDMarker != "u2" {
		t.Fatalf("page 1 = %q %+v", got, res)
	}
	res, _ = h.s.ListMultipartUploads(ctx, "b", ListUploadsInput{Delimiter: "/", KeyMarker: "a", UploadIDMarker: "u1", MaxUploads: 2})
	if got := ids(res); !reflect.DeepEqual(got, []string{"a#u2"}) || !reflect.DeepEqual(res.CommonPrefixes, []string{"d/"}) || !res.IsTruncated {
		t.Fatalf("page 2 = %q %+v", got, res)
	}
	res, _ = h.s.ListMultipartUploads(ctx, "b", ListUploadsInput{Delimiter: "/", KeyMarker: "d/", MaxUploads: 2})
	if got := ids(res); !reflect.DeepEqual(got, []string{"z#u5"}) || res.IsTruncated {
		t.Fatalf("page 3 = %q %+v", got, res)
	}
}

func TestStore_ListBucketsPage(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	regions := map[string]string{"a1": "us-east-1", "a2": "eu-west-1", "a3": "us-east-1", "ab": "us-east-1", "b1": "eu-west-1", "b2": "us-east-1"}
	for name, region := range regions {
		h.mustApply(CreateBucketCmd{Name: name, Region: region, Owner: "pangea", Time: h.now()})
	}
	names := func(res ListBucketsResult) string {
		var out []string
		for _, b := range res.Buckets {
			if b.Region != regions[b.Name] {
				t.Errorf("%s: region %q", b.Name, b.Region)
			}
			out = append(out, b.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		in        ListBucketsInput
		want      string
		truncated bool
	}{
		{ListBucketsInput{}, "a1,a2,a3,ab,b1,b2", false},
		{ListBucketsInput{MaxBuckets: 2}, "a1,a2", true},
		{ListBucketsInput{MaxBuckets: 6}, "a1,a2,a3,ab,b1,b2", false},
		{ListBucketsInput{StartAfter: "a2", MaxBuckets: 2}, "a3,ab", true},
		{ListBucketsInput{StartAfter: "ab", MaxBuckets: 2}, "b1,b2", false},
		{ListBucketsInput{StartAfter: "a25"}, "a3,ab,b1,b2", false},
		{ListBucketsInput{StartAfter: "b2"}, "", false},
		{ListBucketsInput{Prefix: "a"}, "a1,a2,a3,ab", false},
		{ListBucketsInput{Prefix: "a", MaxBuckets: 4}, "a1,a2,a3,ab", false},
		{ListBucketsInput{Prefix: "a", StartAfter: "a2", MaxBuckets: 1}, "a3", true},
		// StartAfter before the prefix: the page starts at the prefix.
		{ListBucketsInput{Prefix: "b", StartAfter: "a3"}, "b1,b2", false},
		// StartAfter past the prefix: nothing.
		{ListBucketsInput{Prefix: "a", StartAfter: "b"}, "", false},
		{ListBucketsInput{Prefix: "c"}, "", false},
		{ListBucketsInput{Region: "eu-west-1"}, "a2,b1", false},
		// Truncation counts only selected buckets: b1 is the last of its region.
		{ListBucketsInput{Region: "eu-west-1", MaxBuckets: 1}, "a2", true},
		{ListBucketsInput{Region: "eu-west-1", StartAfter: "a2", MaxBuckets: 1}, "b1", false},
		{ListBucketsInput{Region: "us-east-1", Prefix: "a", MaxBuckets: 2}, "a1,a3", true},
		{ListBucketsInput{Region: "us-east-1", Prefix: "a", StartAfter: "a3", MaxBuckets: 2}, "ab", false},
		{ListBucketsInput{Region: "ap-south-1"}, "", false},
	} {
		res, err := h.s.ListBucketsPage(ctx, tc.in)
		if err != nil {
			t.Fatalf("%+v: %v", tc.in, err)
		}
		if got := names(res); got != tc.want || res.IsTruncated != tc.truncated {
			t.Errorf("%+v = %q truncated %v, want %q truncated %v", tc.in, got, res.IsTruncated, tc.want, tc.truncated)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.s.ListBucketsPage(cctx, ListBucketsInput{}); err == nil {
		t.Fatal("canceled context listed buckets")
	}
}

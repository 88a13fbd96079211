package integration

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// versionRow is one entry of ListObjectVersions, marker or version, flattened so a
// whole listing can be compared in one go.
type versionRow struct {
	Key    string
	ID     string
	Latest bool
	Marker bool
	Size   int64
}

func (r versionRow) String() string {
	kind := "V"
	if r.Marker {
		kind = "M"
	}
	return fmt.Sprintf("%s %s id=%s latest=%v size=%d", kind, r.Key, r.ID, r.Latest, r.Size)
}

// listVersions returns every version and marker under prefix, merged into S3's order
// (key ascending, newest first within a key), following pagination.
func listVersions(t *testing.T, e *env, bucket, prefix string, pageSize int32) []versionRow {
	t.Helper()
	var rows []versionRow
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	if pageSize > 0 {
		in.MaxKeys = aws.Int32(pageSize)
	}
	p := s3.NewListObjectVersionsPaginator(e.s3, in)
	for pages := 0; p.HasMorePages(); pages++ {
		if pages > 1000 {
			t.Fatalf("ListObjectVersions: more than 1000 pages, pagination does not advance")
		}
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("ListObjectVersions: %v", err)
		}
		if pageSize > 0 && len(out.Versions)+len(out.DeleteMarkers) > int(pageSize) {
			t.Errorf("ListObjectVersions page has %d entries, MaxKeys %d", len(out.Versions)+len(out.DeleteMarkers), pageSize)
		}
		// The SDK splits the interleaved XML into two slices; merge them back.
		var page []versionRow
		for _, v := range out.Versions {
			page = append(page, versionRow{Key: aws.ToString(v.Key), ID: aws.ToString(v.VersionId),
				Latest: aws.ToBool(v.IsLatest), Size: aws.ToInt64(v.Size)})
		}
		for _, m := range out.DeleteMarkers {
			page = append(page, versionRow{Key: aws.ToString(m.Key), ID: aws.ToString(m.VersionId),
				Latest: aws.ToBool(m.IsLatest), Marker: true})
		}
		rows = append(rows, page...)
	}
	return rows
}

func TestVersioning(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	b := e.mkBucket(t, "versions")
	k := aws.String("doc.txt")

	st, err := e.s3.GetBucketVersioning(c, &s3.GetBucketVersioningInput{Bucket: aws.String(b)})
	if err != nil {
		t.Fatalf("GetBucketVersioning: %v", err)
	}
	if st.Status != "" {
		t.Errorf("new bucket versioning status %q, want none", st.Status)
	}

	// Written while unversioned: this becomes the null version.
	v1 := e.put(t, b, *k, []byte("one"))
	if id := aws.ToString(v1.VersionId); id != "" && id != "null" {
		t.Errorf("PUT to an unversioned bucket returned version %q", id)
	}

	enableVersioning(t, e, b)
	st, err = e.s3.GetBucketVersioning(c, &s3.GetBucketVersioningInput{Bucket: aws.String(b)})
	if err != nil || st.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("GetBucketVersioning after enabling = %q, %v", st.Status, err)
	}

	v2 := e.put(t, b, *k, []byte("two!"))
	v3 := e.put(t, b, *k, []byte("three"))
	id2, id3 := aws.ToString(v2.VersionId), aws.ToString(v3.VersionId)
	if id2 == "" || id2 == "null" || id3 == "" || id3 == "null" || id2 == id3 {
		t.Fatalf("versioned PUTs returned version IDs %q and %q", id2, id3)
	}

	t.Run("read each version", func(t *testing.T) {
		for id, want := range map[string]string{"null": "one", id2: "two!", id3: "three", "": "three"} {
			in := &s3.GetObjectInput{Bucket: aws.String(b), Key: k}
			if id != "" {
				in.VersionId = aws.String(id)
			}
			body, out := e.get(t, e.s3, in)
			if string(body) != want {
				t.Errorf("GET versionId=%q = %q, want %q", id, body, want)
			}
			if wantID := map[bool]string{true: id3, false: id}[id == ""]; aws.ToString(out.VersionId) != wantID {
				t.Errorf("GET versionId=%q answered x-amz-version-id %q, want %q", id, aws.ToString(out.VersionId), wantID)
			}
		}
		_, err := e.s3.GetObject(c, &s3.GetObjectInput{Bucket: aws.String(b), Key: k, VersionId: aws.String("not-a-version")})
		wantAPIError(t, err, "InvalidArgument", http.StatusBadRequest)
		e.mustServe(t)
	})

	t.Run("list versions", func(t *testing.T) {
		want := []versionRow{
			{Key: *k, ID: id3, Latest: true, Size: 5},
			{Key: *k, ID: id2, Size: 4},
			{Key: *k, ID: "null", Size: 3},
		}
		if got := listVersions(t, e, b, "", 0); !slices.Equal(got, want) {
			t.Errorf("ListObjectVersions:\n got %v\nwant %v", got, want)
		}
	})

	var marker string
	t.Run("delete marker", func(t *testing.T) {
		del, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: k})
		if err != nil {
			t.Fatalf("DeleteObject: %v", err)
		}
		marker = aws.ToString(del.VersionId)
		if !aws.ToBool(del.DeleteMarker) || marker == "" || marker == "null" {
			t.Fatalf("DeleteObject on a versioned bucket: DeleteMarker=%v VersionId=%q, want a new marker", aws.ToBool(del.DeleteMarker), marker)
		}

		// Current version is a marker: 404 with x-amz-delete-marker.
		_, err = e.s3.GetObject(c, &s3.GetObjectInput{Bucket: aws.String(b), Key: k})
		re := wantAPIError(t, err, "NoSuchKey", http.StatusNotFound)
		if re.Response.Header.Get("X-Amz-Delete-Marker") != "true" {
			t.Errorf("GET of a deleted key: no x-amz-delete-marker: true header")
		}
		_, err = e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: aws.String(b), Key: k})
		re = wantAPIError(t, err, "", http.StatusNotFound)
		if re.Response.Header.Get("X-Amz-Delete-Marker") != "true" {
			t.Errorf("HEAD of a deleted key: no x-amz-delete-marker: true header")
		}

		// Naming the marker's version: 405.
		_, err = e.s3.GetObject(c, &s3.GetObjectInput{Bucket: aws.String(b), Key: k, VersionId: aws.String(marker)})
		re = wantAPIError(t, err, "MethodNotAllowed", http.StatusMethodNotAllowed)
		if re.Response.Header.Get("X-Amz-Delete-Marker") != "true" {
			t.Errorf("GET ?versionId=<marker>: no x-amz-delete-marker: true header")
		}
		if re.Response.Header.Get("Last-Modified") == "" {
			t.Errorf("GET ?versionId=<marker>: no Last-Modified header")
		}
		_, err = e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: aws.String(b), Key: k, VersionId: aws.String(marker)})
		wantAPIError(t, err, "", http.StatusMethodNotAllowed)

		// Older versions stay readable.
		body, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: k, VersionId: aws.String(id2)})
		if string(body) != "two!" {
			t.Errorf("GET old version after delete = %q", body)
		}

		want := []versionRow{
			{Key: *k, ID: marker, Latest: true, Marker: true},
			{Key: *k, ID: id3, Size: 5},
			{Key: *k, ID: id2, Size: 4},
			{Key: *k, ID: "null", Size: 3},
		}
		if got := sortedRows(listVersions(t, e, b, "", 0)); !slices.Equal(got, want) {
			t.Errorf("ListObjectVersions after delete:\n got %v\nwant %v", got, want)
		}

		// Markers carry their owner like versions do.
		raw, err := e.s3.ListObjectVersions(c, &s3.ListObjectVersionsInput{Bucket: aws.String(b)})
		if err != nil {
			t.Fatal(err)
		}
		if len(raw.DeleteMarkers) != 1 || len(raw.Versions) == 0 {
			t.Fatalf("ListObjectVersions: %d markers, %d versions", len(raw.DeleteMarkers), len(raw.Versions))
		}
		if vo, mo := raw.Versions[0].Owner, raw.DeleteMarkers[0].Owner; vo == nil || mo == nil || aws.ToString(mo.ID) != aws.ToString(vo.ID) {
			t.Errorf("delete marker Owner ID %q, want the versions' owner %q", ownerID(mo), ownerID(vo))
		}

		l, err := e.s3.ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: aws.String(b)})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Contents) != 0 {
			t.Errorf("ListObjectsV2 lists %d objects, want none: the key's current version is a marker", len(l.Contents))
		}
	})

	t.Run("remove the marker", func(t *testing.T) {
		del, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: k, VersionId: aws.String(marker)})
		if err != nil {
			t.Fatalf("DeleteObject versionId=<marker>: %v", err)
		}
		if !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) != marker {
			t.Errorf("permanent delete of a marker answered DeleteMarker=%v VersionId=%q", aws.ToBool(del.DeleteMarker), aws.ToString(del.VersionId))
		}
		body, _ := e.get(t, e.s3, &s3.GetObjectInput{Bucket: aws.String(b), Key: k})
		if string(body) != "three" {
			t.Errorf("GET after removing the marker = %q, want the previous version", body)
		}
		// Permanently deleting a real version.
		if _, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: k, VersionId: aws.String(id2)}); err != nil {
			t.Fatalf("DeleteObject versionId=%s: %v", id2, err)
		}
		_, err = e.s3.GetObject(c, &s3.GetObjectInput{Bucket: aws.String(b), Key: k, VersionId: aws.String(id2)})
		wantAPIError(t, err, "NoSuchVersion", http.StatusNotFound)
	})

	t.Run("suspended", func(t *testing.T) {
		setVersioning(t, e, b, types.BucketVersioningStatusSuspended)
		st, err := e.s3.GetBucketVersioning(c, &s3.GetBucketVersioningInput{Bucket: aws.String(b)})
		if err != nil || st.Status != types.BucketVersioningStatusSuspended {
			t.Fatalf("GetBucketVersioning after suspending = %q, %v", st.Status, err)
		}
		// A PUT while suspended replaces the null version and keeps the others.
		e.put(t, b, *k, []byte("four"))
		want := []versionRow{
			{Key: *k, ID: "null", Latest: true, Size: 4},
			{Key: *k, ID: id3, Size: 5},
		}
		if got := sortedRows(listVersions(t, e, b, "", 0)); !slices.Equal(got, want) {
			t.Errorf("ListObjectVersions after a suspended PUT:\n got %v\nwant %v", got, want)
		}

		// A DELETE while suspended writes a null delete marker in place of the null version.
		del, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: k})
		if err != nil {
			t.Fatal(err)
		}
		if !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) != "null" {
			t.Errorf("suspended DELETE answered DeleteMarker=%v VersionId=%q, want true and null", aws.ToBool(del.DeleteMarker), aws.ToString(del.VersionId))
		}
		want = []versionRow{
			{Key: *k, ID: "null", Latest: true, Marker: true},
			{Key: *k, ID: id3, Size: 5},
		}
		if got := sortedRows(listVersions(t, e, b, "", 0)); !slices.Equal(got, want) {
			t.Errorf("ListObjectVersions after a suspended DELETE:\n got %v\nwant %v", got, want)
		}
	})

	t.Run("cannot return to unversioned", func(t *testing.T) {
		r := e.do(t, rawRequest{
			Method: http.MethodPut, Path: "/" + b, Query: "versioning",
			Body: []byte(`<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Unversioned</Status></VersioningConfiguration>`),
		})
		r.wantCode(t, "MalformedXML", http.StatusBadRequest)
		e.mustServe(t)
	})
}

func TestListObjectVersionsPagination(t *testing.T) {
	e := newEnv(t)
	b := e.mkBucket(t, "vpages")
	enableVersioning(t, e, b)

	// Three keys with 3, 1 and 2 versions, one of them currently deleted.
	var want []versionRow
	for _, spec := range []struct {
		key      string
		versions int
		deleted  bool
	}{{"a", 3, false}, {"b/x", 1, true}, {"c", 2, false}} {
		var rows []versionRow
		for i := range spec.versions {
			out := e.put(t, b, spec.key, make([]byte, i+1))
			rows = append(rows, versionRow{Key: spec.key, ID: aws.ToString(out.VersionId), Size: int64(i + 1)})
		}
		if spec.deleted {
			del, err := e.s3.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String(spec.key)})
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, versionRow{Key: spec.key, ID: aws.ToString(del.VersionId), Marker: true})
		}
		slices.Reverse(rows) // newest first
		rows[0].Latest = true
		want = append(want, rows...)
	}

	for _, size := range []int32{1, 2, 4, 1000} {
		t.Run(fmt.Sprintf("page %d", size), func(t *testing.T) {
			if got := listVersions(t, e, b, "", size); !slices.Equal(sortedRows(got), want) {
				t.Errorf("ListObjectVersions MaxKeys=%d:\n got %v\nwant %v", size, got, want)
			}
		})
	}

	t.Run("delimiter", func(t *testing.T) {
		out, err := e.s3.ListObjectVersions(ctx(t), &s3.ListObjectVersionsInput{Bucket: aws.String(b), Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "b/" {
			t.Errorf("CommonPrefixes = %v, want [b/]", out.CommonPrefixes)
		}
		if n := len(out.Versions) + len(out.DeleteMarkers); n != 5 {
			t.Errorf("ListObjectVersions with delimiter: %d entries, want 5 (a and c)", n)
		}
	})
}

// sortedRows restores S3's order within each page-merged listing: the SDK hands versions
// and markers back in separate slices, so the interleaving is lost and rebuilt here from
// the version IDs' order within a key (newest first: the latest entry leads).
func sortedRows(rows []versionRow) []versionRow {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b versionRow) int {
		if a.Key != b.Key {
			if a.Key < b.Key {
				return -1
			}
			return 1
		}
		if a.Latest != b.Latest {
			if a.Latest {
				return -1
			}
			return 1
		}
		return 0
	})
	return out
}

func ownerID(o *types.Owner) string {
	if o == nil {
		return "<no Owner>"
	}
	return aws.ToString(o.ID)
}

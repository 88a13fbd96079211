package s3api

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// listBucketsEnv is an env with 25 us-east-1 buckets under three prefixes
// (app-00..09, data-00..09, logs-00..04) and two eu-west-1 buckets (data-eu-1,
// zz-eu-2) written straight to the backend, as a region's replica of another
// region's buckets would be. It returns the us-east-1 and eu-west-1 names in order.
func listBucketsEnv(t *testing.T) (e *testEnv, us, eu []string) {
	t.Helper()
	e = newEnv(t)
	for _, p := range []struct {
		prefix string
		n      int
	}{{"app-", 10}, {"data-", 10}, {"logs-", 5}} {
		for i := range p.n {
			name := fmt.Sprintf("%s%02d", p.prefix, i)
			e.createBucket(name)
			us = append(us, name)
		}
	}
	eu = []string{"data-eu-1", "zz-eu-2"}
	for _, name := range eu {
		must(t, "create "+name, e.local.CreateBucket(context.Background(), name, "eu-west-1", ownerAK))
	}
	return e, us, eu
}

// pageAll lists with the SDK paginator and returns the pages' names. It checks
// that every page but the last carries a ContinuationToken, that no page exceeds
// MaxBuckets, and that Prefix is echoed when given.
func pageAll(t *testing.T, c *s3.Client, in s3.ListBucketsInput) [][]string {
	t.Helper()
	var pages [][]string
	p := s3.NewListBucketsPaginator(c, &in)
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		must(t, "list buckets page", err)
		var names []string
		for _, b := range out.Buckets {
			names = append(names, aws.ToString(b.Name))
		}
		if in.MaxBuckets != nil && len(names) > int(*in.MaxBuckets) {
			t.Fatalf("page of %d buckets with MaxBuckets %d", len(names), *in.MaxBuckets)
		}
		if got, want := aws.ToString(out.Prefix), aws.ToString(in.Prefix); got != want {
			t.Errorf("Prefix = %q, want %q", got, want)
		}
		pages = append(pages, names)
		if len(pages) > 100 {
			t.Fatal("paginator does not end")
		}
	}
	return pages
}

func TestListBuckets_PaginatorVisitsEveryBucketOnceInOrder(t *testing.T) {
	e, us, eu := listBucketsEnv(t)
	all := slices.Sorted(slices.Values(append(slices.Clone(us), eu...)))
	pages := pageAll(t, e.owner(), s3.ListBucketsInput{MaxBuckets: aws.Int32(10)})
	if len(pages) != 3 || len(pages[0]) != 10 || len(pages[1]) != 10 || len(pages[2]) != 7 {
		t.Fatalf("pages = %v, want 10+10+7 buckets", pages)
	}
	if got := slices.Concat(pages...); !slices.Equal(got, all) {
		t.Fatalf("paged names\n%v\nwant\n%v", got, all)
	}

	// A page that ends exactly at the last bucket carries no token.
	pages = pageAll(t, e.owner(), s3.ListBucketsInput{MaxBuckets: aws.Int32(int32(len(all)))})
	if len(pages) != 1 || !slices.Equal(pages[0], all) {
		t.Fatalf("one full page = %v", pages)
	}
	// Pages of one bucket.
	if got := slices.Concat(pageAll(t, e.owner(), s3.ListBucketsInput{MaxBuckets: aws.Int32(1)})...); !slices.Equal(got, all) {
		t.Fatalf("pages of 1 = %v", got)
	}

	// The first page's token, handed back by hand, resumes after its last bucket.
	out, err := e.owner().ListBuckets(context.Background(), &s3.ListBucketsInput{MaxBuckets: aws.Int32(3)})
	must(t, "first page", err)
	if out.ContinuationToken == nil || len(out.Buckets) != 3 {
		t.Fatalf("first page: %d buckets, token %v", len(out.Buckets), out.ContinuationToken)
	}
	out, err = e.owner().ListBuckets(context.Background(), &s3.ListBucketsInput{ContinuationToken: out.ContinuationToken})
	must(t, "rest", err)
	if len(out.Buckets) != len(all)-3 || aws.ToString(out.Buckets[0].Name) != all[3] || out.ContinuationToken != nil {
		t.Fatalf("rest: %d buckets from %s, token %v", len(out.Buckets), aws.ToString(out.Buckets[0].Name), out.ContinuationToken)
	}

	// Any authenticated principal sees every bucket, as before pagination.
	if got := slices.Concat(pageAll(t, e.client(otherAK, otherSK), s3.ListBucketsInput{MaxBuckets: aws.Int32(10)})...); !slices.Equal(got, all) {
		t.Fatalf("other principal's pages = %v", got)
	}
	_, err = e.client("", "").ListBuckets(context.Background(), &s3.ListBucketsInput{MaxBuckets: aws.Int32(10)})
	wantCode(t, "anonymous paged list", err, "AccessDenied")
}

func TestListBuckets_Prefix(t *testing.T) {
	e, us, _ := listBucketsEnv(t)
	want := append(slices.Clone(us[10:20]), "data-eu-1")
	slices.Sort(want)
	for _, max := range []*int32{nil, aws.Int32(4)} {
		pages := pageAll(t, e.owner(), s3.ListBucketsInput{Prefix: aws.String("data-"), MaxBuckets: max})
		if got := slices.Concat(pages...); !slices.Equal(got, want) {
			t.Fatalf("prefix data- (max %v) = %v, want %v", max, got, want)
		}
		if max != nil && len(pages) != 3 {
			t.Fatalf("prefix data- in pages of 4: %v", pages)
		}
	}
	if got := slices.Concat(pageAll(t, e.owner(), s3.ListBucketsInput{Prefix: aws.String("logs-0"), MaxBuckets: aws.Int32(5)})...); !slices.Equal(got, us[20:]) {
		t.Fatalf("prefix logs-0 = %v", got)
	}
	pages := pageAll(t, e.owner(), s3.ListBucketsInput{Prefix: aws.String("nothing-"), MaxBuckets: aws.Int32(5)})
	if len(pages) != 1 || len(pages[0]) != 0 {
		t.Fatalf("prefix without buckets = %v", pages)
	}
}

func TestListBuckets_BucketRegion(t *testing.T) {
	e, us, eu := listBucketsEnv(t)
	ctx := context.Background()

	// Every entry tells its bucket's region.
	out, err := e.owner().ListBuckets(ctx, &s3.ListBucketsInput{})
	must(t, "list", err)
	if len(out.Buckets) != len(us)+len(eu) || out.ContinuationToken != nil {
		t.Fatalf("list: %d buckets, token %v", len(out.Buckets), out.ContinuationToken)
	}
	for _, b := range out.Buckets {
		want := "us-east-1"
		if slices.Contains(eu, aws.ToString(b.Name)) {
			want = "eu-west-1"
		}
		if got := aws.ToString(b.BucketRegion); got != want {
			t.Errorf("%s: BucketRegion %q, want %q", aws.ToString(b.Name), got, want)
		}
	}

	for _, tc := range []struct {
		region string
		max    *int32
		want   []string
	}{
		{"us-east-1", nil, us},
		{"us-east-1", aws.Int32(10), us},
		// The fifth page ends with logs-04, the last us-east-1 bucket, followed by
		// zz-eu-2: no token, no empty sixth page.
		{"us-east-1", aws.Int32(5), us},
		{"eu-west-1", nil, eu},
		// Pages of one: the filter skips the other region's buckets between them,
		// and the last page (zz-eu-2) has no token although no bucket follows.
		{"eu-west-1", aws.Int32(1), eu},
		{"ap-south-1", nil, nil},
		{"ap-south-1", aws.Int32(3), nil},
	} {
		pages := pageAll(t, e.owner(), s3.ListBucketsInput{BucketRegion: aws.String(tc.region), MaxBuckets: tc.max})
		if got := slices.Concat(pages...); !slices.Equal(got, tc.want) {
			t.Errorf("region %s (max %v) = %v, want %v", tc.region, tc.max, got, tc.want)
		}
		if tc.max != nil {
			n := int(*tc.max)
			if wantPages := max(1, (len(tc.want)+n-1)/n); len(pages) != wantPages {
				t.Errorf("region %s in pages of %d: %v, want %d pages", tc.region, n, pages, wantPages)
			}
		}
	}

	// Region and prefix together.
	pages := pageAll(t, e.owner(), s3.ListBucketsInput{BucketRegion: aws.String("eu-west-1"), Prefix: aws.String("data-")})
	if got := slices.Concat(pages...); !slices.Equal(got, []string{"data-eu-1"}) {
		t.Errorf("eu-west-1 data- = %v", got)
	}
}

func TestListBuckets_InvalidParameters(t *testing.T) {
	e, _, _ := listBucketsEnv(t)
	ctx := context.Background()
	for _, n := range []int32{0, 10001, -1} {
		_, err := e.owner().ListBuckets(ctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(n)})
		wantCode(t, fmt.Sprintf("max-buckets %d", n), err, "InvalidArgument")
	}
	_, err := e.owner().ListBuckets(ctx, &s3.ListBucketsInput{ContinuationToken: aws.String("not a token!")})
	wantCode(t, "garbage token", err, "InvalidArgument")

	for _, q := range []string{
		"max-buckets=abc", "max-buckets=", "max-buckets=1.5", "max-buckets=99999999999999999999",
		"continuation-token=", "continuation-token=%2A%2A%2A", "continuation-token=YWI%3D", // padded "ab"
		"continuation-token=YWJ", // "ab" with non-zero trailing bits
		"continuation-token=" + strings.Repeat("YWJj", 257),
		"continuation-token=" + bucketsToken("has space"),
		"max-buckets=5&continuation-token=%00",
	} {
		r := e.ownerDo("GET", "/?"+q, nil, nil)
		if r.status != 400 || r.code() != "InvalidArgument" {
			t.Errorf("?%s: %d %s", q, r.status, r.code())
		}
	}
	// The bounds themselves are accepted.
	for _, q := range []string{"max-buckets=1", "max-buckets=10000", "continuation-token=" + bucketsToken("zzz")} {
		if r := e.ownerDo("GET", "/?"+q, nil, nil); r.status != 200 {
			t.Errorf("?%s: %d %s", q, r.status, r.body)
		}
	}
}

var creationDateRE = regexp.MustCompile(`<CreationDate>[^<]*</CreationDate>`)

// TestListBuckets_WireFormat pins the document: without parameters it is what
// Pangea always sent (Owner, then Buckets, no ContinuationToken or Prefix), and
// ContinuationToken and Prefix come after Buckets.
func TestListBuckets_WireFormat(t *testing.T) {
	e := newEnv(t)
	for _, b := range []string{"b-one", "b-two", "c-three"} {
		e.createBucket(b)
	}
	body := func(q string) string {
		t.Helper()
		r := e.ownerDo("GET", "/"+q, nil, nil)
		if r.status != 200 {
			t.Fatalf("GET /%s: %d %s", q, r.status, r.body)
		}
		return creationDateRE.ReplaceAllString(string(r.body), "<CreationDate>T</CreationDate>")
	}
	const head = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<Owner><ID>pangea</ID><DisplayName>pangea</DisplayName></Owner><Buckets>`
	entry := func(name string) string {
		return "<Bucket><Name>" + name + "</Name><CreationDate>T</CreationDate><BucketRegion>us-east-1</BucketRegion></Bucket>"
	}
	want := head + entry("b-one") + entry("b-two") + entry("c-three") + `</Buckets></ListAllMyBucketsResult>`
	if got := body(""); got != want {
		t.Errorf("no parameters:\n%s\nwant\n%s", got, want)
	}
	want = head + entry("b-one") + `</Buckets><ContinuationToken>` + bucketsToken("b-one") +
		`</ContinuationToken><Prefix>b-</Prefix></ListAllMyBucketsResult>`
	if got := body("?prefix=b-&max-buckets=1"); got != want {
		t.Errorf("first page:\n%s\nwant\n%s", got, want)
	}
	want = head + entry("b-two") + `</Buckets><Prefix>b-</Prefix></ListAllMyBucketsResult>`
	if got := body("?prefix=b-&max-buckets=1&continuation-token=" + bucketsToken("b-one")); got != want {
		t.Errorf("last page:\n%s\nwant\n%s", got, want)
	}
}

func FuzzParseBucketsToken(f *testing.F) {
	for _, s := range []string{"", "YWJj", "YWI", "YWI=", "YWJ", "Yg", "!!", "a-b.c", bucketsToken("app-09"), bucketsToken("x y"),
		strings.Repeat("A", 1025), bucketsToken(strings.Repeat("a", 255)), bucketsToken(strings.Repeat("a", 256))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		name, ok := parseBucketsToken(tok)
		if !ok {
			if name != "" {
				t.Fatalf("rejected %q with name %q", tok, name)
			}
		} else {
			// A token accepted is the one canonical encoding of a plausible name.
			if name == "" || len(name) > 255 || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r > '~' }) {
				t.Fatalf("%q accepted as name %q", tok, name)
			}
			if bucketsToken(name) != tok {
				t.Fatalf("%q accepted but %q encodes as %q", tok, name, bucketsToken(name))
			}
		}
		// Any string read as a name: its token parses back to it exactly when the
		// name is plausible.
		back, ok := parseBucketsToken(bucketsToken(tok))
		plausible := tok != "" && len(tok) <= 255 && !strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r > '~' })
		if ok != plausible || (ok && back != tok) {
			t.Fatalf("name %q: token parses to %q, %v", tok, back, ok)
		}
	})
}

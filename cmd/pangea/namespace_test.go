package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/storage"
)

// twoFar is a planet of two one-member regions 80 ms apart, an edge beside each.
const twoFar = `
locations: [loc-a, loc-b]
links:
  - between: [loc-a, loc-b]
    rtt: 80ms
regions:
  - {name: ra, location: loc-a, members: 1}
  - {name: rb, location: loc-b, members: 1}
edges:
  - {name: edge-a, location: loc-a}
  - {name: edge-b, location: loc-b}
`

func s3Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func createIn(ctx context.Context, c *s3.Client, bucket, region string) error {
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}})
	return err
}

// TestPlanet_OneNamespace runs a two-region planet with edges: a bucket created
// in rb through ra's edge lives in rb's store only; it is read and written
// through either edge and through ra's member, and a read from the far edge
// pays the link's RTT; ListBuckets anywhere lists it with its region; a forged
// principal header is ignored; concurrent CreateBucket of one name in both
// regions leaves exactly one owner; a partition makes the far read a clean 503
// (not a hang) and healing restores it; with the control region (ra) down,
// CreateBucket and DeleteBucket answer 503 while rb's bucket is read and
// written.
func TestPlanet_OneNamespace(t *testing.T) {
	topo, err := topology.Parse([]byte(twoFar))
	if err != nil {
		t.Fatal(err)
	}
	pl := startTestPlanet(t, topo)
	lf := labfile0(pl)
	if len(lf.Edges) != 2 || lf.Endpoints.Global != lf.Edges[0].URL {
		t.Fatalf("lab.json edges %+v, global %q", lf.Edges, lf.Endpoints.Global)
	}
	edgeA, edgeB := lf.Edges[0].URL, lf.Edges[1].URL
	ra, rb := pl.regions[0].members[0], pl.regions[1].members[0]
	ctx := t.Context()

	// Create in rb through edge-a (signed for rb, as S3 wants the bucket's region).
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	testkit.Eventually(t, 10*time.Second, "CreateBucket in rb through edge-a", func() error {
		return createIn(ctx, regionS3(lf, edgeA, "rb"), "far", "rb")
	})
	if _, err := rb.member.Bucket(ctx, "far"); err != nil {
		t.Fatalf("rb's store lacks the bucket: %v", err)
	}
	if _, err := ra.member.Bucket(ctx, "far"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Fatalf("ra's store has the bucket too (err %v)", err)
	}
	body := randomBody(t, 256<<10)
	s3Put(t, regionS3(lf, edgeB, "rb"), "far", "obj", body)
	mustEqualBody(t, "GET through ra's member", s3Get(t, regionS3(lf, ra.url, "rb"), "far", "obj"), body)

	// The far edge pays the RTT; the near one does not.
	timeGet := func(url string) time.Duration {
		best := time.Hour
		for range 5 {
			start := time.Now()
			s3Get(t, regionS3(lf, url, "rb"), "far", "obj")
			best = min(best, time.Since(start))
		}
		return best
	}
	far, near := timeGet(edgeA), timeGet(edgeB)
	t.Logf("GET of 256 KiB: through the far edge %v, the near edge %v (RTT 80ms)", far, near)
	if far < 80*time.Millisecond || near >= 80*time.Millisecond {
		t.Errorf("far edge %v, near edge %v: want the far one to pay the 80ms RTT and the near one not", far, near)
	}

	// One namespace: ListBuckets through ra's member and an edge.
	for _, url := range []string{ra.url, edgeA} {
		out, err := regionS3(lf, url, "ra").ListBuckets(ctx, &s3.ListBucketsInput{})
		must("ListBuckets", err)
		if len(out.Buckets) != 1 || aws.ToString(out.Buckets[0].Name) != "far" || aws.ToString(out.Buckets[0].BucketRegion) != "rb" {
			t.Fatalf("ListBuckets through %s: %+v", url, out.Buckets)
		}
	}

	// A forged principal header from a client is ignored.
	for _, url := range []string{edgeA, ra.url, rb.url} {
		req, _ := http.NewRequest(http.MethodGet, url+"/far/obj", nil)
		req.Header.Set("X-Pangea-Principal", lf.AccessKey)
		req.Header.Set("X-Pangea-Auth-Method", "SigV4")
		resp, err := http.DefaultClient.Do(req)
		must("forged GET", err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("anonymous GET with a forged principal through %s: %d %s", url, resp.StatusCode, b)
		}
	}

	// Concurrent CreateBucket of one name in both regions: exactly one owner.
	for i := range 8 {
		name := fmt.Sprintf("race-%d", i)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, c := range []struct{ url, region string }{{ra.url, "ra"}, {rb.url, "rb"}} {
			wg.Go(func() { errs[j] = createIn(ctx, regionS3(lf, c.url, c.region), name, c.region) })
		}
		wg.Wait()
		won := 0
		for j, err := range errs {
			switch {
			case err == nil:
				won++
			case s3Code(err) == "BucketAlreadyOwnedByYou" || s3Code(err) == "BucketAlreadyExists":
			default:
				t.Fatalf("%s: create #%d: %v", name, j, err)
			}
		}
		_, errA := ra.member.Bucket(ctx, name)
		_, errB := rb.member.Bucket(ctx, name)
		if won != 1 || (errA == nil) == (errB == nil) {
			t.Fatalf("%s: %d creates succeeded (%v), in ra: %v, in rb: %v; want exactly one owner", name, won, errs, errA == nil, errB == nil)
		}
	}

	// A partition: the far read fails cleanly, then works again after the heal.
	must("partition", pl.net.Partition("loc-a", "loc-b"))
	start := time.Now()
	_, err = regionS3(lf, edgeA, "rb").GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("far"), Key: aws.String("obj")})
	if s3Code(err) != "ServiceUnavailable" {
		t.Fatalf("GET across a partition: %v, want a 503 ServiceUnavailable", err)
	}
	t.Logf("GET across a partition answered 503 in %v", time.Since(start))
	must("heal", pl.net.Heal("loc-a", "loc-b"))
	testkit.Eventually(t, 30*time.Second, "GET through the far edge after the heal", func() error {
		_, err := regionS3(lf, edgeA, "rb").GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("far"), Key: aws.String("obj")})
		return err
	})

	// The control region down: CreateBucket/DeleteBucket 503, data goes on.
	pl.stopMember(ra)
	err = createIn(ctx, regionS3(lf, rb.url, "rb"), "new-one", "rb")
	if s3Code(err) != "ServiceUnavailable" || !strings.Contains(err.Error(), "control region") {
		t.Fatalf("CreateBucket with the control region down: %v, want a 503 that names the control region", err)
	}
	if _, err := rb.member.Bucket(ctx, "new-one"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Fatalf("rb created the bucket anyway (err %v)", err)
	}
	_, err = regionS3(lf, rb.url, "rb").DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("race-0")})
	if _, inRB := rb.member.Bucket(ctx, "race-0"); inRB == nil && s3Code(err) != "ServiceUnavailable" {
		t.Fatalf("DeleteBucket with the control region down: %v, want a 503", err)
	}
	s3Put(t, regionS3(lf, edgeB, "rb"), "far", "obj2", body[:1000])
	mustEqualBody(t, "GET with the control region down", s3Get(t, regionS3(lf, edgeB, "rb"), "far", "obj2"), body[:1000])
	must("restart ra", pl.restartMember(ctx, ra))
	testkit.Eventually(t, 30*time.Second, "CreateBucket once the control region is back", func() error {
		return createIn(ctx, regionS3(lf, rb.url, "rb"), "new-one", "rb")
	})
}

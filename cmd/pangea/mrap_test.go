package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	ctltypes "github.com/aws/aws-sdk-go-v2/service/s3control/types"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/labfile"
	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/routing/topology"
	"github.com/pangea-s3/pangea/s3api/awsclient"
)

// redirectedClient sends what the SDK signed to endpoint, keeping the signed
// Host (s3api/awsclient, as users do).
func redirectedClient(t *testing.T, endpoint string) *http.Client {
	t.Helper()
	hc, err := awsclient.HTTPClient(endpoint, &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()})
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

// mrapClients are an S3 Control client and an S3 client whose requests,
// addressed as the SDK addresses them, reach endpoint.
func mrapClients(t *testing.T, lf labfile.File, endpoint string) (*s3control.Client, *s3.Client) {
	cfg := aws.Config{
		Region:      "us-west-2",
		Credentials: credentials.NewStaticCredentialsProvider(lf.AccessKey, lf.SecretKey, ""),
		HTTPClient:  redirectedClient(t, endpoint), RetryMaxAttempts: 1,
	}
	return s3control.NewFromConfig(cfg), s3.NewFromConfig(cfg)
}

const testAccount = "000000000000"

// TestMRAP_CreateRouteFailover drives an MRAP over two regions with the real
// SDKs, unmodified (the MRAP ARN as the bucket, SigV4A to the global host, S3
// Control to the account's host), through the planet's edges: create it and
// wait for READY as Terraform does; a PUT through the edge beside a region
// lands in that region's bucket; with that region down, requests through the
// same edge go to the other; with a region made passive (SubmitRoutes), traffic
// leaves it; routes and errors read back as AWS's.
func TestMRAP_CreateRouteFailover(t *testing.T) {
	pl, ra, rb := twoFarPlanet(t)
	lf := labfile0(pl)
	ctx := t.Context()
	edgeA, edgeB := lf.Edges[0].URL, lf.Edges[1].URL
	replBucket(t, ra, "bucket-a", "ra")
	replBucket(t, rb, "bucket-b", "rb")
	ctlA, _ := mrapClients(t, lf, edgeA)

	out, err := ctlA.CreateMultiRegionAccessPoint(ctx, &s3control.CreateMultiRegionAccessPointInput{
		AccountId: aws.String(testAccount),
		Details: &ctltypes.CreateMultiRegionAccessPointInput{Name: aws.String("walk"),
			Regions: []ctltypes.Region{{Bucket: aws.String("bucket-a")}, {Bucket: aws.String("bucket-b")}}},
	})
	if err != nil {
		t.Fatalf("CreateMultiRegionAccessPoint: %v", err)
	}
	testkit.Eventually(t, 20*time.Second, "the create operation SUCCEEDED", func() error {
		d, err := ctlA.DescribeMultiRegionAccessPointOperation(ctx, &s3control.DescribeMultiRegionAccessPointOperationInput{
			AccountId: aws.String(testAccount), RequestTokenARN: out.RequestTokenARN})
		if err != nil {
			return err
		}
		if st := aws.ToString(d.AsyncOperation.RequestStatus); st != "SUCCEEDED" {
			return fmt.Errorf("request status %q", st)
		}
		return nil
	})
	got, err := ctlA.GetMultiRegionAccessPoint(ctx, &s3control.GetMultiRegionAccessPointInput{AccountId: aws.String(testAccount), Name: aws.String("walk")})
	if err != nil || got.AccessPoint.Status != ctltypes.MultiRegionAccessPointStatusReady || len(got.AccessPoint.Regions) != 2 {
		t.Fatalf("GetMultiRegionAccessPoint: %+v %v", got, err)
	}
	alias := aws.ToString(got.AccessPoint.Alias)
	arn := "arn:aws:s3::" + testAccount + ":accesspoint/" + alias
	t.Logf("MRAP walk: %s", arn)

	// A duplicate name is refused as AWS's SDK expects to parse it.
	_, err = ctlA.CreateMultiRegionAccessPoint(ctx, &s3control.CreateMultiRegionAccessPointInput{
		AccountId: aws.String(testAccount),
		Details:   &ctltypes.CreateMultiRegionAccessPointInput{Name: aws.String("walk"), Regions: []ctltypes.Region{{Bucket: aws.String("bucket-a")}}},
	})
	if s3Code(err) != "MultiRegionAccessPointAlreadyExists" {
		t.Fatalf("a second MRAP named walk: %v", err)
	}

	// put writes key through the MRAP via edge and says which region's bucket
	// got it.
	put := func(edge, key string) (string, error) {
		_, c := mrapClients(t, lf, edge)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(arn), Key: aws.String(key), Body: strings.NewReader(key)}); err != nil {
			return "", err
		}
		for name, cl := range map[string]*s3.Client{"bucket-a": ra, "bucket-b": rb} {
			if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(name), Key: aws.String(key)}); err == nil {
				return name, nil
			}
		}
		return "", errors.New("the object is in neither bucket")
	}
	attempt := 0
	lands := func(what, edge, base, want string) {
		t.Helper()
		testkit.Eventually(t, 20*time.Second, what, func() error {
			attempt++ // a new key each try (see TestMRAP_ThreeRegions)
			key := fmt.Sprintf("%s-%d", base, attempt)
			got, err := put(edge, key)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%s landed in %s, want %s", key, got, want)
			}
			return nil
		})
	}
	lands("a PUT through edge-b lands in rb", edgeB, "near-b", "bucket-b")
	nearB := fmt.Sprintf("near-b-%d", attempt)
	lands("a PUT through edge-a lands in ra", edgeA, "near-a", "bucket-a")
	_, c := mrapClients(t, lf, edgeB)
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(arn), Key: aws.String(nearB)})
	if err != nil {
		t.Fatalf("GET through the MRAP: %v", err)
	}
	b, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if string(b) != nearB {
		t.Fatalf("GET through the MRAP: %q", b)
	}

	// rb down: edge-b's requests go to ra.
	down := pl.regions[1].members[0]
	pl.stopMember(down)
	start := time.Now()
	lands("with rb down, a PUT through edge-b lands in ra", edgeB, "failover", "bucket-a")
	t.Logf("with rb down, PUTs through edge-b reached ra after %v", time.Since(start).Round(time.Millisecond))
	if err := pl.restartMember(ctx, down); err != nil {
		t.Fatal(err)
	}
	lands("rb back: edge-b's PUTs land there again", edgeB, "back", "bucket-b")

	// ra passive: edge-a's requests go to rb.
	if _, err := ctlA.SubmitMultiRegionAccessPointRoutes(ctx, &s3control.SubmitMultiRegionAccessPointRoutesInput{
		AccountId: aws.String(testAccount), Mrap: aws.String(arn),
		RouteUpdates: []ctltypes.MultiRegionAccessPointRoute{{Bucket: aws.String("bucket-a"), TrafficDialPercentage: aws.Int32(0)}},
	}); err != nil {
		t.Fatalf("SubmitMultiRegionAccessPointRoutes: %v", err)
	}
	lands("ra passive: a PUT through edge-a lands in rb", edgeA, "passive", "bucket-b")
	routes, err := ctlA.GetMultiRegionAccessPointRoutes(ctx, &s3control.GetMultiRegionAccessPointRoutesInput{AccountId: aws.String(testAccount), Mrap: aws.String(arn)})
	if err != nil || len(routes.Routes) != 2 {
		t.Fatalf("GetMultiRegionAccessPointRoutes: %+v %v", routes, err)
	}
	for _, r := range routes.Routes {
		want := int32(100)
		if aws.ToString(r.Bucket) == "bucket-a" {
			want = 0
		}
		if aws.ToInt32(r.TrafficDialPercentage) != want {
			t.Fatalf("route %s: %d, want %d", aws.ToString(r.Bucket), aws.ToInt32(r.TrafficDialPercentage), want)
		}
	}
	// Both passive is refused.
	_, err = ctlA.SubmitMultiRegionAccessPointRoutes(ctx, &s3control.SubmitMultiRegionAccessPointRoutesInput{
		AccountId: aws.String(testAccount), Mrap: aws.String(arn),
		RouteUpdates: []ctltypes.MultiRegionAccessPointRoute{{Bucket: aws.String("bucket-b"), TrafficDialPercentage: aws.Int32(0)}},
	})
	if s3Code(err) != "InvalidRequest" {
		t.Fatalf("every region passive: %v", err)
	}
}

// TestLab_MRAP: pangea lab --mrap NAME's set-up (setupLabMRAP) makes the MRAP
// over a versioned bucket in every region replicating to the others, lab.json
// lists it, a PUT through the alias as a path-style bucket (SigV4, the aws
// CLI's way with --endpoint-url) lands near the edge and reaches the other
// region, and pangea ctl mrap shows where each edge's requests go.
func TestLab_MRAP(t *testing.T) {
	pl, ra, rb := twoFarPlanet(t)
	lf := labfile0(pl)
	var progress strings.Builder
	m, err := setupLabMRAP(t.Context(), pl, DefaultConfig(), lf, "demo", &progress)
	if err != nil {
		t.Fatalf("setupLabMRAP: %v\n%s", err, progress.String())
	}
	if m.Buckets["ra"] != "demo-ra" || m.Buckets["rb"] != "demo-rb" || !strings.HasSuffix(m.ARN, ":accesspoint/"+m.Alias) {
		t.Fatalf("lab MRAP %+v", m)
	}
	// Again on the same planet (a lab restarted on its data): the same MRAP.
	again, err := setupLabMRAP(t.Context(), pl, DefaultConfig(), lf, "demo", &progress)
	if err != nil || again.Alias != m.Alias {
		t.Fatalf("second set-up: %+v %v", again, err)
	}
	viaB := regionS3(lf, lf.Edges[1].URL, "us-east-1")
	if _, err := viaB.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(m.Alias), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatalf("PUT through the alias: %v", err)
	}
	head := func(c *s3.Client, bucket string) (string, error) {
		out, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
		if err != nil {
			return "", err
		}
		return string(out.ReplicationStatus), nil
	}
	if st, err := head(rb, "demo-rb"); err != nil || (st != "PENDING" && st != "COMPLETED") {
		t.Fatalf("the write through edge-b is not rb's own: status %q, %v", st, err)
	}
	testkit.Eventually(t, 10*time.Second, "the write replicated to ra", func() error {
		st, err := head(ra, "demo-ra")
		if err == nil && st != "REPLICA" {
			err = fmt.Errorf("status %q", st)
		}
		return err
	})
	// Once every edge has measured its RTT to both regions (memberlist probes
	// each peer in turn; a region not measured yet comes after those that are).
	testkit.Eventually(t, 20*time.Second, "pangea ctl mrap shows each edge's nearest region first", func() error {
		var out strings.Builder
		printMRAPs(&out, pl.mraps())
		for _, want := range []string{"== demo  READY  " + m.ARN, "at loc-a  ra (", "ms) → rb (8", "at loc-b  rb (", "ms) → ra (8"} {
			if !strings.Contains(out.String(), want) {
				return fmt.Errorf("lacks %q:\n%s", want, out.String())
			}
		}
		return nil
	})
}

// TestMRAP_ThreeRegions: the default planet (us-east-1, eu-west-1 and
// ap-southeast-2, 3 members each, an edge at each location) and an MRAP over a
// bucket in each, driven with the real SDKs (the ARN as the bucket, SigV4A): a
// PUT through the edge at eu-west-1 lands in eu-west-1's bucket; with
// eu-west-1 down it lands in the next-nearest region (us-east-1, 70 ms away,
// not ap-southeast-2 at 250 ms), and back there once it is up again; with
// ap-southeast-2 passive, a PUT through the edge beside it goes to us-east-1,
// and back to ap-southeast-2 once active again; an MRAP policy denying
// PutObject refuses it once established.
func TestMRAP_ThreeRegions(t *testing.T) {
	pl := startTestPlanet(t, topology.Default())
	lf := labfile0(pl)
	ctx := t.Context()
	regions := []string{"us-east-1", "eu-west-1", "ap-southeast-2"}
	direct := map[string]*s3.Client{}
	var ctlRegions []ctltypes.Region
	for i, r := range regions {
		direct[r] = regionS3(lf, pl.regions[i].members[0].url, r)
		testkit.Eventually(t, 20*time.Second, "bucket in "+r, func() error {
			err := createIn(ctx, direct[r], "three-"+r, r)
			if s3Code(err) == "BucketAlreadyOwnedByYou" {
				return nil
			}
			return err
		})
		ctlRegions = append(ctlRegions, ctltypes.Region{Bucket: aws.String("three-" + r)})
	}
	edgeOf := map[string]string{}
	for _, e := range lf.Edges {
		edgeOf[e.Location] = e.URL
	}
	ctl, _ := mrapClients(t, lf, edgeOf["us-east-1"])
	acct := aws.String(testAccount)
	if _, err := ctl.CreateMultiRegionAccessPoint(ctx, &s3control.CreateMultiRegionAccessPointInput{AccountId: acct,
		Details: &ctltypes.CreateMultiRegionAccessPointInput{Name: aws.String("three"), Regions: ctlRegions}}); err != nil {
		t.Fatal(err)
	}
	var arn string
	testkit.Eventually(t, 20*time.Second, "READY, as Terraform waits for it", func() error {
		got, err := ctl.GetMultiRegionAccessPoint(ctx, &s3control.GetMultiRegionAccessPointInput{AccountId: acct, Name: aws.String("three")})
		if err != nil {
			return err
		}
		if got.AccessPoint.Status != ctltypes.MultiRegionAccessPointStatusReady {
			return fmt.Errorf("status %s", got.AccessPoint.Status)
		}
		arn = "arn:aws:s3::" + testAccount + ":accesspoint/" + aws.ToString(got.AccessPoint.Alias)
		return nil
	})
	_, viaEU := mrapClients(t, lf, edgeOf["eu-west-1"])
	attempt := 0
	lands := func(c *s3.Client, what, base, want string) {
		t.Helper()
		testkit.Eventually(t, 30*time.Second, what, func() error {
			// A new key each try: an earlier try that went elsewhere (while a
			// change was still on its way) must not answer for this one.
			attempt++
			key := fmt.Sprintf("%s-%d", base, attempt)
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(arn), Key: aws.String(key), Body: strings.NewReader(key)}); err != nil {
				return err
			}
			for _, r := range regions {
				if _, err := direct[r].HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("three-" + r), Key: aws.String(key)}); err == nil {
					if r != want {
						var out strings.Builder
						printMRAPs(&out, pl.mraps())
						return fmt.Errorf("%s landed in %s, want %s\n%s", key, r, want, out.String())
					}
					return nil
				}
			}
			return fmt.Errorf("%s is in no region's bucket", key)
		})
	}
	lands(viaEU, "a PUT through the edge at eu-west-1 lands there", "near", "eu-west-1")

	// ap-southeast-2 passive: requests entering beside it go to the next
	// nearest active region (us-east-1, 200 ms, before eu-west-1 at 250 ms).
	if _, err := ctl.SubmitMultiRegionAccessPointRoutes(ctx, &s3control.SubmitMultiRegionAccessPointRoutesInput{AccountId: acct, Mrap: aws.String(arn),
		RouteUpdates: []ctltypes.MultiRegionAccessPointRoute{{Region: aws.String("ap-southeast-2"), TrafficDialPercentage: aws.Int32(0)}}}); err != nil {
		t.Fatal(err)
	}
	_, viaAP := mrapClients(t, lf, edgeOf["ap-southeast-2"])
	lands(viaAP, "ap-southeast-2 passive: traffic leaves it", "passive", "us-east-1")
	if _, err := ctl.SubmitMultiRegionAccessPointRoutes(ctx, &s3control.SubmitMultiRegionAccessPointRoutesInput{AccountId: acct, Mrap: aws.String(arn),
		RouteUpdates: []ctltypes.MultiRegionAccessPointRoute{{Region: aws.String("ap-southeast-2"), TrafficDialPercentage: aws.Int32(100)}}}); err != nil {
		t.Fatal(err)
	}
	lands(viaAP, "ap-southeast-2 active again", "active", "ap-southeast-2")

	for _, pm := range pl.regions[1].members {
		pl.stopMember(pm)
	}
	lands(viaEU, "with eu-west-1 down, the next-nearest region", "down", "us-east-1")
	for _, pm := range pl.regions[1].members {
		if err := pl.restartMember(ctx, pm); err != nil {
			t.Fatal(err)
		}
	}
	lands(viaEU, "eu-west-1 back", "back", "eu-west-1")

	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"` + arn + `/object/*"},` +
		`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"` + arn + `/object/*"}]}`
	if _, err := ctl.PutMultiRegionAccessPointPolicy(ctx, &s3control.PutMultiRegionAccessPointPolicyInput{AccountId: acct,
		Details: &ctltypes.PutMultiRegionAccessPointPolicyInput{Name: aws.String("three"), Policy: aws.String(deny)}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "the MRAP policy denies PutObject", func() error {
		_, err := viaEU.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(arn), Key: aws.String("denied"), Body: strings.NewReader("x")})
		if s3Code(err) != "AccessDenied" {
			return fmt.Errorf("PUT under a denying policy: %v", err)
		}
		return nil
	})
	if _, err := viaEU.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(arn), Key: aws.String(fmt.Sprintf("back-%d", attempt))}); err != nil {
		t.Fatalf("GET the policy allows: %v", err)
	}
}

// TestMRAP_ThroughTheProxy: the whole path an unmodified client takes in proxy
// mode, against the lab: aws-sdk-go-v2 with only HTTPS_PROXY's proxy and the
// proxy's CA configured (no endpoint) reads the MRAP with S3 Control, writes
// through its ARN (SigV4A over TLS to the global host, terminated by the proxy)
// and reads the object back through the ARN and from the bucket it landed in.
func TestMRAP_ThroughTheProxy(t *testing.T) {
	pl, ra, _ := twoFarPlanet(t)
	lf := labfile0(pl)
	m, err := setupLabMRAP(t.Context(), pl, DefaultConfig(), lf, "viaproxy", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p := startTestProxy(t, t.TempDir(), lf.Edges[0].URL) // the edge beside ra
	cfg := proxiedAWSConfig(t, p)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(lf.AccessKey, lf.SecretKey, "")
	ctx := t.Context()
	got, err := s3control.NewFromConfig(cfg).GetMultiRegionAccessPoint(ctx, &s3control.GetMultiRegionAccessPointInput{
		AccountId: aws.String(testAccount), Name: aws.String("viaproxy")})
	if err != nil || aws.ToString(got.AccessPoint.Alias) != m.Alias {
		t.Fatalf("GetMultiRegionAccessPoint through the proxy: %+v %v", got, err)
	}
	c := s3.NewFromConfig(cfg)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(m.ARN), Key: aws.String("proxied"), Body: strings.NewReader("through the proxy")}); err != nil {
		t.Fatalf("PUT through the ARN via the proxy: %v", err)
	}
	if b, err := mrapGet(ctx, c, m.ARN, "proxied"); err != nil || b != "through the proxy" {
		t.Fatalf("GET through the ARN via the proxy: %q %v", b, err)
	}
	if b, err := mrapGet(ctx, ra, m.Buckets["ra"], "proxied"); err != nil || b != "through the proxy" {
		t.Fatalf("the object is not in ra's bucket, beside the edge: %q %v", b, err)
	}
	// CopyObject through the MRAP: only as the destination, from a bucket.
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(m.ARN), Key: aws.String("copied"),
		CopySource: aws.String(m.Buckets["ra"] + "/proxied")}); err != nil {
		t.Fatalf("CopyObject into the MRAP from a bucket: %v", err)
	}
	if b, err := mrapGet(ctx, c, m.ARN, "copied"); err != nil || b != "through the proxy" {
		t.Fatalf("the copy: %q %v", b, err)
	}
	_, err = ra.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(m.Buckets["ra"]), Key: aws.String("from-mrap"),
		CopySource: aws.String(m.Alias + "/proxied")})
	if code := s3Code(err); code != "NoSuchBucket" && code != "InvalidRequest" {
		t.Fatalf("CopyObject with the MRAP as its source: %v, want it refused", err)
	}
}

func mrapGet(ctx context.Context, c *s3.Client, bucket, key string) (string, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

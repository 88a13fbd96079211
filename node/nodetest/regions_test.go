package nodetest

import (
	"bytes"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// sdkFor is sdk signing for n's own region (a member refuses requests signed for
// another region and buckets created without its location constraint).
func sdkFor(c *Cluster, n *Node) *s3.Client {
	cfg := aws.Config{
		Region:           n.Region,
		Credentials:      credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, ""),
		HTTPClient:       &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		RetryMaxAttempts: 1,
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(n.S3URL)
	})
}

// TestHarness_TwoRegionsAreIndependent starts two regions of three members each,
// writes through a member of each and reads back through another member of the
// same region, and checks that neither region sees the other's buckets or
// objects, even under a bucket name both use.
func TestHarness_TwoRegionsAreIndependent(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	regions := []string{"us-east-1", "eu-west-1"}
	c := Start(t, Options{NoSync: true, Regions: regions})
	type side struct {
		writer, reader *s3.Client
		body           []byte
	}
	sides := make(map[string]side)
	for _, r := range regions {
		nodes := c.Nodes(r)
		if len(nodes) != 3 {
			t.Fatalf("region %s has %d members, want 3", r, len(nodes))
		}
		leader, err := c.Leader(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n.Member.Region() != r {
				t.Fatalf("member %s of %s says region %s", n.ID, r, n.Member.Region())
			}
			if st := n.Member.Status(); len(st.Servers) != 3 {
				t.Fatalf("%s/%s: configuration %+v, want its region's 3 members", r, n.ID, st.Servers)
			}
		}
		// Write through a follower, read through the other follower.
		fs := followers(c, leader)
		sides[r] = side{writer: sdkFor(c, fs[0]), reader: sdkFor(c, fs[1]), body: []byte("written in " + r)}
	}
	for _, r := range regions {
		s := sides[r]
		in := &s3.CreateBucketInput{Bucket: aws.String("shared-name")}
		if r != "us-east-1" {
			in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(r)}
		}
		if _, err := s.writer.CreateBucket(ctx, in); err != nil {
			t.Fatalf("CreateBucket in %s: %v", r, err)
		}
		if _, err := s.writer.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shared-name"), Key: aws.String("k"), Body: bytes.NewReader(s.body)}); err != nil {
			t.Fatalf("PUT in %s: %v", r, err)
		}
		// Only the first region gets this one.
		if r == regions[0] {
			if _, err := s.writer.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("only-in-a")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range regions {
		s := sides[r]
		if got, err := get(ctx, s.reader, "shared-name", "k"); err != nil || !bytes.Equal(got, s.body) {
			t.Fatalf("GET in %s: %q, %v; want %q", r, got, err, s.body)
		}
		list, err := s.reader.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, b := range list.Buckets {
			names = append(names, aws.ToString(b.Name))
		}
		want := []string{"shared-name"}
		if r == regions[0] {
			want = []string{"only-in-a", "shared-name"}
		}
		if !slices.Equal(names, want) {
			t.Fatalf("buckets in %s: %v, want %v", r, names, want)
		}
	}
	b := sides[regions[1]]
	if _, err := b.reader.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("only-in-a"), Key: aws.String("x"), Body: bytes.NewReader(nil)}); errorCode(err) != "NoSuchBucket" {
		t.Fatalf("PUT into region A's bucket through region B: %v, want NoSuchBucket", err)
	}
}

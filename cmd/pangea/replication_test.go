package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/routing/topology"
)

// replBucket creates a versioned bucket in region through c.
func replBucket(t *testing.T, c *s3.Client, name, region string) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "create "+name, func() error { return createIn(t.Context(), c, name, region) })
	if _, err := c.PutBucketVersioning(t.Context(), &s3.PutBucketVersioningInput{Bucket: aws.String(name),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatalf("versioning on %s: %v", name, err)
	}
	out, err := c.GetBucketVersioning(t.Context(), &s3.GetBucketVersioningInput{Bucket: aws.String(name)})
	if err != nil || out.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("versioning of %s after enabling it: %+v %v", name, out, err)
	}
}

// replicateTo puts a replication configuration on src: one rule per rule given,
// each a full S3 rule body (Filter, Destination...) with an ID and Priority.
func replicateTo(t *testing.T, c *s3.Client, src string, rs ...types.ReplicationRule) {
	t.Helper()
	if _, err := c.PutBucketReplication(t.Context(), &s3.PutBucketReplicationInput{Bucket: aws.String(src),
		ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String("arn:aws:iam::000000000000:role/replication"), Rules: rs}}); err != nil {
		t.Fatalf("PutBucketReplication on %s: %v", src, err)
	}
}

// allRule replicates every object and delete marker of a bucket to dst.
func allRule(id, dst string, prio int32) types.ReplicationRule {
	return types.ReplicationRule{
		ID: aws.String(id), Priority: aws.Int32(prio), Status: types.ReplicationRuleStatusEnabled,
		Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("")},
		DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusEnabled},
		Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::" + dst)},
		SourceSelectionCriteria: &types.SourceSelectionCriteria{ReplicaModifications: &types.ReplicaModifications{Status: types.ReplicaModificationsStatusEnabled}},
	}
}

// versionRows lists every version and delete marker of bucket as
// "key id latest marker etag", sorted.
func versionRows(ctx context.Context, c *s3.Client, bucket string) ([]string, error) {
	var rows []string
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, v := range out.Versions {
			rows = append(rows, fmt.Sprintf("%s %s latest=%v %s", aws.ToString(v.Key), aws.ToString(v.VersionId), aws.ToBool(v.IsLatest), aws.ToString(v.ETag)))
		}
		for _, m := range out.DeleteMarkers {
			rows = append(rows, fmt.Sprintf("%s %s latest=%v marker", aws.ToString(m.Key), aws.ToString(m.VersionId), aws.ToBool(m.IsLatest)))
		}
	}
	slices.Sort(rows)
	return rows, nil
}

// converged waits until every bucket lists the same versions, with want rows.
func converged(t *testing.T, within time.Duration, want int, sides map[string]*s3.Client) []string {
	t.Helper()
	var last []string
	testkit.Eventually(t, within, "version lists converge", func() error {
		var first []string
		var firstName string
		for name, c := range sides {
			rows, err := versionRows(t.Context(), c, name)
			if err != nil {
				return err
			}
			if len(rows) != want {
				return fmt.Errorf("%s lists %d versions, want %d", name, len(rows), want)
			}
			if first == nil {
				first, firstName = rows, name
				continue
			}
			if !slices.Equal(first, rows) {
				return fmt.Errorf("%s and %s differ:\n%s\n---\n%s", firstName, name, strings.Join(first, "\n"), strings.Join(rows, "\n"))
			}
		}
		last = first
		return nil
	})
	return last
}

func replStatus(t *testing.T, c *s3.Client, bucket, key, version string) string {
	t.Helper()
	in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	out, err := c.HeadObject(t.Context(), in)
	if err != nil {
		t.Fatalf("HEAD %s/%s: %v", bucket, key, err)
	}
	return string(out.ReplicationStatus)
}

// TestReplication_TwoWay: two buckets in two regions 80 ms apart replicate to each
// other. Writes, overwrites and deletes on both sides end with identical version
// lists (IDs, latest flags, ETags, delete markers); a source version goes PENDING
// then COMPLETED, its replica says REPLICA; replicas are not shipped back; a tag
// change on a replica comes back under ReplicaModifications.
func TestReplication_TwoWay(t *testing.T) {
	topo, err := topology.Parse([]byte(twoFar))
	if err != nil {
		t.Fatal(err)
	}
	pl := startTestPlanet(t, topo)
	lf := labfile0(pl)
	ra, rb := regionS3(lf, pl.regions[0].members[0].url, "ra"), regionS3(lf, pl.regions[1].members[0].url, "rb")
	ctx := t.Context()
	replBucket(t, ra, "left", "ra")
	replBucket(t, rb, "right", "rb")
	replicateTo(t, ra, "left", allRule("to-right", "right", 1))
	replicateTo(t, rb, "right", allRule("to-left", "left", 1))

	put := func(c *s3.Client, bucket, key, body string) string {
		t.Helper()
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatalf("PUT %s/%s: %v", bucket, key, err)
		}
		return aws.ToString(out.VersionId)
	}
	v1 := put(ra, "left", "a", "from ra")
	if st := replStatus(t, ra, "left", "a", v1); st != "PENDING" && st != "COMPLETED" {
		t.Fatalf("source status right after the PUT: %q", st)
	}
	put(rb, "right", "b", "from rb")
	put(ra, "left", "both", "ra's")
	put(rb, "right", "both", "rb's")
	if _, err := ra.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("left"), Key: aws.String("a")}); err != nil {
		t.Fatal(err)
	}
	rows := converged(t, 30*time.Second, 5, map[string]*s3.Client{"left": ra, "right": rb})
	t.Logf("converged:\n%s", strings.Join(rows, "\n"))

	testkit.Eventually(t, 10*time.Second, "source status COMPLETED", func() error {
		if st := replStatus(t, ra, "left", "a", v1); st != "COMPLETED" {
			return fmt.Errorf("status %q", st)
		}
		return nil
	})
	if st := replStatus(t, rb, "right", "a", v1); st != "REPLICA" {
		t.Fatalf("replica status %q, want REPLICA", st)
	}

	// A tag change on the replica comes back to the source.
	if _, err := rb.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("right"), Key: aws.String("a"), VersionId: aws.String(v1),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("colour"), Value: aws.String("blue")}}}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the replica's tag change reaches the source", func() error {
		out, err := ra.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("left"), Key: aws.String("a"), VersionId: aws.String(v1)})
		if err != nil {
			return err
		}
		if len(out.TagSet) != 1 || aws.ToString(out.TagSet[0].Value) != "blue" {
			return fmt.Errorf("tags %+v", out.TagSet)
		}
		return nil
	})
}

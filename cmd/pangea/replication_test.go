package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/routing/topology"
)

// twoFarPlanet starts the twoFar planet and returns it with S3 clients of ra's
// and rb's first members.
func twoFarPlanet(t *testing.T) (*planet, *s3.Client, *s3.Client) {
	t.Helper()
	topo, err := topology.Parse([]byte(twoFar))
	if err != nil {
		t.Fatal(err)
	}
	pl := startTestPlanet(t, topo)
	lf := labfile0(pl)
	return pl, regionS3(lf, pl.regions[0].members[0].url, "ra"), regionS3(lf, pl.regions[1].members[0].url, "rb")
}

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

// converged waits until every bucket lists the same versions, with want rows
// (any number when want is negative).
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
			if want >= 0 && len(rows) != want {
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
	_, ra, rb := twoFarPlanet(t)
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

// TestReplication_Configuration: PutBucketReplication across regions checks the
// destination as S3 does (it must exist, versioned), then the stored rules read
// back, forbid suspending the source's versioning, and are deleted.
func TestReplication_Configuration(t *testing.T) {
	_, ra, rb := twoFarPlanet(t)
	ctx := t.Context()
	replBucket(t, ra, "src", "ra")
	testkit.Eventually(t, 10*time.Second, "create dst", func() error { return createIn(ctx, rb, "dst", "rb") })
	in := &s3.PutBucketReplicationInput{Bucket: aws.String("src"), ReplicationConfiguration: &types.ReplicationConfiguration{
		Role: aws.String("arn:aws:iam::000000000000:role/replication"), Rules: []types.ReplicationRule{allRule("r1", "dst", 1)}}}
	_, err := ra.PutBucketReplication(ctx, in)
	if s3Code(err) != "InvalidRequest" || !strings.Contains(err.Error(), "versioning enabled") {
		t.Fatalf("replication to an unversioned destination: %v", err)
	}
	in.ReplicationConfiguration.Rules[0].Destination.Bucket = aws.String("arn:aws:s3:::nowhere")
	if _, err = ra.PutBucketReplication(ctx, in); s3Code(err) != "InvalidRequest" || !strings.Contains(err.Error(), "must exist") {
		t.Fatalf("replication to a missing destination: %v", err)
	}
	if _, err := rb.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("dst"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	in.ReplicationConfiguration.Rules[0].Destination.Bucket = aws.String("arn:aws:s3:::dst")
	testkit.Eventually(t, 5*time.Second, "PutBucketReplication once dst is versioned", func() error {
		_, err := ra.PutBucketReplication(ctx, in)
		return err
	})
	got, err := ra.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("src")})
	if err != nil || len(got.ReplicationConfiguration.Rules) != 1 || aws.ToString(got.ReplicationConfiguration.Rules[0].ID) != "r1" {
		t.Fatalf("GetBucketReplication: %+v %v", got, err)
	}
	_, err = ra.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("src"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	if s3Code(err) != "InvalidBucketState" {
		t.Fatalf("suspending a replicated bucket's versioning: %v", err)
	}
	if _, err := ra.DeleteBucketReplication(ctx, &s3.DeleteBucketReplicationInput{Bucket: aws.String("src")}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the configuration is gone", func() error {
		_, err := ra.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("src")})
		if s3Code(err) != "ReplicationConfigurationNotFoundError" {
			return fmt.Errorf("GetBucketReplication after the delete: %v", err)
		}
		return nil
	})
}

// TestReplication_RulesAndPartition replicates one way under two rules (a
// prefix without delete markers, a tag filter) and checks what S3 replicates:
// selected objects only, with their status; no delete marker without
// DeleteMarkerReplication; never a delete of a version. Then with the link cut
// the source goes on accepting writes, which stay PENDING with a backlog the
// leader reports, and after healing everything arrives: same version IDs,
// same bytes, COMPLETED.
func TestReplication_RulesAndPartition(t *testing.T) {
	pl, ra, rb := twoFarPlanet(t)
	ctx := t.Context()
	replBucket(t, ra, "src", "ra")
	replBucket(t, rb, "dst", "rb")
	dst := &types.Destination{Bucket: aws.String("arn:aws:s3:::dst")}
	replicateTo(t, ra, "src",
		types.ReplicationRule{ID: aws.String("logs"), Priority: aws.Int32(2), Status: types.ReplicationRuleStatusEnabled,
			Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("logs/")},
			DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled}, Destination: dst},
		types.ReplicationRule{ID: aws.String("tagged"), Priority: aws.Int32(1), Status: types.ReplicationRuleStatusEnabled,
			Filter:                  &types.ReplicationRuleFilter{Tag: &types.Tag{Key: aws.String("repl"), Value: aws.String("yes")}},
			DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled}, Destination: dst})

	put := func(key, body, tagging string) string {
		t.Helper()
		in := &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String(key), Body: strings.NewReader(body)}
		if tagging != "" {
			in.Tagging = aws.String(tagging)
		}
		out, err := ra.PutObject(ctx, in)
		if err != nil {
			t.Fatalf("PUT %s: %v", key, err)
		}
		return aws.ToString(out.VersionId)
	}
	arrived := func(key, version string) {
		t.Helper()
		testkit.Eventually(t, 20*time.Second, key+" replicated", func() error {
			_, err := rb.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String(key), VersionId: aws.String(version)})
			return err
		})
	}
	l1 := put("logs/1", "log one", "")
	put("other", "not selected", "")
	put("t/yes", "tagged yes", "repl=yes")
	put("t/no", "tagged no", "repl=no")
	if _, err := ra.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("logs/1")}); err != nil {
		t.Fatal(err)
	}
	l2 := put("logs/2", "log two", "")
	arrived("logs/2", l2)
	if _, err := ra.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("logs/2"), VersionId: aws.String(l2)}); err != nil {
		t.Fatal(err)
	}
	last := put("logs/3", "log three", "")
	// Shipping keeps the outbox's order: once the last write is there, every
	// earlier one that will ever be shipped is too.
	arrived("logs/3", last)
	arrived("logs/1", l1)
	rows, err := versionRows(ctx, rb, "dst")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || !strings.HasPrefix(rows[0], "logs/1 ") || !strings.Contains(rows[0], "latest=true") ||
		!strings.HasPrefix(rows[3], "t/yes ") {
		t.Fatalf("destination versions (want logs/1 without its delete marker, logs/2 still there, logs/3, t/yes):\n%s", strings.Join(rows, "\n"))
	}
	if st := replStatus(t, ra, "src", "other", ""); st != "" {
		t.Fatalf("an object no rule selects has replication status %q", st)
	}
	if st := replStatus(t, ra, "src", "t/no", ""); st != "" {
		t.Fatalf("an object whose tag no rule selects has replication status %q", st)
	}

	// Cut the link: writes go on, PENDING, with a backlog on the leader.
	if err := pl.net.Partition("loc-a", "loc-b"); err != nil {
		t.Fatal(err)
	}
	const cut = 20
	ids := make([]string, cut)
	for i := range cut {
		ids[i] = put(fmt.Sprintf("logs/cut-%02d", i), strings.Repeat(fmt.Sprint(i), 1000*(i+1)), "")
	}
	if st := replStatus(t, ra, "src", "logs/cut-00", ids[0]); st != "PENDING" {
		t.Fatalf("status while cut off: %q, want PENDING", st)
	}
	src := pl.regions[0].members[0].member
	testkit.Eventually(t, 10*time.Second, "the leader reports the backlog", func() error {
		if p := src.(*node.Member).ReplicationStats()["rb"].Pending; p < cut {
			return fmt.Errorf("pending %d, want at least %d", p, cut)
		}
		// The RTC view counts every waiting operation, not only those sent
		// before the link went.
		for _, r := range pl.replication(ctx).Regions {
			for _, row := range r.Rules {
				// At least: logs/3's ack may have been cut on its way back.
				if r.Name == "ra" && row.Rule == "logs" && row.Dest == "rb" && row.PendingOps >= cut {
					return nil
				}
			}
		}
		return fmt.Errorf("no RTC row of rule logs to rb with %d operations pending or more: %+v", cut, pl.replication(ctx).Regions[0].Rules)
	})
	if err := pl.net.Heal("loc-a", "loc-b"); err != nil {
		t.Fatal(err)
	}
	arrived("logs/cut-19", ids[cut-1])
	for i := range cut {
		key := fmt.Sprintf("logs/cut-%02d", i)
		out, err := rb.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("dst"), Key: aws.String(key), VersionId: aws.String(ids[i])})
		if err != nil {
			t.Fatalf("GET replica %s: %v", key, err)
		}
		body := new(strings.Builder)
		if _, err := io.Copy(body, out.Body); err != nil {
			t.Fatal(err)
		}
		out.Body.Close()
		if want := strings.Repeat(fmt.Sprint(i), 1000*(i+1)); body.String() != want || string(out.ReplicationStatus) != "REPLICA" {
			t.Fatalf("replica %s: %d bytes, status %q", key, body.Len(), out.ReplicationStatus)
		}
	}
	// The complete listings of what the rule replicates agree.
	cutRows := func(c *s3.Client, bucket string) []string {
		t.Helper()
		rows, err := versionRows(ctx, c, bucket)
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(rows, func(r string) bool { return !strings.HasPrefix(r, "logs/cut-") })
	}
	if a, b := cutRows(ra, "src"), cutRows(rb, "dst"); len(a) != cut || !slices.Equal(a, b) {
		t.Fatalf("listings after healing differ:\n%s\n---\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	testkit.Eventually(t, 10*time.Second, "the source settles COMPLETED", func() error {
		for i := range cut {
			if st := replStatus(t, ra, "src", fmt.Sprintf("logs/cut-%02d", i), ids[i]); st != "COMPLETED" {
				return fmt.Errorf("logs/cut-%02d: %q", i, st)
			}
		}
		return nil
	})
}

// threeRegions is a planet of three regions at three locations; ra has three
// members, so its leader can be killed while it ships.
const threeRegions = `
locations: [loc-a, loc-b, loc-c]
links:
  - between: [loc-a, loc-b]
    rtt: 40ms
  - between: [loc-a, loc-c]
    rtt: 60ms
  - between: [loc-b, loc-c]
    rtt: 80ms
regions:
  - {name: ra, location: loc-a, members: 3}
  - {name: rb, location: loc-b, members: 1}
  - {name: rc, location: loc-c, members: 1}
edges:
  - {name: edge-a, location: loc-a}
`

// TestReplication_ThreeRegionsRandom replicates three buckets in three regions
// each to the other two, with concurrent random overwrites and deletes of a
// few keys in all three regions (the seed is printed; PANGEA_SEED replays
// one), ra's leader killed while it ships and restarted later. The checker
// then wants identical complete version listings (IDs, latest flags, ETags,
// delete markers) in all three buckets and identical bytes for every key.
func TestReplication_ThreeRegionsRandom(t *testing.T) {
	topo, err := topology.Parse([]byte(threeRegions))
	if err != nil {
		t.Fatal(err)
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("PANGEA_SEED"); s != "" {
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("PANGEA_SEED: %v", err)
		}
	}
	t.Logf("seed %d (PANGEA_SEED=%d replays it)", seed, seed)
	pl := startTestPlanet(t, topo)
	lf := labfile0(pl)
	ctx := t.Context()
	names := []string{"ra", "rb", "rc"}
	buckets := map[string]string{"ra": "b-ra", "rb": "b-rb", "rc": "b-rc"}
	clients := map[string]*s3.Client{}
	for i, r := range names {
		clients[r] = regionS3(lf, pl.regions[i].members[0].url, r)
		replBucket(t, clients[r], buckets[r], r)
	}
	for _, r := range names {
		var rs []types.ReplicationRule
		for _, o := range names {
			if o != r {
				rs = append(rs, allRule("to-"+o, buckets[o], int32(len(rs)+1)))
			}
		}
		replicateTo(t, clients[r], buckets[r], rs...)
	}

	// ra's writer goes through a member that is not the leader, which dies.
	var leader *planetMember
	testkit.Eventually(t, 10*time.Second, "ra's leader", func() error {
		for _, pm := range pl.regions[0].members {
			if pm.servedMember != nil && pm.servedMember.member.(*node.Member).Ready() {
				leader = pm
				return nil
			}
		}
		return errors.New("no ready leader in ra")
	})
	for _, pm := range pl.regions[0].members {
		if pm != leader {
			clients["ra"] = regionS3(lf, pm.url, "ra")
			break
		}
	}

	const ops = 40
	keys := []string{"k0", "k1", "k2", "k3", "k4", "dir/k5"}
	var wg sync.WaitGroup
	killed := make(chan struct{})
	errs := make(chan error, len(names))
	for i, r := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
			c, b := clients[r], buckets[r]
			for n := range ops {
				if r == "ra" && n == ops/3 {
					close(killed)
				}
				key := keys[rng.IntN(len(keys))]
				var err error
				// A write refused while ra elects a new leader is retried; a
				// retried write whose first try took effect leaves one more
				// version, which replicates like any other.
				for try := 0; try < 50; try++ {
					if rng.IntN(4) == 0 {
						_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String(key)})
					} else {
						body := make([]byte, rng.IntN(20<<10))
						for j := range body {
							body[j] = byte(rng.Uint32())
						}
						_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(key), Body: bytes.NewReader(body)})
					}
					if err == nil || ctx.Err() != nil {
						break
					}
					select {
					case <-ctx.Done():
					case <-time.After(100 * time.Millisecond): // pace the retries of a refused write
					}
				}
				if err != nil {
					errs <- fmt.Errorf("%s op %d on %s: %w", r, n, key, err)
					return
				}
			}
		}()
	}
	<-killed
	pl.stopMember(leader)
	t.Logf("killed ra's leader %s while it shipped", leader.id)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := pl.restartMember(ctx, leader); err != nil {
		t.Fatal(err)
	}
	sides := map[string]*s3.Client{}
	for _, r := range names {
		sides[buckets[r]] = clients[r]
	}
	rows := converged(t, 60*time.Second, -1, sides)
	t.Logf("converged on %d versions and delete markers", len(rows))
	for _, key := range keys {
		var first []byte
		for i, r := range names {
			out, err := clients[r].GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(buckets[r]), Key: aws.String(key)})
			var body []byte
			if err == nil {
				body, err = io.ReadAll(out.Body)
				out.Body.Close()
			}
			if s3Code(err) == "NoSuchKey" {
				body, err = []byte("(deleted)"), nil
			}
			if err != nil {
				t.Fatalf("GET %s in %s: %v", key, r, err)
			}
			if i == 0 {
				first = body
			} else if !bytes.Equal(first, body) {
				t.Fatalf("%s differs between ra (%d bytes) and %s (%d bytes)", key, len(first), r, len(body))
			}
		}
	}
}

// TestReplication_ExistingObjects: objects written before the rule replicate
// once the rule asks for existing objects (ExistingObjectReplication), and the
// backfill's progress is kept in the store.
func TestReplication_ExistingObjects(t *testing.T) {
	pl, ra, rb := twoFarPlanet(t)
	ctx := t.Context()
	replBucket(t, ra, "old", "ra")
	replBucket(t, rb, "copy", "rb")
	const n = 300 // more than one backfill page
	ids := make([]string, n)
	for i := range n {
		out, err := ra.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("old"), Key: aws.String(fmt.Sprintf("k%03d", i)), Body: strings.NewReader(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = aws.ToString(out.VersionId)
	}
	r := allRule("backfill", "copy", 1)
	r.ExistingObjectReplication = &types.ExistingObjectReplication{Status: types.ExistingObjectReplicationStatusEnabled}
	replicateTo(t, ra, "old", r)
	converged(t, 60*time.Second, n, map[string]*s3.Client{"old": ra, "copy": rb})
	st, err := pl.regions[0].members[0].member.(*node.Member).Store().Backfill("old")
	if err != nil || !st.Done || st.Scanned != n || st.Queued != n {
		t.Fatalf("backfill state %+v, %v", st, err)
	}
	// The progress shows in pangea ctl replication.
	var out strings.Builder
	printReplication(&out, pl.replication(ctx))
	if want := fmt.Sprintf("backfill of old (existing objects): done, %d versions scanned, %d queued", n, n); !strings.Contains(out.String(), want) {
		t.Fatalf("pangea ctl replication lacks %q:\n%s", want, out.String())
	}
	testkit.Eventually(t, 10*time.Second, "backfilled versions COMPLETED", func() error {
		if s := replStatus(t, ra, "old", "k000", ids[0]); s != "COMPLETED" {
			return fmt.Errorf("status %q", s)
		}
		return nil
	})
}

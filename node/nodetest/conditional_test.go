package nodetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pangea-s3/pangea/storage"
)

// enableVersioning turns versioning on, so that every successful write leaves a
// version behind and a lost race would show as an extra one.
func enableVersioning(ctx context.Context, t *testing.T, cl *s3.Client, bucket string) {
	t.Helper()
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatalf("enable versioning on %s: %v", bucket, err)
	}
}

// versionsOf lists every version of key (no delete markers expected).
func versionsOf(ctx context.Context, t *testing.T, cl *s3.Client, bucket, key string) []s3types.ObjectVersion {
	t.Helper()
	out, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatalf("list versions of %s/%s: %v", bucket, key, err)
	}
	if aws.ToBool(out.IsTruncated) || len(out.DeleteMarkers) != 0 {
		t.Fatalf("list versions of %s/%s: truncated %v, %d markers", bucket, key, aws.ToBool(out.IsTruncated), len(out.DeleteMarkers))
	}
	var vs []s3types.ObjectVersion
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == key {
			vs = append(vs, v)
		}
	}
	return vs
}

// TestRegion_IfNoneMatchHasExactlyOneWinner races conditional creates of one key
// through all three members at once: the conditions are decided by the raft log
// order, so exactly one PUT succeeds and every other gets 412 PreconditionFailed,
// whatever member it entered through and whether its body was inline or chunked.
func TestRegion_IfNoneMatchHasExactlyOneWinner(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	c := Start(t, Options{NoSync: true})
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	nodes := c.Nodes(region)
	clients := make([]*s3.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = sdk(c, n)
	}
	const bucket = "race"
	lc := sdk(c, leader)
	if _, err := lc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	enableVersioning(ctx, t, lc, bucket)

	const rounds, writers = 4, 12
	for round := range rounds {
		key := fmt.Sprintf("k%d", round)
		bodies := make([][]byte, writers)
		for w := range bodies {
			if w%4 == 3 {
				// Some bodies take the chunked path: staged, forwarded chunk by chunk.
				bodies[w] = randomBody(storage.ChunkSize + 1000*w)
			} else {
				bodies[w] = []byte(fmt.Sprintf("round %d writer %d", round, w))
			}
		}
		start := make(chan struct{})
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			cl := clients[w%len(clients)] // spread over every member
			wg.Go(func() {
				<-start
				_, errs[w] = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
					Body: bytes.NewReader(bodies[w]), IfNoneMatch: aws.String("*")})
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for w, err := range errs {
			switch code := errorCode(err); {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both created %s with If-None-Match: *", round, winner, w, key)
				}
				winner = w
			case code == "PreconditionFailed":
			default:
				t.Fatalf("round %d: writer %d (via %s): %v (code %q), want success or PreconditionFailed",
					round, w, nodes[w%len(nodes)].ID, err, code)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer created %s", round, key)
		}
		// Every member serves the winner's body, and only one version exists.
		for i, cl := range clients {
			got, err := get(ctx, cl, bucket, key)
			if err != nil || !bytes.Equal(got, bodies[winner]) {
				t.Fatalf("round %d: GET via %s: %d bytes, %v; want writer %d's %d bytes", round, nodes[i].ID, len(got), err, winner, len(bodies[winner]))
			}
		}
		if vs := versionsOf(ctx, t, lc, bucket, key); len(vs) != 1 {
			t.Fatalf("round %d: %d versions of %s, want 1", round, len(vs), key)
		}
	}
}

// TestRegion_IfMatchCompareAndSwap runs read-modify-write loops on one counter
// object through all three members: each writer GETs the value and its ETag and
// PUTs value+1 with If-Match. The PUTs that succeed must be exactly the versions
// written (none lost, none duplicated), and the final value their count.
func TestRegion_IfMatchCompareAndSwap(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	c := Start(t, Options{NoSync: true})
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	nodes := c.Nodes(region)
	const bucket, key = "cas", "counter"
	lc := sdk(c, leader)
	if _, err := lc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	enableVersioning(ctx, t, lc, bucket)
	put(ctx, t, lc, bucket, key, []byte("0"))

	const writers, incrementsEach, maxAttempts = 6, 5, 500
	type success struct {
		value     int
		versionID string
	}
	var (
		mu        sync.Mutex
		successes []success
		conflicts int
	)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		cl := sdk(c, nodes[w%len(nodes)])
		wg.Go(func() {
			done := 0
			for attempt := 0; done < incrementsEach; attempt++ {
				if attempt == maxAttempts || ctx.Err() != nil {
					errs[w] = fmt.Errorf("writer %d: %d of %d increments after %d attempts (%v)", w, done, incrementsEach, attempt, ctx.Err())
					return
				}
				out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
				if err != nil {
					errs[w] = fmt.Errorf("writer %d: GET: %w", w, err)
					return
				}
				b, err := io.ReadAll(out.Body)
				out.Body.Close()
				if err != nil {
					errs[w] = fmt.Errorf("writer %d: read: %w", w, err)
					return
				}
				n, err := strconv.Atoi(string(b))
				if err != nil {
					errs[w] = fmt.Errorf("writer %d: counter %q: %w", w, b, err)
					return
				}
				next := strconv.Itoa(n + 1)
				res, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
					Body: bytes.NewReader([]byte(next)), IfMatch: out.ETag})
				switch {
				case err == nil:
					done++
					mu.Lock()
					successes = append(successes, success{n + 1, aws.ToString(res.VersionId)})
					mu.Unlock()
				case errorCode(err) == "PreconditionFailed":
					mu.Lock()
					conflicts++
					mu.Unlock()
				default:
					errs[w] = fmt.Errorf("writer %d: PUT If-Match %s: %w (code %q)", w, aws.ToString(out.ETag), err, errorCode(err))
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	total := writers * incrementsEach
	t.Logf("%d increments, %d conflicts (412) along the way", len(successes), conflicts)

	// Each successful PUT wrote a different value, 1..total, and a version of its own.
	values := make([]int, 0, len(successes))
	ids := make(map[string]bool)
	for _, s := range successes {
		values = append(values, s.value)
		ids[s.versionID] = true
	}
	slices.Sort(values)
	for i, v := range values {
		if v != i+1 {
			t.Fatalf("successful PUTs wrote values %v, want 1..%d each once (a lost update)", values, total)
		}
	}
	if len(values) != total || len(ids) != total {
		t.Fatalf("%d successes with %d distinct version IDs, want %d", len(values), len(ids), total)
	}
	vs := versionsOf(ctx, t, lc, bucket, key)
	if len(vs) != total+1 {
		t.Fatalf("%d versions of the counter, want %d (the initial one and one per successful PUT)", len(vs), total+1)
	}
	for _, v := range vs[:total] { // newest first; the last is the initial "0"
		if !ids[aws.ToString(v.VersionId)] {
			t.Fatalf("version %s was not reported by any successful PUT", aws.ToString(v.VersionId))
		}
	}
	for _, n := range nodes {
		got, err := get(ctx, sdk(c, n), bucket, key)
		if err != nil || string(got) != strconv.Itoa(total) {
			t.Fatalf("counter via %s = %q, %v; want %d", n.ID, got, err, total)
		}
	}
}

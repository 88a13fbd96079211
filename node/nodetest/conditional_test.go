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

// versionedRegion starts a region and creates bucket, versioned, through the
// leader; it returns the cluster, its members and an SDK client of the leader.
func versionedRegion(ctx context.Context, t *testing.T, bucket string) (*Cluster, []*Node, *s3.Client) {
	t.Helper()
	c := Start(t, Options{NoSync: true})
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	lc := sdk(c, leader)
	if _, err := lc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	enableVersioning(ctx, t, lc, bucket)
	return c, c.Nodes(region), lc
}

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
	const bucket = "race"
	c, nodes, lc := versionedRegion(ctx, t, bucket)
	clients := make([]*s3.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = sdk(c, n)
	}

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

		// A writer can also get 503 if the leader changes under the load: its outcome
		// is unknown (a client that retried an applied create would get 412).
		// Whatever happened, at most one create was applied.
		winner, decided := -1, false
		for w, err := range errs {
			switch code := errorCode(err); {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both created %s with If-None-Match: *", round, winner, w, key)
				}
				winner, decided = w, true
			case code == "PreconditionFailed":
				decided = true // the key existed: some create was applied
			case code == "ServiceUnavailable":
				t.Logf("round %d: writer %d: outcome unknown (503): %v", round, w, err)
			default:
				t.Fatalf("round %d: writer %d (via %s): %v (code %q), want success, PreconditionFailed or 503",
					round, w, nodes[w%len(nodes)].ID, err, code)
			}
		}
		vs := versionsOf(ctx, t, lc, bucket, key)
		if len(vs) > 1 || (decided && len(vs) != 1) {
			t.Fatalf("round %d: %d versions of %s, want 1", round, len(vs), key)
		}
		if len(vs) == 0 {
			continue // every writer got 503 and none was applied
		}
		// Every member serves the same body: the winner's, or one writer's if the
		// winner's answer was lost.
		var want []byte
		for i, cl := range clients {
			got, err := get(ctx, cl, bucket, key)
			if err != nil {
				t.Fatalf("round %d: GET via %s: %v", round, nodes[i].ID, err)
			}
			if want == nil {
				want = got
				if winner >= 0 && !bytes.Equal(got, bodies[winner]) {
					t.Fatalf("round %d: %s holds %d bytes, not writer %d's", round, key, len(got), winner)
				}
				if !slices.ContainsFunc(bodies, func(b []byte) bool { return bytes.Equal(b, got) }) {
					t.Fatalf("round %d: %s holds %d bytes no writer sent", round, key, len(got))
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("round %d: GET via %s: %d bytes, another member served %d", round, nodes[i].ID, len(got), len(want))
			}
		}
	}
}

// TestRegion_IfMatchCompareAndSwap runs read-modify-write loops on one counter
// object through all three members: each writer GETs the value and its ETag and
// PUTs value+1 with If-Match. No update may be lost: the versions, oldest first,
// hold 0, 1, 2, ... and every successful PUT is one of them with its value. (A PUT
// answered 503 when the leader changes under the load may or may not have been
// applied; the writer reads again and goes on.)
func TestRegion_IfMatchCompareAndSwap(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	const bucket, key = "cas", "counter"
	c, nodes, lc := versionedRegion(ctx, t, bucket)
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
		unknown   int
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
				case errorCode(err) == "ServiceUnavailable":
					mu.Lock()
					unknown++
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
	t.Logf("%d increments, %d conflicts (412), %d unknown outcomes (503) along the way", len(successes), conflicts, unknown)
	if len(successes) != total {
		t.Fatalf("%d successful increments, want %d", len(successes), total)
	}

	// The versions, oldest first, must count 0, 1, 2, ...: each applied PUT wrote
	// the value it read plus one, so nothing was lost or applied twice.
	vs := versionsOf(ctx, t, lc, bucket, key)
	slices.Reverse(vs) // ListObjectVersions gives the newest first
	valueOf := make(map[string]int, len(vs))
	for i, v := range vs {
		out, err := lc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: v.VersionId})
		if err != nil {
			t.Fatalf("GET version %s: %v", aws.ToString(v.VersionId), err)
		}
		b, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || string(b) != strconv.Itoa(i) {
			t.Fatalf("version %d of the counter holds %q (%v), want %d: an update was lost", i, b, err, i)
		}
		valueOf[aws.ToString(v.VersionId)] = i
	}
	if len(vs) < total+1 || len(vs) > total+1+unknown {
		t.Fatalf("%d versions of the counter, want %d (the initial one, one per success) plus at most %d unknown outcomes",
			len(vs), total+1, unknown)
	}
	for _, s := range successes {
		if v, ok := valueOf[s.versionID]; !ok || v != s.value {
			t.Fatalf("successful PUT of %d reported version %s, which holds %d (found %v)", s.value, s.versionID, v, ok)
		}
	}
	last := strconv.Itoa(len(vs) - 1)
	for _, n := range nodes {
		got, err := get(ctx, sdk(c, n), bucket, key)
		if err != nil || string(got) != last {
			t.Fatalf("counter via %s = %q, %v; want %s", n.ID, got, err, last)
		}
	}
}

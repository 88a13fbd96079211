//go:build unix

package integration

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/pangea-s3/pangea/integration/testkit"
)

// TestRegionStoppedLeader stops the leader process of a three-process region with
// SIGSTOP (its sockets stay open; it answers nothing, closes nothing) and sends PUTs
// through the followers at once, while they still forward to it. Every PUT must be
// answered, success or 503 ServiceUnavailable, while the leader is still stopped;
// then it gets SIGCONT, and no answer may have been false: every acknowledged
// object is on every member with its bytes, and every PUT answered 503 is present
// (with its bytes) or absent, the same on every member.
func TestRegionStoppedLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	seed := testSeed(t)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	const bucket = "stopped"

	members, _ := startRegion(t)
	if err := regionRetry(ctx, 30*time.Second, func(ctx context.Context) error {
		_, err := members[0].client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "BucketAlreadyOwnedByYou" {
			return nil
		}
		return err
	}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	var leader *regionMember
	testkit.Eventually(t, 30*time.Second, "a leader", func() error {
		id := regionLeader(ctx, members)
		for _, m := range members {
			if m.id == id {
				leader = m
				return nil
			}
		}
		return errors.New("no member names a leader")
	})
	var followers []*regionMember
	for _, m := range members {
		if m != leader {
			followers = append(followers, m)
		}
	}
	// A PUT through each follower first: it has the bucket, and a connection to
	// the leader, as a follower in service has; the PUTs below travel on it.
	for _, f := range followers {
		if err := regionRetry(ctx, 30*time.Second, func(ctx context.Context) error {
			_, err := f.client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("warm-" + f.id), Body: bytes.NewReader([]byte("warm"))})
			return err
		}); err != nil {
			t.Fatalf("PUT through %s before the stop: %v", f.id, err)
		}
	}
	if id := regionLeader(ctx, members); id != leader.id {
		t.Fatalf("the leader changed from %s to %q before the stop", leader.id, id)
	}

	pid := leader.proc.cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) }) // no process stays stopped
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %s: %v", leader.id, err)
	}
	start := time.Now()
	t.Logf("SIGSTOP %s, the leader", leader.id)

	type answer struct {
		key, via string
		err      error
		after    time.Duration
	}
	var (
		mu      sync.Mutex
		answers []answer
		wg      sync.WaitGroup
		bodies  = map[string][]byte{}
	)
	for _, f := range followers {
		c := f.client()
		for i := range 5 {
			key := fmt.Sprintf("%s/obj-%d", f.id, i)
			size := 1 << 10
			if i == 4 {
				size = 2*mib + 100 // several chunks, each its own forwarded submission
			}
			body := randomBytes(seed, key, size)
			bodies[key] = body
			wg.Go(func() {
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
				mu.Lock()
				answers = append(answers, answer{key: key, via: f.id, err: err, after: time.Since(start)})
				mu.Unlock()
			})
		}
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		mu.Lock()
		t.Errorf("30 s after SIGSTOP of the leader, %d of %d PUTs through the followers are unanswered: they wait for the stopped leader",
			len(bodies)-len(answers), len(bodies))
		mu.Unlock()
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT %s: %v", leader.id, err)
	}
	t.Logf("SIGCONT %s after %v", leader.id, time.Since(start).Round(time.Millisecond))
	select {
	case <-all:
	case <-ctx.Done():
		t.Fatalf("PUTs still unanswered after SIGCONT: %v", ctx.Err())
	}
	if t.Failed() {
		t.FailNow()
	}

	slices.SortFunc(answers, func(a, b answer) int { return cmp.Compare(a.after, b.after) })
	unknown := 0
	for _, a := range answers {
		t.Logf("PUT %s via %s: answered %v after SIGSTOP: %v", a.key, a.via, a.after.Round(time.Millisecond), a.err)
		switch {
		case a.err == nil:
		case unavailable(a.err):
			unknown++
		default:
			t.Errorf("PUT %s via %s: %v, want success or 503 ServiceUnavailable", a.key, a.via, a.err)
		}
	}
	if unknown == 0 {
		t.Errorf("no PUT was answered 503: none reached the stopped leader before the followers elected another, so the test proved nothing")
	}

	// No false answer: the members agree on every PUT, and every acknowledged one
	// is there with its bytes.
	present := map[string]map[string]bool{} // member -> key -> present
	for _, m := range members {
		c := m.client()
		present[m.id] = map[string]bool{}
		for key, body := range bodies {
			got, err := getBytes(ctx, c, bucket, key)
			var ae smithy.APIError
			switch {
			case err == nil && bytes.Equal(got, body):
				present[m.id][key] = true
			case err == nil:
				t.Errorf("%s: GET %s: %d bytes, not the %d written", m.id, key, len(got), len(body))
			case errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey":
			default:
				t.Errorf("%s: GET %s: %v", m.id, key, err)
			}
		}
	}
	for _, a := range answers {
		for _, m := range members {
			if present[m.id][a.key] != present[members[0].id][a.key] {
				t.Errorf("members disagree on %s: %s has it: %v, %s has it: %v", a.key, members[0].id, present[members[0].id][a.key], m.id, present[m.id][a.key])
			}
			if a.err == nil && !present[m.id][a.key] {
				t.Errorf("PUT %s via %s was acknowledged, and %s does not have it", a.key, a.via, m.id)
			}
		}
	}
	for _, m := range members {
		m.proc.stop(t, os.Interrupt)
	}
}

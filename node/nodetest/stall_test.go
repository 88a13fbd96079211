package nodetest

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/storage"
)

// TestRegion_FrozenLeaderDoesNotHoldFollowerRequests freezes the leader as SIGSTOP
// would (its connections stay open and carry nothing) while requests enter through
// the followers, which forward them to it: every request must be answered while
// the leader is still frozen, and no answer may be false.
func TestRegion_FrozenLeaderDoesNotHoldFollowerRequests(t *testing.T) {
	testStalledLeader(t, "frozen",
		func(c *Cluster, leader *Node, _ []*Node) { c.Freeze(leader) },
		func(c *Cluster, leader *Node, _ []*Node) { c.Thaw(leader) })
}

// TestRegion_BlackholedLeaderDoesNotHoldFollowerRequests is the same with a
// partition that drops the leader's packets silently (no RST, no FIN).
func TestRegion_BlackholedLeaderDoesNotHoldFollowerRequests(t *testing.T) {
	testStalledLeader(t, "blackholed",
		func(c *Cluster, leader *Node, fs []*Node) { c.Blackhole([]*Node{leader}, fs) },
		func(c *Cluster, _ *Node, _ []*Node) { c.Heal() })
}

// stalledAnswer is what one request sent through a follower while the leader was
// stalled got back, and when.
type stalledAnswer struct {
	what  string // e.g. "PUT n2/small-0"
	via   *Node
	err   error
	after time.Duration // from the stall to the answer
}

// testStalledLeader stalls the leader with stall, and at once sends writes (small
// PUTs, a PUT of several chunks, a CreateBucket through Member) and a read through
// each follower, whose view of the leader is still the stalled one: the writes are
// forwarded to it, on the connection an earlier forwarded write opened. It keeps the leader stalled until every request has returned
// (failing after 30 s rather than hanging), then resumes it and checks that no
// answer was false: acknowledged writes are everywhere; writes answered with a
// definite failure nowhere; writes of unknown outcome present or absent, the same
// on every member.
//
// The raft heartbeat timeout is a second, so the followers keep forwarding to the
// stalled leader for a second or two before they elect another.
func testStalledLeader(t *testing.T, how string, stall, resume func(c *Cluster, leader *Node, fs []*Node)) {
	ctx := testCtx(t, 120*time.Second)
	c := Start(t, Options{NoSync: true,
		Raft: node.RaftTimeouts{Heartbeat: time.Second, Election: time.Second, LeaderLease: time.Second}})
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	fs := followers(c, leader)
	const bucket = "stall"
	if _, err := sdk(c, leader).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	before := []byte("written before the stall")
	put(ctx, t, sdk(c, leader), bucket, "before", before)
	for _, n := range fs {
		// Every follower has the bucket, so a PUT goes straight to forwarding, and
		// a connection to the leader, as a follower in service has: the requests
		// below travel on it (a new one would fail its handshake, before anything
		// is sent).
		if err := testkit.Poll(ctx, func() error { _, err := n.Member.Store().Bucket(ctx, bucket); return err }); err != nil {
			t.Fatalf("bucket not replicated to %s: %v", n.ID, err)
		}
		put(ctx, t, sdk(c, n), bucket, "warm-"+n.ID, []byte("forwarded before the stall"))
	}

	stall(c, leader, fs)
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			resume(c, leader, fs)
		}
	})
	start := time.Now()
	for _, f := range fs {
		if id, _ := f.Member.Leader(); id != leader.ID {
			t.Logf("%s already sees %q as the leader when the requests start", f.ID, id)
		}
	}

	bodies := map[string][]byte{} // key -> body of every PUT sent
	var (
		mu      sync.Mutex
		answers []stalledAnswer
		wg      sync.WaitGroup
	)
	sent := 0
	send := func(what string, via *Node, call func() error) {
		sent++
		wg.Go(func() {
			err := call()
			mu.Lock()
			answers = append(answers, stalledAnswer{what: what, via: via, err: err, after: time.Since(start)})
			mu.Unlock()
		})
	}
	for _, f := range fs {
		cl := sdk(c, f)
		keys := []string{f.ID + "/small-0", f.ID + "/small-1", f.ID + "/small-2", f.ID + "/big"}
		for _, k := range keys {
			size := 1 << 10
			if strings.HasSuffix(k, "big") {
				size = 2*storage.ChunkSize + 100
			}
			body := randomBody(size)
			bodies[k] = body
			send("PUT "+k, f, func() error {
				_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(body)})
				return err
			})
		}
		send("CreateBucket limbo-"+f.ID, f, func() error { return f.Member.CreateBucket(ctx, "limbo-"+f.ID, "", "owner") })
		send("GET before", f, func() error {
			got, err := get(ctx, cl, bucket, "before")
			if err == nil && !bytes.Equal(got, before) {
				return fmt.Errorf("read %q, want %q", got, before)
			}
			return err
		})
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		mu.Lock()
		t.Errorf("30 s after the leader was %s, %d of %d requests through the followers are still unanswered: "+
			"they wait for the stalled leader", how, sent-len(answers), sent)
		mu.Unlock()
	}
	resume(c, leader, fs)
	resumed = true
	select {
	case <-all:
	case <-ctx.Done():
		t.Fatalf("requests still unanswered after the leader was resumed: %v", ctx.Err())
	}
	if t.Failed() {
		t.FailNow()
	}

	sort.Slice(answers, func(i, j int) bool { return answers[i].after < answers[j].after })
	unknown := 0
	for _, a := range answers {
		t.Logf("%s via %s: answered %v after the leader was %s: %v", a.what, a.via.ID, a.after.Round(time.Millisecond), how, a.err)
		if a.err == nil {
			continue
		}
		var re *node.RetryableError
		switch {
		case strings.HasPrefix(a.what, "CreateBucket") && errors.As(a.err, &re):
			if re.Unknown {
				unknown++
			}
		case strings.HasPrefix(a.what, "CreateBucket"):
			t.Errorf("%s via %s: %v (%T), want success or a node.RetryableError", a.what, a.via.ID, a.err, a.err)
		case errorCode(a.err) == "ServiceUnavailable":
			if strings.HasPrefix(a.what, "PUT") {
				unknown++
			}
		default:
			t.Errorf("%s via %s: %v, want success or 503 ServiceUnavailable", a.what, a.via.ID, a.err)
		}
	}
	if unknown == 0 {
		t.Errorf("no write was answered with an unknown outcome: none reached the %s leader before the followers gave up on it, so the test proved nothing", how)
	}

	// No false answer: every member, once it answers again, agrees on every write,
	// and the answers were true.
	type fate = string                   // "present", "absent"
	seen := map[string]map[string]fate{} // member -> write -> fate
	for _, n := range c.Nodes(region) {
		cl := sdk(c, n)
		got := map[string]fate{}
		err := testkit.Poll(ctx, func() error {
			for k, body := range bodies {
				b, err := get(ctx, cl, bucket, k)
				switch {
				case err == nil && bytes.Equal(b, body):
					got["PUT "+k] = "present"
				case err == nil:
					return testkit.Stop(fmt.Errorf("%s/%s via %s: %d bytes, not the body written", bucket, k, n.ID, len(b)))
				case errorCode(err) == "NoSuchKey":
					got["PUT "+k] = "absent"
				default:
					return err
				}
			}
			for _, f := range fs {
				_, err := n.Member.Bucket(ctx, "limbo-"+f.ID)
				switch {
				case err == nil:
					got["CreateBucket limbo-"+f.ID] = "present"
				case errors.Is(err, storage.ErrNoSuchBucket):
					got["CreateBucket limbo-"+f.ID] = "absent"
				default:
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s does not answer after the leader was resumed: %v", n.ID, err)
		}
		seen[n.ID] = got
	}
	ref := seen[fs[0].ID]
	for id, got := range seen {
		for w, f := range got {
			if f != ref[w] {
				t.Errorf("members disagree on %s: %s says %s, %s says %s", w, fs[0].ID, ref[w], id, f)
			}
		}
	}
	for _, a := range answers {
		if strings.HasPrefix(a.what, "GET") {
			continue
		}
		var re *node.RetryableError
		switch {
		case a.err == nil && ref[a.what] != "present":
			t.Errorf("%s via %s was acknowledged, and is %s", a.what, a.via.ID, ref[a.what])
		case errors.As(a.err, &re) && !re.Unknown && ref[a.what] != "absent":
			t.Errorf("%s via %s failed with %v (nothing applied), and is %s", a.what, a.via.ID, a.err, ref[a.what])
		}
	}
}

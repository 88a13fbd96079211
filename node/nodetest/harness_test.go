package nodetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/raft"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/storage"
)

const region = "us-east-1"

// sdk returns a real aws-sdk-go-v2 client for one member, without retries so that a
// 503 is seen as such.
func sdk(c *Cluster, n *Node) *s3.Client {
	cfg := aws.Config{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, ""),
		HTTPClient:       &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		RetryMaxAttempts: 1,
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(n.S3URL)
	})
}

func followers(c *Cluster, leader *Node) []*Node {
	var out []*Node
	for _, n := range c.Nodes(leader.Region) {
		if n != leader {
			out = append(out, n)
		}
	}
	return out
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func put(ctx context.Context, t *testing.T, cl *s3.Client, bucket, key string, body []byte) *s3.PutObjectOutput {
	t.Helper()
	out, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("PUT %s/%s: %v", bucket, key, err)
	}
	return out
}

func get(ctx context.Context, cl *s3.Client, bucket, key string) ([]byte, error) {
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func randomBody(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestHarness_ForwardedWritesAndFollowerReads writes through followers with the
// real SDK (small inline bodies and a multi-chunk body forwarded chunk by chunk)
// and reads every write back through every member at once.
func TestHarness_ForwardedWritesAndFollowerReads(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c := Start(t, Options{NoSync: true})
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	fs := followers(c, leader)
	if len(fs) != 2 {
		t.Fatalf("%d followers", len(fs))
	}
	f0, f1 := sdk(c, fs[0]), sdk(c, fs[1])
	if _, err := f0.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("fwd")}); err != nil {
		t.Fatalf("CreateBucket via follower: %v", err)
	}
	bodies := map[string][]byte{
		"small": []byte("hello raft"),
		"empty": {},
		"big":   randomBody(3*storage.ChunkSize + 12345),
	}
	for k, b := range bodies {
		out := put(ctx, t, f0, "fwd", k, b)
		if aws.ToString(out.ETag) == "" {
			t.Errorf("PUT %s: no ETag", k)
		}
	}
	// Read-after-write through a different follower and the leader, no waiting.
	for _, n := range c.Nodes(region) {
		cl := sdk(c, n)
		for k, want := range bodies {
			got, err := get(ctx, cl, "fwd", k)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("GET %s via %s: %d bytes, err %v; want %d bytes", k, n.ID, len(got), err, len(want))
			}
		}
	}
	list, err := f1.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("fwd")})
	if err != nil || len(list.Contents) != len(bodies) {
		t.Fatalf("list via follower: %v, %d objects", err, len(list.Contents))
	}
	// Versions minted through different members still order by acknowledgement.
	if _, err := f0.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("fwd"),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, n := range []*Node{fs[0], leader, fs[1], fs[0]} {
		out := put(ctx, t, sdk(c, n), "fwd", "v", []byte{byte(i)})
		ids = append(ids, aws.ToString(out.VersionId))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("version IDs not increasing in acknowledgement order: %v", ids)
		}
	}
	got, err := get(ctx, f1, "fwd", "v")
	if err != nil || !bytes.Equal(got, []byte{3}) {
		t.Fatalf("latest version via follower: %v %v", got, err)
	}
}

// TestHarness_LeaderKillWritesResume kills the leader and checks that a surviving
// member elects a new one, accepts writes, serves everything acknowledged before,
// and that the old leader catches up after a restart.
func TestHarness_LeaderKillWritesResume(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c := Start(t, Options{NoSync: true})
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	lc := sdk(c, leader)
	if _, err := lc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	put(ctx, t, lc, "bkt", "before", []byte("acknowledged before the kill"))

	c.Kill(leader)
	fs := followers(c, leader)
	// A write through a survivor succeeds once a new leader is elected; the member
	// itself waits for it (LeaderWait), so one attempt normally suffices.
	err = testkit.Poll(ctx, func() error {
		_, err := sdk(c, fs[0]).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("after"), Body: strings.NewReader("after")})
		return err
	})
	if err != nil {
		t.Fatalf("no write accepted after the leader died: %v", err)
	}
	newLeader, err := c.Leader(ctx, region)
	if err != nil || newLeader == leader {
		t.Fatalf("new leader %v, %v", newLeader, err)
	}
	for _, k := range []string{"before", "after"} {
		if _, err := get(ctx, sdk(c, fs[1]), "bkt", k); err != nil {
			t.Fatalf("GET %s via survivor: %v", k, err)
		}
	}
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	if got, err := get(ctx, sdk(c, leader), "bkt", "after"); err != nil || string(got) != "after" {
		t.Fatalf("restarted member: %q %v", got, err)
	}
}

// TestHarness_PartitionedMemberNeverServesStaleData isolates a follower, writes
// through the majority, and checks that the isolated member answers 503 (never
// the old value); after healing it serves the new value.
func TestHarness_PartitionedMemberNeverServesStaleData(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c := Start(t, Options{NoSync: true, LeaderWait: time.Second})
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	lc := sdk(c, leader)
	if _, err := lc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("ppp")}); err != nil {
		t.Fatal(err)
	}
	put(ctx, t, lc, "ppp", "k", []byte("old"))
	fs := followers(c, leader)
	isolated := fs[0]
	if got, err := get(ctx, sdk(c, isolated), "ppp", "k"); err != nil || string(got) != "old" {
		t.Fatalf("before the partition: %q %v", got, err)
	}
	c.Partition([]*Node{leader, fs[1]}, []*Node{isolated})
	put(ctx, t, lc, "ppp", "k", []byte("new"))

	_, err = get(ctx, sdk(c, isolated), "ppp", "k")
	if code := errorCode(err); code != "ServiceUnavailable" {
		t.Fatalf("isolated member: err %v (code %q), want ServiceUnavailable", err, code)
	}
	_, err = sdk(c, isolated).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ppp"), Key: aws.String("k2"), Body: strings.NewReader("x")})
	if code := errorCode(err); code != "ServiceUnavailable" {
		t.Fatalf("write via isolated member: err %v, want ServiceUnavailable", err)
	}

	c.Heal()
	var got []byte
	err = testkit.Poll(ctx, func() error {
		var err error
		got, err = get(ctx, sdk(c, isolated), "ppp", "k")
		return err
	})
	if err != nil || string(got) != "new" {
		t.Fatalf("after healing: %q %v", got, err)
	}
}

// TestHarness_CutOffLeaderNeverServesStaleData isolates the leader, lets the
// majority elect a new one and overwrite a key through it, and checks that the old
// leader, whose own replica still holds the superseded value and which still
// believes it leads, answers 503 (through S3) or ErrNoLeader (through the Member)
// and never that value; after healing it serves the new value.
//
// The old leader gets a long leader lease and its followers short election
// timeouts, so the majority's new leader has acknowledged the overwrite well before
// the old one notices it lost its quorum: its read must not trust its leadership
// (raft's VerifyLeader round) nor its replica.
func TestHarness_CutOffLeaderNeverServesStaleData(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	slow := node.RaftTimeouts{Heartbeat: 2 * time.Second, Election: 2 * time.Second, LeaderLease: 2 * time.Second}
	c := Start(t, Options{NoSync: true, LeaderWait: time.Second, Raft: slow})
	old, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	// Restart the followers one at a time with quick timeouts; the leader keeps its
	// quorum throughout.
	fs := followers(c, old)
	for _, f := range fs {
		c.Kill(f)
		if err := c.RestartWith(f, func(cfg *node.MemberConfig) { cfg.Raft = TestRaftTimeouts() }); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := c.Leader(ctx, region); err != nil || l != old {
		t.Fatalf("leader after restarting the followers: %v, %v; want %s", l, err, old.ID)
	}
	oc := sdk(c, old)
	if _, err := oc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("stale")}); err != nil {
		t.Fatal(err)
	}
	oldBody, newBody := []byte("old value"), []byte("the new value")
	oldETag := strings.Trim(aws.ToString(put(ctx, t, oc, "stale", "k", oldBody).ETag), `"`)

	// Every member holds the old value.
	for _, n := range c.Nodes(region) {
		if got, err := get(ctx, sdk(c, n), "stale", "k"); err != nil || !bytes.Equal(got, oldBody) {
			t.Fatalf("before the partition, via %s: %q %v", n.ID, got, err)
		}
	}

	c.Partition([]*Node{old}, fs)
	// c.Leader would still return the old leader until it steps down: wait for the
	// majority's own leader.
	var nl *Node
	if err := testkit.Poll(ctx, func() error {
		for _, n := range fs {
			if n.Member.Ready() {
				nl = n
				return nil
			}
		}
		return errors.New("no member of the majority is ready")
	}); err != nil {
		t.Fatalf("the majority elected no leader: %v", err)
	}
	newETag := strings.Trim(aws.ToString(put(ctx, t, sdk(c, nl), "stale", "k", newBody).ETag), `"`)
	if newETag == oldETag {
		t.Fatalf("old and new bodies share ETag %s", newETag)
	}

	// The old leader's replica never saw the overwrite: a local read would be stale.
	if v, err := old.Member.Store().Object(ctx, "stale", "k", ""); err != nil || v.ETag != oldETag {
		t.Fatalf("old leader's replica: ETag %q, %v; want the superseded %q", v.ETag, err, oldETag)
	}
	if !old.Member.IsLeader() {
		t.Fatalf("%s stepped down before the read: the scenario needs it to still believe it leads", old.ID)
	}
	got, err := get(ctx, oc, "stale", "k")
	if code := errorCode(err); code != "ServiceUnavailable" {
		t.Fatalf("GET via the old leader: %q, %v (code %q); want ServiceUnavailable", got, err, code)
	}
	if _, err := oc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("stale"), Key: aws.String("k")}); err == nil {
		t.Fatal("HEAD via the old leader succeeded")
	} else {
		var re interface{ HTTPStatusCode() int }
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusServiceUnavailable {
			t.Fatalf("HEAD via the old leader: %v, want 503", err)
		}
	}
	if v, err := old.Member.Object(ctx, "stale", "k", ""); !errors.Is(err, node.ErrNoLeader) {
		t.Fatalf("Member.Object on the old leader: ETag %q, %v; want ErrNoLeader", v.ETag, err)
	}

	c.Heal()
	err = testkit.Poll(ctx, func() error {
		var err error
		got, err = get(ctx, oc, "stale", "k")
		return err
	})
	if err != nil || !bytes.Equal(got, newBody) {
		t.Fatalf("old leader after healing: %q %v; want %q", got, err, newBody)
	}
}

// TestHarness_UnknownOutcomeIsRetryable proposes through a leader that has just
// been cut off from its followers, while its leader lease still runs: it accepts
// the entries into its log but cannot commit them, and on stepping down it must
// answer the retryable unknown-outcome error (503 at the S3 layer), never a
// success nor a definite failure. Afterwards every member agrees on whether each
// write happened, and a retry succeeds.
func TestHarness_UnknownOutcomeIsRetryable(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	// A leader lease of a second leaves the cut-off leader plenty of time to accept
	// both proposals before it notices it lost its quorum: had it stepped down first,
	// the writes would fail with ErrNoLeader (nothing happened), not this case.
	c := Start(t, Options{NoSync: true, LeaderWait: 2 * time.Second,
		Raft: node.RaftTimeouts{Heartbeat: time.Second, Election: time.Second, LeaderLease: time.Second}})
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	lc := sdk(c, leader)
	if _, err := lc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("uncertain")}); err != nil {
		t.Fatal(err)
	}
	fs := followers(c, leader)
	// Every member has the bucket before the cut, so the S3 PUT below goes straight
	// to the proposal.
	for _, n := range c.Nodes(region) {
		if err := testkit.Poll(ctx, func() error { _, err := n.Member.Store().Bucket(ctx, "uncertain"); return err }); err != nil {
			t.Fatalf("bucket not replicated to %s: %v", n.ID, err)
		}
	}

	c.Partition([]*Node{leader}, fs)
	body := []byte("written while cut off")
	var wg sync.WaitGroup
	var memberErr, s3Err error
	wg.Go(func() { memberErr = leader.Member.CreateBucket(ctx, "limbo", "", "owner") })
	wg.Go(func() {
		_, s3Err = lc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("uncertain"), Key: aws.String("k"), Body: bytes.NewReader(body)})
	})
	wg.Wait()
	// Both entries are in the old leader's log, past its commit index: accepted,
	// never committed.
	if st := leader.Member.Status(); st.LastLogIndex < st.CommitIndex+2 {
		t.Fatalf("cut-off leader: last log index %d, commit index %d; want both writes appended", st.LastLogIndex, st.CommitIndex)
	}
	var re *node.RetryableError
	if !errors.As(memberErr, &re) || !re.Unknown || !re.UnknownOutcome() || !errors.Is(memberErr, node.ErrUnknownOutcome) {
		t.Fatalf("write through a cut-off leader: %v (%T), want a RetryableError wrapping ErrUnknownOutcome", memberErr, memberErr)
	}
	if errors.Is(memberErr, node.ErrNoLeader) {
		t.Fatalf("write through a cut-off leader: %v also claims nothing happened (ErrNoLeader)", memberErr)
	}
	if code := errorCode(s3Err); code != "ServiceUnavailable" {
		t.Fatalf("S3 PUT through a cut-off leader: %v (code %q), want ServiceUnavailable", s3Err, code)
	}
	_, err = lc.ListBuckets(ctx, &s3.ListBucketsInput{})
	if code := errorCode(err); code != "ServiceUnavailable" {
		t.Fatalf("read through a cut-off leader: %v, want ServiceUnavailable", err)
	}

	// The majority elects its own leader before the partition heals, so the entries
	// the old leader appended (in no other log) are truncated away when it rejoins.
	nl, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	if nl == leader {
		t.Fatalf("the cut-off member %s is still the ready leader", leader.ID)
	}
	c.Heal()

	// Every member, once it answers again, tells the same story about both writes.
	type outcome struct{ bucket, object string }
	seen := make(map[string]outcome)
	for _, n := range c.Nodes(region) {
		var o outcome
		err := testkit.Poll(ctx, func() error {
			_, berr := n.Member.Bucket(ctx, "limbo")
			got, gerr := get(ctx, sdk(c, n), "uncertain", "k")
			switch {
			case berr == nil:
				o.bucket = "present"
			case errors.Is(berr, storage.ErrNoSuchBucket):
				o.bucket = "absent"
			default:
				return berr
			}
			switch {
			case gerr == nil && bytes.Equal(got, body):
				o.object = "present"
			case gerr == nil:
				t.Fatalf("uncertain/k via %s: %q, a body never written", n.ID, got)
			case errorCode(gerr) == "NoSuchKey":
				o.object = "absent"
			default:
				return gerr
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s does not answer after healing: %v", n.ID, err)
		}
		seen[n.ID] = o
	}
	for id, o := range seen {
		if o != seen[leader.ID] {
			t.Fatalf("members disagree on the uncertain writes: %v", seen)
		}
		// Only the cut-off leader ever had the entries, and a leader elected without
		// it cannot commit them: they must be gone everywhere.
		if o != (outcome{"absent", "absent"}) {
			t.Fatalf("%s: %+v; the uncommitted entries survived the new leader's term", id, o)
		}
	}

	// The client's retry, through the same member, succeeds and is seen everywhere.
	if err := leader.Member.CreateBucket(ctx, "limbo", "", "owner"); err != nil {
		t.Fatalf("retried CreateBucket: %v", err)
	}
	put(ctx, t, lc, "uncertain", "k", body)
	for _, n := range c.Nodes(region) {
		if _, err := n.Member.Bucket(ctx, "limbo"); err != nil {
			t.Fatalf("bucket after the retry via %s: %v", n.ID, err)
		}
		if got, err := get(ctx, sdk(c, n), "uncertain", "k"); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("object after the retry via %s: %q, %v", n.ID, got, err)
		}
	}
}

// TestHarness_MembershipThroughCtlClient adds a fourth member with the client
// `pangea ctl` uses, checks that it catches up and serves reads, then removes it.
// Raft resolves the added member's address without complaint (it used to warn on
// every heartbeat that the member was not in the address book).
func TestHarness_MembershipThroughCtlClient(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	logs := &lockedBuffer{}
	c := Start(t, Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	defer func() {
		if out := logs.String(); strings.Contains(out, "unable to get address") || t.Failed() {
			t.Errorf("member logs:\n%s", out)
		}
	}()
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	lc := sdk(c, leader)
	if _, err := lc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("mmm")}); err != nil {
		t.Fatal(err)
	}
	body := randomBody(storage.ChunkSize + 7)
	put(ctx, t, lc, "mmm", "k", body)

	n4, err := c.AddNode(region)
	if err != nil {
		t.Fatal(err)
	}
	// Ask a follower: it forwards the change to the leader.
	via := followers(c, leader)[0]
	cl, err := node.DialCluster(via.ClusterAddr, c.Secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// A member that does not answer at the address, or answers under another ID,
	// is refused: raft would add any address, and a dead voter costs the majority.
	// Released at once, the port has nobody listening; no other member gets it
	// (the cluster's own listeners are bound already).
	ports := testkit.NewPorts(t)
	deadAddr := ports.Reserve(1)[0]
	ports.Release(deadAddr)
	for _, bad := range []struct{ id, addr, want string }{
		{n4.ID, deadAddr, "no member answers"},
		{"n9", n4.ClusterAddr, "is \"" + n4.ID + "\""},
	} {
		if _, err := cl.AddMember(ctx, bad.id, bad.addr); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("add member %s at %s: %v; want an error saying %q", bad.id, bad.addr, err, bad.want)
		}
	}
	if n := len(leader.Member.Status().Servers); n != 3 {
		t.Fatalf("refused additions changed the configuration: %+v", leader.Member.Status().Servers)
	}
	if _, err := cl.AddMember(ctx, n4.ID, n4.ClusterAddr); err != nil {
		t.Fatalf("add member: %v", err)
	}
	if got, err := get(ctx, sdk(c, n4), "mmm", "k"); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GET via the new member: %d bytes, %v", len(got), err)
	}
	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Servers) != 4 || st.LeaderID != leader.ID {
		t.Fatalf("status after add: %+v", st)
	}

	if _, err := cl.RemoveMember(ctx, n4.ID); err != nil {
		t.Fatalf("remove member: %v", err)
	}
	if err := testkit.Poll(ctx, func() error {
		if n := len(leader.Member.Status().Servers); n != 3 {
			return fmt.Errorf("%d servers", n)
		}
		return nil
	}); err != nil {
		t.Fatalf("configuration still %+v", leader.Member.Status().Servers)
	}
	// raft makes a last RPC to a member it has removed: its address still resolves.
	if a, err := leader.Member.ServerAddr(raft.ServerID(n4.ID)); err != nil || string(a) != n4.ClusterAddr {
		t.Errorf("removed member's address: %q, %v; want %s", a, err, n4.ClusterAddr)
	}
	// The region keeps working without it.
	put(ctx, t, sdk(c, via), "mmm", "after-remove", []byte("x"))
	// The removed member stops by itself and says so, rather than staying a
	// follower of no leader that forwards writes and fails reads after LeaderWait.
	if err := testkit.Poll(ctx, func() error {
		if err := n4.Member.HaltErr(); !errors.Is(err, node.ErrRemoved) {
			return fmt.Errorf("halt error %v", err)
		}
		return nil
	}); err != nil {
		t.Fatalf("removed member not halted: HaltErr %v, status %+v", n4.Member.HaltErr(), n4.Member.Status())
	}
	if err := n4.Member.Liveness(); !errors.Is(err, node.ErrRemoved) {
		t.Errorf("removed member's liveness: %v, want ErrRemoved", err)
	}
	_, err = sdk(c, n4).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("mmm"), Key: aws.String("k")})
	if code := errorCode(err); code != "ServiceUnavailable" {
		t.Errorf("HEAD through the removed member: %v, want 503 ServiceUnavailable", err)
	}
}

// TestHarness_WrongSecretIsRefused checks that a ctl client (the gRPC channel)
// with another secret gets nowhere against a running region, while one with the
// secret is served. The raft channel is covered in package node:
// TestMember_RaftChannelRefusesWrongSecret dials it as a raft peer would, and
// TestHandshake_SameSecretAcceptedOtherRefused checks the handshake both use.
func TestHarness_WrongSecretIsRefused(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	c := Start(t, Options{NoSync: true, NodesPerRegion: 1})
	n := c.Nodes(region)[0]
	if _, err := c.Leader(ctx, region); err != nil {
		t.Fatal(err)
	}
	bad, err := node.DialCluster(n.ClusterAddr, "not-the-secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := bad.Status(sctx); err == nil || !strings.Contains(err.Error(), "handshake") {
		t.Fatalf("status with a wrong secret: %v, want a handshake failure", err)
	}
	good, err := node.DialCluster(n.ClusterAddr, c.Secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if st, err := good.Status(ctx); err != nil || st.ID != n.ID {
		t.Fatalf("status with the secret: %+v %v", st, err)
	}
}

// TestHarness_BucketChangesSeenByTheNextWriteAnywhere: a write reads its bucket
// record from the member's local replica (one barrier per request at most), so a
// bucket created through one member must still be writable through another at
// once (a local miss is looked up again after a barrier), and a PUT through any
// member right after versioning was enabled through another answers with a
// version ID.
func TestHarness_BucketChangesSeenByTheNextWriteAnywhere(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c := Start(t, Options{NoSync: true})
	nodes := c.Nodes(region)
	clients := make([]*s3.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = sdk(c, n)
	}
	for i := range 30 {
		bucket := fmt.Sprintf("fresh-%02d", i)
		creator, writer, reader := clients[i%3], clients[(i+1)%3], clients[(i+2)%3]
		if _, err := creator.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatalf("CreateBucket %s via %s: %v", bucket, nodes[i%3].ID, err)
		}
		body := []byte(bucket)
		if _, err := writer.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: bytes.NewReader(body)}); err != nil {
			t.Fatalf("PUT into %s via %s right after its creation via %s: %v", bucket, nodes[(i+1)%3].ID, nodes[i%3].ID, err)
		}
		if got, err := get(ctx, reader, bucket, "k"); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("GET %s/k via %s: %q, %v", bucket, nodes[(i+2)%3].ID, got, err)
		}
		if i%3 == 0 {
			if _, err := creator.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
				VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
				t.Fatal(err)
			}
			out, err := writer.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("v"), Body: bytes.NewReader(body)})
			if err != nil {
				t.Fatal(err)
			}
			if v := aws.ToString(out.VersionId); v == "" || v == "null" {
				t.Errorf("PUT into %s right after enabling versioning elsewhere: version ID %q", bucket, v)
			}
		}
	}
}

// TestMember_SingleMemberRegionIsQuiet: a single-member region (plain `pangea
// node`) starts, elects itself, takes a write and stops gracefully without one
// warning: an operator reads warnings as faults. (It used to warn at start that
// its own ID was not in the address book, and at stop that it found no member to
// hand leadership to.)
func TestMember_SingleMemberRegionIsQuiet(t *testing.T) {
	var logs lockedBuffer
	m, err := node.OpenMember(node.MemberConfig{
		Dir: t.TempDir(), Region: region, ID: "n1", Secret: "member-test-secret", NoSync: true,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Raft:   node.RaftTimeouts{Heartbeat: 100 * time.Millisecond, Election: 100 * time.Millisecond, LeaderLease: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 20*time.Second)
	if err := m.CreateBucket(ctx, "quiet", "", "o"); err != nil {
		t.Fatal(err)
	}
	if a, err := m.ServerAddr("n1"); err != nil || string(a) != m.ClusterAddr() {
		t.Errorf("own address %q (%v), want %q", a, err, m.ClusterAddr())
	}
	if err := m.TransferLeadership(); err != nil {
		t.Errorf("leadership transfer in a region of one: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); out != "" {
		t.Fatalf("warnings from a healthy single-member region:\n%s", out)
	}
}

// lockedBuffer collects log output written from many goroutines (members' logs
// checked by a test).
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestHarness_RemovedLeaderStops removes the leader itself: it commits its own
// removal and steps down (raft shuts it down), and the member must halt with
// ErrRemoved rather than keep serving on a stopped raft, while the other two elect
// a leader and take writes.
func TestHarness_RemovedLeaderStops(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c := Start(t, Options{NoSync: true})
	leader, err := c.Leader(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	via := followers(c, leader)[0]
	if _, err := via.Member.RemoveMember(ctx, leader.ID); err != nil {
		t.Fatalf("remove the leader %s: %v", leader.ID, err)
	}
	if err := testkit.Poll(ctx, func() error {
		if err := leader.Member.HaltErr(); !errors.Is(err, node.ErrRemoved) {
			return fmt.Errorf("halt error %v", err)
		}
		return nil
	}); err != nil {
		t.Fatalf("removed leader not halted: HaltErr %v, status %+v", leader.Member.HaltErr(), leader.Member.Status())
	}
	if err := leader.Member.Liveness(); !errors.Is(err, node.ErrRemoved) {
		t.Errorf("removed leader's liveness: %v, want ErrRemoved", err)
	}
	// The two left elect a leader (503s until then) and take writes.
	cl := sdk(c, via)
	if err := testkit.Poll(ctx, func() error {
		_, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("after")})
		if errorCode(err) == "BucketAlreadyOwnedByYou" {
			return nil
		}
		return err
	}); err != nil {
		t.Fatalf("CreateBucket after removing the leader: %v", err)
	}
	put(ctx, t, cl, "after", "k", []byte("v"))
	if n := len(via.Member.Status().Servers); n != 2 {
		t.Errorf("configuration has %d members, want 2", n)
	}
}

package node

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/hashicorp/raft"

	"github.com/pangea-s3/pangea/s3api"
	"github.com/pangea-s3/pangea/s3api/auth"
	"github.com/pangea-s3/pangea/storage"
)

func openStore(t *testing.T, path string) *storage.Store {
	t.Helper()
	st, err := storage.Open(path, storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func entry(t *testing.T, index uint64, cmds ...storage.Command) *raft.Log {
	t.Helper()
	b, err := encodeSubmission(cmds)
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: b}
}

// versionsOf lists every version of the bucket: what replay must not change.
func versionsOf(t *testing.T, st *storage.Store, bucket string) []string {
	t.Helper()
	res, err := st.ListObjectVersions(context.Background(), bucket, storage.ListVersionsInput{MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range res.Versions {
		out = append(out, v.Key+"@"+v.ID.String()+"/"+v.ETag)
	}
	return out
}

func testLog(t *testing.T) []*raft.Log {
	ts := time.Unix(1800000000, 0).UTC()
	id := func(n uint64) storage.VersionID { return storage.VersionID{Time: n << 16, Region: 1, Seq: uint32(n)} }
	return []*raft.Log{
		entry(t, 2, cmdCreateBucket("bkt", "r", "o", ts), cmdSetVersioning("bkt", storage.VersioningEnabled)),
		{Index: 3, Term: 1, Type: raft.LogConfiguration, Data: nil},
		entry(t, 4, cmdPutObject(storage.PutObjectInput{Bucket: "bkt", Key: "a"}, id(10), ts, stagedBody{size: 1, etag: "e1", inline: []byte("1")})),
		entry(t, 5, cmdPutChunk(storage.BlobID{7}, 0, storage.ChunkRaw, 3, []byte("xyz"), ts),
			cmdPutObject(storage.PutObjectInput{Bucket: "bkt", Key: "b"}, id(11), ts, stagedBody{size: 3, etag: "e2", blob: storage.BlobID{7}, chunks: 1, hasBlob: true})),
		// Not idempotent: applied twice it would add a second marker.
		entry(t, 6, cmdDeleteObject("bkt", "a", "", "o", id(12), ts)),
		entry(t, 7), // a new leader's empty entry
	}
}

// TestFSM_DeterministicAndReplaySafe applies one log in one batch and in single
// entries to two stores (same state), then replays it after a restart (nothing
// applied twice, responses nil for skipped entries).
func TestFSM_DeterministicAndReplaySafe(t *testing.T) {
	dir := t.TempDir()
	logs := testLog(t)

	a := openStore(t, filepath.Join(dir, "a.db"))
	fa, err := newFSM(a, testLogger(t), func(err error) { t.Errorf("fatal: %v", err) }, storage.LatestFormat)
	if err != nil {
		t.Fatal(err)
	}
	resp := fa.ApplyBatch(logs)
	if len(resp) != len(logs) {
		t.Fatalf("%d responses for %d entries", len(resp), len(logs))
	}
	if resp[1] != nil {
		t.Errorf("configuration entry answered %v", resp[1])
	}
	for _, i := range []int{0, 2, 3, 4} {
		res, ok := resp[i].([]storage.Result)
		if !ok {
			t.Fatalf("entry %d answered %T", i, resp[i])
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("entry %d: %v", i, r.Err)
			}
		}
	}
	if got := resp[4].([]storage.Result)[0]; !got.Delete.DeleteMarker {
		t.Fatalf("delete answered %+v, want a marker", got)
	}
	if fa.applied.Load() != 7 {
		t.Fatalf("applied %d, want 7", fa.applied.Load())
	}

	b := openStore(t, filepath.Join(dir, "b.db"))
	fb, _ := newFSM(b, testLogger(t), func(err error) { t.Errorf("fatal: %v", err) }, storage.LatestFormat)
	for _, l := range logs {
		fb.ApplyBatch([]*raft.Log{l})
	}
	want := versionsOf(t, a, "bkt")
	if got := versionsOf(t, b, "bkt"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("batched and one-by-one apply differ:\n%v\n%v", want, got)
	}
	if len(want) != 3 {
		t.Fatalf("versions %v, want a, its marker and b", want)
	}

	// Restart: reopen the store, replay the whole log (raft does after a restart).
	a.Close()
	a2 := openStore(t, filepath.Join(dir, "a.db"))
	fa2, _ := newFSM(a2, testLogger(t), func(err error) { t.Errorf("fatal: %v", err) }, storage.LatestFormat)
	if fa2.applied.Load() != 7 {
		t.Fatalf("applied index after reopen %d, want 7", fa2.applied.Load())
	}
	for i, r := range fa2.ApplyBatch(logs) {
		if r != nil {
			t.Errorf("replayed entry %d answered %v, want nothing (skipped)", i, r)
		}
	}
	if got := versionsOf(t, a2, "bkt"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("replay changed the state:\n%v\n%v", want, got)
	}
	// Entries after the applied index still apply, in the same call as skipped ones.
	more := append(logs[len(logs)-2:], entry(t, 8, cmdDeleteObject("bkt", "b", "", "o", storage.VersionID{Time: 13 << 16}, time.Unix(1800000001, 0))))
	resp = fa2.ApplyBatch(more)
	if resp[0] != nil || resp[1] != nil || resp[2] == nil {
		t.Fatalf("mixed batch responses %v", resp)
	}
	if n := len(versionsOf(t, a2, "bkt")); n != 4 {
		t.Fatalf("%d versions after the new entry, want 4", n)
	}
	if idx, _ := a2.AppliedIndex(); idx != 8 {
		t.Fatalf("store applied index %d, want 8", idx)
	}
}

// TestFSM_UnreadableEntryStopsTheReplica: an entry a replica cannot read (bytes it
// cannot decode, or an operation of a format newer than it applies) is never
// skipped. What precedes it is applied; it and everything after it are not, the
// applied index stays below it, and the member is stopped once. A replica that can
// read it (an upgraded binary) replays the log from there.
func TestFSM_UnreadableEntryStopsTheReplica(t *testing.T) {
	ts := time.Unix(1, 0)
	for _, tc := range []struct {
		name  string
		known storage.Format
		bad   *raft.Log
	}{
		{"undecodable bytes", storage.LatestFormat, &raft.Log{Index: 2, Type: raft.LogCommand, Data: []byte{9, 9, 9}}},
		{"unknown op code", storage.LatestFormat, &raft.Log{Index: 2, Type: raft.LogCommand, Data: appendSubmission(nil, [][]byte{{1, 250}})}},
		{"op of a newer format", storage.Format1, entry(t, 2, storage.NoopCmd{})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			st := openStore(t, path)
			var stops []error
			f, err := newFSM(st, testLogger(t), func(err error) { stops = append(stops, err) }, tc.known)
			if err != nil {
				t.Fatal(err)
			}
			logs := []*raft.Log{
				entry(t, 1, cmdCreateBucket("before", "r", "o", ts)),
				tc.bad,
				entry(t, 3, cmdCreateBucket("after", "r", "o", ts)),
			}
			resp := f.ApplyBatch(logs)
			if res, ok := resp[0].([]storage.Result); !ok || res[0].Err != nil {
				t.Fatalf("entry before the unreadable one answered %v", resp[0])
			}
			for _, r := range resp[1:] {
				if err, ok := r.(error); !ok || !errors.Is(err, ErrUnreadableEntry) || !errors.Is(err, ErrUnknownOutcome) {
					t.Fatalf("unreadable entry and its successor answered %v", r)
				}
			}
			if len(stops) != 1 || !errors.Is(stops[0], ErrUnreadableEntry) {
				t.Fatalf("member stopped %d times: %v", len(stops), stops)
			}
			// Later batches apply nothing and stop nothing more.
			resp = f.ApplyBatch([]*raft.Log{entry(t, 4, cmdCreateBucket("later", "r", "o", ts))})
			if err, ok := resp[0].(error); !ok || !errors.Is(err, ErrUnreadableEntry) || len(stops) != 1 {
				t.Fatalf("a later batch answered %v (stops %d)", resp[0], len(stops))
			}
			if f.applied.Load() != 1 {
				t.Fatalf("applied index %d, want 1: the replica moved past an entry it did not apply", f.applied.Load())
			}
			for name, want := range map[string]bool{"before": true, "after": false, "later": false} {
				if _, err := st.Bucket(context.Background(), name); (err == nil) != want {
					t.Fatalf("bucket %q: %v, want present=%v", name, err, want)
				}
			}
			if tc.known == storage.LatestFormat {
				return
			}
			// The upgraded binary replays from the entry on.
			f2, err := newFSM(st, testLogger(t), func(err error) { t.Errorf("fatal: %v", err) }, storage.LatestFormat)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range f2.ApplyBatch(logs) {
				if err, ok := r.(error); ok {
					t.Fatalf("replay after the upgrade: %v", err)
				}
			}
			if f2.applied.Load() != 3 {
				t.Fatalf("applied %d after the upgrade, want 3", f2.applied.Load())
			}
		})
	}
}

func TestHandshake_SameSecretAcceptedOtherRefused(t *testing.T) {
	run := func(clientSecret, serverSecret string) (byte, error, error) {
		c, s := net.Pipe()
		defer c.Close()
		defer s.Close()
		type res struct {
			ch  byte
			err error
		}
		done := make(chan res, 1)
		go func() {
			ch, err := serverHandshake(s, []byte(serverSecret), time.Now().Add(2*time.Second))
			if err != nil {
				s.Close() // what the mux does: hang up
			}
			done <- res{ch, err}
		}()
		cerr := clientHandshake(c, []byte(clientSecret), chanGRPC, time.Now().Add(2*time.Second))
		if cerr != nil {
			c.Close()
		}
		r := <-done
		return r.ch, cerr, r.err
	}
	ch, cerr, serr := run("s3cret", "s3cret")
	if cerr != nil || serr != nil || ch != chanGRPC {
		t.Fatalf("same secret: channel %q, client %v, server %v", ch, cerr, serr)
	}
	_, cerr, serr = run("wrong", "s3cret")
	if !errors.Is(cerr, ErrHandshake) || !errors.Is(serr, ErrHandshake) {
		t.Fatalf("different secrets: client %v, server %v; both must fail", cerr, serr)
	}
}

func openTestMember(t *testing.T, dir string, now func() time.Time) *Member {
	t.Helper()
	m, err := OpenMember(MemberConfig{
		Dir: dir, Region: "us-east-1", ID: "n1", Secret: "member-test-secret", Logger: testLogger(t), NoSync: true, Now: now,
		Raft: RaftTimeouts{Heartbeat: 100 * time.Millisecond, Election: 100 * time.Millisecond, LeaderLease: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestMember_RaftChannelRefusesWrongSecret dials the raft channel of a running
// member as a raft peer would, with and without the secret.
func TestMember_RaftChannelRefusesWrongSecret(t *testing.T) {
	m := openTestMember(t, t.TempDir(), nil)
	bad := &raftStream{dialer: &clusterDialer{dial: defaultDial, secret: []byte("wrong")}}
	if _, err := bad.Dial(raft.ServerAddress(m.ClusterAddr()), time.Second); !errors.Is(err, ErrHandshake) {
		t.Fatalf("raft dial with a wrong secret: %v", err)
	}
	good := &raftStream{dialer: &clusterDialer{dial: defaultDial, secret: []byte("member-test-secret")}}
	conn, err := good.Dial(raft.ServerAddress(m.ClusterAddr()), time.Second)
	if err != nil {
		t.Fatalf("raft dial with the secret: %v", err)
	}
	conn.Close()
	// Something that is not a member at all (here, an HTTP client) is refused too.
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Get("http://" + m.ClusterAddr() + "/")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("HTTP on the cluster port answered %d", resp.StatusCode)
	}
}

// TestMember_NewLeaderMintsAboveEveryExistingID writes with a clock in the future,
// restarts with the clock years behind, and checks the next version still sorts
// after: the leader observed the store's max HLC before stamping.
func TestMember_NewLeaderMintsAboveEveryExistingID(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	future := func() time.Time { return time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC) }
	m := openTestMember(t, dir, future)
	if err := m.CreateBucket(ctx, "clock", "", "o"); err != nil {
		t.Fatal(err)
	}
	if err := m.SetBucketVersioning(ctx, "clock", storage.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	v1, err := m.PutObject(ctx, storage.PutObjectInput{Bucket: "clock", Key: "k", BodyInput: storage.BodyInput{Body: strings.NewReader("1"), Size: 1}})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()

	past := func() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }
	m2 := openTestMember(t, dir, past)
	v2, err := m2.PutObject(ctx, storage.PutObjectInput{Bucket: "clock", Key: "k", BodyInput: storage.BodyInput{Body: strings.NewReader("2"), Size: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if v2.ID.Compare(v1.ID) <= 0 {
		t.Fatalf("version after restart %v does not sort after %v", v2.ID, v1.ID)
	}
	cur, err := m2.Object(ctx, "clock", "k", "")
	if err != nil || cur.ID != v2.ID {
		t.Fatalf("latest is %v (%v), want the newest write %v", cur.ID, err, v2.ID)
	}
}

func TestLocal_ObservesMaxHLCOnOpen(t *testing.T) {
	dir := t.TempDir()
	future := &fakeClock{t: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := openTest(t, dir, func(c *LocalConfig) { c.Now = future.Now })
	mustBucket(t, l, "bkt")
	v1, err := put(l, "bkt", "k", []byte("1"), storage.DigestExpectation{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	past := &fakeClock{t: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	l2 := openTest(t, dir, func(c *LocalConfig) { c.Now = past.Now })
	v2, err := put(l2, "bkt", "k2", []byte("2"), storage.DigestExpectation{})
	if err != nil {
		t.Fatal(err)
	}
	if v2.ID.Compare(v1.ID) <= 0 {
		t.Fatalf("ID after a clock step back %v <= %v", v2.ID, v1.ID)
	}
}

// unavailableBackend answers every ListBuckets with a member's retryable error.
type unavailableBackend struct {
	*Local
	err error
}

func (b unavailableBackend) ListBuckets(context.Context, storage.ListBucketsInput) (storage.ListBucketsResult, error) {
	return storage.ListBucketsResult{}, b.err
}

// TestRetryableError_Answers503 checks the contract with s3api: both kinds of
// RetryableError (unknown outcome, nothing happened) become 503 ServiceUnavailable,
// which S3 clients retry.
func TestRetryableError_Answers503(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	for _, err := range []error{unknownOutcome(raft.ErrLeadershipLost), unavailable(ErrNoLeader, nil), unavailable(ErrClosed, nil)} {
		srv := httptest.NewServer(s3api.New(s3api.Config{Region: "us-east-1", Credentials: auth.StaticCredentials{"k": "s"}},
			unavailableBackend{Local: l, err: err}))
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		signForTest(t, req, "k", "s")
		resp, rerr := http.DefaultClient.Do(req)
		if rerr != nil {
			t.Fatal(rerr)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "<Code>ServiceUnavailable</Code>") {
			t.Fatalf("%v: %d %s", err, resp.StatusCode, body)
		}
	}
}

// signForTest signs a bodiless request with SigV4 for us-east-1.
func signForTest(t *testing.T, req *http.Request, access, secret string) {
	t.Helper()
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	creds := aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestMember_StorageFailureHaltsTheMember: after fatal (what a failed store apply
// or commit calls) the member reports the failure through Halted, HaltErr, Liveness
// and Readiness, answers requests with a retryable error, and still closes.
func TestMember_StorageFailureHaltsTheMember(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	m := openTestMember(t, t.TempDir(), nil)
	for m.Readiness(ctx) != nil {
		if ctx.Err() != nil {
			t.Fatalf("never ready: %v", m.Readiness(ctx))
		}
	}
	if err := m.Liveness(); err != nil {
		t.Fatalf("live member: %v", err)
	}
	if err := m.CreateBucket(ctx, "before", "us-east-1", "o"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Halted():
		t.Fatal("halted before any failure")
	default:
	}

	cause := errors.New("write store.db: no space left on device")
	m.fatal(cause)
	select {
	case <-m.Halted():
	case <-ctx.Done():
		t.Fatal("Halted not closed")
	}
	if !errors.Is(m.HaltErr(), cause) {
		t.Fatalf("HaltErr %v", m.HaltErr())
	}
	for what, err := range map[string]error{"liveness": m.Liveness(), "readiness": m.Readiness(ctx)} {
		if !errors.Is(err, cause) || !strings.Contains(err.Error(), "storage failure") {
			t.Errorf("%s after the failure: %v", what, err)
		}
	}
	err := m.CreateBucket(ctx, "after", "us-east-1", "o")
	var re *RetryableError
	if !errors.As(err, &re) {
		t.Fatalf("write after the failure: %v, want a retryable error", err)
	}
	if _, err := m.Bucket(ctx, "before"); !errors.As(err, &re) {
		t.Fatalf("read after the failure: %v, want a retryable error", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	m.fatal(errors.New("second failure")) // after Close: ignored
	if !errors.Is(m.HaltErr(), cause) {
		t.Fatalf("HaltErr after close %v", m.HaltErr())
	}
}

// TestRaftStream_DialRetriesAnUnreachablePeer: while dials fail (a member restarting),
// raft's Dial keeps trying within its timeout and returns the connection once the peer
// answers, so raft does not count a failure and back off.
func TestRaftStream_DialRetriesAnUnreachablePeer(t *testing.T) {
	m := openTestMember(t, t.TempDir(), nil)
	attempts := 0
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		attempts++
		if attempts <= 3 {
			return nil, errors.New("connect: connection refused")
		}
		return defaultDial(ctx, addr)
	}
	s := &raftStream{dialer: &clusterDialer{dial: dial, secret: []byte("member-test-secret")}}
	conn, err := s.Dial(raft.ServerAddress(m.ClusterAddr()), time.Minute)
	if err != nil {
		t.Fatalf("dial after 3 refusals: %v", err)
	}
	conn.Close()
	if attempts != 4 {
		t.Fatalf("%d dial attempts, want 4", attempts)
	}

	// A wrong secret is no transient failure: one attempt, ErrHandshake.
	attempts = 3
	bad := &raftStream{dialer: &clusterDialer{dial: dial, secret: []byte("wrong")}}
	if _, err := bad.Dial(raft.ServerAddress(m.ClusterAddr()), time.Minute); !errors.Is(err, ErrHandshake) || attempts != 4 {
		t.Fatalf("wrong secret: %v after %d attempts, want ErrHandshake after 1", err, attempts-3)
	}
}

// TestRaftStream_DialEndsWhenTheMemberStops: a dial retrying an unreachable peer
// returns once its member stops (raft's Shutdown waits for it), whatever raft's timeout.
func TestRaftStream_DialEndsWhenTheMemberStops(t *testing.T) {
	stop, cancel := context.WithCancel(t.Context())
	attempts := 0
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		attempts++
		if attempts == 2 {
			cancel() // the member stops while its raft keeps dialing
		}
		return nil, errors.New("dial tcp: lookup n3: no such host")
	}
	s := &raftStream{dialer: &clusterDialer{dial: dial, secret: []byte("s")}, stop: stop}
	done := make(chan error, 1)
	go func() {
		_, err := s.Dial("n3:7000", time.Hour)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || attempts != 2 {
			t.Fatalf("dial after stop: %v after %d attempts, want the dial error after 2", err, attempts)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dial still running 30 s after its member stopped (raft's timeout was an hour)")
	}
}

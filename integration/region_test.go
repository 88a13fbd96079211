package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/node"
)

// regionMember is one `pangea node` process of a 3-node region, restartable on the
// same data directory and cluster address.
type regionMember struct {
	id          string
	dataDir     string
	clusterAddr string
	ports       *testkit.Ports // holds clusterAddr until the first launch
	proc        *proc
	endpoint    string // S3 endpoint of the running process (port 0: new after each start)
}

// regionSecret is the cluster secret of the test region, passed the way an operator
// would, through the environment.
const regionSecret = "region-test-cluster-secret"

// launch starts the process; wait blocks until it listens and records its endpoint.
func (m *regionMember) launch(t *testing.T, peers string) {
	t.Helper()
	// A SIGKILLed process leaves its lab.json behind; the new one must not be mistaken for it.
	_ = os.Remove(filepath.Join(m.dataDir, "lab.json"))
	m.ports.Release(m.clusterAddr) // the process binds it now (a restart: released already)
	m.proc = startPangea(t, m.dataDir, []string{"PANGEA_CLUSTER_SECRET=" + regionSecret},
		"node", "--data", m.dataDir, "--region", testRegion, "--id", m.id,
		"--addr", "127.0.0.1:0", "--cluster-addr", m.clusterAddr, "--peers", peers, "--log-level", "info") // info: the replay line
}

// A process that exits because its cluster address is in use is launched again:
// the address can be taken for a moment between its release (or the SIGKILL that
// freed it) and the bind, by an outgoing connection's local port.
func (m *regionMember) wait(t *testing.T, peers string) {
	t.Helper()
	var lf labFile
	testkit.Eventually(t, 60*time.Second, "member "+m.id+" to listen", func() error {
		if m.proc.exited() {
			out, _ := os.ReadFile(m.proc.logPath) // complete: the process is gone
			if !bytes.Contains(out, []byte("address already in use")) {
				return testkit.Stop(fmt.Errorf("pangea exited before writing lab.json: %v", m.proc.waitErr))
			}
			m.launch(t, peers)
			return fmt.Errorf("%s was in use; launched again", m.clusterAddr)
		}
		var err error
		lf, err = m.proc.readLab()
		return err
	})
	m.endpoint = lf.Endpoints.Global
	if lf.AccessKey != ownerKey || lf.SecretKey != ownerSecret {
		t.Fatalf("member %s: lab.json credentials %q/%q, want the defaults", m.id, lf.AccessKey, lf.SecretKey)
	}
}

func (m *regionMember) client() *s3.Client {
	return newSDKClient(m.endpoint, &http.Client{Transport: recordErrorBodies(http.DefaultTransport)}, ownerKey, ownerSecret)
}

// errorBodyKey is the context key of a *[]byte that recordErrorBodies fills with the
// body of an error answer, so a failure can show exactly what the server said (the
// SDK keeps only the code and message it could decode).
type errorBodyKey struct{}

// withErrorBody returns a context whose S3 calls record an error answer's body in *body.
func withErrorBody(ctx context.Context, body *[]byte) context.Context {
	return context.WithValue(ctx, errorBodyKey{}, body)
}

// recordErrorBodies wraps next: when a request's context asks for it (withErrorBody),
// the body of an answer of status 400 or more is copied there and handed on unchanged.
func recordErrorBodies(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		slot, _ := req.Context().Value(errorBodyKey{}).(*[]byte)
		if err != nil || slot == nil || resp.StatusCode < 400 {
			return resp, err
		}
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		*slot = b
		var r io.Reader = bytes.NewReader(b)
		if rerr != nil {
			r = io.MultiReader(r, iotest.ErrReader(rerr))
		}
		resp.Body = io.NopCloser(r)
		return resp, nil
	})
}

// unavailable reports whether err is the answer the contract gives when a write's
// outcome is uncertain or the region cannot serve: exactly 503 ServiceUnavailable.
func unavailable(err error) bool {
	var ae smithy.APIError
	re := asResponseError(err)
	return re != nil && re.HTTPStatusCode() == http.StatusServiceUnavailable && errors.As(err, &ae) && ae.ErrorCode() == "ServiceUnavailable"
}

// regionObjectSize derives an object's size from the seed and its key: mostly small
// (inline or one chunk), one in sixteen of several chunks, so bodies travel through
// the raft log both whole and chunk by chunk.
func regionObjectSize(seed uint64, key string) int {
	h := fnv.New64a()
	_, _ = io.WriteString(h, key)
	r := rand.New(rand.NewPCG(seed, h.Sum64()))
	if r.IntN(16) == 0 {
		return mib + r.IntN(2*mib)
	}
	return r.IntN(32 << 10)
}

// TestRegionDurability runs a region of three `pangea node` processes while a writer
// streams PUTs to random members and a killer SIGKILLs one member at a time and restarts
// it on the same data. Every acknowledged object must end up on every member with its
// exact bytes, and the members must agree on the listing. At least one restarted
// member must say it replays raft log entries its store had not committed: else no
// kill landed while acknowledged writes were only in the log, and the test proved
// nothing about the replay.
func TestRegionDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	testCtx, cancel := context.WithTimeout(t.Context(), 85*time.Second)
	defer cancel()
	const bucket = "region"

	members, peers := startRegion(t)

	if err := regionRetry(testCtx, 30*time.Second, func(ctx context.Context) error {
		_, err := members[rng.IntN(3)].client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "BucketAlreadyOwnedByYou" {
			return nil
		}
		return err
	}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}

	// live holds the endpoints of running members; the writer picks among them.
	var (
		mu      sync.Mutex
		live    = map[string]*s3.Client{}
		acked   = map[string]bool{}
		unknown = map[string]bool{} // PUT sent, no acknowledgement: may or may not exist
	)
	for _, m := range members {
		live[m.id] = m.client()
	}
	liveClient := func(r *rand.Rand) (string, *s3.Client) {
		mu.Lock()
		defer mu.Unlock()
		ids := make([]string, 0, len(live))
		for id := range live {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		id := ids[r.IntN(len(ids))]
		return id, live[id]
	}

	writeCtx, stopWriters := context.WithCancel(testCtx)
	defer stopWriters()
	const writers = 4
	var writerWG sync.WaitGroup
	for w := range writers {
		writerWG.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(100+w)))
			for i := 0; writeCtx.Err() == nil; i++ {
				key := fmt.Sprintf("w%d/obj-%06d", w, i)
				body := randomBytes(seed, key, regionObjectSize(seed, key))
				id, c := liveClient(r)
				mu.Lock()
				unknown[key] = true
				mu.Unlock()
				// Each PUT has its own deadline, not the writers' context: stopping the
				// writers must not turn an in-flight PUT into a failure.
				var errBody []byte
				ctx, cancel := context.WithTimeout(withErrorBody(testCtx, &errBody), 15*time.Second)
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
				cancel()
				if err == nil {
					mu.Lock()
					delete(unknown, key)
					acked[key] = true
					mu.Unlock()
					continue
				}
				// 503 ServiceUnavailable (unknown outcome), timeouts and broken
				// connections are expected while a member dies; any other answer of
				// 400 or more (a 4xx, a 500, a 503 of another code) is a bug.
				if re := asResponseError(err); re != nil && re.HTTPStatusCode() >= 400 && !unavailable(err) {
					t.Errorf("PUT %s via %s: answered %d: %v; body: %q", key, id, re.HTTPStatusCode(), err, errBody)
				}
				pauseFor(writeCtx, 20*time.Millisecond)
			}
		})
	}

	const cycles = 4
	var replayed uint64 // commands the restarted members replayed from their raft logs
	for cycle := range cycles {
		pauseFor(testCtx, time.Duration(1000+rng.IntN(1500))*time.Millisecond)
		// Half the time the leader, deliberately (a random pick would spare it in
		// one run out of five): the region must also survive losing the member that
		// orders every write.
		m := members[rng.IntN(len(members))]
		leaderID := regionLeader(testCtx, members)
		if rng.IntN(2) == 0 {
			for _, cand := range members {
				if cand.id == leaderID {
					m = cand
				}
			}
		}
		role := "follower"
		if m.id == leaderID {
			role = "leader"
		}
		mu.Lock()
		before := len(acked)
		delete(live, m.id)
		mu.Unlock()
		m.proc.kill(t)
		t.Logf("cycle %d: SIGKILL %s, the %s (%d objects acknowledged so far)", cycle, m.id, role, before)
		pauseFor(testCtx, time.Duration(200+rng.IntN(1300))*time.Millisecond)
		m.launch(t, peers)
		m.wait(t, peers)
		// Ready means it serves a linearizable read: it is back in the region and caught
		// up to the leader's commit index at the time of the read. Only then may another
		// member die, so a majority is always up.
		c := m.client()
		if err := regionRetry(testCtx, 30*time.Second, func(ctx context.Context) error {
			_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
			return err
		}); err != nil {
			t.Fatalf("cycle %d: restarted %s does not serve reads: %v", cycle, m.id, err)
		}
		r := replayOf(t, m.proc)
		replayed += r.commands
		t.Logf("cycle %d: %s replayed %d commands from its raft log (store at %d, log at %d)", cycle, m.id, r.commands, r.storeApplied, r.lastLog)
		mu.Lock()
		live[m.id] = c
		mu.Unlock()
		t.Logf("cycle %d: %s restarted and serving", cycle, m.id)
	}
	if replayed == 0 {
		t.Error(noReplay)
	}
	pauseFor(testCtx, 500*time.Millisecond)
	stopWriters()
	writerWG.Wait()
	if testCtx.Err() != nil {
		t.Fatalf("out of time before verification")
	}
	mu.Lock()
	t.Logf("%d objects acknowledged, %d PUTs without an answer", len(acked), len(unknown))
	if len(acked) == 0 {
		t.Fatalf("no PUT was acknowledged")
	}
	keys := make([]string, 0, len(acked))
	for k := range acked {
		keys = append(keys, k)
	}
	mu.Unlock()
	sort.Strings(keys)

	// Every member lists the same keys: all acknowledged ones plus some unknown ones.
	var listings [][]string
	for _, m := range members {
		var listed []string
		err := regionRetry(testCtx, 20*time.Second, func(ctx context.Context) error {
			var err error
			listed, err = listAllKeys(ctx, m.client(), bucket)
			return err
		})
		if err != nil {
			t.Fatalf("list via %s: %v", m.id, err)
		}
		listings = append(listings, listed)
		set := map[string]bool{}
		for _, k := range listed {
			set[k] = true
			if !acked[k] && !unknown[k] {
				t.Errorf("%s lists %s, which was never written", m.id, k)
			}
		}
		missing := 0
		for _, k := range keys {
			if !set[k] {
				if missing < 10 {
					t.Errorf("%s does not list acknowledged %s", m.id, k)
				}
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%s misses %d of %d acknowledged objects in its listing", m.id, missing, len(keys))
		}
	}
	for i := 1; i < len(listings); i++ {
		if !slices.Equal(listings[0], listings[i]) {
			t.Errorf("%s lists %d keys, %s lists %d: members disagree", members[0].id, len(listings[0]), members[i].id, len(listings[i]))
		}
	}

	// Every listed key (acknowledged, or written with an unknown outcome and so
	// complete if present) has its exact bytes on every member.
	toCheck := listings[0]
	for _, m := range members {
		bad := verifyRegionObjects(testCtx, t, m, bucket, seed, toCheck)
		if bad > 0 {
			t.Errorf("%s: %d of %d objects wrong or unreadable (seed %d)", m.id, bad, len(toCheck), seed)
		}
	}
	for _, m := range members {
		m.proc.stop(t, os.Interrupt)
	}
}

// startRegion launches a region of three `pangea node` processes and waits until
// each listens; peers is their --peers list, for relaunching one.
func startRegion(t *testing.T) (members []*regionMember, peers string) {
	t.Helper()
	ports := testkit.NewPorts(t)
	addrs := ports.Reserve(3)
	members = make([]*regionMember, 3)
	var peerList []string
	for i := range members {
		members[i] = &regionMember{
			id:          fmt.Sprintf("n%d", i+1),
			dataDir:     t.TempDir(),
			clusterAddr: addrs[i],
			ports:       ports,
		}
		peerList = append(peerList, members[i].id+"="+members[i].clusterAddr)
	}
	peers = strings.Join(peerList, ",")
	// Launch the three before waiting for any: a member alone cannot elect a leader.
	for _, m := range members {
		m.launch(t, peers)
	}
	for _, m := range members {
		m.wait(t, peers)
	}
	return members, peers
}

// TestRegionErrorAnswers pins the two helpers TestRegionDurability judges answers
// with: only 503 ServiceUnavailable counts as unavailable, and an error answer's body
// reaches the caller while the SDK still decodes it.
func TestRegionErrorAnswers(t *testing.T) {
	for _, tc := range []struct {
		status          int
		code            string
		wantUnavailable bool
	}{
		{http.StatusServiceUnavailable, "ServiceUnavailable", true},
		{http.StatusServiceUnavailable, "SlowDown", false},
		{http.StatusInternalServerError, "InternalError", false},
		{http.StatusBadGateway, "BadGateway", false},
		{http.StatusForbidden, "AccessDenied", false},
	} {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.code), func(t *testing.T) {
			want := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>m</Message><RequestId>r1</RequestId></Error>`, tc.code)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, want)
			}))
			defer srv.Close()
			m := &regionMember{endpoint: srv.URL}
			var body []byte
			ctx, cancel := context.WithTimeout(withErrorBody(t.Context(), &body), 10*time.Second)
			defer cancel()
			_, err := m.client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("v")})
			if got := unavailable(err); got != tc.wantUnavailable {
				t.Errorf("unavailable(%v) = %v, want %v", err, got, tc.wantUnavailable)
			}
			if string(body) != want {
				t.Errorf("recorded body %q, want %q", body, want)
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Errorf("the SDK no longer decodes the recorded answer: %v", err)
			}
		})
	}
}

// regionLeader asks the members, through the cluster channel `pangea ctl status`
// uses, which one leads; "" if none answers in time.
func regionLeader(ctx context.Context, members []*regionMember) string {
	for _, m := range members {
		cl, err := node.DialCluster(m.clusterAddr, regionSecret, nil)
		if err != nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := cl.Status(sctx)
		cancel()
		cl.Close()
		if err == nil && st.LeaderID != "" {
			return st.LeaderID
		}
	}
	return ""
}

// verifyRegionObjects GETs every key through m with a few concurrent readers and
// returns how many did not match their derived content.
func verifyRegionObjects(ctx context.Context, t *testing.T, m *regionMember, bucket string, seed uint64, keys []string) int {
	t.Helper()
	c := m.client()
	work := make(chan string)
	var (
		mu  sync.Mutex
		bad int
		wg  sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for key := range work {
				want := randomBytes(seed, key, regionObjectSize(seed, key))
				got, err := getBytes(ctx, c, bucket, key)
				if err == nil && bytes.Equal(got, want) {
					continue
				}
				mu.Lock()
				if bad < 10 {
					t.Errorf("%s: GET %s: %d bytes, want %d, equal=%v, err=%v", m.id, key, len(got), len(want), bytes.Equal(got, want), err)
				}
				bad++
				mu.Unlock()
			}
		})
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	return bad
}

// getBytes reads an object, retrying answers that say nothing about the data (503
// ServiceUnavailable, a broken connection) for a while: availability after the last
// restart is not what this test judges. Any other error answer (a 404, a 500) or a
// wrong body is returned at once, an error answer with its body.
func getBytes(ctx context.Context, c *s3.Client, bucket, key string) ([]byte, error) {
	var body []byte
	err := regionRetry(ctx, 15*time.Second, func(ctx context.Context) error {
		var errBody []byte
		out, err := c.GetObject(withErrorBody(ctx, &errBody), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			if asResponseError(err) != nil && !unavailable(err) {
				return fmt.Errorf("%w; body: %q", err, errBody) // an answer: regionRetry stops
			}
			return err
		}
		defer out.Body.Close()
		body, err = io.ReadAll(out.Body)
		return err
	})
	if err != nil {
		return nil, err
	}
	return body, nil
}

func listAllKeys(ctx context.Context, c *s3.Client, bucket string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// regionRetry calls f until it succeeds or the budget (or ctx) ends; it is how the test
// waits for a region to elect a leader or a member to rejoin. It retries only what
// says nothing about the data: 503 ServiceUnavailable and failures to get an answer.
// Any other error answer (a 404, a 500) ends it at once.
func regionRetry(ctx context.Context, budget time.Duration, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	answered := false
	err := testkit.Poll(ctx, func() error {
		// Longer than a member's LeaderWait (5 s), so that its 503 arrives before
		// the call is cut; a call cut by this deadline (the SDK reports status 0) is
		// no answer, and is tried again.
		callCtx, callCancel := context.WithTimeout(ctx, 8*time.Second)
		defer callCancel()
		err := f(callCtx)
		if re := asResponseError(err); re != nil && re.HTTPStatusCode() != 0 && !unavailable(err) {
			answered = true
			return testkit.Stop(err)
		}
		return err
	})
	if err != nil && !answered {
		return fmt.Errorf("not within %v: %w", budget, err)
	}
	return err
}

// pauseFor waits d or until ctx ends: pacing for the writer and the killer, never a
// wait for a condition.
func pauseFor(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

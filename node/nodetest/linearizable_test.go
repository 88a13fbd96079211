package nodetest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/node/nodetest"
)

const testRegion = "us-east-1"

// The history checked for linearizability is a set of registers, one per bucket/key,
// each starting absent. PUT writes a value unique to the operation, DELETE makes the
// key absent again (a delete marker in the versioned bucket), GET observes the value
// or its absence.

type kvOp uint8

const (
	kvGet kvOp = iota
	kvPut
	kvDelete
)

func (o kvOp) String() string {
	switch o {
	case kvGet:
		return "get"
	case kvPut:
		return "put"
	default:
		return "delete"
	}
}

type kvInput struct {
	Op    kvOp
	Key   string // bucket/key: the partition
	Value string // PUT only; never ""
}

type kvOutput struct {
	Found   bool   // GET: the key had a current version
	Value   string // GET: its body
	Unknown bool   // PUT/DELETE: no definite answer (503, timeout, broken connection)
}

// registerModel is a per-key register whose state is the current value, "" when absent.
// Writes always step (a write whose outcome is unknown is given an open-ended interval
// instead, so the checker may place it anywhere after its call, or nowhere at all).
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			k := op.Input.(kvInput).Key
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, k := range order {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in, out, cur := input.(kvInput), output.(kvOutput), state.(string)
		switch in.Op {
		case kvPut:
			return true, in.Value
		case kvDelete:
			return true, ""
		default:
			if out.Found {
				return out.Value == cur, cur
			}
			return cur == "", cur
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		switch {
		case in.Op == kvGet && out.Found:
			return fmt.Sprintf("get(%s) -> %q", in.Key, out.Value)
		case in.Op == kvGet:
			return fmt.Sprintf("get(%s) -> absent", in.Key)
		case out.Unknown:
			return fmt.Sprintf("%s(%s, %q) -> unknown", in.Op, in.Key, in.Value)
		default:
			return fmt.Sprintf("%s(%s, %q) -> ok", in.Op, in.Key, in.Value)
		}
	},
	DescribeState: func(state any) string {
		if state.(string) == "" {
			return "absent"
		}
		return fmt.Sprintf("%q", state)
	},
}

// history collects operations from many clients. Times are nanoseconds on the
// monotonic clock since start.
type history struct {
	start time.Time

	mu          sync.Mutex
	ops         []porcupine.Operation
	unknown     []int // indexes into ops whose Return is fixed up by close
	annotations []porcupine.Annotation
	counts      map[string]int
	errors      int   // unexpected answers reported so far
	lastAckCall int64 // call time of the latest-called acknowledged PUT or DELETE; -1: none
}

func newHistory() *history {
	return &history{start: time.Now(), counts: map[string]int{}, lastAckCall: -1}
}

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(client int, in kvInput, call int64, out kvOutput, ret int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if out.Unknown {
		h.unknown = append(h.unknown, len(h.ops))
	}
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	if in.Op != kvGet && !out.Unknown {
		h.lastAckCall = max(h.lastAckCall, call)
	}
	switch {
	case out.Unknown:
		h.counts[in.Op.String()+" unknown"]++
	case in.Op == kvGet && !out.Found:
		h.counts["get absent"]++
	default:
		h.counts[in.Op.String()+" ok"]++
	}
}

// count records an operation that is left out of the history (a failed read, a write
// that definitely did not happen).
func (h *history) count(what string) {
	h.mu.Lock()
	h.counts[what]++
	h.mu.Unlock()
}

// errorf fails the test with an unexpected answer; only the first few are printed so
// a systematic bug does not bury the rest of the output.
func (h *history) errorf(t *testing.T, format string, args ...any) {
	t.Helper()
	h.mu.Lock()
	h.errors++
	n := h.errors
	h.mu.Unlock()
	switch {
	case n <= 10:
		t.Errorf(format, args...)
	case n == 11:
		t.Errorf("more unexpected answers; see the counts in the history summary")
	}
}

// ackedSince reports whether a PUT or DELETE called at or after t was acknowledged.
func (h *history) ackedSince(t int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastAckCall >= t
}

// note records a nemesis action for the visualization.
func (h *history) note(start, end int64, what string) {
	h.mu.Lock()
	h.annotations = append(h.annotations, porcupine.Annotation{Tag: "nemesis", Start: start, End: end, Description: what})
	h.mu.Unlock()
}

// close returns the history with every unknown-outcome write given a return time after
// every other event: such a write may take effect at any point after its call, including
// after the last operation we observed, or never.
func (h *history) close() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	end := h.now()
	for _, op := range h.ops {
		end = max(end, op.Return)
	}
	for _, i := range h.unknown {
		h.ops[i].Return = end + 1
	}
	return slices.Clone(h.ops)
}

func (h *history) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := make([]string, 0, len(h.counts))
	for k := range h.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, h.counts[k])
	}
	return strings.TrimSpace(b.String())
}

// outcome classifies an S3 call's error.
type outcome int

const (
	outcomeOK         outcome = iota
	outcomeNotFound           // 404 NoSuchKey
	outcomeNotApplied         // definite failure: the request never reached a server, or a 4xx
	outcomeUnknown            // 503 ServiceUnavailable, a client timeout, a connection broken after the request was sent
	outcomeServerBug          // any other 5xx (an uncertain outcome answers 503 ServiceUnavailable only), or a 404 but NoSuchKey (the bucket exists throughout)
	outcomeUnexpected         // no HTTP answer and not a transport failure: a bug in the client or the test
)

func (o outcome) String() string {
	switch o {
	case outcomeOK:
		return "ok"
	case outcomeNotFound:
		return "not found"
	case outcomeNotApplied:
		return "not applied"
	case outcomeUnknown:
		return "unknown"
	case outcomeServerBug:
		return "server bug"
	default:
		return "unexpected"
	}
}

// classify sorts an S3 call's error by what it says about the operation, and returns
// a short code for the counts ("503 ServiceUnavailable", "dial", "timeout", ...).
func classify(err error) (outcome, string) {
	if err == nil {
		return outcomeOK, ""
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
		st := re.HTTPStatusCode()
		var apiCode string
		var ae smithy.APIError
		if errors.As(err, &ae) {
			apiCode = ae.ErrorCode()
		}
		code := strings.TrimSpace(fmt.Sprintf("%d %s", st, apiCode))
		switch {
		case st == http.StatusNotFound && apiCode == "NoSuchKey":
			return outcomeNotFound, code
		case st == http.StatusNotFound:
			return outcomeServerBug, code
		case st == http.StatusServiceUnavailable && apiCode == "ServiceUnavailable":
			return outcomeUnknown, code
		case st >= 500:
			return outcomeServerBug, code
		default:
			return outcomeNotApplied, code
		}
	}
	// A failed dial means the request was never sent (the member is down): nothing
	// happened. Any other transport failure may come after the server got the request.
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return outcomeNotApplied, "dial"
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return outcomeUnknown, "timeout"
	}
	var se *smithyhttp.RequestSendError
	if errors.As(err, &se) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return outcomeUnknown, "transport"
	}
	return outcomeUnexpected, "unexpected"
}

// newS3Client is an aws-sdk-go-v2 client for one member's endpoint, path style, with
// SDK retries off: a retried write would hide an unknown outcome behind a success.
func newS3Client(endpoint, accessKey, secretKey string) *s3.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	cfg := aws.Config{
		Region:           testRegion,
		Credentials:      credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		HTTPClient:       &http.Client{Transport: tr},
		RetryMaxAttempts: 1,
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(endpoint)
	})
}

// pause waits d or until ctx ends. It schedules the nemesis and client back-off; it is
// never used to wait for a condition.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PANGEA_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("PANGEA_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (replay with PANGEA_SEED=%d)", seed, seed)
	return seed
}

// createBucket creates a bucket through c, retrying while the region elects a leader.
// A retry after an unknown outcome may find the bucket already there.
func createBucket(ctx context.Context, c *s3.Client, bucket string, versioned bool) error {
	err := testkit.Poll(ctx, func() error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // per call: a hung request is retried
		defer cancel()
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "BucketAlreadyOwnedByYou" {
			return nil
		}
		return err
	})
	if err != nil || !versioned {
		return err
	}
	return testkit.Poll(ctx, func() error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
		return err
	})
}

// linClient issues random operations on keys through one member until ctx ends.
type linClient struct {
	id   int
	s3   *s3.Client
	rng  *rand.Rand
	hist *history
	t    *testing.T
}

// opTimeout bounds one S3 call: longer than an election, so that most calls get a
// real answer, short enough that a stuck call does not hold a client for long.
const opTimeout = 3 * time.Second

func (c *linClient) run(loadCtx, opCtx context.Context, keys []string) {
	seq := 0
	for loadCtx.Err() == nil {
		bk := keys[c.rng.IntN(len(keys))]
		bucket, key, _ := strings.Cut(bk, "/")
		var failed bool
		switch r := c.rng.IntN(20); {
		case r < 10:
			failed = c.get(opCtx, bucket, key)
		case r < 19:
			seq++
			failed = c.write(opCtx, kvInput{Op: kvPut, Key: bk, Value: fmt.Sprintf("c%d-%d", c.id, seq)})
		default:
			failed = c.write(opCtx, kvInput{Op: kvDelete, Key: bk})
		}
		if failed {
			// Back off a little so a client bound to a dead or isolated member does not
			// flood the history with failed operations.
			pause(loadCtx, time.Duration(20+c.rng.IntN(80))*time.Millisecond)
		}
	}
}

func (c *linClient) get(parent context.Context, bucket, key string) (failed bool) {
	ctx, cancel := context.WithTimeout(parent, opTimeout)
	defer cancel()
	call := c.hist.now()
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var body []byte
	if err == nil {
		body, err = io.ReadAll(out.Body)
		out.Body.Close()
	}
	ret := c.hist.now()
	switch oc, code := classify(err); oc {
	case outcomeOK:
		c.hist.add(c.id, kvInput{Op: kvGet, Key: bucket + "/" + key}, call, kvOutput{Found: true, Value: string(body)}, ret)
	case outcomeNotFound:
		c.hist.add(c.id, kvInput{Op: kvGet, Key: bucket + "/" + key}, call, kvOutput{}, ret)
	case outcomeServerBug:
		c.hist.errorf(c.t, "client %d: get %s/%s: server answered %s: not an answer to this request (only NoSuchKey is), nor the 503 ServiceUnavailable of an unavailable region: %v", c.id, bucket, key, code, err)
		c.hist.count("get server bug " + code)
		return true
	case outcomeUnexpected:
		c.hist.errorf(c.t, "client %d: get %s/%s: unexpected error: %v", c.id, bucket, key, err)
		c.hist.count("get unexpected")
		return true
	default:
		// A read that failed observed nothing.
		c.hist.count("get failed " + code)
		return true
	}
	return false
}

func (c *linClient) write(parent context.Context, in kvInput) (failed bool) {
	bucket, key, _ := strings.Cut(in.Key, "/")
	ctx, cancel := context.WithTimeout(parent, opTimeout)
	defer cancel()
	call := c.hist.now()
	var err error
	if in.Op == kvPut {
		_, err = c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader([]byte(in.Value))})
	} else {
		_, err = c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	}
	ret := c.hist.now()
	switch oc, code := classify(err); oc {
	case outcomeOK:
		c.hist.add(c.id, in, call, kvOutput{}, ret)
	case outcomeUnknown:
		c.hist.add(c.id, in, call, kvOutput{Unknown: true}, ret)
		c.hist.count(in.Op.String() + " unknown " + code)
		return true
	case outcomeServerBug:
		// The write may still have happened: the history keeps it as unknown so the
		// check stays sound, and the answer fails the test on its own.
		c.hist.add(c.id, in, call, kvOutput{Unknown: true}, ret)
		c.hist.errorf(c.t, "client %d: %s %s: server answered %s: the bucket exists, and an uncertain write must answer 503 ServiceUnavailable: %v", c.id, in.Op, in.Key, code, err)
		c.hist.count(in.Op.String() + " server bug " + code)
		return true
	case outcomeNotApplied:
		if code != "dial" {
			// No client error is expected from a well-formed PUT or DELETE on an
			// existing bucket: a 4xx here is a bug, not an availability event.
			c.hist.errorf(c.t, "client %d: %s %s: definite failure %s: %v", c.id, in.Op, in.Key, code, err)
		}
		c.hist.count(in.Op.String() + " not applied " + code)
		return true
	default:
		c.hist.errorf(c.t, "client %d: %s %s: unexpected %s: %v", c.id, in.Op, in.Key, code, err)
		c.hist.count(in.Op.String() + " unexpected " + code)
		return true
	}
	return false
}

// faultKind is one of the nemesis's faults. The nemesis cycles through them in this
// order, so every run kills a leader first (by a crash: see nemesis) and partitions
// second.
type faultKind int

const (
	faultKillLeader faultKind = iota
	faultIsolateLeader
	faultIsolateFollower
	numFaultKinds
)

func (k faultKind) String() string {
	switch k {
	case faultKillLeader:
		return "kill leader"
	case faultIsolateLeader:
		return "isolate leader"
	default:
		return "isolate follower"
	}
}

// fault is one fault the nemesis injected, with history times. A leader kill is
// a crash (crash set: the member loses its uncommitted store entries and replays
// its log on restart, nodetest.Cluster.Crash) or a clean close (Cluster.Kill).
type fault struct {
	kind          faultKind
	crash         bool
	what          string
	start, healed int64
}

// recoveryWait bounds how long the nemesis waits, after undoing a fault, for the
// region to acknowledge a write called after it; only then does the next fault come.
const recoveryWait = 10 * time.Second

// nemesis kills and partitions members until ctx ends, cycling through the fault
// kinds, undoing each fault and waiting for an acknowledged write before the next.
// Leader kills alternate between a crash and a clean close, a crash first.
// Everything is undone when it returns; it returns the faults it injected.
func nemesis(ctx context.Context, t *testing.T, c *nodetest.Cluster, rng *rand.Rand, hist *history) []fault {
	nodes := c.Nodes(testRegion)
	leader := func() *nodetest.Node {
		lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		l, err := c.Leader(lctx, testRegion)
		if err != nil {
			return nil
		}
		return l
	}
	others := func(n *nodetest.Node) []*nodetest.Node {
		var out []*nodetest.Node
		for _, m := range nodes {
			if m != n {
				out = append(out, m)
			}
		}
		return out
	}
	var faults []fault
	kills := 0
	pause(ctx, time.Duration(500+rng.IntN(500))*time.Millisecond)
	for ctx.Err() == nil {
		kind := faultKind(len(faults) % int(numFaultKinds))
		l := leader()
		if l == nil {
			// Not a fault of its own: the kind is tried again, and a region that
			// stays without a leader fails the recovery check.
			t.Logf("nemesis: no leader for %s", kind)
			continue
		}
		target := l
		if kind == faultIsolateFollower {
			target = others(l)[rng.IntN(len(nodes)-1)]
		}
		f := fault{kind: kind, what: kind.String() + " " + target.ID, start: hist.now()}
		if kind == faultKillLeader {
			f.crash = kills%2 == 0
			kills++
			if f.crash {
				f.what = "crash leader " + target.ID
			}
		}
		t.Logf("nemesis: %s", f.what)
		if kind == faultKillLeader {
			if f.crash {
				c.Crash(target)
				if ds, err := c.DiskState(target); err == nil {
					t.Logf("nemesis: %s crashed with its store at %d, its log at %d: %d entries to replay",
						target.ID, ds.StoreApplied, ds.LogLast, ds.LogLast-ds.StoreApplied)
				}
			} else {
				c.Kill(target)
			}
		} else {
			c.Partition([]*nodetest.Node{target}, others(target))
		}
		pause(ctx, time.Duration(500+rng.IntN(1500))*time.Millisecond)
		if kind == faultKillLeader {
			if err := c.Restart(target); err != nil {
				t.Errorf("nemesis: restart %s: %v", target.ID, err)
			}
		} else {
			c.Heal()
		}
		f.healed = hist.now()
		faults = append(faults, f)
		hist.note(f.start, f.healed, f.what)
		t.Logf("nemesis: healed (%s)", f.what)
		rctx, cancel := context.WithTimeout(ctx, recoveryWait)
		err := testkit.Poll(rctx, func() error {
			if !hist.ackedSince(f.healed) {
				return errors.New("no write acknowledged yet")
			}
			return nil
		})
		cancel()
		if err != nil && ctx.Err() == nil {
			t.Logf("nemesis: no write acknowledged within %v after %s", recoveryWait, f.what)
		}
		pause(ctx, time.Duration(300+rng.IntN(700))*time.Millisecond)
	}
	return faults
}

// Load and nemesis schedule of TestLinearizable: the nemesis stops quietTail before
// the clients, so the region is seen acknowledging writes after its last fault.
const (
	loadDuration = 12 * time.Second
	quietTail    = 2 * time.Second
	// checkTimeout bounds porcupine; a check that does not finish fails the test.
	// Histories of this size take well under a second (see the logged duration).
	checkTimeout = 2 * time.Minute
)

// TestLinearizable drives a 3-node region with concurrent clients, each bound to one
// member, while members are killed, restarted, isolated and healed, and checks the
// observed history against a per-key register with porcupine.
func TestLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("nemesis test")
	}
	seed := testSeed(t)
	testCtx, cancel := context.WithTimeout(t.Context(), 55*time.Second)
	defer cancel()

	c := nodetest.Start(t, nodetest.Options{NoSync: true})
	nodes := c.Nodes(testRegion)
	if len(nodes) != 3 {
		t.Fatalf("%d nodes, want 3", len(nodes))
	}
	if _, err := c.Leader(testCtx, testRegion); err != nil {
		t.Fatalf("no leader: %v", err)
	}
	admin := newS3Client(nodes[0].S3URL, c.AccessKey, c.SecretKey)
	var keys []string
	for _, b := range []struct {
		name      string
		versioned bool
	}{{"lin-versioned", true}, {"lin-plain", false}} {
		if err := createBucket(testCtx, admin, b.name, b.versioned); err != nil {
			t.Fatalf("create bucket %s: %v", b.name, err)
		}
		keys = append(keys, b.name+"/k0", b.name+"/k1")
	}

	hist := newHistory()
	const clients = 6
	loadCtx, stopLoad := context.WithTimeout(testCtx, loadDuration)
	defer stopLoad()
	var wg sync.WaitGroup
	lcs := make([]*linClient, clients)
	for i := range clients {
		n := nodes[i%len(nodes)]
		lcs[i] = &linClient{id: i, s3: newS3Client(n.S3URL, c.AccessKey, c.SecretKey),
			rng: rand.New(rand.NewPCG(seed, uint64(i+1))), hist: hist, t: t}
		wg.Go(func() { lcs[i].run(loadCtx, testCtx, keys) })
	}
	nemesisCtx, stopNemesis := context.WithTimeout(loadCtx, loadDuration-quietTail)
	defer stopNemesis()
	var faults []fault
	nemesisDone := make(chan struct{})
	go func() {
		defer close(nemesisDone)
		faults = nemesis(nemesisCtx, t, c, rand.New(rand.NewPCG(seed, 100)), hist)
	}()
	wg.Wait()
	<-nemesisDone

	// After the faults end, every member must serve every key again, and these final
	// reads go into the history too: they must agree with everything before them.
	finalCtx, cancelFinal := context.WithTimeout(testCtx, 20*time.Second)
	defer cancelFinal()
	for i, n := range nodes {
		fc := &linClient{id: clients + i, s3: newS3Client(n.S3URL, c.AccessKey, c.SecretKey), hist: hist, t: t}
		for _, bk := range keys {
			bucket, key, _ := strings.Cut(bk, "/")
			for fc.get(finalCtx, bucket, key) {
				if finalCtx.Err() != nil {
					t.Fatalf("member %s does not serve %s after the nemesis stopped", n.ID, bk)
				}
				pause(finalCtx, 50*time.Millisecond)
			}
		}
	}

	ops := hist.close()
	t.Logf("history: %d operations: %s", len(ops), hist.summary())
	var writesOK, readsFound int
	for _, op := range ops {
		in, out := op.Input.(kvInput), op.Output.(kvOutput)
		if in.Op == kvPut && !out.Unknown {
			writesOK++
		}
		if in.Op == kvGet && out.Found {
			readsFound++
		}
	}
	if writesOK == 0 || readsFound == 0 {
		t.Fatalf("history has %d acknowledged PUTs and %d reads of a value: nothing to check", writesOK, readsFound)
	}
	checkFaults(t, faults, ops)

	checkStart := time.Now()
	res, info := porcupine.CheckOperationsVerbose(registerModel, ops, checkTimeout)
	t.Logf("porcupine checked %d operations in %v: %s", len(ops), time.Since(checkStart).Round(time.Millisecond), res)
	switch res {
	case porcupine.Ok:
		t.Logf("history is linearizable")
	case porcupine.Unknown:
		t.Fatalf("linearizability check did not finish within %v: the history was NOT checked (seed %d)", checkTimeout, seed)
	default:
		hist.mu.Lock()
		info.AddAnnotations(hist.annotations)
		hist.mu.Unlock()
		path := writeVisualization(t, info)
		t.Fatalf("history is NOT linearizable (seed %d); visualization: %s", seed, path)
	}
}

// checkFaults asserts the nemesis did its job: it killed a leader (at least once
// by a crash) and partitioned the region, and after every fault the region acknowledged a write
// called after the fault was undone and answered before the next fault began.
func checkFaults(t *testing.T, faults []fault, ops []porcupine.Operation) {
	t.Helper()
	kinds := map[faultKind]int{}
	crashes := 0
	for i, f := range faults {
		kinds[f.kind]++
		if f.crash {
			crashes++
		}
		until := int64(-1) // the last fault: any later acknowledgement counts
		if i+1 < len(faults) {
			until = faults[i+1].start
		}
		acked := 0
		for _, op := range ops {
			in, out := op.Input.(kvInput), op.Output.(kvOutput)
			if in.Op != kvGet && !out.Unknown && op.Call >= f.healed && (until < 0 || op.Return <= until) {
				acked++
			}
		}
		t.Logf("fault %d: %s from %v to %v; %d writes acknowledged after it", i, f.what,
			time.Duration(f.start).Round(time.Millisecond), time.Duration(f.healed).Round(time.Millisecond), acked)
		if acked == 0 {
			t.Errorf("no write was acknowledged after fault %d (%s) was undone and before the next", i, f.what)
		}
	}
	t.Logf("nemesis: %d leader kills (%d crashes, %d clean closes), %d partitions", kinds[faultKillLeader],
		crashes, kinds[faultKillLeader]-crashes, kinds[faultIsolateLeader]+kinds[faultIsolateFollower])
	if crashes == 0 || kinds[faultIsolateLeader]+kinds[faultIsolateFollower] == 0 {
		t.Errorf("nemesis injected %d leader kills (%d crashes) and %d partitions; want at least one crash and one partition",
			kinds[faultKillLeader], crashes, kinds[faultIsolateLeader]+kinds[faultIsolateFollower])
	}
}

func writeVisualization(t *testing.T, info porcupine.LinearizationInfo) string {
	t.Helper()
	f, err := os.CreateTemp("", "pangea-linearizability-*.html")
	if err != nil {
		t.Logf("create visualization file: %v", err)
		return "(none)"
	}
	defer f.Close()
	if err := porcupine.Visualize(registerModel, info, f); err != nil {
		t.Logf("write visualization: %v", err)
	}
	return f.Name()
}

// TestRegisterModel proves the checker as configured here rejects the anomalies the
// nemesis test looks for, and accepts unknown-outcome writes in either fate.
func TestRegisterModel(t *testing.T) {
	const inf = 1000
	put := func(client int, key, v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: kvInput{Op: kvPut, Key: key, Value: v}, Call: call, Return: ret, Output: kvOutput{}}
	}
	lost := func(client int, key, v string, call int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: kvInput{Op: kvPut, Key: key, Value: v}, Call: call, Return: inf, Output: kvOutput{Unknown: true}}
	}
	del := func(client int, key string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: kvInput{Op: kvDelete, Key: key}, Call: call, Return: ret, Output: kvOutput{}}
	}
	get := func(client int, key, v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: kvInput{Op: kvGet, Key: key}, Call: call, Return: ret, Output: kvOutput{Found: v != "", Value: v}}
	}
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"read your write", []porcupine.Operation{put(0, "a", "1", 0, 10), get(1, "a", "1", 11, 20)}, porcupine.Ok},
		{"absent at first", []porcupine.Operation{get(1, "a", "", 0, 5), put(0, "a", "1", 6, 10)}, porcupine.Ok},
		{"stale read", []porcupine.Operation{put(0, "a", "1", 0, 10), put(0, "a", "2", 11, 20), get(1, "a", "1", 21, 30)}, porcupine.Illegal},
		{"read before write", []porcupine.Operation{get(1, "a", "1", 0, 5), put(0, "a", "1", 6, 10)}, porcupine.Illegal},
		{"lost write never seen", []porcupine.Operation{put(0, "a", "1", 0, 10), lost(0, "a", "2", 11), get(1, "a", "1", 30, 40)}, porcupine.Ok},
		{"lost write seen later", []porcupine.Operation{put(0, "a", "1", 0, 10), lost(0, "a", "2", 11), get(1, "a", "1", 30, 40), get(1, "a", "2", 50, 60)}, porcupine.Ok},
		{"lost write seen then unseen", []porcupine.Operation{put(0, "a", "1", 0, 10), lost(0, "a", "2", 11), get(1, "a", "2", 30, 40), get(1, "a", "1", 50, 60)}, porcupine.Illegal},
		{"concurrent writes", []porcupine.Operation{put(0, "a", "1", 0, 20), put(1, "a", "2", 5, 25), get(2, "a", "2", 30, 40), get(2, "a", "2", 41, 50)}, porcupine.Ok},
		{"flip-flop", []porcupine.Operation{put(0, "a", "1", 0, 20), put(1, "a", "2", 5, 25), get(2, "a", "2", 30, 40), get(2, "a", "1", 41, 50)}, porcupine.Illegal},
		{"delete", []porcupine.Operation{put(0, "a", "1", 0, 10), del(0, "a", 11, 20), get(1, "a", "", 21, 30)}, porcupine.Ok},
		{"resurrection", []porcupine.Operation{put(0, "a", "1", 0, 10), del(0, "a", 11, 20), get(1, "a", "1", 21, 30)}, porcupine.Illegal},
		{"keys independent", []porcupine.Operation{put(0, "a", "1", 0, 10), get(1, "b", "", 11, 20), put(0, "b", "2", 21, 30), get(1, "a", "1", 31, 40)}, porcupine.Ok},
		{"key crosstalk", []porcupine.Operation{put(0, "a", "1", 0, 10), get(1, "b", "1", 11, 20)}, porcupine.Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(registerModel, tc.ops, 5*time.Second); got != tc.want {
				t.Errorf("check = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestClassify pins which failures count as "did not happen", which as unknown, and
// which break the contract (an uncertain write answers exactly 503 ServiceUnavailable).
// Answers go through a real SDK client, so the errors are the ones the nemesis test sees.
func TestClassify(t *testing.T) {
	s3Error := func(status int, code string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			if code != "" {
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>test</Message><RequestId>r1</RequestId></Error>`, code)
			}
		}
	}
	for _, tc := range []struct {
		name     string
		handler  http.HandlerFunc
		want     outcome
		wantCode string
	}{
		{"200", func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }, outcomeOK, ""},
		{"404 NoSuchKey", s3Error(http.StatusNotFound, "NoSuchKey"), outcomeNotFound, "404 NoSuchKey"},
		{"404 NoSuchBucket", s3Error(http.StatusNotFound, "NoSuchBucket"), outcomeServerBug, "404 NoSuchBucket"},
		{"403 AccessDenied", s3Error(http.StatusForbidden, "AccessDenied"), outcomeNotApplied, "403 AccessDenied"},
		{"503 ServiceUnavailable", s3Error(http.StatusServiceUnavailable, "ServiceUnavailable"), outcomeUnknown, "503 ServiceUnavailable"},
		{"503 without a body", s3Error(http.StatusServiceUnavailable, ""), outcomeUnknown, "503 ServiceUnavailable"}, // the SDK names it after the status
		{"503 SlowDown", s3Error(http.StatusServiceUnavailable, "SlowDown"), outcomeServerBug, "503 SlowDown"},
		{"500 InternalError", s3Error(http.StatusInternalServerError, "InternalError"), outcomeServerBug, "500 InternalError"},
		{"500 ServiceUnavailable", s3Error(http.StatusInternalServerError, "ServiceUnavailable"), outcomeServerBug, "500 ServiceUnavailable"},
		{"502 without a body", s3Error(http.StatusBadGateway, ""), outcomeServerBug, "502 BadGateway"},
		{"504", s3Error(http.StatusGatewayTimeout, "GatewayTimeout"), outcomeServerBug, "504 GatewayTimeout"},
		{"connection reset", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close with a RST
			}
			conn.Close()
		}, outcomeUnknown, "transport"},
		{"client timeout", func(w http.ResponseWriter, r *http.Request) {
			// Once the body is read the server notices the client hang up.
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		}, outcomeUnknown, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			timeout := 10 * time.Second // generous: the machine may be loaded
			if tc.wantCode == "timeout" {
				timeout = 300 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			_, err := newS3Client(srv.URL, "a", "b").PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("v")})
			if oc, code := classify(err); oc != tc.want || code != tc.wantCode {
				t.Errorf("classify(%v) = %s %q, want %s %q", err, oc, code, tc.want, tc.wantCode)
			}
		})
	}

	t.Run("dial refused", func(t *testing.T) {
		// Released at once, the port has nobody listening.
		ports := testkit.NewPorts(t)
		addr := ports.Reserve(1)[0]
		ports.Release(addr)
		_, err := newS3Client("http://"+addr, "a", "b").PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("v")})
		if oc, code := classify(err); oc != outcomeNotApplied || code != "dial" {
			t.Errorf("classify(%v) = %s %q, want not applied \"dial\"", err, oc, code)
		}
	})
	for _, tc := range []struct {
		name string
		err  error
		want outcome
	}{
		{"nil", nil, outcomeOK},
		{"wrapped dial error", fmt.Errorf("send: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")}), outcomeNotApplied},
		{"wrapped read error", fmt.Errorf("send: %w", &net.OpError{Op: "read", Err: errors.New("connection reset")}), outcomeUnknown},
		{"body cut short", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), outcomeUnknown},
		{"deadline", fmt.Errorf("op: %w", context.DeadlineExceeded), outcomeUnknown},
		{"not a transport error", errors.New("serialization failed"), outcomeUnexpected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if oc, _ := classify(tc.err); oc != tc.want {
				t.Errorf("classify(%v) = %s, want %s", tc.err, oc, tc.want)
			}
		})
	}
}

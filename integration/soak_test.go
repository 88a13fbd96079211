//go:build soak && unix

package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/pangea-s3/pangea/integration/testkit"
)

// The soak: `make soak` (SOAK_DURATION, default 5m) runs TestSoak, which exists only
// under the soak build tag, so `make test` never runs it. PANGEA_SOAK_DURATION sets
// how long the traffic lasts; PANGEA_SEED replays a run's choices (not its timing).
//
// What runs, all on 127.0.0.1 against a region of three `pangea node` processes:
//   - soakWorkers writers/readers, each owning its keys: PUT new keys (1 KiB to 2 MiB,
//     one in soakMPUOneIn as a two-part multipart upload of 5 MiB + up to 1 MiB),
//     overwrite, DELETE, GET (content checked), HEAD (size checked), LIST, each call
//     through a member picked at random among those running;
//   - soakSlowUploaders raw-TCP PUTs declaring a soakSlowSize body and trickling it:
//     stalled (1 KiB then nothing), crawling (256 B/s) or slow but steady (2 KiB/s);
//   - soakIdleConns TCP connections to the S3 ports, half sending nothing, half a
//     partial request header, each opened again once the server closes it;
//   - chaos, about every soakChaosEvery (a quarter of the run if shorter), in turn:
//     the leader frozen with SIGSTOP for soakFreezeFor then SIGCONT, and a random
//     member SIGKILLed and restarted on its data, back in the traffic once it serves
//     a linearizable read.
//
// Every SDK call is a single attempt (RetryMaxAttempts 1, no retry by the test): each
// 503 the server gives is counted once, and a write answered 503 has an unknown
// outcome. Keys are owned by one goroutine, so a key's operations are sequential; a
// key whose last write had an unknown outcome (503, or the member killed under it) is
// retired, and may end either way. Reads during the run must see the last
// acknowledged write (reads are linearizable, node/DESIGN.md). At the end every key
// ever written is read through every member: acknowledged content present and
// byte-identical, acknowledged deletes absent, unknown outcomes either way but the
// same on every member, and each member's listing agrees.
//
// The test fails on lost, corrupted or resurrected data, on a stale read, and on any
// answer but success, 503, 400 RequestTimeout or an expected 404: a connection the
// test did not see cut by a SIGKILL, or a call unanswered after soakCallTimeout,
// counts as an error. It asserts nothing about speed; it prints a table per
// operation (count, p50/p90/p99, 503s, other errors), the slow and idle clients'
// fates, the chaos events and each process's peak RSS.
const (
	soakBucket        = "soak"
	soakWorkers       = 6
	soakMPUOneIn      = 30
	soakSlowUploaders = 4
	soakSlowSize      = 48 << 10
	soakSlowMaxAge    = 2 * time.Minute // a slow upload the server has not cut by then is abandoned
	soakIdleConns     = 200
	soakChaosEvery    = 60 * time.Second
	soakFreezeFor     = 10 * time.Second
	soakCallTimeout   = 30 * time.Second
	soakDataCap       = 3 << 30 // bytes of objects sent; past it, new objects are small and never multipart
)

// Operation names, the rows of the report.
const (
	opPut         = "PUT"
	opPutOver     = "PUT overwrite"
	opMPUCreate   = "MPU create"
	opMPUPart     = "MPU part"
	opMPUComplete = "MPU complete"
	opGet         = "GET"
	opHead        = "HEAD"
	opList        = "LIST"
	opDelete      = "DELETE"
	opSlowPut     = "slow PUT"
)

var soakOps = []string{opPut, opPutOver, opMPUCreate, opMPUPart, opMPUComplete, opGet, opHead, opList, opDelete, opSlowPut}

// outcome is how one call ended.
type outcome int

const (
	outOK             outcome = iota
	out503                    // 503: the region could not serve; a write's outcome is unknown
	outRequestTimeout         // 400 RequestTimeout: the server gave up on a slow body
	out404                    // judged by the caller: expected or a lost object
	outCut                    // no answer: the member was SIGKILLed during the call
	outOther                  // any other answer, or no answer without a SIGKILL
)

func classify(err error, cutByKill bool) (outcome, string) {
	if err == nil {
		return outOK, ""
	}
	if re := asResponseError(err); re != nil && re.Response != nil && re.Response.StatusCode != 0 {
		code := ""
		var ae smithy.APIError
		if errors.As(err, &ae) {
			code = ae.ErrorCode()
		}
		switch re.Response.StatusCode {
		case http.StatusServiceUnavailable:
			return out503, code
		case http.StatusNotFound:
			return out404, code
		case http.StatusBadRequest:
			if code == "RequestTimeout" {
				return outRequestTimeout, code
			}
		}
		return outOther, fmt.Sprintf("%d %s", re.Response.StatusCode, code)
	}
	if cutByKill {
		return outCut, ""
	}
	return outOther, "no answer"
}

type opStats struct {
	lat                                     []time.Duration // every call, answered or not
	ok, s503, reqTimeout, s404, cut, errors int
}

// soakMember is one member as the traffic sees it; the chaos loop (the test's
// goroutine) alone touches the regionMember, and publishes here under soak.mu.
type soakMember struct {
	rm     *regionMember
	id     string
	client *s3.Client
	host   string // host:port of the S3 endpoint
	pid    int
	up     bool
	epoch  int // incremented at each SIGKILL
	starts int

	peakKB, lastKB int64 // max VmHWM over its processes; VmRSS at the last sample
	peakAnonKB     int64 // max RssAnon sampled: heap and stacks, without the store's mapped file
}

type soak struct {
	t        *testing.T
	seed     uint64
	hc       *http.Client
	start    time.Time
	written  atomic.Int64 // bytes of objects sent
	mu       sync.Mutex
	members  []*soakMember
	ops      map[string]*opStats
	codes503 map[string]int
	badN     int
	bad      []string // the first unexpected things, for the report
	events   []string
	frozen   map[int]bool // pids stopped right now
	freezes  int
	kills    int
	ledger   []*soakKey
	slow     map[string]int // slow uploads by kind and fate
	idle     idleStats
}

type idleStats struct {
	opened, dialErrors, closedByServer, cutByKill, openAtEnd int
	lifetimes                                                []time.Duration
	firstBytes                                               map[string]int
}

// unexpected records something that fails the test, printed with the report.
func (s *soak) unexpected(format string, args ...any) {
	msg := fmt.Sprintf("%6.1fs ", time.Since(s.start).Seconds()) + fmt.Sprintf(format, args...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.badN++
	if len(s.bad) < 40 {
		s.bad = append(s.bad, msg)
	}
}

func (s *soak) record(op string, d time.Duration, o outcome, detail string) {
	s.mu.Lock()
	st := s.ops[op]
	if st == nil {
		st = &opStats{}
		s.ops[op] = st
	}
	st.lat = append(st.lat, d)
	switch o {
	case outOK:
		st.ok++
	case out503:
		st.s503++
		s.codes503[detail]++
	case outRequestTimeout:
		st.reqTimeout++
	case out404:
		st.s404++
	case outCut:
		st.cut++
	case outOther:
		st.errors++
	}
	s.mu.Unlock()
}

// pick returns a running member at random, with its epoch to tell a kill later.
func (s *soak) pick(r *rand.Rand) (*soakMember, *s3.Client, string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var up []*soakMember
	for _, m := range s.members {
		if m.up {
			up = append(up, m)
		}
	}
	m := up[r.IntN(len(up))]
	return m, m.client, m.host, m.epoch
}

// killedSince reports whether m was SIGKILLed after the call that saw epoch began.
func (s *soak) killedSince(m *soakMember, epoch int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return m.epoch != epoch
}

// call runs f against a random running member with its own deadline and records it.
func (s *soak) call(r *rand.Rand, op string, f func(ctx context.Context, c *s3.Client) error) (outcome, string, *soakMember) {
	m, c, _, epoch := s.pick(r)
	ctx, cancel := context.WithTimeout(context.Background(), soakCallTimeout)
	defer cancel()
	begin := time.Now()
	err := f(ctx, c)
	d := time.Since(begin)
	o, detail := classify(err, s.killedSince(m, epoch))
	s.record(op, d, o, detail)
	// A 404 is judged by the reads that expect one; for any other call it is wrong.
	if o == outOther || (o == out404 && op != opGet && op != opHead) {
		s.unexpected("%s via %s: %v", op, m.id, err)
	}
	return o, detail, m
}

// soakKey is one key's history as far as the verification needs it. Its
// operations are sequential (one goroutine owns it); want is the content ("" for
// absent) after the last acknowledged write; alt the possible result of a write with
// an unknown outcome, after which the key is retired.
type soakKey struct {
	name    string
	gen     int
	size    int
	want    string
	alt     string
	hasAlt  bool
	retired bool
}

func (k *soakKey) accepts(got string) bool {
	return got == k.want || (k.hasAlt && got == k.alt)
}

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestSoak: see the comment at the top of this file.
func TestSoak(t *testing.T) {
	duration := 5 * time.Minute
	if v := os.Getenv("PANGEA_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("PANGEA_SOAK_DURATION=%q: want a positive duration such as 90s or 10m", v)
		}
		duration = d
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4 * soakWorkers
	s := &soak{
		t: t, seed: seed, hc: &http.Client{Transport: tr},
		ops: map[string]*opStats{}, codes503: map[string]int{},
		frozen: map[int]bool{}, slow: map[string]int{},
		idle: idleStats{firstBytes: map[string]int{}},
	}

	members, peers := startRegion(t)
	for _, rm := range members {
		sm := &soakMember{rm: rm, id: rm.id}
		s.members = append(s.members, sm)
		s.publish(sm)
	}
	setup, cancelSetup := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancelSetup()
	if err := soakRetry(setup, 60*time.Second, &retryTally{}, func(ctx context.Context) error {
		_, err := s.members[0].client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(soakBucket)})
		if isAPIError(err, "BucketAlreadyOwnedByYou") {
			return nil
		}
		return err
	}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	for _, m := range s.members {
		if err := soakRetry(setup, 30*time.Second, &retryTally{}, func(ctx context.Context) error {
			_, err := m.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(soakBucket)})
			return err
		}); err != nil {
			t.Fatalf("member %s does not serve the bucket: %v", m.id, err)
		}
	}
	t.Logf("soak: %v of traffic against %d members (%s), %d workers, %d slow uploaders, %d idle connections",
		duration, len(members), peers, soakWorkers, soakSlowUploaders, soakIdleConns)

	s.start = time.Now()
	end := s.start.Add(duration)
	traffic, stopTraffic := context.WithDeadline(context.Background(), end)
	var wg sync.WaitGroup
	ledgers := make([][]*soakKey, soakWorkers+soakSlowUploaders)
	for w := range soakWorkers {
		wg.Go(func() { ledgers[w] = s.worker(traffic, w) })
	}
	for g := range soakSlowUploaders {
		wg.Go(func() { ledgers[soakWorkers+g] = s.slowUploader(traffic, g) })
	}
	for i := range soakIdleConns {
		wg.Go(func() { s.idleConn(traffic, i) })
	}
	sampling, stopSampling := context.WithCancel(context.Background())
	var samplerWG sync.WaitGroup
	samplerWG.Go(func() { s.sampleRSS(sampling) })
	samplerWG.Go(func() { s.progress(sampling) })
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		stopTraffic()
		wg.Wait()
		stopSampling()
		samplerWG.Wait()
		for _, l := range ledgers {
			s.ledger = append(s.ledger, l...)
		}
	}
	// Whatever ends the test (t.Fatal in the chaos loop included), the traffic
	// stops before it returns, and what was measured is printed.
	var verdict *soakVerdict
	defer func() {
		stop()
		s.report(duration, verdict)
	}()

	s.chaosLoop(rng, peers, end)
	pauseFor(t.Context(), time.Until(end))
	stop()
	t.Logf("soak: traffic stopped after %v; verifying %d keys through every member", time.Since(s.start).Round(time.Second), len(s.ledger))
	verdict = s.verify()
}

// publish makes the member's current process visible to the traffic.
func (s *soak) publish(sm *soakMember) {
	u, err := url.Parse(sm.rm.endpoint)
	if err != nil {
		s.t.Fatalf("member %s endpoint %q: %v", sm.id, sm.rm.endpoint, err)
	}
	client := newSDKClient(sm.rm.endpoint, s.hc, ownerKey, ownerSecret)
	s.mu.Lock()
	defer s.mu.Unlock()
	sm.client, sm.host, sm.pid, sm.up = client, u.Host, sm.rm.proc.cmd.Process.Pid, true
	sm.starts++
}

func (s *soak) event(format string, args ...any) {
	msg := fmt.Sprintf("%6.1fs ", time.Since(s.start).Seconds()) + fmt.Sprintf(format, args...)
	s.t.Log("soak: " + msg)
	s.mu.Lock()
	s.events = append(s.events, msg)
	s.mu.Unlock()
}

// chaosLoop runs in the test's goroutine until end: every period, in turn, the
// leader frozen and resumed, then a random member killed and restarted.
func (s *soak) chaosLoop(rng *rand.Rand, peers string, end time.Time) {
	t := s.t
	period := soakChaosEvery
	if d := time.Until(end); d < 4*period {
		period = d / 4
	}
	ctx, cancel := context.WithDeadline(t.Context(), end)
	defer cancel()
	next := s.start.Add(period)
	for i := 0; ; i++ {
		pauseFor(ctx, time.Until(next))
		// An event needs time to finish (a restart and catch-up) before the end.
		if ctx.Err() != nil || time.Until(end) < 15*time.Second {
			return
		}
		if i%2 == 0 {
			s.freezeLeader()
		} else {
			s.killMember(rng, peers)
		}
		next = next.Add(period)
	}
}

func (s *soak) leader() *soakMember {
	var rms []*regionMember
	for _, m := range s.members {
		rms = append(rms, m.rm)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := regionLeader(ctx, rms)
	for _, m := range s.members {
		if m.id == id {
			return m
		}
	}
	return nil
}

func (s *soak) freezeLeader() {
	t := s.t
	m := s.leader()
	if m == nil {
		s.event("freeze skipped: no member names a leader")
		return
	}
	p := m.rm.proc
	pid := p.cmd.Process.Pid
	t.Cleanup(func() { // no process stays stopped, whatever happens
		if !p.exited() {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %s: %v", m.id, err)
	}
	s.mu.Lock()
	s.frozen[pid] = true
	s.freezes++
	s.mu.Unlock()
	s.event("SIGSTOP %s, the leader (pid %d)", m.id, pid)
	pauseFor(context.Background(), soakFreezeFor)
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT %s: %v", m.id, err)
	}
	s.mu.Lock()
	delete(s.frozen, pid)
	s.mu.Unlock()
	after := "none"
	if l := s.leader(); l != nil {
		after = l.id
	}
	s.event("SIGCONT %s after %v; leader now %s", m.id, soakFreezeFor, after)
}

func (s *soak) killMember(rng *rand.Rand, peers string) {
	t := s.t
	m := s.members[rng.IntN(len(s.members))]
	role := "follower"
	if l := s.leader(); l == m {
		role = "leader"
	}
	s.mu.Lock()
	m.up = false
	m.epoch++
	s.kills++
	s.mu.Unlock()
	m.rm.proc.kill(t)
	s.event("SIGKILL %s, the %s", m.id, role)
	pauseFor(context.Background(), time.Duration(1000+rng.IntN(2000))*time.Millisecond)
	began := time.Now()
	m.rm.launch(t, peers)
	m.rm.wait(t, peers)
	listening := time.Since(began)
	c := newSDKClient(m.rm.endpoint, s.hc, ownerKey, ownerSecret)
	var tally retryTally
	if err := soakRetry(context.Background(), 2*time.Minute, &tally, func(ctx context.Context) error {
		_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(soakBucket)})
		return err
	}); err != nil {
		s.unexpected("restarted %s does not serve reads within 2 min (%v): %v", m.id, tally, err)
		t.Fatalf("restarted %s does not serve reads: %v", m.id, err)
	}
	s.publish(m)
	s.event("restarted %s: listening after %v, serving reads after %v (before: %v)", m.id,
		listening.Round(time.Millisecond), time.Since(began).Round(time.Millisecond), tally)
}

// retryTally counts what soakRetry retried.
type retryTally struct{ s503, unanswered int }

func (r retryTally) String() string {
	return fmt.Sprintf("%d probes answered 503, %d unanswered within %v", r.s503, r.unanswered, soakProbeTimeout)
}

// soakProbeTimeout bounds each call of soakRetry: longer than the server's
// LeaderWait (5 s, node/DESIGN.md), so that a member that cannot serve says 503
// before the client gives up.
const soakProbeTimeout = 15 * time.Second

// soakRetry calls f until it succeeds or budget (or ctx) ends, each call within
// soakProbeTimeout. It retries 503 and calls without an answer; any other answer
// ends it. (Unlike regionRetry, it counts a call cut by its own deadline as
// unanswered: the SDK reports that as a response error of status 0.)
func soakRetry(ctx context.Context, budget time.Duration, tally *retryTally, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	return testkit.Poll(ctx, func() error {
		callCtx, callCancel := context.WithTimeout(ctx, soakProbeTimeout)
		defer callCancel()
		err := f(callCtx)
		switch o, _ := classify(err, true); o {
		case outOK:
			return nil
		case out503:
			tally.s503++
			return err
		case outCut: // no answer
			tally.unanswered++
			return err
		}
		return testkit.Stop(err)
	})
}

// objectSize: mostly small, some medium, one in ten up to 2 MiB.
func (s *soak) objectSize(r *rand.Rand) int {
	if s.written.Load() > soakDataCap {
		return 1<<10 + r.IntN(63<<10)
	}
	switch p := r.IntN(100); {
	case p < 60:
		return 1<<10 + r.IntN(63<<10)
	case p < 90:
		return 64<<10 + r.IntN(448<<10)
	default:
		return 512<<10 + r.IntN(1536<<10+1)
	}
}

func (s *soak) body(k *soakKey, size int) ([]byte, string) {
	k.gen++
	b := randomBytes(s.seed, fmt.Sprintf("%s#%d", k.name, k.gen), size)
	if n := s.written.Add(int64(size)); n >= soakDataCap && n-int64(size) < soakDataCap {
		s.event("%d MiB of objects sent: from now on new objects are at most 64 KiB", n>>20)
	}
	return b, sumHex(b)
}

// settle applies a write's outcome to its key: acknowledged, the key holds sum;
// unknown, it may and the key is retired.
func (k *soakKey) settle(o outcome, sum string, size int) {
	if o == outOK {
		k.want, k.size = sum, size
		return
	}
	k.alt, k.hasAlt, k.retired = sum, true, true
}

// worker runs one writer/reader until ctx ends and returns every key it wrote.
func (s *soak) worker(ctx context.Context, w int) []*soakKey {
	r := rand.New(rand.NewPCG(s.seed, uint64(1000+w)))
	var keys, pool []*soakKey
	drop := func(k *soakKey) {
		if i := slices.Index(pool, k); i >= 0 {
			pool = slices.Delete(pool, i, i+1)
		}
	}
	for n := 0; ctx.Err() == nil; {
		p := r.IntN(100)
		if len(pool) < 8 {
			p = 0
		}
		switch {
		case p < 35: // a new key
			k := &soakKey{name: fmt.Sprintf("w%d/%06d", w, n)}
			n++
			keys, pool = append(keys, k), append(pool, k)
			if s.written.Load() < soakDataCap && r.IntN(soakMPUOneIn) == 0 {
				s.multipart(r, k)
			} else {
				s.put(r, opPut, k)
			}
		case p < 45:
			s.put(r, opPutOver, pool[r.IntN(len(pool))])
		case p < 53:
			k := pool[r.IntN(len(pool))]
			o, _, _ := s.call(r, opDelete, func(ctx context.Context, c *s3.Client) error {
				_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(soakBucket), Key: aws.String(k.name)})
				return err
			})
			k.settle(o, "", 0)
		case p < 80:
			s.get(r, pool[r.IntN(len(pool))])
		case p < 93:
			s.head(r, pool[r.IntN(len(pool))])
		default:
			s.call(r, opList, func(ctx context.Context, c *s3.Client) error {
				_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(soakBucket),
					Prefix: aws.String(fmt.Sprintf("w%d/", w)), MaxKeys: aws.Int32(200)})
				return err
			})
		}
		for _, k := range slices.Clone(pool) {
			if k.retired {
				drop(k)
			}
		}
		pauseFor(ctx, time.Duration(r.IntN(40))*time.Millisecond)
	}
	return keys
}

func (s *soak) put(r *rand.Rand, op string, k *soakKey) {
	size := s.objectSize(r)
	b, sum := s.body(k, size)
	o, _, _ := s.call(r, op, func(ctx context.Context, c *s3.Client) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(soakBucket), Key: aws.String(k.name), Body: bytes.NewReader(b)})
		return err
	})
	k.settle(o, sum, size)
}

// multipart uploads a new key in two parts, 5 MiB and up to 1 MiB. Until the
// complete is sent the object cannot exist: a failure before it leaves the key
// absent (and known to be).
func (s *soak) multipart(r *rand.Rand, k *soakKey) {
	size := 5<<20 + 1 + r.IntN(1<<20)
	b, sum := s.body(k, size)
	var id string
	o, _, _ := s.call(r, opMPUCreate, func(ctx context.Context, c *s3.Client) error {
		out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(soakBucket), Key: aws.String(k.name)})
		if err == nil {
			id = aws.ToString(out.UploadId)
		}
		return err
	})
	if o != outOK {
		return
	}
	var parts []types.CompletedPart
	for i, part := range [][]byte{b[:5<<20], b[5<<20:]} {
		o, _, _ := s.call(r, opMPUPart, func(ctx context.Context, c *s3.Client) error {
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(soakBucket), Key: aws.String(k.name),
				UploadId: aws.String(id), PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(part)})
			if err == nil {
				parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))})
			}
			return err
		})
		if o != outOK {
			m, c, _, _ := s.pick(r)
			ctx, cancel := context.WithTimeout(context.Background(), soakCallTimeout)
			_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(soakBucket), Key: aws.String(k.name), UploadId: aws.String(id)})
			cancel()
			if err != nil {
				s.t.Logf("abort of %s via %s (not judged): %v", k.name, m.id, err)
			}
			return
		}
	}
	o, _, _ = s.call(r, opMPUComplete, func(ctx context.Context, c *s3.Client) error {
		_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(soakBucket), Key: aws.String(k.name),
			UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		return err
	})
	k.settle(o, sum, size)
}

// get reads a key and checks it is what its last acknowledged write left.
func (s *soak) get(r *rand.Rand, k *soakKey) {
	var got string
	var n int
	o, _, m := s.call(r, opGet, func(ctx context.Context, c *s3.Client) error {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(soakBucket), Key: aws.String(k.name)})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		h := sha256.New()
		c64, err := io.Copy(h, out.Body)
		n, got = int(c64), hex.EncodeToString(h.Sum(nil))
		return err
	})
	switch {
	case o == outOK && got != k.want:
		s.unexpected("GET %s via %s: %d bytes sha256 %.12s, want %s (the last acknowledged write, generation %d)", k.name, m.id, n, got, wantDesc(k.want, k.size), k.gen)
	case o == out404 && k.want != "":
		s.unexpected("GET %s via %s: 404, want %s (the last acknowledged write, generation %d)", k.name, m.id, wantDesc(k.want, k.size), k.gen)
	}
}

func wantDesc(want string, size int) string {
	if want == "" {
		return "absent"
	}
	return fmt.Sprintf("%d bytes sha256 %.12s", size, want)
}

func (s *soak) head(r *rand.Rand, k *soakKey) {
	var size int64 = -1
	o, _, m := s.call(r, opHead, func(ctx context.Context, c *s3.Client) error {
		out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(soakBucket), Key: aws.String(k.name)})
		if err == nil {
			size = aws.ToInt64(out.ContentLength)
		}
		return err
	})
	switch {
	case o == outOK && (k.want == "" || size != int64(k.size)):
		s.unexpected("HEAD %s via %s: %d bytes, want %s", k.name, m.id, size, wantDesc(k.want, k.size))
	case o == out404 && k.want != "":
		s.unexpected("HEAD %s via %s: 404, want %s", k.name, m.id, wantDesc(k.want, k.size))
	}
}

// slowUploader sends PUTs over raw TCP that declare a soakSlowSize body and trickle
// it, one after another, cycling through three paces.
func (s *soak) slowUploader(ctx context.Context, g int) []*soakKey {
	r := rand.New(rand.NewPCG(s.seed, uint64(2000+g)))
	kinds := []string{"stalled", "crawling 256 B/s", "steady 2 KiB/s"}
	var keys []*soakKey
	for i := 0; ctx.Err() == nil; i++ {
		kind := kinds[(g+i)%len(kinds)]
		k := &soakKey{name: fmt.Sprintf("slow/g%d/%04d", g, i)}
		keys = append(keys, k)
		fate := s.slowPut(ctx, r, k, kind)
		s.mu.Lock()
		s.slow[kind+": "+fate]++
		s.mu.Unlock()
		pauseFor(ctx, time.Duration(500+r.IntN(1000))*time.Millisecond)
	}
	return keys
}

type rawAnswer struct {
	status int
	code   string
	err    error
}

func (s *soak) slowPut(ctx context.Context, r *rand.Rand, k *soakKey, kind string) (fate string) {
	b, sum := s.body(k, soakSlowSize)
	m, _, host, epoch := s.pick(r)
	header, err := slowPutHeader(host, k.name, sum, len(b))
	if err != nil {
		s.t.Errorf("signing a slow PUT: %v", err)
		return "not sent"
	}
	begin := time.Now()
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		if s.killedSince(m, epoch) {
			return "dial failed (member killed)"
		}
		s.unexpected("slow PUT %s: dial %s (%s): %v", k.name, host, m.id, err)
		return "dial failed"
	}
	defer conn.Close()
	answers := make(chan rawAnswer, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answers <- rawAnswer{err: err}
			return
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		var e s3Error
		_ = xml.Unmarshal(body, &e)
		answers <- rawAnswer{status: resp.StatusCode, code: e.Code}
	}()
	sent, step := 0, 0
	first := 0
	switch kind {
	case "stalled":
		first = 1 << 10
	case "crawling 256 B/s":
		step = 256
	default:
		step = 2 << 10
	}
	write := func(p []byte) error {
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := conn.Write(p)
		return err
	}
	if err := write(append(header, b[:first]...)); err != nil {
		return s.slowDone(k, m, epoch, begin, rawAnswer{err: err}, false, sum)
	}
	sent = first
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	giveUp := time.NewTimer(soakSlowMaxAge)
	defer giveUp.Stop()
	for sent < len(b) {
		select {
		case a := <-answers:
			return s.slowDone(k, m, epoch, begin, a, false, sum)
		case <-ctx.Done():
			k.want = "" // never completed: the object must not exist
			return "abandoned at the end of the soak"
		case <-giveUp.C:
			k.want = ""
			return fmt.Sprintf("abandoned after %v, not cut by the server", soakSlowMaxAge)
		case <-tick.C:
			if step == 0 {
				continue
			}
			n := min(step, len(b)-sent)
			if err := write(b[sent : sent+n]); err != nil {
				// The server may have answered and closed: prefer its answer.
				select {
				case a := <-answers:
					return s.slowDone(k, m, epoch, begin, a, false, sum)
				case <-time.After(2 * time.Second):
					return s.slowDone(k, m, epoch, begin, rawAnswer{err: err}, false, sum)
				}
			}
			sent += n
		}
	}
	select {
	case a := <-answers:
		return s.slowDone(k, m, epoch, begin, a, true, sum)
	case <-time.After(soakCallTimeout):
		return s.slowDone(k, m, epoch, begin, rawAnswer{err: errors.New("no answer within 30 s of the whole body")}, true, sum)
	}
}

// slowDone judges a slow PUT's end and settles its key.
func (s *soak) slowDone(k *soakKey, m *soakMember, epoch int, begin time.Time, a rawAnswer, whole bool, sum string) string {
	d := time.Since(begin)
	cut := a.status == 0 && s.killedSince(m, epoch)
	switch {
	case a.status == http.StatusOK && whole:
		s.record(opSlowPut, d, outOK, "")
		k.want, k.size = sum, soakSlowSize
		return "completed"
	case a.status == http.StatusBadRequest && a.code == "RequestTimeout":
		s.record(opSlowPut, d, outRequestTimeout, "")
		k.want = "" // "nothing of it is kept" (docs/configuration.md)
		return "400 RequestTimeout"
	case a.status == http.StatusServiceUnavailable:
		s.record(opSlowPut, d, out503, a.code)
		k.alt, k.hasAlt = sum, whole
		return "503"
	case cut:
		s.record(opSlowPut, d, outCut, "")
		k.alt, k.hasAlt = sum, whole
		return "cut by a SIGKILL"
	}
	s.record(opSlowPut, d, outOther, "")
	k.alt, k.hasAlt = sum, true // unexplained: judged here, not again in the verification
	if a.status != 0 {
		s.unexpected("slow PUT %s via %s after %v (whole body sent: %v): answered %d %s", k.name, m.id, d.Round(time.Millisecond), whole, a.status, a.code)
		return fmt.Sprintf("answered %d %s", a.status, a.code)
	}
	s.unexpected("slow PUT %s via %s after %v (whole body sent: %v): %v", k.name, m.id, d.Round(time.Millisecond), whole, a.err)
	return "no answer"
}

// slowPutHeader is a PUT's request line and headers, signed for a body whose
// SHA-256 is sum, as a raw HTTP/1.1 request.
func slowPutHeader(host, key, sum string, size int) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPut, "http://"+host+"/"+soakBucket+"/"+key, nil)
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(size)
	req.Header.Set("Content-Length", strconv.Itoa(size))
	req.Header.Set("X-Amz-Content-Sha256", sum)
	creds := aws.Credentials{AccessKeyID: ownerKey, SecretAccessKey: ownerSecret}
	if err := s3Signer().SignHTTP(context.Background(), creds, req, sum, "s3", testRegion, time.Now()); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "PUT %s HTTP/1.1\r\nHost: %s\r\n", req.URL.RequestURI(), host)
	for name, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// idleConn keeps one connection to a running member's S3 port open, sending nothing
// (even i) or a partial request header (odd i), and opens another when it closes.
func (s *soak) idleConn(ctx context.Context, i int) {
	r := rand.New(rand.NewPCG(s.seed, uint64(3000+i)))
	pauseFor(ctx, time.Duration(r.IntN(2000))*time.Millisecond)
	for ctx.Err() == nil {
		m, _, host, epoch := s.pick(r)
		conn, err := net.DialTimeout("tcp", host, 5*time.Second)
		if err != nil {
			s.mu.Lock()
			s.idle.dialErrors++
			s.mu.Unlock()
			if !s.killedSince(m, epoch) {
				s.unexpected("idle connection %d: dial %s (%s): %v", i, host, m.id, err)
			}
			pauseFor(ctx, time.Second)
			continue
		}
		s.mu.Lock()
		s.idle.opened++
		s.mu.Unlock()
		opened := time.Now()
		if i%2 == 1 {
			_, _ = fmt.Fprintf(conn, "GET /%s/idle-%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: soak", soakBucket, i, host)
		}
		unblock := context.AfterFunc(ctx, func() { conn.Close() })
		var first []byte
		buf := make([]byte, 512)
		for {
			n, err := conn.Read(buf)
			if len(first) < 64 {
				first = append(first, buf[:min(n, 64-len(first))]...)
			}
			if err != nil {
				break
			}
		}
		unblock()
		conn.Close()
		life := time.Since(opened)
		s.mu.Lock()
		switch {
		case ctx.Err() != nil:
			s.idle.openAtEnd++
		case m.epoch != epoch:
			s.idle.cutByKill++
		default:
			s.idle.closedByServer++
			s.idle.lifetimes = append(s.idle.lifetimes, life)
			line, _, _ := strings.Cut(string(first), "\r\n")
			if line == "" {
				line = "(closed without a byte)"
			}
			s.idle.firstBytes[line]++
		}
		s.mu.Unlock()
		pauseFor(ctx, time.Second)
	}
}

// sampleRSS reads every member's VmHWM and VmRSS each second.
func (s *soak) sampleRSS(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for _, m := range s.members {
			if !m.up {
				continue
			}
			hwm, rss, anon, ok := procMemKB(strconv.Itoa(m.pid))
			if ok {
				m.peakKB, m.lastKB, m.peakAnonKB = max(m.peakKB, hwm), rss, max(m.peakAnonKB, anon)
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// procMemKB reads VmHWM, VmRSS and RssAnon (kB) from /proc/<pid>/status; false
// where there is no /proc.
func procMemKB(pid string) (hwm, rss, anon int64, ok bool) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, 0, 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch name {
		case "VmHWM":
			hwm = n
		case "VmRSS":
			rss = n
		case "RssAnon":
			anon = n
		}
	}
	return hwm, rss, anon, hwm > 0
}

// progress logs a line every 30 s.
func (s *soak) progress(ctx context.Context) {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		var n, n503 int
		for _, st := range s.ops {
			n += len(st.lat)
			n503 += st.s503
		}
		line := fmt.Sprintf("soak: %v: %d calls, %d answered 503, %d unexpected, %d MiB written, %d freezes, %d kills",
			time.Since(s.start).Round(time.Second), n, n503, s.badN, s.written.Load()>>20, s.freezes, s.kills)
		s.mu.Unlock()
		s.t.Log(line)
	}
}

// soakVerdict is what the reading back found.
type soakVerdict struct {
	keys, reads                             int
	present, absent, maybeApplied, maybeNot int // per key, as every member agreed
	lost, wrong, resurrected, unreadable    int
	disagree, listing                       int
}

// verify reads every key through every member once the traffic has stopped and
// every member runs (chaos ends with none stopped or down).
func (s *soak) verify() *soakVerdict {
	t := s.t
	v := &soakVerdict{keys: len(s.ledger)}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	for _, m := range s.members {
		if err := soakRetry(ctx, 2*time.Minute, &retryTally{}, func(ctx context.Context) error {
			_, err := m.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(soakBucket)})
			return err
		}); err != nil {
			t.Errorf("member %s does not serve reads after the traffic: %v", m.id, err)
			return v
		}
	}
	fail := func(what string, count *int, format string, args ...any) {
		s.mu.Lock()
		*count++
		n := *count
		s.mu.Unlock()
		if n <= 10 {
			t.Errorf("%s: "+format, append([]any{what}, args...)...)
		}
	}
	// got[i][j]: what member j holds for key i ("" absent).
	got := make([][]string, len(s.ledger))
	for i := range got {
		got[i] = make([]string, len(s.members))
	}
	type job struct{ i, j int }
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for jb := range jobs {
				k, m := s.ledger[jb.i], s.members[jb.j]
				var sum string
				err := soakRetry(ctx, time.Minute, &retryTally{}, func(ctx context.Context) error {
					out, err := m.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(soakBucket), Key: aws.String(k.name)})
					if err != nil {
						return err
					}
					defer out.Body.Close()
					h := sha256.New()
					if _, err := io.Copy(h, out.Body); err != nil {
						return err // no answer: retried
					}
					sum = hex.EncodeToString(h.Sum(nil))
					return nil
				})
				switch {
				case err == nil:
					got[jb.i][jb.j] = sum
				case isAPIError(err, "NoSuchKey"):
				default:
					got[jb.i][jb.j] = "unreadable"
					fail("unreadable", &v.unreadable, "GET %s via %s: %v", k.name, m.id, err)
				}
			}
		})
	}
	for i := range s.ledger {
		for j := range s.members {
			jobs <- job{i, j}
		}
	}
	close(jobs)
	wg.Wait()
	v.reads = len(s.ledger) * len(s.members)
	for i, k := range s.ledger {
		for j, m := range s.members {
			g := got[i][j]
			switch {
			case g == "unreadable" || k.accepts(g):
			case g == "":
				fail("LOST", &v.lost, "%s via %s: absent, want %s (generation %d)", k.name, m.id, wantDesc(k.want, k.size), k.gen)
			case k.want == "" && !k.hasAlt:
				fail("RESURRECTED", &v.resurrected, "%s via %s: present (sha256 %.12s), want absent (generation %d)", k.name, m.id, g, k.gen)
			default:
				fail("WRONG CONTENT", &v.wrong, "%s via %s: sha256 %.12s, want %s or unknown-outcome %.12s (generation %d)", k.name, m.id, g, wantDesc(k.want, k.size), k.alt, k.gen)
			}
		}
		if slices.ContainsFunc(got[i], func(g string) bool { return g != got[i][0] }) {
			fail("MEMBERS DISAGREE", &v.disagree, "%s: %q (members %s)", k.name, got[i], s.memberIDs())
			continue
		}
		switch g := got[i][0]; {
		case k.hasAlt && g == k.alt && k.alt != k.want:
			v.maybeApplied++
		case k.hasAlt:
			v.maybeNot++
		case g == "":
			v.absent++
		default:
			v.present++
		}
	}
	// Every member lists exactly what it holds.
	for j, m := range s.members {
		var listed []string
		if err := soakRetry(ctx, time.Minute, &retryTally{}, func(ctx context.Context) error {
			var err error
			listed, err = listAllKeys(ctx, m.client, soakBucket)
			return err
		}); err != nil {
			fail("LISTING", &v.listing, "list via %s: %v", m.id, err)
			continue
		}
		set := map[string]bool{}
		for _, k := range listed {
			set[k] = true
		}
		known := map[string]bool{}
		for i, k := range s.ledger {
			known[k.name] = true
			if holds := got[i][j] != "" && got[i][j] != "unreadable"; holds != set[k.name] {
				fail("LISTING", &v.listing, "%s: GET says present=%v, the listing says %v for %s", m.id, holds, set[k.name], k.name)
			}
		}
		for _, k := range listed {
			if !known[k] {
				fail("LISTING", &v.listing, "%s lists %s, which the soak never wrote", m.id, k)
			}
		}
	}
	return v
}

func (s *soak) memberIDs() string {
	var ids []string
	for _, m := range s.members {
		ids = append(ids, m.id)
	}
	return strings.Join(ids, ",")
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

// report prints the figures as Markdown tables, to stdout and the test log.
func (s *soak) report(duration time.Duration, v *soakVerdict) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	elapsed := time.Duration(0)
	if !s.start.IsZero() {
		elapsed = time.Since(s.start)
	}
	fmt.Fprintf(&b, "\n## Soak report: seed %d, traffic %v (run %v so far), %d MiB of objects sent\n\n",
		s.seed, duration, elapsed.Round(time.Second), s.written.Load()>>20)
	b.WriteString("Every call is one attempt. Latency of every call, answered or not. 404s of GET and HEAD are of deleted keys " +
		"(any other 404 is an error, listed below).\n\n")
	b.WriteString("| op | calls | ok | p50 | p90 | p99 | max | 503 | 400 RequestTimeout | 404 | cut by SIGKILL | other errors |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	var total opStats
	for _, op := range soakOps {
		st := s.ops[op]
		if st == nil {
			continue
		}
		lat := slices.Clone(st.lat)
		slices.Sort(lat)
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %s | %d | %d | %d | %d | %d |\n", op, len(lat), st.ok,
			fmtDur(percentile(lat, .50)), fmtDur(percentile(lat, .90)), fmtDur(percentile(lat, .99)), fmtDur(percentile(lat, 1)),
			st.s503, st.reqTimeout, st.s404, st.cut, st.errors)
		total.lat = append(total.lat, st.lat...)
		total.ok += st.ok
		total.s503 += st.s503
		total.reqTimeout += st.reqTimeout
		total.s404 += st.s404
		total.cut += st.cut
		total.errors += st.errors
	}
	fmt.Fprintf(&b, "| **all** | %d | %d | | | | | %d | %d | %d | %d | %d |\n\n", len(total.lat), total.ok,
		total.s503, total.reqTimeout, total.s404, total.cut, total.errors)
	if len(s.codes503) > 0 {
		fmt.Fprintf(&b, "503 codes: %v\n\n", s.codes503)
	}

	b.WriteString("| process | starts | peak RSS (max VmHWM) | peak RssAnon (sampled 1/s) | RSS at the end | data directory at the end |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, m := range s.members {
		fmt.Fprintf(&b, "| pangea node %s | %d | %s | %s | %s | %s |\n", m.id, m.starts, fmtMiB(m.peakKB), fmtMiB(m.peakAnonKB),
			fmtMiB(m.lastKB), fmtMiB(dirKB(m.rm.dataDir)))
	}
	if hwm, rss, anon, ok := procMemKB("self"); ok {
		fmt.Fprintf(&b, "| the test (load generator) | 1 | %s | %s (now) | %s | |\n", fmtMiB(hwm), fmtMiB(anon), fmtMiB(rss))
	}
	b.WriteString("\n")

	fmt.Fprintf(&b, "Chaos: %d leader freezes of %v, %d SIGKILL+restart. Events:\n", s.freezes, soakFreezeFor, s.kills)
	for _, c := range s.events {
		fmt.Fprintf(&b, "  %s\n", c)
	}
	b.WriteString("\nSlow uploads (declared " + strconv.Itoa(soakSlowSize>>10) + " KiB):\n")
	for _, k := range slices.Sorted(maps.Keys(s.slow)) {
		fmt.Fprintf(&b, "  %-60s %d\n", k, s.slow[k])
	}
	lt := slices.Clone(s.idle.lifetimes)
	slices.Sort(lt)
	fmt.Fprintf(&b, "\nIdle connections (%d held): %d opened, %d closed by the server (lifetime p50 %s, max %s), %d cut by a SIGKILL, %d open at the end, %d failed dials\n",
		soakIdleConns, s.idle.opened, s.idle.closedByServer, fmtDur(percentile(lt, .5)), fmtDur(percentile(lt, 1)), s.idle.cutByKill, s.idle.openAtEnd, s.idle.dialErrors)
	for _, k := range slices.Sorted(maps.Keys(s.idle.firstBytes)) {
		fmt.Fprintf(&b, "  server's first line: %-40q %d\n", k, s.idle.firstBytes[k])
	}

	if v != nil {
		fmt.Fprintf(&b, "\nVerification: %d keys, %d reads through %d members: %d present as acknowledged, %d absent as acknowledged (deleted, or never completed), "+
			"unknown outcomes: %d took effect, %d did not; lost %d, wrong content %d, resurrected %d, unreadable %d, members disagree %d, listing mismatches %d\n",
			v.keys, v.reads, len(s.members), v.present, v.absent, v.maybeApplied, v.maybeNot, v.lost, v.wrong, v.resurrected, v.unreadable, v.disagree, v.listing)
	} else {
		b.WriteString("\nVerification: not run\n")
	}
	fmt.Fprintf(&b, "\nUnexpected during the traffic: %d\n", s.badN)
	for _, e := range s.bad {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	fmt.Print(b.String())
	s.t.Log(b.String())
	if s.badN > 0 {
		s.t.Errorf("%d unexpected answers or reads during the traffic (listed above; seed %d)", s.badN, s.seed)
	}
}

// dirKB is the size of the files under dir, in KiB (blocks in use, as du counts).
func dirKB(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			} else {
				n += info.Size()
			}
		}
		return nil
	})
	return n >> 10
}

func fmtMiB(kb int64) string {
	if kb == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
}

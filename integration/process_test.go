package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pangea-s3/pangea/integration/testkit"
)

// The pangea binary is built at most once per test binary run, into binDir.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// pangeaBinary returns PANGEA_BIN when set, or builds ./cmd/pangea once.
func pangeaBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PANGEA_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatalf("PANGEA_BIN=%q: %v", p, err)
		}
		return abs
	}
	binOnce.Do(func() {
		root, err := filepath.Abs("..")
		if err != nil {
			binErr = err
			return
		}
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
			binErr = fmt.Errorf("module root not found above the integration package: %w", err)
			return
		}
		if binDir, err = os.MkdirTemp("", "pangea-integration-"); err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(binDir, "pangea")
		// "go test" puts its own GOROOT/bin first on PATH, so this is the same toolchain.
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/pangea")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/pangea: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// labFile is lab.json as documented in docs/lab-json.md; decoded here independently of
// the binary's own code so the test holds the documented format to account.
type labFile struct {
	Endpoints struct {
		Global  string              `json:"global"`
		Regions map[string][]string `json:"regions"`
	} `json:"endpoints"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

// proc is one running pangea process.
type proc struct {
	cmd     *exec.Cmd
	dataDir string
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// startPangea runs the binary with args; its output goes to a log file that is printed
// when the test fails. The process is killed at cleanup if still running.
func startPangea(t *testing.T, dataDir string, env []string, args ...string) *proc {
	t.Helper()
	logFile, err := os.CreateTemp(t.TempDir(), "pangea-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pangeaBinary(t), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A clean environment: PANGEA_* variables of the caller must not leak in.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PANGEA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	p := &proc{cmd: cmd, dataDir: dataDir, logPath: logFile.Name(), done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill(t)
		if t.Failed() {
			b, _ := os.ReadFile(p.logPath)
			t.Logf("output of pangea %s:\n%s", strings.Join(args, " "), tail(b, 8<<10))
		}
	})
	return p
}

// tail is the last n bytes of a process's output, marked as cut when it is.
func tail(b []byte, n int) string {
	if len(b) > n {
		return "...\n" + string(b[len(b)-n:])
	}
	return string(b)
}

// replay is what a restarted member said about the raft log entries past its
// store's applied index: at start-up (node.OpenMember), how far behind the log the
// store was; once replayed (the fsm), how many command entries, holding how many
// commands, it applied from its own log. Those were committed, and answered, while
// only the raft log held them.
type replay struct {
	entries, storeApplied, lastLog uint64
	commands                       uint64
}

var (
	replayStart = regexp.MustCompile(`msg="replaying raft log entries not yet in the store".* entries=(\d+) store_applied=(\d+) last_log=(\d+)`)
	replayDone  = regexp.MustCompile(`msg="replayed raft log entries into the store".* entries=(\d+) commands=(\d+)`)
)

// replayOf reads the replay lines from p's output, waiting for the second while the
// member replays. It fails the test if there is no first line (the process opened
// no member, or logs above Info), or no second one within 30 s of a first one that
// announced a replay. Call it once the member serves reads: it has replayed by then.
func replayOf(t *testing.T, p *proc) replay {
	t.Helper()
	var r replay
	parse := func(m [][]byte, fields ...*uint64) {
		for i, f := range fields {
			v, err := strconv.ParseUint(string(m[i+1]), 10, 64)
			if err != nil {
				t.Fatalf("replay line %q: %v", m[0], err)
			}
			*f = v
		}
	}
	out, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	m := replayStart.FindSubmatch(out)
	if m == nil {
		t.Fatalf("pangea's output has no replay line (is --log-level info?):\n%s", tail(out, 4<<10))
	}
	parse(m, &r.entries, &r.storeApplied, &r.lastLog)
	if r.entries == 0 {
		return r
	}
	var replayed uint64
	testkit.Eventually(t, 30*time.Second, "the member's line saying what it replayed", func() error {
		out, err := os.ReadFile(p.logPath)
		if err != nil {
			return testkit.Stop(err)
		}
		if m = replayDone.FindSubmatch(out); m == nil {
			return errors.New("not logged yet")
		}
		return nil
	})
	parse(m, &replayed, &r.commands)
	return r
}

// noReplay is how the crash tests fail when no restart replayed anything: then the
// test proved nothing about acknowledged writes that were only in the raft log.
const noReplay = "no SIGKILL landed while acknowledged writes were only in the raft log; the test did not exercise replay"

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitLab polls <data>/lab.json until it names an endpoint that answers; it fails
// the test if the process exits first or 60 s pass.
func (p *proc) waitLab(t *testing.T) labFile {
	t.Helper()
	var lf labFile
	testkit.Eventually(t, 60*time.Second, "a usable "+filepath.Join(p.dataDir, "lab.json"), func() error {
		if p.exited() {
			return testkit.Stop(fmt.Errorf("pangea exited before writing lab.json: %v", p.waitErr))
		}
		var err error
		lf, err = p.readLab()
		return err
	})
	return lf
}

// readLab reads <data>/lab.json once and checks that the endpoint it names answers.
func (p *proc) readLab() (labFile, error) {
	b, err := os.ReadFile(filepath.Join(p.dataDir, "lab.json"))
	if err != nil {
		return labFile{}, err
	}
	var lf labFile
	if err := json.Unmarshal(b, &lf); err != nil {
		return labFile{}, err
	}
	if lf.Endpoints.Global == "" {
		return labFile{}, fmt.Errorf("lab.json has no endpoints.global: %s", b)
	}
	// The file is written once the listener is bound; prove it answers.
	resp, err := http.Get(lf.Endpoints.Global + "/")
	if err != nil {
		return labFile{}, err
	}
	resp.Body.Close()
	return lf, nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done // SIGKILL cannot be caught: this always returns.
}

// stop sends sig and waits up to a minute for a clean exit with status 0.
func (p *proc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("pangea did not exit within 60s of %v", sig)
	}
	if p.waitErr != nil {
		t.Errorf("pangea exited with %v after %v, want status 0", p.waitErr, sig)
	}
}

// processClient is an SDK client for a started process, with the credentials and
// endpoint from its lab.json.
func processClient(lf labFile) *s3.Client {
	return newSDKClient(lf.Endpoints.Global, &http.Client{}, lf.AccessKey, lf.SecretKey)
}

// crashObjectSize derives an object's size from the seed and its key: mostly up to
// 3 MiB, one in eight tiny (empty included), so a restart can re-derive everything.
func crashObjectSize(seed uint64, key string) int {
	h := fnv.New64a()
	_, _ = io.WriteString(h, key)
	r := rand.New(rand.NewPCG(seed, h.Sum64()))
	if r.IntN(8) == 0 {
		return r.IntN(1024)
	}
	return r.IntN(3*mib + 1)
}

// TestCrashRecovery SIGKILLs a node while writers stream PUTs into it, three times,
// restarting on the same data directory each time. Every acknowledged object must
// survive with identical bytes; an object whose PUT was in flight may be missing, but
// if it exists it must be complete and correct. At least one restart must replay raft
// log entries the store had not committed (the restarted node says how many): else
// the kills proved nothing about the replay.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	dataDir := t.TempDir()
	const bucket = "crash"
	const writers = 3

	acked := map[string]bool{} // present after every restart
	var maybe []string         // in flight at a kill: absent, or complete and correct
	var replayed uint64        // commands replayed from the raft log over all restarts

	for cycle := 0; cycle <= 3; cycle++ {
		_ = os.Remove(filepath.Join(dataDir, "lab.json")) // a killed process leaves its file behind
		// At Info: the replay line (node.OpenMember) says what the restart replays.
		p := startPangea(t, dataDir, nil, "node", "--data", dataDir, "--addr", "127.0.0.1:0", "--region", testRegion, "--log-level", "info")
		lf := p.waitLab(t)
		client := processClient(lf)
		if cycle == 0 {
			if _, err := client.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatalf("CreateBucket: %v", err)
			}
		}

		found := verifyCrashObjects(t, client, bucket, acked, maybe, func(key string) []byte {
			return randomBytes(seed, key, crashObjectSize(seed, key))
		})
		if cycle > 0 {
			r := replayOf(t, p)
			replayed += r.commands
			t.Logf("cycle %d: the restart replayed %d commands from the raft log (store at %d, log at %d)", cycle, r.commands, r.storeApplied, r.lastLog)
			t.Logf("cycle %d: after restart all %d acknowledged objects intact; %d of %d in-flight PUTs had completed", cycle, len(acked), len(found), len(maybe))
		}
		for _, k := range found {
			acked[k] = true // seen after a restart: from now on it must stay
		}
		maybe = nil
		if t.Failed() {
			t.Fatalf("cycle %d: data lost or corrupted after SIGKILL (seed %d)", cycle, seed)
		}
		if cycle == 3 {
			if replayed == 0 {
				t.Fatal(noReplay)
			}
			p.stop(t, os.Interrupt)
			break
		}

		killAfter := 5 + rng.IntN(20)
		t.Logf("cycle %d: %d objects acknowledged so far; SIGKILL after %d more", cycle, len(acked), killAfter)
		newAcked, inFlight := crashWriters(t, client, bucket, seed, cycle, writers, killAfter, p)
		for _, k := range newAcked {
			acked[k] = true
		}
		maybe = inFlight
		t.Logf("cycle %d: killed with %d new acknowledged, %d in flight", cycle, len(newAcked), len(inFlight))
	}
}

// crashWriters PUTs a stream of objects from several goroutines and SIGKILLs p once
// killAfter PUTs have been acknowledged. It returns the keys acknowledged and the keys
// whose PUT had started but not been acknowledged.
func crashWriters(t *testing.T, client *s3.Client, bucket string, seed uint64, cycle, writers, killAfter int, p *proc) (acked, inFlight []string) {
	t.Helper()
	var (
		mu       sync.Mutex
		next     int
		pending  = map[string]bool{}
		reached  = make(chan struct{})
		reachedC sync.Once
		wg       sync.WaitGroup
	)
	c := ctx(t)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !p.exited() {
				mu.Lock()
				key := fmt.Sprintf("c%d/obj-%05d", cycle, next)
				next++
				pending[key] = true
				mu.Unlock()

				body := randomBytes(seed, key, crashObjectSize(seed, key))
				_, err := client.PutObject(c, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
				if err != nil {
					// A connection error means the server died under us: the outcome is
					// unknown and the key stays pending. An answer from the server is a bug.
					if re := asResponseError(err); re != nil && re.Response != nil && re.Response.StatusCode != 0 {
						t.Errorf("PUT %s (%d bytes): server answered %v", key, len(body), err)
					}
					return
				}
				mu.Lock()
				delete(pending, key)
				acked = append(acked, key)
				if len(acked) >= killAfter {
					reachedC.Do(func() { close(reached) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-reached:
	case <-p.done:
		t.Errorf("pangea exited on its own during cycle %d: %v", cycle, p.waitErr)
	case <-time.After(2 * time.Minute):
		mu.Lock()
		t.Errorf("cycle %d: %d acknowledgements in 2 minutes, want %d", cycle, len(acked), killAfter)
		mu.Unlock()
	}
	p.kill(t)
	wg.Wait()
	for k := range pending {
		inFlight = append(inFlight, k)
	}
	slices.Sort(inFlight)
	return acked, inFlight
}

// verifyCrashObjects checks every acknowledged key and every in-flight key against
// content(key), eight at a time, and that the listing holds nothing else. It returns
// the in-flight keys that do exist.
func verifyCrashObjects(t *testing.T, client *s3.Client, bucket string, acked map[string]bool, maybe []string, content func(key string) []byte) (found []string) {
	t.Helper()
	check := func(key string) (exists bool) {
		out, err := client.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			if isAPIError(err, "NoSuchKey") {
				return false
			}
			t.Errorf("GET %s: %v", key, err)
			return true
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		want := content(key)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes (read error %v), want %d bytes of its derived content; equal=%v", key, len(got), err, len(want), bytes.Equal(got, want))
		}
		if unquote(out.ETag) != md5hex(want) {
			t.Errorf("%s: ETag %s, want %s", key, unquote(out.ETag), md5hex(want))
		}
		return true
	}
	keys := make(chan string)
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range keys {
				exists := check(key)
				switch {
				case acked[key] && !exists:
					t.Errorf("acknowledged object %s is missing after restart", key)
				case !acked[key] && exists:
					mu.Lock()
					found = append(found, key)
					mu.Unlock()
				}
			}
		}()
	}
	for key := range acked {
		keys <- key
	}
	for _, key := range maybe {
		if !acked[key] {
			keys <- key
		}
	}
	close(keys)
	wg.Wait()
	slices.Sort(found)

	listed := map[string]bool{}
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		for _, o := range out.Contents {
			listed[aws.ToString(o.Key)] = true
		}
	}
	for key := range listed {
		if !acked[key] && !slices.Contains(found, key) {
			t.Errorf("listing has %s, which was never written or was not readable", key)
		}
	}
	for key := range acked {
		if !listed[key] {
			t.Errorf("listing misses acknowledged object %s", key)
		}
	}
	return found
}

// TestCleanRestart stops a node with SIGINT and checks that a restart on the same data
// directory serves everything that was written, versions and configuration included.
func TestCleanRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	dataDir := t.TempDir()
	p := startPangea(t, dataDir, nil, "node", "--data", dataDir, "--addr", "127.0.0.1:0", "--region", testRegion)
	client := processClient(p.waitLab(t))
	c := ctx(t)
	if _, err := client.CreateBucket(c, &s3.CreateBucketInput{Bucket: aws.String("durable")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutBucketVersioning(c, &s3.PutBucketVersioningInput{Bucket: aws.String("durable"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	big := randomBytes(9, "durable", 5*mib+7)
	var ids []string
	for _, body := range [][]byte{[]byte("first"), big} {
		out, err := client.PutObject(c, &s3.PutObjectInput{Bucket: aws.String("durable"), Key: aws.String("k"), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.VersionId))
	}
	if _, err := client.PutObject(c, &s3.PutObjectInput{Bucket: aws.String("durable"), Key: aws.String("gone"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteObject(c, &s3.DeleteObjectInput{Bucket: aws.String("durable"), Key: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	p.stop(t, os.Interrupt)

	p = startPangea(t, dataDir, nil, "node", "--data", dataDir, "--addr", "127.0.0.1:0", "--region", testRegion)
	client = processClient(p.waitLab(t))
	c = ctx(t)
	st, err := client.GetBucketVersioning(c, &s3.GetBucketVersioningInput{Bucket: aws.String("durable")})
	if err != nil || st.Status != types.BucketVersioningStatusEnabled {
		t.Errorf("versioning after restart: %q, %v", st.Status, err)
	}
	for i, want := range [][]byte{[]byte("first"), big} {
		out, err := client.GetObject(c, &s3.GetObjectInput{Bucket: aws.String("durable"), Key: aws.String("k"), VersionId: aws.String(ids[i])})
		if err != nil {
			t.Fatalf("GET version %d after restart: %v", i, err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(got, want) {
			t.Errorf("version %d after restart: %d bytes, want %d", i, len(got), len(want))
		}
	}
	_, err = client.GetObject(c, &s3.GetObjectInput{Bucket: aws.String("durable"), Key: aws.String("gone")})
	if re := asResponseError(err); re == nil || re.HTTPStatusCode() != http.StatusNotFound || re.Response.Header.Get("X-Amz-Delete-Marker") != "true" {
		t.Errorf("deleted key after restart: %v, want 404 with a delete marker", err)
	}
	// New writes after the restart get versions ordered after the old ones.
	out, err := client.PutObject(c, &s3.PutObjectInput{Bucket: aws.String("durable"), Key: aws.String("k"), Body: strings.NewReader("third")})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := client.ListObjectVersions(c, &s3.ListObjectVersionsInput{Bucket: aws.String("durable"), Prefix: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, v := range vs.Versions {
		order = append(order, aws.ToString(v.VersionId))
	}
	if want := []string{aws.ToString(out.VersionId), ids[1], ids[0]}; !slices.Equal(order, want) {
		t.Errorf("versions after restart, newest first: %v, want %v", order, want)
	}
	p.stop(t, syscall.SIGTERM)
}

// TestLabCommand starts `pangea lab`, reads lab.json and uses it, with credentials
// from the environment.
func TestLabCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	dataDir := t.TempDir()
	p := startPangea(t, dataDir, []string{"PANGEA_ACCESS_KEY=lab-key", "PANGEA_SECRET_KEY=lab-secret"},
		"lab", "--data", dataDir, "--addr", "127.0.0.1:0")
	lf := p.waitLab(t)
	if lf.AccessKey != "lab-key" || lf.SecretKey != "lab-secret" {
		t.Errorf("lab.json credentials %q/%q, want those from PANGEA_ACCESS_KEY/PANGEA_SECRET_KEY", lf.AccessKey, lf.SecretKey)
	}
	if !strings.HasPrefix(lf.Endpoints.Global, "http://127.0.0.1:") {
		t.Errorf("lab.json global endpoint %q", lf.Endpoints.Global)
	}
	if urls := lf.Endpoints.Regions[testRegion]; len(urls) == 0 {
		t.Errorf("lab.json has no endpoints for %s: %v", testRegion, lf.Endpoints.Regions)
	}
	// The default planet: three regions of three members.
	for _, r := range []string{"us-east-1", "eu-west-1", "ap-southeast-2"} {
		if n := len(lf.Endpoints.Regions[r]); n != 3 {
			t.Errorf("lab.json lists %d endpoints for %s, want 3: %v", n, r, lf.Endpoints.Regions)
		}
	}
	info, err := os.Stat(filepath.Join(dataDir, "lab.json"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		t.Errorf("lab.json holds the secret key but has mode %v", info.Mode().Perm())
	}

	client := processClient(lf)
	c := ctx(t)
	if _, err := client.CreateBucket(c, &s3.CreateBucketInput{Bucket: aws.String("lab-bucket")}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	out, err := client.ListBuckets(c, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	if len(out.Buckets) != 1 || aws.ToString(out.Buckets[0].Name) != "lab-bucket" {
		t.Errorf("ListBuckets = %v", out.Buckets)
	}
	// The default credentials are not accepted when others are configured.
	_, err = newSDKClient(lf.Endpoints.Global, &http.Client{}, ownerKey, ownerSecret).ListBuckets(c, &s3.ListBucketsInput{})
	wantAPIError(t, err, "InvalidAccessKeyId", http.StatusForbidden)
	p.stop(t, os.Interrupt)
}

// TestLabCommand_TwoRegions starts `pangea lab --regions 2 --nodes-per-region 1`
// and checks that lab.json lists both regions, that each region's endpoint
// creates a bucket in its region, and that every endpoint lists both.
func TestLabCommand_TwoRegions(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	dataDir := t.TempDir()
	p := startPangea(t, dataDir, nil, "lab", "--regions", "2", "--nodes-per-region", "1",
		"--data", dataDir, "--addr", "127.0.0.1:0", "--no-fsync")
	lf := p.waitLab(t)
	if len(lf.Endpoints.Regions) != 2 || len(lf.Endpoints.Regions["us-east-1"]) != 1 || len(lf.Endpoints.Regions["eu-west-1"]) != 1 {
		t.Fatalf("lab.json endpoints %v, want one member in us-east-1 and one in eu-west-1", lf.Endpoints.Regions)
	}
	c := ctx(t)
	for region, urls := range lf.Endpoints.Regions {
		for _, u := range urls {
			client := newSDKClient(u, &http.Client{}, lf.AccessKey, lf.SecretKey, func(o *s3.Options) { o.Region = region })
			bucket := "lab-" + region
			in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
			if region != "us-east-1" {
				in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
			}
			if _, err := client.CreateBucket(c, in); err != nil {
				t.Fatalf("CreateBucket through %s (%s): %v", u, region, err)
			}
		}
	}
	// One namespace: every endpoint, the global edge included, lists both
	// regions' buckets with their regions.
	urls := map[string]string{lf.Endpoints.Global: "us-east-1"} // signed for the endpoint's region
	for region, us := range lf.Endpoints.Regions {
		for _, u := range us {
			urls[u] = region
		}
	}
	for u, region := range urls {
		client := newSDKClient(u, &http.Client{}, lf.AccessKey, lf.SecretKey, func(o *s3.Options) { o.Region = region })
		out, err := client.ListBuckets(c, &s3.ListBucketsInput{})
		if err != nil {
			t.Fatalf("ListBuckets through %s: %v", u, err)
		}
		var got []string
		for _, b := range out.Buckets {
			got = append(got, aws.ToString(b.Name)+"@"+aws.ToString(b.BucketRegion))
		}
		if strings.Join(got, " ") != "lab-eu-west-1@eu-west-1 lab-us-east-1@us-east-1" {
			t.Errorf("ListBuckets through %s = %v, want both regions' buckets", u, got)
		}
	}
	p.stop(t, os.Interrupt)
}

// TestVersionCommand checks that the binary reports its version.
func TestVersionCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	out, err := exec.Command(pangeaBinary(t), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("pangea version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "pangea ") {
		t.Errorf("pangea version printed %q", out)
	}
	var exitErr *exec.ExitError
	if err := exec.Command(pangeaBinary(t), "no-such-command").Run(); !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
		t.Errorf("unknown command: %v, want exit status 2", err)
	}
}

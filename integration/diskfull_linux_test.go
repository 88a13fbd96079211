package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sys/unix"
)

// TestDiskFullStopsTheNodeWithoutLosingWrites runs `pangea node` (a one-member region)
// under a file-size limit, as a full disk would stop it, and writes small objects until
// the store cannot grow. The node must then exit with status 1 and say why; restarted
// without the limit, it must serve every acknowledged object with identical bytes
// (replayed from its raft log) and take writes again.
//
// The limit (64 MiB, set with prlimit on the running process) is reached by store.db:
// with 2 KiB objects the store grows ~1.75 times faster than raft.db (measured: 88 MB
// against 50 MB), so the log never reaches it first.
func TestDiskFullStopsTheNodeWithoutLosingWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	const (
		bucket  = "diskfull"
		size    = 2 << 10
		limit   = 64 << 20
		writers = 16
	)
	seed := testSeed(t)
	content := func(key string) []byte { return randomBytes(seed, key, size) }
	dataDir := t.TempDir()
	args := []string{"node", "--data", dataDir, "--addr", "127.0.0.1:0", "--region", testRegion, "--log-level", "warn"}
	p := startPangea(t, dataDir, nil, args...)
	lim := unix.Rlimit{Cur: limit, Max: unix.RLIM_INFINITY}
	if err := unix.Prlimit(p.cmd.Process.Pid, unix.RLIMIT_FSIZE, &lim, nil); err != nil {
		t.Skipf("cannot limit the node's file size here (prlimit: %v)", err)
	}
	lf := p.waitLab(t)
	client := processClient(lf)
	if _, err := client.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}

	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		inFlight []string // answered with an error: absent, or complete and correct
		firstErr time.Time
		next     int
		wg       sync.WaitGroup
	)
	exitedAt := make(chan time.Time, 1)
	go func() {
		<-p.done
		exitedAt <- time.Now()
	}()
	deadline := time.Now().Add(3 * time.Minute)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !p.exited() && time.Now().Before(deadline) {
				mu.Lock()
				key := fmt.Sprintf("o%06d", next)
				next++
				mu.Unlock()
				_, err := client.PutObject(ctx(t), &s3.PutObjectInput{
					Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(content(key)),
				})
				mu.Lock()
				if err == nil {
					acked[key] = true
				} else {
					inFlight = append(inFlight, key)
					if firstErr.IsZero() {
						firstErr = time.Now()
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if !p.exited() {
		t.Fatalf("the node still runs after %d acknowledged PUTs: the store never reached the %d MiB limit", len(acked), limit>>20)
	}
	var exit *exec.ExitError
	if !errors.As(p.waitErr, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("node exit: %v, want status 1", p.waitErr)
	}
	out, _ := os.ReadFile(p.logPath)
	if !strings.Contains(string(out), "stopped after a storage failure") || !strings.Contains(string(out), "store.db") {
		t.Fatalf("the node's last words do not name the storage failure:\n%s", tail(out, 2000))
	}
	// Halted, the node answers 503 and exits at once; requests waiting on raft must
	// not hold its shutdown (20 s) up. A generous bound: it takes well under a second.
	if gap := (<-exitedAt).Sub(firstErr); gap > 15*time.Second {
		t.Errorf("the node exited %v after its first failed PUT, want promptly", gap.Round(time.Second))
	}
	t.Logf("node exited with status 1 after %d acknowledged PUTs (%d answered with an error)", len(acked), len(inFlight))

	_ = os.Remove(filepath.Join(dataDir, "lab.json")) // an exit on a failure may leave it behind
	p2 := startPangea(t, dataDir, nil, args...)
	client = processClient(p2.waitLab(t))
	slices.Sort(inFlight)
	found := verifyCrashObjects(t, client, bucket, acked, inFlight, content)
	t.Logf("after the restart without the limit: all %d acknowledged objects intact; %d of %d failed PUTs had been applied", len(acked), len(found), len(inFlight))
	if _, err := client.PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("after"), Body: strings.NewReader("x")}); err != nil {
		t.Fatalf("PUT after the restart: %v", err)
	}
	p2.stop(t, os.Interrupt)
}

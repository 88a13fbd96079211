package node

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/integration/testkit"
	"github.com/pangea-s3/pangea/storage"
)

// testLogger writes through t.Log so logs show only for failing tests.
type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fakeClock is a settable clock shared by the node and the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openTest(t *testing.T, dir string, mut func(*LocalConfig)) *Local {
	t.Helper()
	cfg := LocalConfig{Dir: dir, Region: "us-east-1", Logger: testLogger(t), NoSync: true}
	if mut != nil {
		mut(&cfg)
	}
	l, err := OpenLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustBucket(t *testing.T, l *Local, name string) {
	t.Helper()
	if err := l.CreateBucket(context.Background(), name, "", "owner"); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func readAll(t *testing.T, l *Local, v storage.ObjectVersion) []byte {
	t.Helper()
	rc, err := l.OpenObject(context.Background(), v, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func put(l *Local, bucket, key string, body []byte, exp storage.DigestExpectation) (storage.ObjectVersion, error) {
	return l.PutObject(context.Background(), storage.PutObjectInput{
		Bucket: bucket, Key: key, Owner: "owner",
		BodyInput: storage.BodyInput{Body: bytes.NewReader(body), Size: int64(len(body)), Expect: exp},
	})
}

// stagedCount counts unreferenced staged blobs of any age.
func stagedCount(t *testing.T, l *Local) int {
	t.Helper()
	ids, err := l.store.StagedBlobs(context.Background(), time.Now().Add(100*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

func TestLocal_PutGet_InlineAndChunked(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	mustBucket(t, l, "b")
	for _, n := range []int{0, 1, storage.InlineMax, storage.InlineMax + 1, storage.ChunkSize, 3*storage.ChunkSize + 12345} {
		body := randomBytes(uint64(n), n)
		v, err := put(l, "b", "k", body, storage.DigestExpectation{})
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		sum := md5.Sum(body)
		if v.ETag != hex.EncodeToString(sum[:]) || v.Size != int64(n) {
			t.Fatalf("size %d: version %+v", n, v)
		}
		got, err := l.Object(context.Background(), "b", "k", "")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(readAll(t, l, got), body) {
			t.Fatalf("size %d: body differs", n)
		}
		if !got.ModTime.Equal(storage.HLCTime(got.ID.Time)) && !got.IsNull {
			t.Errorf("size %d: ModTime %v is not the version's HLC time", n, got.ModTime)
		}
	}
	if n := stagedCount(t, l); n != 0 {
		t.Errorf("%d staged blobs left after successful puts", n)
	}

	// A one-chunk body travels with its version: one submission, one batch.
	before := l.Stats()
	if _, err := put(l, "b", "one-chunk", randomBytes(9, 100<<10), storage.DigestExpectation{}); err != nil {
		t.Fatal(err)
	}
	after := l.Stats()
	if after.Batches-before.Batches != 1 || after.Commands-before.Commands != 2 {
		t.Errorf("one-chunk PUT took %d batches / %d commands, want 1 / 2 (PutChunk+PutObject together)",
			after.Batches-before.Batches, after.Commands-before.Commands)
	}
}

func TestLocal_VersionIDsIncrease(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	mustBucket(t, l, "b")
	if err := l.SetBucketVersioning(context.Background(), "b", storage.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	var prev storage.VersionID
	for i := range 50 {
		v, err := put(l, "b", "k", []byte("x"), storage.DigestExpectation{})
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && v.ID.Compare(prev) <= 0 {
			t.Fatalf("version %d: %v not greater than %v", i, v.ID, prev)
		}
		if v.ID.Region != storage.RegionCode("us-east-1") {
			t.Fatalf("region code %d", v.ID.Region)
		}
		prev = v.ID
	}
}

func TestLocal_ConcurrentPutsAreBatched(t *testing.T) {
	var hold atomic.Bool
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	l := openTest(t, t.TempDir(), func(c *LocalConfig) {
		c.wrapApplier = func(a Applier) Applier {
			return applierFunc(func(cmds []storage.Command) []storage.Result {
				if hold.CompareAndSwap(true, false) {
					entered <- struct{}{}
					<-gate
				}
				return a.Apply(cmds)
			})
		}
	})
	mustBucket(t, l, "b")
	before := l.Stats()

	hold.Store(true)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := put(l, "b", "first", []byte("1"), storage.DigestExpectation{}); err != nil {
			t.Error(err)
		}
	})
	<-entered
	const n = 32
	for i := range n {
		wg.Go(func() {
			if _, err := put(l, "b", "k"+string(rune('A'+i)), []byte("data"), storage.DigestExpectation{}); err != nil {
				t.Error(err)
			}
		})
	}
	testkit.Eventually(t, 10*time.Second, "32 PUTs queued", queued(l.committer, n))
	close(gate)
	wg.Wait()

	s := l.Stats()
	if got := s.Batches - before.Batches; got != 2 {
		t.Errorf("%d PUTs took %d Apply calls, want 2 (one held, then one batch)", n+1, got)
	}
	if s.MaxBatch < n {
		t.Errorf("largest batch %d, want %d", s.MaxBatch, n)
	}
	res, err := l.ListObjects(context.Background(), "b", storage.ListObjectsInput{MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != n+1 {
		t.Errorf("listed %d objects, want %d", len(res.Objects), n+1)
	}
}

type applierFunc func([]storage.Command) []storage.Result

func (f applierFunc) Apply(cmds []storage.Command) []storage.Result { return f(cmds) }

// failingReader returns n bytes, then err.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestLocal_BodyErrorsLeaveNoStagedBlob(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	mustBucket(t, l, "b")
	sigErr := errors.New("chunk signature does not match")
	body := randomBytes(1, 2*storage.ChunkSize+500)

	cases := []struct {
		name string
		in   storage.BodyInput
		want error
	}{
		{"reader error mid-body", storage.BodyInput{Body: &failingReader{bytes.NewReader(body[:storage.ChunkSize+10]), sigErr}, Size: -1}, sigErr},
		{"verification error at end", storage.BodyInput{Body: &failingReader{bytes.NewReader(body), sigErr}, Size: int64(len(body))}, sigErr},
		{"short body", storage.BodyInput{Body: bytes.NewReader(body), Size: int64(len(body)) + 1}, storage.ErrIncompleteBody},
		{"long body", storage.BodyInput{Body: bytes.NewReader(body), Size: int64(len(body)) - 1}, storage.ErrInvalidArgument},
		{"short small body", storage.BodyInput{Body: strings.NewReader("abc"), Size: 4}, storage.ErrIncompleteBody},
		{"bad md5", storage.BodyInput{Body: bytes.NewReader(body), Size: int64(len(body)),
			Expect: storage.DigestExpectation{ContentMD5: base64.StdEncoding.EncodeToString(make([]byte, 16))}}, storage.ErrBadDigest},
		{"bad sha256 header", storage.BodyInput{Body: bytes.NewReader(body), Size: int64(len(body)),
			Expect: storage.DigestExpectation{ChecksumAlgorithm: "SHA256", ChecksumValue: base64.StdEncoding.EncodeToString(make([]byte, 32))}}, storage.ErrChecksumMismatch},
		{"bad trailer", storage.BodyInput{Body: bytes.NewReader(body), Size: int64(len(body)),
			Expect: storage.DigestExpectation{ChecksumAlgorithm: "CRC32", Trailer: func() string { return "AAAAAA==" }}}, storage.ErrChecksumMismatch},
		{"over 5 GiB declared", storage.BodyInput{Body: bytes.NewReader(body), Size: MaxObjectSize + 1}, storage.ErrEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.PutObject(context.Background(), storage.PutObjectInput{Bucket: "b", Key: "k", Owner: "owner", BodyInput: tc.in})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "put object: ") {
				t.Errorf("error %q not wrapped by the node layer", err)
			}
			if n := stagedCount(t, l); n != 0 {
				t.Fatalf("%d staged blobs left behind", n)
			}
			if _, err := l.Object(context.Background(), "b", "k", ""); !errors.Is(err, storage.ErrNoSuchKey) {
				t.Fatalf("failed PUT is visible: %v", err)
			}
		})
	}
}

func TestLocal_ChecksumsAccepted(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	mustBucket(t, l, "b")
	body := randomBytes(2, storage.ChunkSize+7)
	m := md5.Sum(body)
	s := sha256.Sum256(body)
	v, err := put(l, "b", "k", body, storage.DigestExpectation{
		ContentMD5:        base64.StdEncoding.EncodeToString(m[:]),
		ChecksumAlgorithm: "SHA256",
		ChecksumValue:     base64.StdEncoding.EncodeToString(s[:]),
	})
	if err != nil {
		t.Fatal(err)
	}
	if v.Checksum == nil || v.Checksum.Value != base64.StdEncoding.EncodeToString(s[:]) {
		t.Fatalf("checksum %+v", v.Checksum)
	}
}

func TestLocal_PutToMissingBucketStagesNothing(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	for _, n := range []int{10, 2 * storage.ChunkSize} {
		if _, err := put(l, "nope", "k", randomBytes(3, n), storage.DigestExpectation{}); !errors.Is(err, storage.ErrNoSuchBucket) {
			t.Fatalf("size %d: %v", n, err)
		}
	}
	if n := stagedCount(t, l); n != 0 {
		t.Fatalf("%d staged blobs", n)
	}
}

func TestLocal_GCDiscardsAbandonedBlobsAfterGrace(t *testing.T) {
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := openTest(t, t.TempDir(), func(c *LocalConfig) { c.Now = clock.Now })
	ctx := context.Background()

	// An upload that died mid-stream: chunks committed, no version, no discard.
	dead, live := newBlobID(), newBlobID()
	data := randomBytes(4, storage.ChunkSize)
	for _, id := range []storage.BlobID{dead, live} {
		enc, b := storage.EncodeChunk(data)
		if _, err := l.commitOne(ctx, cmdPutChunk(id, 0, enc, len(data), b, l.stamp())); err != nil {
			t.Fatal(err)
		}
	}
	l.markActive(live) // still streaming in this process

	if n, err := l.CollectGarbage(ctx); err != nil || n != 0 {
		t.Fatalf("within grace: collected %d, %v", n, err)
	}
	clock.Advance(DefaultGCGrace + time.Minute)
	n, err := l.CollectGarbage(ctx)
	if err != nil || n != 1 {
		t.Fatalf("after grace: collected %d, %v; want 1", n, err)
	}
	if got := stagedCount(t, l); got != 1 {
		t.Fatalf("%d staged blobs left, want only the active one", got)
	}
	l.release(stagedBody{blob: live, hasBlob: true})
	if n, err := l.CollectGarbage(ctx); err != nil || n != 1 {
		t.Fatalf("after release: collected %d, %v; want 1", n, err)
	}
}

// heapSampler wraps a body and records the peak live heap while it is read. It
// collects garbage before each sample: the question is what the write path keeps
// alive, not how far the GC pacer lets garbage grow on a busy machine.
type heapSampler struct {
	r    io.Reader
	read int64
	next int64
	peak uint64
}

func (h *heapSampler) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.read += int64(n)
	if h.read >= h.next {
		h.next += 4 << 20
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		h.peak = max(h.peak, ms.HeapAlloc)
	}
	return n, err
}

func TestLocal_LargeBodyStreamsWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB body")
	}
	l := openTest(t, t.TempDir(), nil)
	mustBucket(t, l, "b")
	const size = 64 << 20
	src := rand.NewChaCha8([32]byte{42})
	h := md5.New()
	body := io.TeeReader(io.LimitReader(src, size), h)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline := ms.HeapAlloc
	s := &heapSampler{r: body}
	v, err := l.PutObject(context.Background(), storage.PutObjectInput{
		Bucket: "b", Key: "big", Owner: "owner",
		BodyInput: storage.BodyInput{Body: s, Size: size},
	})
	if err != nil {
		t.Fatal(err)
	}
	growth := int64(s.peak) - int64(baseline)
	t.Logf("live heap grew by at most %.1f MiB while streaming %d MiB", float64(growth)/(1<<20), size>>20)
	// Expected: a dozen or so 1 MiB buffers whatever the body size (the reading,
	// held and in-flight chunks, their encoded records and bbolt's dirty pages, the
	// buffer pool). Half the body means it is being accumulated.
	if growth > size/2 {
		t.Errorf("live heap grew by %.1f MiB for a %d MiB body: the body is being buffered", float64(growth)/(1<<20), size>>20)
	}
	if v.ETag != hex.EncodeToString(h.Sum(nil)) || v.Size != size {
		t.Fatalf("version %+v", v)
	}
	rc, err := l.OpenObject(context.Background(), v, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h2 := md5.New()
	if n, err := io.Copy(h2, rc); err != nil || n != size {
		t.Fatalf("read back %d, %v", n, err)
	}
	if !bytes.Equal(h.Sum(nil), h2.Sum(nil)) {
		t.Fatal("read-back body differs")
	}
}

func TestLocal_RestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLocal(LocalConfig{Dir: dir, Region: "us-east-1", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustBucket(t, l, "b")
	small, big := []byte("hello"), randomBytes(5, 2*storage.ChunkSize+3)
	v1, err := put(l, "b", "small", small, storage.DigestExpectation{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := put(l, "b", "big", big, storage.DigestExpectation{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := put(l, "b", "late", small, storage.DigestExpectation{}); err == nil {
		t.Fatal("PUT after Close succeeded")
	}

	l2 := openTest(t, dir, func(c *LocalConfig) { c.NoSync = false })
	got, err := l2.Object(ctx, "b", "small", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.ETag != v1.ETag || !bytes.Equal(readAll(t, l2, got), small) {
		t.Fatalf("small object after restart: %+v", got)
	}
	gotBig, err := l2.Object(ctx, "b", "big", "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, l2, gotBig), big) {
		t.Fatal("big object differs after restart")
	}
	if _, err := l2.Object(ctx, "b", "late", ""); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Fatalf("PUT after Close is visible: %v", err)
	}
}

func TestLocal_Multipart(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	ctx := context.Background()
	mustBucket(t, l, "b")
	up, err := l.CreateMultipartUpload(ctx, "b", "mp", storage.ObjectMeta{ContentType: "text/plain"}, "CRC32", "owner")
	if err != nil {
		t.Fatal(err)
	}
	if len(up.UploadID) < 16 || strings.ContainsAny(up.UploadID, "+/=") {
		t.Fatalf("upload id %q is not URL-safe", up.UploadID)
	}
	p1, p2 := randomBytes(6, 5<<20), []byte("tail")
	var parts []storage.CompletedPart
	for i, b := range [][]byte{p1, p2} {
		p, err := l.UploadPart(ctx, storage.UploadPartInput{Bucket: "b", Key: "mp", UploadID: up.UploadID, PartNumber: i + 1,
			BodyInput: storage.BodyInput{Body: bytes.NewReader(b), Size: int64(len(b))}})
		if err != nil {
			t.Fatal(err)
		}
		if p.Checksum == nil || p.Checksum.Algorithm != "CRC32" {
			t.Errorf("part %d checksum %+v: the upload's algorithm was not applied", i+1, p.Checksum)
		}
		parts = append(parts, storage.CompletedPart{Number: i + 1, ETag: p.ETag})
	}
	_, err = l.UploadPart(ctx, storage.UploadPartInput{Bucket: "b", Key: "mp", UploadID: up.UploadID, PartNumber: 3,
		BodyInput: storage.BodyInput{Body: strings.NewReader("x"), Size: 1, Expect: storage.DigestExpectation{ChecksumAlgorithm: "SHA1"}}})
	if !errors.Is(err, storage.ErrInvalidArgument) {
		t.Errorf("part with another checksum algorithm: %v", err)
	}
	if _, err := l.UploadPart(ctx, storage.UploadPartInput{Bucket: "b", Key: "mp", UploadID: "nope", PartNumber: 1,
		BodyInput: storage.BodyInput{Body: bytes.NewReader(p1), Size: int64(len(p1))}}); !errors.Is(err, storage.ErrNoSuchUpload) {
		t.Errorf("part of unknown upload: %v", err)
	}
	lp, err := l.ListParts(ctx, "b", "mp", up.UploadID, 0, 1000)
	if err != nil || len(lp.Parts) != 2 {
		t.Fatalf("list parts: %+v, %v", lp, err)
	}
	v, err := l.CompleteMultipartUpload(ctx, "b", "mp", up.UploadID, parts, storage.WriteConditions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(v.ETag, "-2") || v.Size != int64(len(p1)+len(p2)) {
		t.Fatalf("completed version %+v", v)
	}
	if got := readAll(t, l, v); !bytes.Equal(got, append(append([]byte(nil), p1...), p2...)) {
		t.Fatal("multipart body differs")
	}
	if n := stagedCount(t, l); n != 0 {
		t.Fatalf("%d staged blobs after complete", n)
	}

	up2, err := l.CreateMultipartUpload(ctx, "b", "mp2", storage.ObjectMeta{}, "", "owner")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.UploadPart(ctx, storage.UploadPartInput{Bucket: "b", Key: "mp2", UploadID: up2.UploadID, PartNumber: 1,
		BodyInput: storage.BodyInput{Body: bytes.NewReader(p1), Size: int64(len(p1))}}); err != nil {
		t.Fatal(err)
	}
	if err := l.AbortMultipartUpload(ctx, "b", "mp2", up2.UploadID); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ListParts(ctx, "b", "mp2", up2.UploadID, 0, 10); !errors.Is(err, storage.ErrNoSuchUpload) {
		t.Fatalf("aborted upload still listed: %v", err)
	}
}

func TestLocal_BucketsAndDeletes(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	ctx := context.Background()
	mustBucket(t, l, "b")
	if err := l.CreateBucket(ctx, "b", "", "owner"); !errors.Is(err, storage.ErrBucketAlreadyOwnedByYou) {
		t.Fatalf("recreate: %v", err)
	}
	info, err := l.Bucket(ctx, "b")
	if err != nil || info.Region != "us-east-1" || info.Owner != "owner" {
		t.Fatalf("bucket %+v, %v", info, err)
	}
	if err := l.SetBucketVersioning(ctx, "b", storage.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	if _, err := put(l, "b", "k", []byte("v1"), storage.DigestExpectation{}); err != nil {
		t.Fatal(err)
	}
	del, err := l.DeleteObject(ctx, "b", "k", "", "o")
	if err != nil || !del.DeleteMarker || del.VersionID == "" {
		t.Fatalf("delete: %+v, %v", del, err)
	}
	if _, err := l.Object(ctx, "b", "k", ""); !errors.Is(err, storage.ErrDeleteMarker) {
		t.Fatalf("after delete: %v", err)
	}
	if err := l.DeleteBucket(ctx, "b"); !errors.Is(err, storage.ErrBucketNotEmpty) {
		t.Fatalf("delete non-empty bucket: %v", err)
	}
	if err := l.PutBucketConfig(ctx, "b", storage.ConfigTagging, []byte("<Tagging/>")); err != nil {
		t.Fatal(err)
	}
	if b, err := l.BucketConfig(ctx, "b", storage.ConfigTagging); err != nil || string(b) != "<Tagging/>" {
		t.Fatalf("config %q, %v", b, err)
	}
	vs, err := l.ListObjectVersions(ctx, "b", storage.ListVersionsInput{MaxKeys: 100})
	if err != nil || len(vs.Versions) != 2 {
		t.Fatalf("versions %+v, %v", vs, err)
	}
	tagged, err := l.PutObjectTagging(ctx, "b", "k", vs.Versions[1].ID.String(), []storage.Tag{{Key: "a", Value: "b"}})
	if err != nil || tagged != vs.Versions[1].ID.String() {
		t.Fatalf("tagging: %q, %v", tagged, err)
	}
	for _, v := range vs.Versions {
		if _, err := l.DeleteObject(ctx, "b", "k", v.ID.String(), "o"); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.DeleteBucket(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if bs, err := l.ListBuckets(ctx, storage.ListBucketsInput{}); err != nil || len(bs.Buckets) != 0 || bs.IsTruncated {
		t.Fatalf("buckets %+v, %v", bs, err)
	}
}

// TestLocal_FailedConditionLeavesNoStagedBody: a conditional PUT rejected at apply
// time is answered with the storage sentinel, wrapped once by the node layer, and
// its staged body (one or several chunks) is discarded like any failed PUT's.
func TestLocal_FailedConditionLeavesNoStagedBody(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	mustBucket(t, l, "b")
	ctx := context.Background()
	first, err := put(l, "b", "k", []byte("first"), storage.DigestExpectation{})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{10, inlineMax + 1, 2*storage.ChunkSize + 3} {
		for _, tc := range []struct {
			cond storage.WriteConditions
			want error
		}{
			{storage.WriteConditions{IfNoneMatch: true}, storage.ErrPreconditionFailed},
			{storage.WriteConditions{IfMatch: `"0123"`}, storage.ErrPreconditionFailed},
		} {
			body := randomBytes(uint64(size), size)
			_, err := l.PutObject(ctx, storage.PutObjectInput{Bucket: "b", Key: "k", Owner: "owner",
				BodyInput:       storage.BodyInput{Body: bytes.NewReader(body), Size: int64(size)},
				WriteConditions: tc.cond})
			if !errors.Is(err, tc.want) {
				t.Fatalf("size %d, %+v: %v, want %v", size, tc.cond, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "put object: ") || strings.Count(err.Error(), "put object: ") != 1 {
				t.Errorf("error %q not wrapped exactly once by the node layer", err)
			}
			if n := stagedCount(t, l); n != 0 {
				t.Fatalf("size %d, %+v: %d staged blobs left behind", size, tc.cond, n)
			}
		}
		// Missing key for If-Match.
		_, err := l.PutObject(ctx, storage.PutObjectInput{Bucket: "b", Key: "absent", Owner: "owner",
			BodyInput:       storage.BodyInput{Body: bytes.NewReader(randomBytes(1, size)), Size: int64(size)},
			WriteConditions: storage.WriteConditions{IfMatch: "*"}})
		if !errors.Is(err, storage.ErrNoSuchKey) {
			t.Fatalf("size %d: If-Match on a missing key: %v", size, err)
		}
		if n := stagedCount(t, l); n != 0 {
			t.Fatalf("size %d: %d staged blobs left behind", size, n)
		}
	}
	if v, err := l.Object(ctx, "b", "k", ""); err != nil || v.ETag != first.ETag {
		t.Fatalf("current version changed: %+v, %v", v, err)
	}
	// A matching If-Match replaces it.
	body := randomBytes(5, storage.ChunkSize+1)
	v, err := l.PutObject(ctx, storage.PutObjectInput{Bucket: "b", Key: "k", Owner: "owner",
		BodyInput:       storage.BodyInput{Body: bytes.NewReader(body), Size: int64(len(body))},
		WriteConditions: storage.WriteConditions{IfMatch: `"` + first.ETag + `"`}})
	if err != nil || v.ETag == first.ETag {
		t.Fatalf("If-Match with the current ETag: %+v, %v", v, err)
	}

	// CompleteMultipartUpload: a failed condition keeps the upload for a retry.
	up, err := l.CreateMultipartUpload(ctx, "b", "k", storage.ObjectMeta{}, "", "owner")
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.UploadPart(ctx, storage.UploadPartInput{Bucket: "b", Key: "k", UploadID: up.UploadID, PartNumber: 1,
		BodyInput: storage.BodyInput{Body: strings.NewReader("part"), Size: 4}})
	if err != nil {
		t.Fatal(err)
	}
	parts := []storage.CompletedPart{{Number: 1, ETag: p.ETag}}
	_, err = l.CompleteMultipartUpload(ctx, "b", "k", up.UploadID, parts, storage.WriteConditions{IfNoneMatch: true})
	if !errors.Is(err, storage.ErrPreconditionFailed) || !strings.HasPrefix(err.Error(), "complete multipart upload: ") {
		t.Fatalf("complete with If-None-Match over an object: %v", err)
	}
	if _, err := l.CompleteMultipartUpload(ctx, "b", "k", up.UploadID, parts, storage.WriteConditions{IfMatch: v.ETag}); err != nil {
		t.Fatalf("complete with matching If-Match after a failed attempt: %v", err)
	}
}

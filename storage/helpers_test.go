package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// testLogger writes through t.Log, so logs only show for failing tests.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func newTestStore(t testing.TB) *Store {
	t.Helper()
	return openTestStore(t, filepath.Join(t.TempDir(), "store.db"))
}

func openTestStore(t testing.TB, path string) *Store {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Open(path, Options{Logger: logger, NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// harness drives a Store the way a node does: it mints IDs, times and blob IDs
// deterministically and stages bodies in chunks.
type harness struct {
	t     testing.TB
	s     *Store
	clock uint64 // HLC-like counter: every minted ID is greater than the previous one
	blobs uint64
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, s: newTestStore(t)}
}

func (h *harness) nextID() VersionID {
	h.clock++
	return VersionID{Time: (1_700_000_000_000+h.clock)<<16 | 1, Region: 7, Seq: uint32(h.clock)}
}

func (h *harness) now() time.Time { return HLCTime(h.nextID().Time) }

func (h *harness) nextBlob() BlobID {
	h.blobs++
	var b BlobID
	binary.BigEndian.PutUint64(b[:8], 0xB10B)
	binary.BigEndian.PutUint64(b[8:], h.blobs)
	return b
}

// apply applies one command and returns its result (business errors in Err).
func (h *harness) apply(c Command) Result {
	h.t.Helper()
	return h.s.Apply([]Command{c})[0]
}

func (h *harness) mustApply(c Command) Result {
	h.t.Helper()
	res := h.apply(c)
	if res.Err != nil {
		h.t.Fatalf("%v: %v", c.Op(), res.Err)
	}
	return res
}

func (h *harness) createBucket(name string) {
	h.t.Helper()
	h.mustApply(CreateBucketCmd{Name: name, Region: "us-east-1", Owner: "pangea", Time: h.now()})
}

func (h *harness) setVersioning(bucket string, st VersioningState) {
	h.t.Helper()
	h.mustApply(SetVersioningCmd{Bucket: bucket, State: st})
}

// stage writes body as chunks of a new blob (or returns it inline) and reports how a
// PutObject/PutPart must reference it.
func (h *harness) stage(body []byte) (BlobID, uint32, []byte) {
	h.t.Helper()
	if len(body) <= InlineMax {
		return BlobID{}, 0, bytes.Clone(body)
	}
	blob := h.nextBlob()
	var cmds []Command
	n := uint32(0)
	for off := 0; off < len(body); off += ChunkSize {
		raw := body[off:min(off+ChunkSize, len(body))]
		enc, data := EncodeChunk(raw)
		cmds = append(cmds, PutChunkCmd{
			Blob: blob, Index: n, Encoding: enc, RawSize: uint32(len(raw)), Data: data, Time: h.now(),
		})
		n++
	}
	for i, res := range h.s.Apply(cmds) {
		if res.Err != nil {
			h.t.Fatalf("PutChunk %d: %v", i, res.Err)
		}
	}
	return blob, n, nil
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func (h *harness) putCmd(bucket, key string, body []byte) PutObjectCmd {
	h.t.Helper()
	blob, chunks, inline := h.stage(body)
	return PutObjectCmd{
		Bucket: bucket, Key: key, ID: h.nextID(), Time: h.now(), Size: int64(len(body)), ETag: md5hex(body),
		Owner: "pangea", Blob: blob, Chunks: chunks, Inline: inline,
	}
}

func (h *harness) put(bucket, key string, body []byte) ObjectVersion {
	h.t.Helper()
	return h.mustApply(h.putCmd(bucket, key, body)).Version
}

func (h *harness) del(bucket, key, versionID string) DeleteResult {
	h.t.Helper()
	return h.mustApply(DeleteObjectCmd{
		Bucket: bucket, Key: key, VersionID: versionID, MarkerID: h.nextID(), Time: h.now(), Owner: "pangea",
	}).Delete
}

// read returns the whole body of a version.
func (h *harness) read(v ObjectVersion, offset, length int64) []byte {
	h.t.Helper()
	rc, err := h.s.OpenObject(context.Background(), v, offset, length)
	if err != nil {
		h.t.Fatalf("OpenObject: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		h.t.Fatalf("read body: %v", err)
	}
	return b
}

func (h *harness) get(bucket, key, versionID string) (ObjectVersion, error) {
	return h.s.Object(context.Background(), bucket, key, versionID)
}

// countChunks returns how many chunk records the database holds.
func countChunks(t testing.TB, s *Store) int {
	t.Helper()
	n := 0
	err := s.view(func(tx *bbolt.Tx) error {
		// One key per chunk: a plain value (small) or a nested bucket.
		c := tx.Bucket(bktChunks).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// randomBytes returns n incompressible bytes determined by seed.
func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// compressible returns text-like bytes that S2 compresses well.
func compressible(n int) []byte {
	var buf bytes.Buffer
	for i := 0; buf.Len() < n; i++ {
		buf.WriteString("line ")
		buf.WriteString(hex.EncodeToString([]byte{byte(i), byte(i >> 8)}))
		buf.WriteString(" of a fairly repetitive log file\n")
	}
	return buf.Bytes()[:n]
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

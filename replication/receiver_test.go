package replication

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
	"net"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/pangea-s3/pangea/proto/replicationpb"
	"github.com/pangea-s3/pangea/storage"
)

const (
	srcRegion = "src-region"
	dstRegion = "dst-region"
	bucket    = "b"
)

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func openStore(t *testing.T) *storage.Store {
	t.Helper()
	s, err := storage.Open(filepath.Join(t.TempDir(), "store.db"), storage.Options{Logger: testLogger(t), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mustApply(t, s, storage.CreateBucketCmd{Name: bucket, Region: "r", Owner: "owner", Time: time.Unix(1_700_000_000, 0)},
		storage.SetVersioningCmd{Bucket: bucket, State: storage.VersioningEnabled})
	return s
}

func mustApply(t *testing.T, s *storage.Store, cmds ...storage.Command) []storage.Result {
	t.Helper()
	res := s.Apply(cmds)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("%v: %v", cmds[i].Op(), r.Err)
		}
	}
	return res
}

// storeSink is a Sink applying straight into a store, as one raft member would.
type storeSink struct {
	s *storage.Store

	mu         sync.Mutex
	blobs      uint64
	maxPayload int   // the largest payload of one Commit
	fail       error // returned by every Commit while set
}

func (k *storeSink) Region() string { return dstRegion }
func (k *storeSink) InlineMax() int { return storage.InlineMax }

func (k *storeSink) NewBlobID() storage.BlobID {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.blobs++
	var b storage.BlobID
	binary.BigEndian.PutUint64(b[:8], 0xD57)
	binary.BigEndian.PutUint64(b[8:], k.blobs)
	return b
}

func (k *storeSink) Commit(ctx context.Context, cmds []storage.Command) ([]storage.Result, error) {
	n := 0
	for _, c := range cmds {
		n += c.PayloadSize()
	}
	k.mu.Lock()
	k.maxPayload = max(k.maxPayload, n)
	err := k.fail
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return k.s.Apply(cmds), nil
}

func (k *storeSink) setFail(err error) {
	k.mu.Lock()
	k.fail = err
	k.mu.Unlock()
}

// origin is the source region's store, minting versions as its leader would.
type origin struct {
	t     *testing.T
	s     *storage.Store
	clock uint64
}

func (o *origin) nextID() storage.VersionID {
	o.clock++
	return storage.VersionID{Time: (1_700_000_000_000+o.clock)<<16 | 1, Region: storage.RegionCode(srcRegion), Seq: uint32(o.clock)}
}

func (o *origin) put(key string, body []byte, meta storage.ObjectMeta) storage.ObjectVersion {
	o.t.Helper()
	id := o.nextID()
	sum := md5.Sum(body)
	cmd := storage.PutObjectCmd{
		Bucket: bucket, Key: key, ID: id, Time: storage.HLCTime(id.Time), Size: int64(len(body)),
		ETag: hex.EncodeToString(sum[:]), Meta: meta, Owner: "owner",
		Checksum: &storage.Checksum{Algorithm: "CRC32", Value: "AAAAAA==", Type: "FULL_OBJECT"},
	}
	if len(body) <= storage.InlineMax {
		cmd.Inline = bytes.Clone(body)
	} else {
		binary.BigEndian.PutUint64(cmd.Blob[8:], o.clock)
		var chunks []storage.Command
		for off := 0; off < len(body); off += storage.ChunkSize {
			raw := body[off:min(off+storage.ChunkSize, len(body))]
			enc, data := storage.EncodeChunk(raw)
			chunks = append(chunks, storage.PutChunkCmd{Blob: cmd.Blob, Index: cmd.Chunks, Encoding: enc,
				RawSize: uint32(len(raw)), Data: data, Time: cmd.Time})
			cmd.Chunks++
		}
		mustApply(o.t, o.s, chunks...)
	}
	return mustApply(o.t, o.s, cmd)[0].Version
}

func (o *origin) deleteMarker(key string) storage.ObjectVersion {
	o.t.Helper()
	id := o.nextID()
	mustApply(o.t, o.s, storage.DeleteObjectCmd{Bucket: bucket, Key: key, MarkerID: id, Time: storage.HLCTime(id.Time), Owner: "owner"})
	v, err := o.s.Object(o.t.Context(), bucket, key, id.String())
	if !errors.Is(err, storage.ErrDeleteMarker) {
		o.t.Fatalf("delete marker read back: %v", err)
	}
	return v
}

// entries is v shipped as outbox entry seq: its header, then its chunks as stored.
func (o *origin) entries(seq uint64, v storage.ObjectVersion) []*replicationpb.Entry {
	o.t.Helper()
	id := v.ID.Bytes()
	h := &replicationpb.Version{
		OutboxSeq: seq, Bucket: v.Bucket, Key: v.Key, VersionId: id[:], IsNull: v.IsNull, DeleteMarker: v.DeleteMarker,
		ModTimeUnixNanos: v.ModTime.UnixNano(), Size: v.Size, Etag: v.ETag, PartSizes: v.PartSizes, Owner: v.Owner,
		ChunkCount: v.BodyChunks(), SourceBucket: v.Bucket, RuleId: "rule",
		Meta: &replicationpb.Meta{
			ContentType: v.Meta.ContentType, ContentEncoding: v.Meta.ContentEncoding, ContentDisposition: v.Meta.ContentDisposition,
			ContentLanguage: v.Meta.ContentLanguage, CacheControl: v.Meta.CacheControl, Expires: v.Meta.Expires,
			UserMeta: v.Meta.UserMeta, StorageClass: v.Meta.StorageClass,
		},
	}
	for _, tg := range v.Meta.Tags {
		h.Meta.Tags = append(h.Meta.Tags, &replicationpb.Tag{Key: tg.Key, Value: tg.Value})
	}
	if c := v.Checksum; c != nil {
		h.Checksum = &replicationpb.Checksum{Algorithm: c.Algorithm, Value: c.Value, Type: c.Type}
	}
	out := []*replicationpb.Entry{{Entry: &replicationpb.Entry_Version{Version: h}}}
	if v.DeleteMarker {
		return out
	}
	err := o.s.ReadChunksStored(o.t.Context(), v, func(c storage.StoredChunk) error {
		out = append(out, &replicationpb.Entry{Entry: &replicationpb.Entry_Chunk{Chunk: &replicationpb.Chunk{
			OutboxSeq: seq, Index: c.Index, Encoding: replicationpb.ChunkEncoding(c.Encoding + 1),
			RawSize: uint32(c.RawSize), Data: bytes.Clone(c.Data),
		}}})
		return nil
	})
	if err != nil {
		o.t.Fatal(err)
	}
	return out
}

type env struct {
	t    *testing.T
	sink *storeSink
	recv *Receiver
	cli  replicationpb.ReplicationClient
	src  *origin
}

func newEnv(t *testing.T) *env {
	t.Helper()
	sink := &storeSink{s: openStore(t)}
	recv := NewReceiver(sink, testLogger(t), ReceiverOptions{MemberID: "dst-1", CommitBytes: 1 << 20})
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(int(recv.opts.MaxBatchBytes)))
	replicationpb.RegisterReplicationServer(srv, recv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return &env{t: t, sink: sink, recv: recv, cli: replicationpb.NewReplicationClient(cc), src: &origin{t: t, s: openStore(t)}}
}

type shipper struct {
	t      *testing.T
	stream replicationpb.Replication_ShipClient
	batch  uint64
}

// open starts a Ship stream and returns it with the Accept.
func (e *env) open(term uint64) (*shipper, *replicationpb.Accept) {
	e.t.Helper()
	stream, err := e.cli.Ship(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	err = stream.Send(&replicationpb.ShipRequest{Msg: &replicationpb.ShipRequest_Hello{Hello: &replicationpb.Hello{
		ProtocolVersion: replicationpb.ProtocolVersion_PROTOCOL_VERSION_1, SourceRegion: srcRegion,
		DestinationRegion: dstRegion, SourceMemberId: "src-1", SourceTerm: term,
	}}})
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := stream.Recv()
	if err != nil {
		e.t.Fatalf("Accept: %v", err)
	}
	a := m.GetAccept()
	if a == nil || a.GetWindowBytes() == 0 || a.GetWindowBatches() == 0 || a.GetMaxBatchBytes() < 2<<20 || a.GetDestinationMemberId() != "dst-1" {
		e.t.Fatalf("answer to Hello: %v", m)
	}
	return &shipper{t: e.t, stream: stream}, a
}

// send ships one batch and returns its Ack.
func (s *shipper) send(through uint64, entries ...[]*replicationpb.Entry) *replicationpb.Ack {
	s.t.Helper()
	ack, err := s.trySend(through, entries...)
	if err != nil {
		s.t.Fatalf("batch %d: %v", s.batch, err)
	}
	return ack
}

func (s *shipper) trySend(through uint64, entries ...[]*replicationpb.Entry) (*replicationpb.Ack, error) {
	s.batch++
	b := &replicationpb.Batch{BatchSeq: s.batch, ThroughSeq: through}
	for _, es := range entries {
		b.Entries = append(b.Entries, es...)
	}
	if err := s.stream.Send(&replicationpb.ShipRequest{Msg: &replicationpb.ShipRequest_Batch{Batch: b}}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	m, err := s.stream.Recv()
	if err != nil {
		return nil, err
	}
	if m.GetAck() == nil || m.GetAck().GetBatchSeq() != s.batch {
		s.t.Fatalf("answer to batch %d: %v", s.batch, m)
	}
	return m.GetAck(), nil
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// sameVersion checks the destination holds v as the origin does.
func (e *env) sameVersion(v storage.ObjectVersion) {
	e.t.Helper()
	got, err := e.sink.s.Object(e.t.Context(), v.Bucket, v.Key, v.ID.String())
	if v.DeleteMarker {
		if !errors.Is(err, storage.ErrDeleteMarker) || !got.DeleteMarker {
			e.t.Fatalf("delete marker %s: %v %+v", v.ID, err, got)
		}
	} else if err != nil {
		e.t.Fatalf("replica of %s/%s: %v", v.Key, v.ID, err)
	}
	if got.ReplicationStatus != storage.ReplicationStatusReplica {
		e.t.Fatalf("replica status %q", got.ReplicationStatus)
	}
	got.ReplicationStatus, got.IsLatest = v.ReplicationStatus, v.IsLatest
	if !got.ModTime.Equal(v.ModTime) {
		e.t.Fatalf("mod time %v, origin %v", got.ModTime, v.ModTime)
	}
	got.ModTime = v.ModTime
	// ObjectVersion's unexported body reference differs by design: compare fields.
	type fields struct {
		Bucket, Key  string
		ID           storage.VersionID
		Null, Marker bool
		Size         int64
		ETag         string
		Meta         storage.ObjectMeta
		Checksum     *storage.Checksum
		Parts        []int64
		Owner        string
	}
	f := func(v storage.ObjectVersion) fields {
		return fields{v.Bucket, v.Key, v.ID, v.IsNull, v.DeleteMarker, v.Size, v.ETag, v.Meta, v.Checksum, v.PartSizes, v.Owner}
	}
	if !reflect.DeepEqual(f(got), f(v)) {
		e.t.Fatalf("replica %+v\norigin  %+v", f(got), f(v))
	}
	if v.DeleteMarker {
		return
	}
	if a, b := e.read(e.src.s, v), e.read(e.sink.s, got); !bytes.Equal(a, b) {
		e.t.Fatalf("replica body of %s: %d bytes differ from the origin's %d", v.Key, len(b), len(a))
	}
}

func (e *env) read(s *storage.Store, v storage.ObjectVersion) []byte {
	e.t.Helper()
	rc, err := s.OpenObject(e.t.Context(), v, 0, -1)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) versions(key string) []storage.ObjectVersion {
	e.t.Helper()
	res, err := e.sink.s.ListObjectVersions(e.t.Context(), bucket, storage.ListVersionsInput{Prefix: key, MaxKeys: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Versions
}

func (e *env) status() *replicationpb.SourceStatus {
	e.t.Helper()
	st, err := e.cli.Status(e.t.Context(), &replicationpb.StatusRequest{SourceRegion: srcRegion})
	if err != nil {
		e.t.Fatal(err)
	}
	if st.GetRegion() != dstRegion || st.GetMemberId() != "dst-1" || len(st.GetSources()) != 1 {
		e.t.Fatalf("status %v", st)
	}
	return st.GetSources()[0]
}

// waitDisconnected polls Status until the source's stream is gone.
func (e *env) waitDisconnected() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.status().GetConnected() {
		if time.Now().After(deadline) {
			e.t.Fatal("source still connected")
		}
		runtime.Gosched()
	}
}

func TestReceiver_ShipsVersionsAsStored(t *testing.T) {
	e := newEnv(t)
	compressible := bytes.Repeat([]byte("pangea replicates "), 150_000) // ~2.6 MiB, S2 chunks
	meta := storage.ObjectMeta{ContentType: "text/plain", CacheControl: "no-cache", UserMeta: map[string]string{"a": "1"},
		Tags: []storage.Tag{{Key: "t", Value: "v"}}, StorageClass: "STANDARD"}
	v1 := e.src.put("big", compressible, meta)
	v2 := e.src.put("small", []byte("inline body"), storage.ObjectMeta{})
	v3 := e.src.put("random", randomBytes(3, 2*storage.ChunkSize+77), meta)
	v4 := e.src.deleteMarker("small")

	s, accept := e.open(1)
	if accept.GetAppliedThroughSeq() != 0 {
		t.Fatalf("first Accept resumes at %d", accept.GetAppliedThroughSeq())
	}
	// Sequences 1, 2, 4 and 6 are for other destinations. v3's body spans two
	// batches: the first Ack stops below it.
	e3 := e.src.entries(7, v3)
	ack := s.send(7, e.src.entries(3, v1), e.src.entries(5, v2), e3[:2])
	if ack.GetAppliedThroughSeq() != 6 || len(ack.GetFailures()) != 0 {
		t.Fatalf("ack 1: %v", ack)
	}
	if _, err := e.sink.s.Object(t.Context(), bucket, "random", v3.ID.String()); !errors.Is(err, storage.ErrNoSuchKey) && !errors.Is(err, storage.ErrNoSuchVersion) {
		t.Fatalf("unfinished version readable: %v", err)
	}
	ack = s.send(10, e3[2:], e.src.entries(9, v4))
	if ack.GetAppliedThroughSeq() != 10 || len(ack.GetFailures()) != 0 {
		t.Fatalf("ack 2: %v", ack)
	}
	// A batch of no entries moves the mark past skipped entries.
	if ack = s.send(12); ack.GetAppliedThroughSeq() != 12 {
		t.Fatalf("ack 3: %v", ack)
	}
	for _, v := range []storage.ObjectVersion{v1, v2, v3, v4} {
		e.sameVersion(v)
	}
	// Chunks were committed in groups of at most CommitBytes (1 MiB): v3's last
	// two chunks, in one batch, took two commits.
	e.sink.mu.Lock()
	n := e.sink.maxPayload
	e.sink.mu.Unlock()
	if n > 1<<20 {
		t.Fatalf("a commit carried %d bytes of payload", n)
	}
	st := e.status()
	if st.GetAppliedThroughSeq() != 12 || st.GetVersionsApplied() != 4 || st.GetVersionsFailed() != 0 || !st.GetConnected() ||
		st.GetBytesApplied() != uint64(v1.Size+v2.Size+v3.Size) || st.GetSourceTerm() != 1 || st.GetLastAppliedUnixNanos() == 0 {
		t.Fatalf("status %v", st)
	}
	if err := s.stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("end of stream: %v", err)
	}
	e.waitDisconnected()
	if staged, err := e.sink.s.StagedBlobs(t.Context(), time.Now().Add(time.Hour)); err != nil || len(staged) != 0 {
		t.Fatalf("staged blobs left: %v %v", staged, err)
	}
}

func TestReceiver_DuplicateAndOutOfOrder(t *testing.T) {
	e := newEnv(t)
	older := e.src.put("k", randomBytes(1, storage.ChunkSize+5), storage.ObjectMeta{})
	newer := e.src.put("k", []byte("newer"), storage.ObjectMeta{})

	// The newer version arrives first.
	s, _ := e.open(1)
	if ack := s.send(2, e.src.entries(1, newer), e.src.entries(2, older)); ack.GetAppliedThroughSeq() != 2 {
		t.Fatalf("ack: %v", ack)
	}
	vs := e.versions("k")
	if len(vs) != 2 || vs[0].ID != newer.ID || !vs[0].IsLatest || vs[1].ID != older.ID {
		t.Fatalf("versions after out-of-order delivery: %+v", vs)
	}
	e.sameVersion(older)
	e.sameVersion(newer)

	// A new source leader ships the same entries again from its own mark: the
	// stream replaces the first, whose source sees ABORTED.
	s2, accept := e.open(2)
	if accept.GetAppliedThroughSeq() != 2 {
		t.Fatalf("Accept after a stream applied through 2: %v", accept)
	}
	if _, err := s.stream.Recv(); status.Code(err) != codes.Aborted {
		t.Fatalf("replaced stream ended with %v", err)
	}
	ack := s2.send(3, e.src.entries(2, older))
	if ack.GetAppliedThroughSeq() != 3 || len(ack.GetFailures()) != 0 {
		t.Fatalf("ack of a repeated delivery: %v", ack)
	}
	if vs := e.versions("k"); len(vs) != 2 {
		t.Fatalf("%d versions after a repeated delivery", len(vs))
	}
	if staged, err := e.sink.s.StagedBlobs(t.Context(), time.Now().Add(time.Hour)); err != nil || len(staged) != 0 {
		t.Fatalf("repeated delivery left staged blobs: %v %v", staged, err)
	}
	if st := e.status(); st.GetVersionsApplied() != 2 || st.GetAppliedThroughSeq() != 3 || st.GetSourceTerm() != 2 {
		t.Fatalf("status %v", st)
	}

	// A deposed leader's stream is refused while its successor's is served.
	old, err := e.cli.Ship(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Send(&replicationpb.ShipRequest{Msg: &replicationpb.ShipRequest_Hello{Hello: &replicationpb.Hello{
		ProtocolVersion: replicationpb.ProtocolVersion_PROTOCOL_VERSION_1, SourceRegion: srcRegion,
		DestinationRegion: dstRegion, SourceTerm: 1,
	}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Recv(); status.Code(err) != codes.Aborted {
		t.Fatalf("older term's stream: %v", err)
	}
}

func TestReceiver_CorruptChunkFailsItsVersionOnly(t *testing.T) {
	e := newEnv(t)
	good1 := e.src.put("a", []byte("first"), storage.ObjectMeta{})
	bad := e.src.put("bad", bytes.Repeat([]byte("x"), 3*storage.ChunkSize), storage.ObjectMeta{})
	good2 := e.src.put("c", randomBytes(2, storage.ChunkSize+9), storage.ObjectMeta{})
	eb := e.src.entries(2, bad)
	// The second chunk's S2 block is cut short: the first chunk is staged by then.
	c := eb[2].GetChunk()
	if c.GetEncoding() != replicationpb.ChunkEncoding_CHUNK_ENCODING_S2 {
		t.Fatalf("chunk encoding %v", c.GetEncoding())
	}
	c.Data = c.Data[:len(c.Data)/2]

	s, _ := e.open(1)
	ack := s.send(3, e.src.entries(1, good1), eb, e.src.entries(3, good2))
	if ack.GetAppliedThroughSeq() != 3 || len(ack.GetFailures()) != 1 ||
		ack.GetFailures()[0].GetOutboxSeq() != 2 || ack.GetFailures()[0].GetReason() != ReasonMalformedBody {
		t.Fatalf("ack: %v", ack)
	}
	e.sameVersion(good1)
	e.sameVersion(good2)
	if _, err := e.sink.s.Object(t.Context(), bucket, "bad", ""); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Fatalf("refused version: %v", err)
	}
	if staged, err := e.sink.s.StagedBlobs(t.Context(), time.Now().Add(time.Hour)); err != nil || len(staged) != 0 {
		t.Fatalf("refused version left staged blobs: %v %v", staged, err)
	}
	if st := e.status(); st.GetVersionsFailed() != 1 || st.GetVersionsApplied() != 2 {
		t.Fatalf("status %v", st)
	}

	// A version into a bucket the destination lacks fails as S3 says.
	v := e.src.put("d", []byte("d"), storage.ObjectMeta{})
	ed := e.src.entries(4, v)
	ed[0].GetVersion().Bucket = "missing"
	ack = s.send(4, ed)
	if ack.GetAppliedThroughSeq() != 4 || len(ack.GetFailures()) != 1 || ack.GetFailures()[0].GetReason() != ReasonDstBucketNotFound {
		t.Fatalf("ack: %v", ack)
	}
}

func TestReceiver_CommitErrorEndsStreamUnavailable(t *testing.T) {
	e := newEnv(t)
	v := e.src.put("k", randomBytes(4, 3*storage.ChunkSize), storage.ObjectMeta{})
	s, _ := e.open(1)
	e.sink.setFail(errors.New("no leader"))
	if _, err := s.trySend(1, e.src.entries(1, v)); status.Code(err) != codes.Unavailable {
		t.Fatalf("batch during a commit failure: %v", err)
	}
	e.sink.setFail(nil)
	e.waitDisconnected()
	s, accept := e.open(1)
	if accept.GetAppliedThroughSeq() != 0 {
		t.Fatalf("Accept after a failed batch: %v", accept)
	}
	if ack := s.send(1, e.src.entries(1, v)); ack.GetAppliedThroughSeq() != 1 {
		t.Fatalf("ack of the retry: %v", ack)
	}
	e.sameVersion(v)
}

func TestReceiver_RefusesHello(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		hello *replicationpb.Hello
		code  codes.Code
		msg   string
	}{
		{&replicationpb.Hello{ProtocolVersion: 7, SourceRegion: srcRegion, DestinationRegion: dstRegion}, codes.FailedPrecondition, "PROTOCOL_VERSION_1"},
		{&replicationpb.Hello{SourceRegion: srcRegion, DestinationRegion: dstRegion}, codes.FailedPrecondition, "PROTOCOL_VERSION_1"},
		{&replicationpb.Hello{ProtocolVersion: replicationpb.ProtocolVersion_PROTOCOL_VERSION_1, SourceRegion: srcRegion, DestinationRegion: "elsewhere"}, codes.FailedPrecondition, "elsewhere"},
		{nil, codes.InvalidArgument, "Hello"},
	} {
		stream, err := e.cli.Ship(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		req := &replicationpb.ShipRequest{Msg: &replicationpb.ShipRequest_Batch{Batch: &replicationpb.Batch{BatchSeq: 1}}}
		if tc.hello != nil {
			req = &replicationpb.ShipRequest{Msg: &replicationpb.ShipRequest_Hello{Hello: tc.hello}}
		}
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.msg) {
			t.Errorf("Hello %v: %v, want %v naming %q", tc.hello, err, tc.code, tc.msg)
		}
	}
	if st, err := e.cli.Status(t.Context(), &replicationpb.StatusRequest{}); err != nil || len(st.GetSources()) != 0 {
		t.Fatalf("refused streams in status: %v %v", st, err)
	}
}

func TestReceiver_FramingErrorsEndTheStream(t *testing.T) {
	for name, tc := range map[string]struct {
		mangle func(e *env, es []*replicationpb.Entry) []*replicationpb.Entry
		seq    uint64 // batch_seq sent; 1 if 0
	}{
		"batch gap": {seq: 2},
		"chunk of another version": {mangle: func(_ *env, es []*replicationpb.Entry) []*replicationpb.Entry {
			es[1].GetChunk().OutboxSeq = 9
			return es
		}},
		"unknown encoding": {mangle: func(_ *env, es []*replicationpb.Entry) []*replicationpb.Entry {
			es[1].GetChunk().Encoding = 9
			return es
		}},
		"version before the last one's chunks": {mangle: func(e *env, es []*replicationpb.Entry) []*replicationpb.Entry {
			return append(es[:2], e.src.entries(2, e.src.put("k2", []byte("k2"), storage.ObjectMeta{}))...)
		}},
		"chunk without a version": {mangle: func(_ *env, es []*replicationpb.Entry) []*replicationpb.Entry { return es[1:] }},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			v := e.src.put("k", randomBytes(5, storage.ChunkSize+1), storage.ObjectMeta{})
			s, _ := e.open(1)
			es := e.src.entries(1, v)
			if tc.mangle != nil {
				es = tc.mangle(e, es)
			}
			if tc.seq != 0 {
				s.batch = tc.seq - 1
			}
			if _, err := s.trySend(2, es); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("%v, want InvalidArgument", err)
			}
			if vs := e.versions("k"); len(vs) != 0 {
				t.Fatalf("a malformed stream applied %d versions", len(vs))
			}
		})
	}
}

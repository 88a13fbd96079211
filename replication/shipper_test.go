package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/pangea-s3/pangea/proto/replicationpb"
	"github.com/pangea-s3/pangea/storage"
)

const otherBucket = "other" // a replicated source bucket not for dstRegion

// countSink is a storeSink that counts the ApplyReplica commands committed and
// holds every Commit while gated.
type countSink struct {
	*storeSink

	mu       sync.Mutex
	replicas int
	gate     chan struct{} // Commit waits for it to close, if set
}

func (k *countSink) Commit(ctx context.Context, cmds []storage.Command) ([]storage.Result, error) {
	k.mu.Lock()
	gate := k.gate
	k.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	res, err := k.storeSink.Commit(ctx, cmds)
	if err == nil {
		k.mu.Lock()
		for _, c := range cmds {
			if _, ok := c.(storage.ApplyReplicaCmd); ok {
				k.replicas++
			}
		}
		k.mu.Unlock()
	}
	return res, err
}

func (k *countSink) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.replicas
}

type shipEnv struct {
	*env
	sink *countSink

	mu     sync.Mutex
	acked  []uint64                     // every mark passed to Acked, in order
	failed []storage.ReplicationFailure // every failure passed to Acked, in order
}

// newShipEnv is a destination store and a source store whose buckets "b" and
// "other" are replicated (their writes append to the outbox).
func newShipEnv(t *testing.T) *shipEnv {
	t.Helper()
	sink := &countSink{storeSink: &storeSink{s: openStore(t)}}
	src := openStore(t)
	mustApply(t, src, storage.SetRegionFormatCmd{Format: storage.LatestFormat},
		storage.CreateBucketCmd{Name: otherBucket, Region: "r", Owner: "owner", Time: time.Unix(1_700_000_000, 0)},
		storage.SetVersioningCmd{Bucket: otherBucket, State: storage.VersioningEnabled})
	for _, b := range []string{bucket, otherBucket} {
		mustApply(t, src, storage.PutBucketConfigCmd{Bucket: b, Kind: storage.ConfigReplication, Data: []byte(allRules)})
	}
	return &shipEnv{env: &env{t: t, sink: sink.storeSink, src: &origin{t: t, s: src}}, sink: sink}
}

// serve starts a receiver over the sink (a destination member starting afresh)
// and returns a client of it.
func (e *shipEnv) serve(opts ReceiverOptions) replicationpb.ReplicationClient {
	e.t.Helper()
	opts.MemberID = "dst-1"
	e.recv = NewReceiver(e.sink, testLogger(e.t), opts)
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(int(e.recv.opts.MaxBatchBytes)))
	replicationpb.RegisterReplicationServer(srv, e.recv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	go srv.Serve(ln)
	e.t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cc.Close() })
	e.cli = replicationpb.NewReplicationClient(cc)
	return e.cli
}

func (e *shipEnv) shipper(cli replicationpb.ReplicationClient, startAfter uint64, wake <-chan struct{}) *Shipper {
	return NewShipper(ShipperConfig{
		SourceRegion: srcRegion, DestRegion: dstRegion, MemberID: "src-1", Term: 1,
		Source: StoreSource{e.src.s}, Client: cli, StartAfter: startAfter, Logger: testLogger(e.t), Wake: wake,
		PollInterval: time.Hour, // the tests wake the shipper, or it has nothing to wait for
		Route: func(en storage.OutboxEntry, _ storage.ObjectVersion) (Route, bool) {
			return Route{Bucket: en.Bucket, Rule: "r1"}, en.Bucket == bucket
		},
		Acked: func(_ context.Context, seq uint64, failed []storage.ReplicationFailure) error {
			e.mu.Lock()
			e.acked = append(e.acked, seq)
			e.failed = append(e.failed, failed...)
			e.mu.Unlock()
			return nil
		},
	})
}

// run runs sh until the returned stop is called; stop checks that Run ended
// because of it.
func (e *shipEnv) run(sh *Shipper) (stop func()) {
	ctx, cancel := context.WithCancel(e.t.Context())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	return func() {
		e.t.Helper()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			e.t.Fatalf("Run ended with %v", err)
		}
	}
}

// eventually polls cond until it holds, failing the test after a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// waitAcked waits until sh's acknowledged mark, and the last one persisted, is
// the outbox's last sequence.
func (e *shipEnv) waitAcked(sh *Shipper) {
	e.t.Helper()
	last := e.src.s.OutboxLast()
	eventually(e.t, fmt.Sprintf("acked mark %d", last), func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return sh.Stats().AckedSeq == last && len(e.acked) > 0 && e.acked[len(e.acked)-1] == last
	})
}

// destVersions is the destination's versions of bucket, as "key id latest".
func (e *shipEnv) destVersions() []string {
	e.t.Helper()
	res, err := e.sink.s.ListObjectVersions(e.t.Context(), bucket, storage.ListVersionsInput{MaxKeys: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, v := range res.Versions {
		out = append(out, fmt.Sprintf("%s %s %v %v", v.Key, v.ID, v.DeleteMarker, v.IsLatest))
	}
	return out
}

func TestShipper_ShipsOutboxAndResumes(t *testing.T) {
	e := newShipEnv(t)
	meta := storage.ObjectMeta{ContentType: "text/plain", CacheControl: "no-cache", UserMeta: map[string]string{"a": "1"},
		Tags: []storage.Tag{{Key: "t", Value: "v"}}, StorageClass: "STANDARD"}
	vs := []storage.ObjectVersion{
		e.src.put("small", []byte("inline body"), storage.ObjectMeta{}),
		e.src.put("big", bytes.Repeat([]byte("pangea replicates "), 300_000), meta), // ~5 MiB of S2 chunks
		e.src.put("random", randomBytes(7, 5*storage.ChunkSize+77), meta),           // more than a batch
		e.src.put("k", []byte("first"), storage.ObjectMeta{}),
		e.src.put("k", randomBytes(8, storage.ChunkSize+3), meta), // overwrites k
		e.src.deleteMarker("small"),
	}
	// A version of a bucket not replicated to dstRegion, and one deleted before
	// it is shipped: both skipped.
	id := e.src.nextID()
	mustApply(t, e.src.s, storage.PutObjectCmd{Bucket: otherBucket, Key: "o", ID: id, Time: storage.HLCTime(id.Time),
		Inline: []byte("o"), Size: 1, ETag: "x", Owner: "owner"})
	gone := e.src.put("gone", []byte("gone"), storage.ObjectMeta{})
	mustApply(t, e.src.s, storage.DeleteObjectCmd{Bucket: bucket, Key: "gone", VersionID: gone.ID.String()})
	vs = append(vs, e.src.put("last", []byte("after the skipped ones"), storage.ObjectMeta{}))
	if last := e.src.s.OutboxLast(); last != 9 {
		t.Fatalf("outbox last %d, want 9", last)
	}

	cli := e.serve(ReceiverOptions{})
	sh := e.shipper(cli, 0, nil)
	stop := e.run(sh)
	e.waitAcked(sh)
	stop()
	for _, v := range vs {
		e.sameVersion(v)
	}
	if v, err := e.sink.s.Object(t.Context(), bucket, "k", ""); err != nil || v.ID != vs[4].ID {
		t.Fatalf("latest of k at the destination: %s %v, want %s", v.ID, err, vs[4].ID)
	}
	if v, err := e.sink.s.Object(t.Context(), bucket, "small", ""); !errors.Is(err, storage.ErrDeleteMarker) || v.ID != vs[5].ID {
		t.Fatalf("latest of small at the destination: %s %v, want the marker", v.ID, err)
	}
	if _, err := e.sink.s.Object(t.Context(), bucket, "gone", ""); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Fatalf("deleted version reached the destination: %v", err)
	}
	st := sh.Stats()
	if st.VersionsShipped != uint64(len(vs)) || st.Skipped != 2 || st.Failures != 0 || st.Pending != 0 || st.ShippedSeq != 9 || st.Batches < 2 {
		t.Fatalf("stats %+v", st)
	}
	if n := e.sink.count(); n != len(vs) {
		t.Fatalf("%d replicas committed, want %d", n, len(vs))
	}
	e.mu.Lock()
	for i := 1; i < len(e.acked); i++ {
		if e.acked[i] <= e.acked[i-1] {
			t.Fatalf("acked marks not increasing: %v", e.acked)
		}
	}
	e.mu.Unlock()
	before := e.destVersions()

	// A shipper resuming from the acked mark ships only what is new, even to a
	// destination member that has forgotten what it applied.
	cli = e.serve(ReceiverOptions{})
	wake := make(chan struct{}, 1)
	sh = e.shipper(cli, 9, wake)
	stop = e.run(sh)
	fresh := e.src.put("fresh", []byte("new"), storage.ObjectMeta{})
	wake <- struct{}{}
	e.waitAcked(sh)
	// The last entry is skipped: an empty batch carries the mark past it.
	id = e.src.nextID()
	mustApply(t, e.src.s, storage.PutObjectCmd{Bucket: otherBucket, Key: "o", ID: id, Time: storage.HLCTime(id.Time),
		Inline: []byte("o"), Size: 1, ETag: "x", Owner: "owner"})
	wake <- struct{}{}
	e.waitAcked(sh)
	stop()
	e.sameVersion(fresh)
	if st := sh.Stats(); st.VersionsShipped != 1 || st.Skipped != 1 || st.AckedSeq != 11 {
		t.Fatalf("stats after resuming: %+v", st)
	}
	if n := e.sink.count(); n != len(vs)+1 {
		t.Fatalf("%d replicas committed after resuming, want %d", n, len(vs)+1)
	}
	vs = append(vs, fresh)
	before = e.destVersions()

	// A shipper starting from 0 against a destination member that has forgotten
	// everything ships it all again: the destination is unchanged.
	cli = e.serve(ReceiverOptions{})
	sh = e.shipper(cli, 0, nil)
	stop = e.run(sh)
	e.waitAcked(sh)
	stop()
	if st := sh.Stats(); st.VersionsShipped != uint64(len(vs)) {
		t.Fatalf("stats after re-shipping: %+v", st)
	}
	if n := e.sink.count(); n != 2*len(vs) {
		t.Fatalf("%d replicas committed after re-shipping, want %d", n, 2*len(vs))
	}
	if after := e.destVersions(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("destination changed by re-shipping:\n%q\n%q", before, after)
	}
	for _, v := range vs {
		e.sameVersion(v)
	}
	if staged, err := e.sink.s.StagedBlobs(t.Context(), time.Now().Add(time.Hour)); err != nil || len(staged) != 0 {
		t.Fatalf("staged blobs left: %v %v", staged, err)
	}
}

// countClient counts the batches a Ship stream sends and acknowledges, and
// records the most sent and not acknowledged at a time.
type countClient struct {
	replicationpb.ReplicationClient

	mu          sync.Mutex
	sent, acked uint64
	maxFlying   uint64
}

func (c *countClient) Ship(ctx context.Context, opts ...grpc.CallOption) (replicationpb.Replication_ShipClient, error) {
	s, err := c.ReplicationClient.Ship(ctx, opts...)
	return &countStream{Replication_ShipClient: s, c: c}, err
}

type countStream struct {
	replicationpb.Replication_ShipClient
	c *countClient
}

func (s *countStream) Send(m *replicationpb.ShipRequest) error {
	if b := m.GetBatch(); b != nil {
		s.c.mu.Lock()
		s.c.sent = b.GetBatchSeq()
		s.c.maxFlying = max(s.c.maxFlying, s.c.sent-s.c.acked)
		s.c.mu.Unlock()
	}
	return s.Replication_ShipClient.Send(m)
}

func (s *countStream) Recv() (*replicationpb.ShipResponse, error) {
	m, err := s.Replication_ShipClient.Recv()
	if a := m.GetAck(); a != nil {
		s.c.mu.Lock()
		s.c.acked = a.GetBatchSeq()
		s.c.mu.Unlock()
	}
	return m, err
}

func TestShipper_WindowBoundsBatchesInFlight(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts ReceiverOptions
		want uint64 // batches in flight while the destination is stalled
	}{
		{"batches", ReceiverOptions{WindowBatches: 2}, 2},
		// Two batches of about 3 MiB exceed 5 MiB: one is in flight.
		{"bytes", ReceiverOptions{WindowBatches: 8, WindowBytes: 5 << 20}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newShipEnv(t)
			var vs []storage.ObjectVersion
			for i := range 4 {
				vs = append(vs, e.src.put(fmt.Sprint("r", i), randomBytes(uint64(10+i), 3*storage.ChunkSize), storage.ObjectMeta{}))
			}
			gate := make(chan struct{})
			e.sink.gate = gate
			cli := &countClient{ReplicationClient: e.serve(tc.opts)}
			sh := e.shipper(cli, 0, nil)
			stop := e.run(sh)
			defer stop()
			eventually(t, "the shipper to wait for the window", func() bool { return sh.Stats().WindowWaits > 0 })
			if st := sh.Stats(); st.Batches != tc.want || st.AckedSeq != 0 {
				t.Fatalf("while the destination is stalled: %+v, want %d batches sent", st, tc.want)
			}
			close(gate)
			e.waitAcked(sh)
			for _, v := range vs {
				e.sameVersion(v)
			}
			cli.mu.Lock()
			defer cli.mu.Unlock()
			if cli.maxFlying > tc.want || cli.sent < 4 {
				t.Fatalf("%d batches sent, at most %d in flight, want at most %d", cli.sent, cli.maxFlying, tc.want)
			}
		})
	}
}

func TestShipper_FailuresDoNotBlockTheMark(t *testing.T) {
	e := newShipEnv(t)
	e.src.put("k", []byte("to a bucket the destination lacks"), storage.ObjectMeta{})
	cli := e.serve(ReceiverOptions{})
	sh := e.shipper(cli, 0, nil)
	sh.cfg.Route = func(storage.OutboxEntry, storage.ObjectVersion) (Route, bool) { return Route{Bucket: "missing"}, true }
	stop := e.run(sh)
	e.waitAcked(sh)
	stop()
	if st := sh.Stats(); st.Failures != 1 || st.VersionsShipped != 1 || st.AckedSeq != 1 {
		t.Fatalf("stats %+v", st)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.failed) != 1 || e.failed[0] != (storage.ReplicationFailure{Seq: 1, Reason: ReasonDstBucketNotFound}) {
		t.Fatalf("failures passed to Acked: %+v", e.failed)
	}
}

func TestShipper_StreamRefused(t *testing.T) {
	e := newShipEnv(t)
	e.src.put("k", []byte("k"), storage.ObjectMeta{})
	sh := e.shipper(e.serve(ReceiverOptions{}), 0, nil)
	sh.cfg.DestRegion = "elsewhere"
	if err := sh.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "elsewhere") {
		t.Fatalf("Run against the wrong region: %v", err)
	}
	// An error persisting the mark ends the stream.
	sh = e.shipper(e.cli, 0, nil)
	sh.cfg.Acked = func(context.Context, uint64, []storage.ReplicationFailure) error { return errors.New("disk full") }
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // a swallowed error fails, not hangs
	defer cancel()
	if err := sh.Run(ctx); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Run with a failing Acked: %v", err)
	}
}

func TestStoreSource_Version(t *testing.T) {
	e := newShipEnv(t)
	s := e.src.s
	mustApply(t, s, storage.CreateBucketCmd{Name: "plain", Region: "r", Owner: "owner", Time: time.Unix(1_700_000_000, 0)},
		storage.PutBucketConfigCmd{Bucket: "plain", Kind: storage.ConfigReplication, Data: []byte(allRules)})
	put := func(body string) {
		id := e.src.nextID()
		mustApply(t, s, storage.PutObjectCmd{Bucket: "plain", Key: "n", ID: id, Time: storage.HLCTime(id.Time),
			Inline: []byte(body), Size: int64(len(body)), ETag: "x", Owner: "owner"})
	}
	put("first")
	put("second") // replaces the null version
	marker := e.src.deleteMarker("m")
	es, err := s.Outbox(0, 0)
	if err != nil || len(es) != 3 || !es[0].Null || !es[1].Null {
		t.Fatalf("outbox %+v %v", es, err)
	}
	src := StoreSource{s}
	if _, err := src.Version(t.Context(), es[0]); !errors.Is(err, storage.ErrNoSuchVersion) {
		t.Fatalf("replaced null version: %v", err)
	}
	if v, err := src.Version(t.Context(), es[1]); err != nil || v.ID != es[1].VersionID || !v.IsNull {
		t.Fatalf("null version: %+v %v", v, err)
	}
	if v, err := src.Version(t.Context(), es[2]); err != nil || v.ID != marker.ID || !v.DeleteMarker {
		t.Fatalf("delete marker: %+v %v", v, err)
	}
}

// allRules is a replication configuration whose rule selects every object and
// delete marker of the bucket.
const allRules = `<ReplicationConfiguration><Role>arn:aws:iam::1:role/r</Role><Rule><ID>all</ID><Priority>1</Priority>
<Status>Enabled</Status><Filter><Prefix></Prefix></Filter><DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication>
<Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination></Rule></ReplicationConfiguration>`

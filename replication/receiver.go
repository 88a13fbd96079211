package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/pangea-s3/pangea/proto/replicationpb"
	"github.com/pangea-s3/pangea/storage"
)

// Sink is the destination region as the Receiver needs it: a member of the region
// that commits storage commands through its raft log.
type Sink interface {
	// Region is the destination region's name.
	Region() string
	// Commit proposes cmds through the region's raft log, in order, and returns
	// one result per command (business errors in Result.Err). An error fails the
	// call as a whole (no leader, unknown outcome, ctx done): the receiver ends
	// the stream with UNAVAILABLE and the source ships again.
	Commit(ctx context.Context, cmds []storage.Command) ([]storage.Result, error)
	// NewBlobID names a new staged blob.
	NewBlobID() storage.BlobID
	// InlineMax is the largest body the region keeps inline (at most
	// storage.InlineMax).
	InlineMax() int
}

// Failure reasons the Receiver reports in Ack.failures. DstBucketNotFound and
// DstPutObjectNotPermitted are S3's; the Malformed ones are Pangea's, for a version
// whose header or body the receiver cannot store as sent.
const (
	ReasonDstBucketNotFound        = "DstBucketNotFound"
	ReasonDstBucketUnversioned     = "DstBucketUnversioned"
	ReasonDstPutObjectNotPermitted = "DstPutObjectNotPermitted"
	ReasonMalformedVersion         = "MalformedVersion"
	ReasonMalformedBody            = "MalformedBody"
)

// ReceiverOptions tunes a Receiver; zero fields take the defaults below.
type ReceiverOptions struct {
	// MemberID names this member in Accept and Status.
	MemberID string
	// WindowBytes and WindowBatches are the flow-control window announced in
	// Accept (defaults 16 MiB and 8).
	WindowBytes   uint64
	WindowBatches uint32
	// MaxBatchBytes is the largest encoded ShipRequest accepted (default and
	// minimum 4 MiB). The gRPC server must accept messages of this size
	// (grpc.MaxRecvMsgSize).
	MaxBatchBytes uint64
	// CommitBytes bounds the payload (storage.Command.PayloadSize) of one Commit
	// call (default 4 MiB, at most WindowBytes): staged chunks are committed in
	// groups of at most this size, or one chunk alone.
	CommitBytes int
	// Now is the clock of staging times and Status (time.Now if nil).
	Now func() time.Time
	// Applied, if set, is told of each version (or delete marker) a commit
	// stored: the source region, the version as stored (ModTime is the source's
	// Last-Modified) and when the commit returned. Not told of duplicates, nor
	// of metadata changes. Called from the stream's goroutine: keep it quick.
	Applied func(source string, v storage.ObjectVersion, at time.Time)
}

const (
	defaultWindowBytes   = 16 << 20
	defaultWindowBatches = 8
	minMaxBatchBytes     = 4 << 20
	defaultCommitBytes   = 4 << 20
)

// Receiver is the destination side of cross-region replication: it serves the
// Replication service, applying each source region's versions through the Sink.
//
// Progress is kept in memory only: Accept.applied_through_seq is what this
// receiver has applied for the source since it started (0 at first). That is
// enough because the source resumes from the greater of it and its own
// acknowledged mark, and apply is idempotent (keyed by version ID), so what a
// restarted or different member of the region re-applies changes nothing. For the
// same reason Ack.applied_through_seq covers the entries below the first one a
// stream ships: the receiver takes the stream to start after what was applied.
//
// One Ship stream per source region is served at a time. A Hello whose
// source_term is at least that of the stream being served replaces it (the older
// stream ends with ABORTED once its current commit is done, before the new one
// applies anything): a new source leader, or the same one reconnecting after a
// broken connection the server has not noticed yet. A Hello with a lower term, a
// deposed leader's, is refused with ABORTED.
//
// Staged blobs of a version left unfinished when a stream ends are not
// discarded: the next delivery stages the body again, and the member's collection
// of stale staged blobs (node/gc.go, storage.Store.StagedBlobs) removes them.
type Receiver struct {
	replicationpb.UnimplementedReplicationServer

	sink   Sink
	logger *slog.Logger
	opts   ReceiverOptions

	mu      sync.Mutex
	sources map[string]*sourceState
}

// sourceState is what the receiver knows of one source region. Guarded by
// Receiver.mu.
type sourceState struct {
	name        string // the source region
	applied     uint64
	lastApplied time.Time
	term        uint64
	versions    uint64
	bytes       uint64
	failed      uint64

	active *activeStream
}

// activeStream is the Ship stream serving a source.
type activeStream struct {
	term   uint64
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the stream stops applying
}

var errReplaced = errors.New("replaced by a newer stream from the same source")

// NewReceiver returns a receiver applying into sink.
func NewReceiver(sink Sink, logger *slog.Logger, opts ReceiverOptions) *Receiver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.WindowBytes == 0 {
		opts.WindowBytes = defaultWindowBytes
	}
	if opts.WindowBatches == 0 {
		opts.WindowBatches = defaultWindowBatches
	}
	opts.MaxBatchBytes = max(opts.MaxBatchBytes, minMaxBatchBytes)
	if opts.CommitBytes <= 0 {
		opts.CommitBytes = defaultCommitBytes
	}
	opts.CommitBytes = int(min(uint64(opts.CommitBytes), opts.WindowBytes))
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Receiver{
		sink:    sink,
		logger:  logger.With("component", "replication-receiver"),
		opts:    opts,
		sources: make(map[string]*sourceState),
	}
}

// Status answers the destination's view of replication into its region.
func (r *Receiver) Status(_ context.Context, req *replicationpb.StatusRequest) (*replicationpb.StatusResponse, error) {
	resp := &replicationpb.StatusResponse{Region: r.sink.Region(), MemberId: r.opts.MemberID}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, s := range r.sources {
		if req.GetSourceRegion() != "" && req.GetSourceRegion() != name {
			continue
		}
		st := &replicationpb.SourceStatus{
			SourceRegion:      name,
			AppliedThroughSeq: s.applied,
			SourceTerm:        s.term,
			Connected:         s.active != nil,
			VersionsApplied:   s.versions,
			BytesApplied:      s.bytes,
			VersionsFailed:    s.failed,
		}
		if !s.lastApplied.IsZero() {
			st.LastAppliedUnixNanos = s.lastApplied.UnixNano()
		}
		resp.Sources = append(resp.Sources, st)
	}
	sort.Slice(resp.Sources, func(i, j int) bool { return resp.Sources[i].SourceRegion < resp.Sources[j].SourceRegion })
	return resp, nil
}

// Ship serves one source region's stream (see the proto and Receiver).
func (r *Receiver) Ship(stream replicationpb.Replication_ShipServer) error {
	msgs := make(chan *replicationpb.ShipRequest)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-stream.Context().Done():
				return
			}
		}
	}()
	recv := func(ctx context.Context) (*replicationpb.ShipRequest, error) {
		select {
		case m := <-msgs:
			return m, nil
		case err := <-recvErr:
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	first, err := recv(stream.Context())
	if err != nil {
		return err
	}
	hello := first.GetHello()
	switch {
	case hello == nil:
		return status.Error(codes.InvalidArgument, "the first message of a Ship stream must be a Hello")
	case hello.GetProtocolVersion() != replicationpb.ProtocolVersion_PROTOCOL_VERSION_1:
		return status.Errorf(codes.FailedPrecondition, "protocol version %d not spoken; this destination speaks %s (%d)",
			hello.GetProtocolVersion(), replicationpb.ProtocolVersion_PROTOCOL_VERSION_1, replicationpb.ProtocolVersion_PROTOCOL_VERSION_1)
	case hello.GetDestinationRegion() != r.sink.Region():
		return status.Errorf(codes.FailedPrecondition, "stream meant for region %q reached region %q", hello.GetDestinationRegion(), r.sink.Region())
	case hello.GetSourceRegion() == "":
		return status.Error(codes.InvalidArgument, "Hello without a source region")
	}
	logger := r.logger.With("source_region", hello.GetSourceRegion(), "source_member", hello.GetSourceMemberId(), "source_term", hello.GetSourceTerm())

	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	src, applied, release, err := r.attach(ctx, hello, cancel)
	if err != nil {
		return err
	}
	defer release()
	logger.Info("ship stream accepted", "applied_through_seq", applied)

	err = stream.Send(&replicationpb.ShipResponse{Msg: &replicationpb.ShipResponse_Accept{Accept: &replicationpb.Accept{
		ProtocolVersion:     replicationpb.ProtocolVersion_PROTOCOL_VERSION_1,
		AppliedThroughSeq:   applied,
		WindowBytes:         r.opts.WindowBytes,
		WindowBatches:       r.opts.WindowBatches,
		MaxBatchBytes:       r.opts.MaxBatchBytes,
		DestinationMemberId: r.opts.MemberID,
	}}})
	if err != nil {
		return err
	}

	sh := &shipStream{r: r, src: src, term: hello.GetSourceTerm(), logger: logger, applied: applied}
	for {
		m, err := recv(ctx)
		switch {
		case errors.Is(err, io.EOF):
			logger.Info("ship stream closed by the source", "applied_through_seq", sh.applied)
			return nil
		case err != nil:
			return r.streamErr(ctx, err)
		}
		b := m.GetBatch()
		if b == nil {
			return status.Error(codes.InvalidArgument, "a Ship stream carries one Hello, then only Batches")
		}
		if n := proto.Size(m); uint64(n) > r.opts.MaxBatchBytes {
			return status.Errorf(codes.InvalidArgument, "batch %d is %d bytes, more than max_batch_bytes %d", b.GetBatchSeq(), n, r.opts.MaxBatchBytes)
		}
		ack, err := sh.batch(ctx, b)
		if err != nil {
			if cause := context.Cause(ctx); errors.Is(cause, errReplaced) {
				return status.Error(codes.Aborted, cause.Error())
			}
			logger.Warn("ship stream ends", "err", err, "applied_through_seq", sh.applied)
			return err
		}
		if err := stream.Send(&replicationpb.ShipResponse{Msg: &replicationpb.ShipResponse_Ack{Ack: ack}}); err != nil {
			return err
		}
	}
}

// streamErr turns the error of a receive into the stream's end.
func (r *Receiver) streamErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, errReplaced) {
		return status.Error(codes.Aborted, cause.Error())
	}
	return err
}

// attach makes the stream of hello the one serving its source: it refuses a
// stream of an older term, and ends (and waits for) a stream being served. It
// returns the source's state, its applied mark, and release, which the stream
// calls when it stops applying.
func (r *Receiver) attach(ctx context.Context, hello *replicationpb.Hello, cancel context.CancelCauseFunc) (*sourceState, uint64, func(), error) {
	me := &activeStream{term: hello.GetSourceTerm(), cancel: cancel, done: make(chan struct{})}
	for {
		r.mu.Lock()
		src := r.sources[hello.GetSourceRegion()]
		if src == nil {
			src = &sourceState{name: hello.GetSourceRegion()}
			r.sources[hello.GetSourceRegion()] = src
		}
		old := src.active
		if old == nil {
			src.active = me
			applied := src.applied
			r.mu.Unlock()
			release := func() {
				r.mu.Lock()
				if src.active == me {
					src.active = nil
				}
				r.mu.Unlock()
				close(me.done)
			}
			return src, applied, release, nil
		}
		if me.term < old.term {
			r.mu.Unlock()
			return nil, 0, nil, status.Errorf(codes.Aborted, "a stream of source term %d is being served; this one has term %d", old.term, me.term)
		}
		old.cancel(errReplaced)
		r.mu.Unlock()
		select {
		case <-old.done:
		case <-ctx.Done():
			return nil, 0, nil, ctx.Err()
		}
	}
}

// shipStream is the state of one Ship stream past its Hello.
type shipStream struct {
	r      *Receiver
	src    *sourceState
	term   uint64
	logger *slog.Logger

	batchSeq uint64 // last batch handled
	through  uint64 // greatest through_seq seen
	lastSeq  uint64 // greatest outbox_seq of a Version seen
	applied  uint64 // applied_through_seq acknowledged

	cur      *pendingVersion // the version whose chunks are expected, if any
	pending  []storage.Command
	tags     []*pendingVersion // per pending command: its version
	pendSize int
	failures []*replicationpb.Failure
}

// pendingVersion is a version being received.
type pendingVersion struct {
	seq    uint64
	cmd    storage.ApplyReplicaCmd
	body   *storage.ReplicaBody // nil for a delete marker or a version already failed
	chunks uint32               // chunks still expected
	failed bool
}

// batch handles one Batch and returns its Ack.
func (s *shipStream) batch(ctx context.Context, b *replicationpb.Batch) (*replicationpb.Ack, error) {
	if b.GetBatchSeq() != s.batchSeq+1 {
		return nil, status.Errorf(codes.InvalidArgument, "batch %d follows batch %d", b.GetBatchSeq(), s.batchSeq)
	}
	s.failures = nil
	for _, e := range b.GetEntries() {
		var err error
		switch e := e.GetEntry().(type) {
		case *replicationpb.Entry_Version:
			err = s.version(ctx, e.Version)
		case *replicationpb.Entry_Chunk:
			err = s.chunk(ctx, e.Chunk)
		default:
			err = status.Error(codes.InvalidArgument, "empty entry")
		}
		if err != nil {
			return nil, err
		}
	}
	if b.GetThroughSeq() < s.lastSeq || b.GetThroughSeq() < s.through {
		return nil, status.Errorf(codes.InvalidArgument, "batch %d through_seq %d is below sequence %d already shipped", b.GetBatchSeq(), b.GetThroughSeq(), max(s.lastSeq, s.through))
	}
	// The chunks of an unfinished version are staged now: the batch's memory goes.
	if err := s.flush(ctx); err != nil {
		return nil, err
	}
	s.batchSeq, s.through = b.GetBatchSeq(), b.GetThroughSeq()
	through := s.through
	if s.cur != nil {
		through = s.cur.seq - 1
	}
	s.applied = max(s.applied, through)
	s.r.mu.Lock()
	s.src.applied = max(s.src.applied, s.applied)
	s.r.mu.Unlock()
	return &replicationpb.Ack{BatchSeq: s.batchSeq, AppliedThroughSeq: s.applied, Failures: s.failures}, nil
}

// version starts a version from its header.
func (s *shipStream) version(ctx context.Context, h *replicationpb.Version) error {
	if s.cur != nil {
		return status.Errorf(codes.InvalidArgument, "version %d starts before the %d chunks left of version %d", h.GetOutboxSeq(), s.cur.chunks, s.cur.seq)
	}
	if h.GetOutboxSeq() <= max(s.lastSeq, s.through) {
		return status.Errorf(codes.InvalidArgument, "version %d after sequence %d", h.GetOutboxSeq(), max(s.lastSeq, s.through))
	}
	s.lastSeq = h.GetOutboxSeq()
	v := &pendingVersion{seq: h.GetOutboxSeq(), chunks: h.GetChunkCount()}
	if h.GetChunkCount() > 0 {
		s.cur = v
	}
	id, err := storage.VersionIDFromBytes(h.GetVersionId())
	if err != nil {
		s.fail(v, ReasonMalformedVersion, err)
		return nil
	}
	v.cmd = storage.ApplyReplicaCmd{
		Bucket: h.GetBucket(), Key: h.GetKey(), ID: id, Null: h.GetIsNull(), DeleteMarker: h.GetDeleteMarker(),
		Time: time.Unix(0, h.GetModTimeUnixNanos()).UTC(), Size: h.GetSize(), ETag: h.GetEtag(),
		Meta: metaFromPB(h.GetMeta()), Checksum: checksumFromPB(h.GetChecksum()), PartSizes: h.GetPartSizes(),
		Owner: h.GetOwner(), MetadataOnly: h.GetMetadataOnly(),
	}
	if h.GetMetadataOnly() {
		if h.GetChunkCount() != 0 || h.GetSize() != 0 || h.GetDeleteMarker() {
			s.fail(v, ReasonMalformedVersion, errors.New("metadata change with a body"))
			return nil
		}
		return s.add(ctx, v.cmd, v)
	}
	if h.GetDeleteMarker() {
		if h.GetChunkCount() != 0 || h.GetSize() != 0 {
			s.fail(v, ReasonMalformedVersion, fmt.Errorf("delete marker with a body of %d bytes in %d chunks", h.GetSize(), h.GetChunkCount()))
			return nil
		}
		return s.add(ctx, v.cmd, v)
	}
	inlineMax := min(s.r.sink.InlineMax(), storage.InlineMax)
	v.body, err = storage.NewReplicaBody(h.GetSize(), h.GetChunkCount(), inlineMax, s.r.opts.Now(), s.r.sink.NewBlobID)
	if err != nil {
		s.fail(v, ReasonMalformedVersion, err)
		return nil
	}
	if v.chunks == 0 {
		return s.finish(ctx, v)
	}
	return nil
}

// chunk stages one chunk of the current version.
func (s *shipStream) chunk(ctx context.Context, c *replicationpb.Chunk) error {
	v := s.cur
	switch {
	case v == nil:
		return status.Errorf(codes.InvalidArgument, "chunk of version %d without its header", c.GetOutboxSeq())
	case c.GetOutboxSeq() != v.seq:
		return status.Errorf(codes.InvalidArgument, "chunk of version %d among the chunks of version %d", c.GetOutboxSeq(), v.seq)
	}
	enc := c.GetEncoding()
	if enc != replicationpb.ChunkEncoding_CHUNK_ENCODING_RAW && enc != replicationpb.ChunkEncoding_CHUNK_ENCODING_S2 {
		return status.Errorf(codes.InvalidArgument, "chunk %d of version %d: unknown encoding %d", c.GetIndex(), v.seq, enc)
	}
	v.chunks--
	if v.chunks == 0 {
		s.cur = nil
	}
	if v.failed {
		return nil // the rest of a refused version is skipped
	}
	cmd, ok, err := v.body.Stage(storage.StoredChunk{
		Index: c.GetIndex(), Encoding: storage.ChunkEncoding(enc - 1), RawSize: int(c.GetRawSize()), Data: c.GetData(),
	})
	if err != nil {
		s.fail(v, ReasonMalformedBody, err)
		return nil
	}
	if ok {
		if err := s.add(ctx, cmd, v); err != nil {
			return err
		}
	}
	if v.chunks == 0 {
		return s.finish(ctx, v)
	}
	return nil
}

// finish queues the ApplyReplicaCmd of a version whose chunks are all staged.
func (s *shipStream) finish(ctx context.Context, v *pendingVersion) error {
	if err := v.body.Reference(&v.cmd); err != nil {
		s.fail(v, ReasonMalformedBody, err)
		return nil
	}
	return s.add(ctx, v.cmd, v)
}

// add queues cmd for v, first committing the queue if cmd would take it past
// CommitBytes: a Commit carries at most CommitBytes of payload, or one command.
func (s *shipStream) add(ctx context.Context, cmd storage.Command, v *pendingVersion) error {
	n := cmd.PayloadSize()
	if s.pendSize > 0 && s.pendSize+n > s.r.opts.CommitBytes {
		if err := s.flush(ctx); err != nil {
			return err
		}
	}
	s.pending = append(s.pending, cmd)
	s.tags = append(s.tags, v)
	s.pendSize += n
	return nil
}

// fail records v as refused for good and queues the discarding of what it staged.
func (s *shipStream) fail(v *pendingVersion, reason string, err error) {
	if v.failed {
		return
	}
	v.failed = true
	s.failures = append(s.failures, &replicationpb.Failure{OutboxSeq: v.seq, Reason: reason, Message: err.Error()})
	s.r.mu.Lock()
	s.src.failed++
	s.r.mu.Unlock()
	s.logger.Warn("replicated version refused", "outbox_seq", v.seq, "bucket", v.cmd.Bucket, "key", v.cmd.Key,
		"version_id", v.cmd.ID, "reason", reason, "err", err)
	if v.body != nil {
		for _, b := range v.body.Blobs() {
			s.pending = append(s.pending, storage.DiscardBlobCmd{Blob: b})
			s.tags = append(s.tags, nil)
		}
	}
}

// flush commits the queued commands and records their outcome. An error of the
// commit as a whole ends the stream with UNAVAILABLE.
func (s *shipStream) flush(ctx context.Context) error {
	for len(s.pending) > 0 {
		cmds, tags := s.pending, s.tags
		s.pending, s.tags, s.pendSize = nil, nil, 0
		results, err := s.r.sink.Commit(ctx, cmds)
		if err == nil && len(results) != len(cmds) {
			err = fmt.Errorf("commit answered %d results for %d commands", len(results), len(cmds))
		}
		if err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return cause
			}
			return status.Errorf(codes.Unavailable, "commit into region %q: %v", s.r.sink.Region(), err)
		}
		// Failures below queue DiscardBlob commands: the loop commits them too.
		for i, res := range results {
			v := tags[i]
			if v == nil || v.failed {
				if res.Err != nil {
					s.logger.Warn("discarding a refused version's blob failed", "err", res.Err)
				}
				continue
			}
			if res.Err != nil {
				reason := ReasonDstPutObjectNotPermitted
				switch {
				case errors.Is(res.Err, storage.ErrNoSuchBucket):
					reason = ReasonDstBucketNotFound
				case errors.Is(res.Err, storage.ErrBucketUnversioned):
					reason = ReasonDstBucketUnversioned
				}
				s.fail(v, reason, res.Err)
				continue
			}
			if c, ok := cmds[i].(storage.ApplyReplicaCmd); ok {
				now := s.r.opts.Now()
				s.r.mu.Lock()
				s.src.term = s.term
				s.src.lastApplied = now
				stored := !res.Version.ID.IsZero() && !c.MetadataOnly
				if stored {
					s.src.versions++
					s.src.bytes += uint64(res.Version.Size)
				}
				s.r.mu.Unlock()
				if stored && s.r.opts.Applied != nil {
					s.r.opts.Applied(s.src.name, res.Version, now)
				}
			}
		}
	}
	return nil
}

func metaFromPB(m *replicationpb.Meta) storage.ObjectMeta {
	if m == nil {
		return storage.ObjectMeta{}
	}
	out := storage.ObjectMeta{
		ContentType: m.GetContentType(), ContentEncoding: m.GetContentEncoding(),
		ContentDisposition: m.GetContentDisposition(), ContentLanguage: m.GetContentLanguage(),
		CacheControl: m.GetCacheControl(), Expires: m.GetExpires(), StorageClass: m.GetStorageClass(),
	}
	if len(m.GetUserMeta()) > 0 {
		out.UserMeta = make(map[string]string, len(m.GetUserMeta()))
		for k, v := range m.GetUserMeta() {
			out.UserMeta[k] = v
		}
	}
	for _, t := range m.GetTags() {
		out.Tags = append(out.Tags, storage.Tag{Key: t.GetKey(), Value: t.GetValue()})
	}
	return out
}

func checksumFromPB(c *replicationpb.Checksum) *storage.Checksum {
	if c == nil {
		return nil
	}
	return &storage.Checksum{Algorithm: c.GetAlgorithm(), Value: c.GetValue(), Type: c.GetType()}
}

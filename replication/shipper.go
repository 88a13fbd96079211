package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/pangea-s3/pangea/proto/replicationpb"
	"github.com/pangea-s3/pangea/storage"
)

// Source is the source region as the Shipper needs it: the store of the region's
// leader (StoreSource adapts a *storage.Store).
type Source interface {
	// Outbox returns the outbox entries after a sequence, at most max of them.
	Outbox(after uint64, max int) ([]storage.OutboxEntry, error)
	// OutboxLast is the last sequence given to an outbox entry.
	OutboxLast() uint64
	// Version returns the version an entry names (a delete marker without
	// error); storage.ErrNoSuchKey or storage.ErrNoSuchVersion if it is gone,
	// and the entry is skipped.
	Version(ctx context.Context, e storage.OutboxEntry) (storage.ObjectVersion, error)
	// ReadChunksStored passes v's body chunks as stored, one at a time.
	ReadChunksStored(ctx context.Context, v storage.ObjectVersion, fn func(storage.StoredChunk) error) error
}

// StoreSource is a store as a Source.
type StoreSource struct{ *storage.Store }

// Version reads the version e names: by its ID, or as the key's null version,
// which must still be the one e names (a null version replaced since is gone: the
// replacement has its own entry).
func (s StoreSource) Version(ctx context.Context, e storage.OutboxEntry) (storage.ObjectVersion, error) {
	id := e.VersionID.String()
	if e.Null {
		id = "null"
	}
	v, err := s.Object(ctx, e.Bucket, e.Key, id)
	if errors.Is(err, storage.ErrDeleteMarker) && v.DeleteMarker {
		err = nil
	}
	if err != nil {
		return storage.ObjectVersion{}, err
	}
	if v.ID != e.VersionID {
		return storage.ObjectVersion{}, fmt.Errorf("%w: %q null version is now %s, not %s", storage.ErrNoSuchVersion, e.Key, v.ID, e.VersionID)
	}
	return v, nil
}

// ShipperConfig configures a Shipper; zero optional fields take defaults.
type ShipperConfig struct {
	SourceRegion, DestRegion string
	MemberID                 string // the shipping member, in Hello
	Term                     uint64 // the member's raft term as leader, in Hello

	Source Source
	Client replicationpb.ReplicationClient
	// Route says whether an outbox entry goes to this destination, and where:
	// the destination bucket and the ID of the rule that selected it. v is the
	// version the entry names, as the source has it now. ok false: the entry is
	// skipped (covered by through_seq).
	Route func(e storage.OutboxEntry, v storage.ObjectVersion) (r Route, ok bool)
	// Acked persists the acknowledged high-water mark: every outbox entry at or
	// below seq is applied at the destination, or failed for good (failed, each
	// at or below seq, reported once). Called as the mark advances, from the
	// goroutine reading Acks; an error ends the stream.
	Acked func(ctx context.Context, seq uint64, failed []storage.ReplicationFailure) error
	// Shipped, if set, is told of each version entry as it is first put in a
	// batch of a stream (for the RTC tracker; a re-shipped entry is told again).
	Shipped func(e storage.OutboxEntry, v storage.ObjectVersion, r Route)
	// Gone, if set, is told of each entry skipped because its version is gone.
	Gone func(e storage.OutboxEntry)
	// StartAfter is the durable acknowledged mark: shipping resumes after the
	// greater of it and the destination's Accept.applied_through_seq.
	StartAfter uint64

	Logger *slog.Logger
	// Wake, if set, is signalled when the outbox may have new entries; the
	// outbox is polled every PollInterval anyway (default 250ms).
	Wake         <-chan struct{}
	PollInterval time.Duration
	// MaxBatchBytes caps an encoded batch below the destination's
	// max_batch_bytes (0: the destination's). OutboxPage is how many outbox
	// entries are read at a time (default 256).
	MaxBatchBytes uint64
	OutboxPage    int
}

// ShipperStats is a Shipper's progress, across the streams it ran.
type ShipperStats struct {
	ShippedSeq      uint64 // through_seq of the last batch sent
	AckedSeq        uint64 // the acknowledged high-water mark
	Pending         uint64 // outbox entries after AckedSeq (OutboxLast - AckedSeq)
	Batches         uint64 // batches sent
	VersionsShipped uint64 // version headers sent
	BytesShipped    uint64 // chunk data bytes sent, as stored
	Skipped         uint64 // entries skipped: not for this destination, or gone
	Failures        uint64 // versions the destination refused for good
	WindowWaits     uint64 // times sending waited for the flow-control window
}

// Shipper is the source side of cross-region replication to one destination
// region: it ships the outbox of its Source over Ship streams, one Run at a time.
type Shipper struct {
	cfg    ShipperConfig
	logger *slog.Logger

	mu     sync.Mutex
	stats  ShipperStats
	acked  uint64                       // greatest mark passed to Acked or StartAfter
	failed []storage.ReplicationFailure // reported by the destination, not yet passed to Acked
}

// Route is where an outbox entry goes at one destination.
type Route struct {
	Bucket string // the destination bucket
	Rule   string // the ID of the source rule that selected the entry
}

const (
	defaultPollInterval = 250 * time.Millisecond
	defaultOutboxPage   = 256
	// batchOverhead bounds the encoding of a ShipRequest around its entries:
	// the oneof tag and length, batch_seq and through_seq.
	batchOverhead = 1 + 10 + 2*(1+10)
)

// NewShipper returns a shipper; Run ships.
func NewShipper(cfg ShipperConfig) *Shipper {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.OutboxPage <= 0 {
		cfg.OutboxPage = defaultOutboxPage
	}
	if cfg.Acked == nil {
		cfg.Acked = func(context.Context, uint64, []storage.ReplicationFailure) error { return nil }
	}
	return &Shipper{
		cfg:    cfg,
		logger: cfg.Logger.With("component", "replication-shipper", "destination_region", cfg.DestRegion),
		acked:  cfg.StartAfter,
		stats:  ShipperStats{AckedSeq: cfg.StartAfter},
	}
}

// Stats returns the shipper's progress.
func (s *Shipper) Stats() ShipperStats {
	last := s.cfg.Source.OutboxLast()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	if last > st.AckedSeq {
		st.Pending = last - st.AckedSeq
	}
	return st
}

// inflight is a batch sent and not yet acknowledged.
type inflight struct {
	seq  uint64
	size int
}

// run is the state of one Ship stream.
type run struct {
	s      *Shipper
	stream replicationpb.Replication_ShipClient
	logger *slog.Logger

	maxBatch      int
	windowBytes   uint64
	windowBatches int

	// The batch being built.
	entries []*replicationpb.Entry
	size    int    // encoded size of entries
	through uint64 // every entry at or below it is in a batch, or skipped
	sent    uint64 // through_seq of the last batch sent
	seq     uint64 // batch_seq of the last batch sent

	mu       sync.Mutex
	flying   []inflight
	flyBytes uint64
	freed    chan struct{} // signalled as acks free the window
	readErr  chan error    // the ack reader's end

	toPersist uint64        // the greatest applied mark acknowledged (guarded by mu)
	persist   chan struct{} // signalled as toPersist rises
}

// Run ships over one Ship stream until ctx ends (returning ctx's error) or the
// stream fails; the caller runs it again, with backoff, to resume from the
// acknowledged mark.
func (s *Shipper) Run(parent context.Context) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	stream, err := s.cfg.Client.Ship(ctx)
	if err != nil {
		return fmt.Errorf("open ship stream: %w", err)
	}
	err = stream.Send(&replicationpb.ShipRequest{Msg: &replicationpb.ShipRequest_Hello{Hello: &replicationpb.Hello{
		ProtocolVersion: replicationpb.ProtocolVersion_PROTOCOL_VERSION_1, SourceRegion: s.cfg.SourceRegion,
		DestinationRegion: s.cfg.DestRegion, SourceMemberId: s.cfg.MemberID, SourceTerm: s.cfg.Term,
	}}})
	if err != nil {
		return s.streamErr(stream, err)
	}
	m, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("ship stream Accept: %w", err)
	}
	a := m.GetAccept()
	if a == nil {
		return errors.New("ship stream: the first response is not an Accept")
	}
	r := &run{
		s: s, stream: stream,
		logger:        s.logger.With("destination_member", a.GetDestinationMemberId()),
		maxBatch:      int(a.GetMaxBatchBytes()),
		windowBytes:   a.GetWindowBytes(),
		windowBatches: int(max(a.GetWindowBatches(), 1)),
		freed:         make(chan struct{}, 1),
		readErr:       make(chan error, 1),
		persist:       make(chan struct{}, 1),
	}
	if s.cfg.MaxBatchBytes > 0 {
		r.maxBatch = int(min(a.GetMaxBatchBytes(), s.cfg.MaxBatchBytes))
	}
	if err := s.advance(ctx, a.GetAppliedThroughSeq()); err != nil {
		return err
	}
	s.mu.Lock()
	r.through, r.sent = s.acked, s.acked
	s.mu.Unlock()
	r.logger.Info("ship stream accepted", "resume_after", r.through, "window_bytes", r.windowBytes,
		"window_batches", r.windowBatches, "max_batch_bytes", r.maxBatch)

	done := make(chan struct{})
	go func() {
		defer close(done)
		r.readErr <- r.readAcks(ctx)
	}()
	persisted := make(chan struct{})
	go func() {
		defer close(persisted)
		r.persistMarks(ctx, cancel)
	}()
	err = r.ship(ctx)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && parent.Err() == nil {
		err = cause // the mark could not be persisted
	}
	cancel(nil)
	<-done
	<-persisted
	if perr := parent.Err(); perr != nil {
		err = perr
	}
	r.logger.Info("ship stream ends", "err", err, "acked_seq", s.Stats().AckedSeq)
	return err
}

// streamErr is the error of a failed Send: the stream's status, from Recv.
func (s *Shipper) streamErr(stream replicationpb.Replication_ShipClient, err error) error {
	if _, rerr := stream.Recv(); rerr != nil {
		return fmt.Errorf("ship stream: %w", rerr)
	}
	return fmt.Errorf("ship stream: %w", err)
}

// advance raises the acknowledged mark to seq, persisting it with Acked along
// with the failures reported at or below it.
func (s *Shipper) advance(ctx context.Context, seq uint64) error {
	s.mu.Lock()
	if seq <= s.acked {
		s.mu.Unlock()
		return nil
	}
	var failed, later []storage.ReplicationFailure
	for _, f := range s.failed {
		if f.Seq <= s.acked {
			continue // settled by an earlier mark
		}
		if f.Seq <= seq {
			failed = append(failed, f)
		} else {
			later = append(later, f)
		}
	}
	s.mu.Unlock()
	if err := s.cfg.Acked(ctx, seq, failed); err != nil {
		return fmt.Errorf("persist acknowledged mark %d: %w", seq, err)
	}
	s.mu.Lock()
	s.acked = max(s.acked, seq)
	s.stats.AckedSeq = s.acked
	s.failed = later
	s.mu.Unlock()
	return nil
}

// readAcks handles the stream's Acks until it ends.
func (r *run) readAcks(ctx context.Context) error {
	for {
		m, err := r.stream.Recv()
		if err != nil {
			return fmt.Errorf("ship stream: %w", err)
		}
		ack := m.GetAck()
		if ack == nil {
			return errors.New("ship stream: a response after the Accept is not an Ack")
		}
		r.mu.Lock()
		if ack.GetBatchSeq() > r.seq {
			r.mu.Unlock()
			return fmt.Errorf("ship stream: Ack of batch %d, only %d sent", ack.GetBatchSeq(), r.seq)
		}
		for len(r.flying) > 0 && r.flying[0].seq <= ack.GetBatchSeq() {
			r.flyBytes -= uint64(r.flying[0].size)
			r.flying = r.flying[1:]
		}
		r.mu.Unlock()
		select {
		case r.freed <- struct{}{}:
		default:
		}
		for _, f := range ack.GetFailures() {
			r.logger.Warn("destination refused a version", "outbox_seq", f.GetOutboxSeq(), "reason", f.GetReason(), "message", f.GetMessage())
		}
		r.s.mu.Lock()
		r.s.stats.Failures += uint64(len(ack.GetFailures()))
		for _, f := range ack.GetFailures() {
			r.s.failed = append(r.s.failed, storage.ReplicationFailure{Seq: f.GetOutboxSeq(), Reason: f.GetReason()})
		}
		r.s.mu.Unlock()
		// The mark is persisted by persistMarks: acks that arrive while a mark
		// is being committed are folded into the next commit.
		r.mu.Lock()
		r.toPersist = max(r.toPersist, ack.GetAppliedThroughSeq())
		r.mu.Unlock()
		select {
		case r.persist <- struct{}{}:
		default:
		}
	}
}

// persistMarks persists the acknowledged mark as it rises (Shipper.advance),
// one commit at a time, each for the latest mark acknowledged, until ctx ends.
// A failure ends the stream (cancel, with the error as the cause).
func (r *run) persistMarks(ctx context.Context, cancel context.CancelCauseFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.persist:
		}
		r.mu.Lock()
		seq := r.toPersist
		r.mu.Unlock()
		if err := r.s.advance(ctx, seq); err != nil {
			cancel(err)
			return
		}
	}
}

// ship sends the outbox in batches until ctx ends or the stream fails.
func (r *run) ship(ctx context.Context) error {
	cfg := &r.s.cfg
	timer := time.NewTimer(cfg.PollInterval)
	defer timer.Stop()
	for {
		es, err := cfg.Source.Outbox(r.through, cfg.OutboxPage)
		if err != nil {
			return err
		}
		for _, e := range es {
			if err := r.entry(ctx, e); err != nil {
				return err
			}
		}
		if len(es) == cfg.OutboxPage {
			continue
		}
		// The outbox is drained: send what is built, then wait for more.
		if len(r.entries) > 0 || r.through > r.sent {
			if err := r.flush(ctx); err != nil {
				return err
			}
		}
		timer.Reset(cfg.PollInterval)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-r.readErr:
			return err
		case <-cfg.Wake:
		case <-timer.C:
		}
	}
}

// entry adds one outbox entry to the batches: its version header, then its body
// chunks, flushing batches as they fill.
func (r *run) entry(ctx context.Context, e storage.OutboxEntry) error {
	skip := func(why string, err error) {
		r.logger.Debug("outbox entry skipped", "outbox_seq", e.Seq, "bucket", e.Bucket, "key", e.Key, "why", why, "err", err)
		r.through = e.Seq
		r.s.mu.Lock()
		r.s.stats.Skipped++
		r.s.mu.Unlock()
	}
	v, err := r.s.cfg.Source.Version(ctx, e)
	if errors.Is(err, storage.ErrNoSuchKey) || errors.Is(err, storage.ErrNoSuchVersion) || errors.Is(err, storage.ErrNoSuchBucket) {
		skip("version gone", err)
		if r.s.cfg.Gone != nil {
			r.s.cfg.Gone(e)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("outbox entry %d: %w", e.Seq, err)
	}
	rt, ok := r.s.cfg.Route(e, v)
	if !ok {
		skip("not replicated to this destination", nil)
		return nil
	}
	if r.s.cfg.Shipped != nil {
		r.s.cfg.Shipped(e, v, rt)
	}
	ve := versionEntry(e.Seq, rt.Bucket, v)
	ve.GetVersion().RuleId = rt.Rule
	if e.Kind == storage.OutboxMetadata {
		ve.GetVersion().MetadataOnly, ve.GetVersion().ChunkCount, ve.GetVersion().Size = true, 0, 0
	}
	if err := r.add(ctx, ve); err != nil {
		return err
	}
	if e.Kind == storage.OutboxMetadata {
		// A metadata change carries the version's header alone: the
		// destination has (or will have) the body from the version's own entry.
		r.through = e.Seq
		return nil
	}
	r.through = e.Seq
	r.s.mu.Lock()
	r.s.stats.VersionsShipped++
	r.s.mu.Unlock()
	if v.DeleteMarker || v.BodyChunks() == 0 {
		return nil
	}
	// A version removed while its chunks are read fails the stream: its header
	// is sent; the next stream finds it gone and skips it.
	err = r.s.cfg.Source.ReadChunksStored(ctx, v, func(c storage.StoredChunk) error {
		r.s.mu.Lock()
		r.s.stats.BytesShipped += uint64(len(c.Data))
		r.s.mu.Unlock()
		return r.add(ctx, &replicationpb.Entry{Entry: &replicationpb.Entry_Chunk{Chunk: &replicationpb.Chunk{
			OutboxSeq: e.Seq, Index: c.Index, Encoding: replicationpb.ChunkEncoding(c.Encoding + 1),
			RawSize: uint32(c.RawSize), Data: bytes.Clone(c.Data),
		}}})
	})
	if err != nil {
		return fmt.Errorf("read body of outbox entry %d (%s/%s %s): %w", e.Seq, e.Bucket, e.Key, v.ID, err)
	}
	return nil
}

// versionEntry is v's header as outbox entry seq, into bucket dst.
func versionEntry(seq uint64, dst string, v storage.ObjectVersion) *replicationpb.Entry {
	id := v.ID.Bytes()
	h := &replicationpb.Version{
		OutboxSeq: seq, Bucket: dst, Key: v.Key, VersionId: id[:], IsNull: v.IsNull, DeleteMarker: v.DeleteMarker,
		ModTimeUnixNanos: v.ModTime.UnixNano(), Size: v.Size, Etag: v.ETag, PartSizes: v.PartSizes, Owner: v.Owner,
		ChunkCount: v.BodyChunks(), SourceBucket: v.Bucket,
		Meta: &replicationpb.Meta{
			ContentType: v.Meta.ContentType, ContentEncoding: v.Meta.ContentEncoding, ContentDisposition: v.Meta.ContentDisposition,
			ContentLanguage: v.Meta.ContentLanguage, CacheControl: v.Meta.CacheControl, Expires: v.Meta.Expires,
			UserMeta: v.Meta.UserMeta, StorageClass: v.Meta.StorageClass,
		},
	}
	if v.DeleteMarker {
		h.ChunkCount, h.Size = 0, 0
	}
	for _, tg := range v.Meta.Tags {
		h.Meta.Tags = append(h.Meta.Tags, &replicationpb.Tag{Key: tg.Key, Value: tg.Value})
	}
	if c := v.Checksum; c != nil {
		h.Checksum = &replicationpb.Checksum{Algorithm: c.Algorithm, Value: c.Value, Type: c.Type}
	}
	return &replicationpb.Entry{Entry: &replicationpb.Entry_Version{Version: h}}
}

// add appends an entry to the batch being built, first sending the batch if the
// entry would take it past max_batch_bytes.
func (r *run) add(ctx context.Context, e *replicationpb.Entry) error {
	n := proto.Size(e)
	n += protowire.SizeTag(2) + protowire.SizeBytes(n) - n // field 2 of Batch, length-prefixed
	if len(r.entries) > 0 && batchOverhead+r.size+n > r.maxBatch {
		if err := r.flush(ctx); err != nil {
			return err
		}
	}
	if batchOverhead+n > r.maxBatch {
		return fmt.Errorf("an entry of %d bytes exceeds max_batch_bytes %d", n, r.maxBatch)
	}
	r.entries = append(r.entries, e)
	r.size += n
	return nil
}

// flush sends the batch being built once the window has room for it.
func (r *run) flush(ctx context.Context) error {
	// through_seq covers at least the last Version sent; while a version's
	// chunks continue, r.through is that version's sequence.
	req := &replicationpb.ShipRequest{Msg: &replicationpb.ShipRequest_Batch{Batch: &replicationpb.Batch{
		BatchSeq: r.seq + 1, Entries: r.entries, ThroughSeq: r.through,
	}}}
	size := proto.Size(req)
	waited := false
	for {
		r.mu.Lock()
		room := len(r.flying) == 0 ||
			(len(r.flying) < r.windowBatches && r.flyBytes+uint64(size) <= r.windowBytes)
		if room {
			r.seq++
			r.flying = append(r.flying, inflight{seq: r.seq, size: size})
			r.flyBytes += uint64(size)
		}
		r.mu.Unlock()
		if room {
			break
		}
		if !waited {
			waited = true
			r.s.mu.Lock()
			r.s.stats.WindowWaits++
			r.s.mu.Unlock()
		}
		select {
		case <-r.freed:
		case err := <-r.readErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := r.stream.Send(req); err != nil {
		// The stream's status comes from Recv, which the ack reader owns.
		select {
		case rerr := <-r.readErr:
			return rerr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.entries, r.size, r.sent = nil, 0, r.through
	r.s.mu.Lock()
	r.s.stats.Batches++
	r.s.stats.ShippedSeq = r.through
	r.s.mu.Unlock()
	return nil
}

package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pangea-s3/pangea/proto/regionpb"
	"github.com/pangea-s3/pangea/storage"
)

// gcBatch is how many DiscardBlob commands the collector submits at once.
const gcBatch = 256

// residentTrimEvery is how often a member gives back the pages of its store's
// memory map that it touched (storage.Store.DropResident): its resident memory then
// holds about what one period of reads and writes touched, not the whole file.
const residentTrimEvery = 10 * time.Second

// gcLoop calls collect once at start (uploads that died with the previous process)
// and then every interval, and trim (if not nil) every residentTrimEvery, until
// stop is closed.
func gcLoop(stop <-chan struct{}, done chan<- struct{}, interval time.Duration, collect func(context.Context) (int, error), trim func() error, onErr func(error)) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	var trimTick <-chan time.Time
	if trim != nil {
		tt := time.NewTicker(residentTrimEvery)
		defer tt.Stop()
		trimTick = tt.C
	}
	for {
		if _, err := collect(ctx); err != nil && ctx.Err() == nil {
			onErr(err)
		}
		for collectDue := false; !collectDue; {
			select {
			case <-stop:
				return
			case <-t.C:
				collectDue = true
			case <-trimTick:
				// A closed store (the member stopping) is not worth a word.
				if err := trim(); err != nil && !errors.Is(err, storage.ErrClosed) {
					onErr(fmt.Errorf("give back the store's resident pages: %w", err))
				}
			}
		}
	}
}

// collectGarbage discards blobs staged before cutoff and still referenced by no
// version or part: the remains of uploads that died mid-stream or whose best-effort
// discard failed. Blobs for which skip reports true (uploads still streaming) are
// kept whatever their age. Discards go through the Committer, so on a Member they
// are log entries applied by every replica. It returns how many were discarded.
func (l *backend) collectGarbage(ctx context.Context, cutoff time.Time, skip func(storage.BlobID) bool) (int, error) {
	ids, err := l.store.StagedBlobs(ctx, cutoff)
	if err != nil {
		return 0, fmt.Errorf("collect garbage: %w", err)
	}
	cmds := make([]storage.Command, 0, min(len(ids), gcBatch))
	discarded := 0
	flush := func() error {
		if len(cmds) == 0 {
			return nil
		}
		res, err := l.commit.Commit(ctx, cmds...)
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Err == nil {
				discarded++
			}
		}
		cmds = cmds[:0]
		return nil
	}
	for _, id := range ids {
		if skip(id) {
			continue
		}
		cmds = append(cmds, cmdDiscardBlob(id))
		if len(cmds) == gcBatch {
			if err := flush(); err != nil {
				return discarded, fmt.Errorf("collect garbage: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return discarded, fmt.Errorf("collect garbage: %w", err)
	}
	return discarded, nil
}

// CollectGarbage discards staged blobs older than GCGrace that no member is still
// streaming. It runs on the ready leader only (elsewhere it returns 0) and discards
// through the log, so every replica drops the same blobs.
func (m *Member) CollectGarbage(ctx context.Context) (int, error) {
	if !m.Ready() {
		return 0, nil
	}
	remote := m.remoteActiveBlobs(ctx)
	skip := func(id storage.BlobID) bool {
		_, ok := remote[id]
		return ok || m.isActive(id)
	}
	n, err := m.collectGarbage(ctx, m.now().Add(-m.cfg.GCGrace), skip)
	if n > 0 {
		m.logger.Info("discarded abandoned staged blobs", "count", n, "grace", m.cfg.GCGrace)
	}
	return n, err
}

// remoteActiveBlobs asks every other member which blobs it is staging. A member
// that does not answer cannot commit its uploads either, so it is skipped.
func (m *Member) remoteActiveBlobs(ctx context.Context) map[storage.BlobID]struct{} {
	out := make(map[storage.BlobID]struct{})
	f := m.raft.GetConfiguration()
	if f.Error() != nil {
		return out
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == m.cfg.ID {
			continue
		}
		addr := string(s.Address)
		if a, ok := m.book[s.ID]; ok {
			addr = string(a)
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		pc, err := m.peers.ready(cctx, addr, time.Second)
		if err == nil {
			var resp *regionpb.ActiveBlobsResponse
			if resp, err = pc.rpc.ActiveBlobs(cctx, &regionpb.ActiveBlobsRequest{}); err == nil {
				for _, b := range resp.GetBlobs() {
					if len(b) == len(storage.BlobID{}) {
						out[storage.BlobID(b)] = struct{}{}
					}
				}
			}
		}
		cancel()
		if err != nil {
			m.logger.Debug("active blobs of a member unknown", "member", s.ID, "err", err)
		}
	}
	return out
}

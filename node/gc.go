package node

import (
	"context"
	"fmt"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// gcBatch is how many DiscardBlob commands the collector submits at once.
const gcBatch = 256

// gcLoop collects once at start (uploads that died with the previous process) and
// then every GCInterval.
func (l *Local) gcLoop() {
	defer close(l.gcDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-l.gcStop
		cancel()
	}()
	t := time.NewTicker(l.cfg.GCInterval)
	defer t.Stop()
	for {
		if _, err := l.CollectGarbage(ctx); err != nil && ctx.Err() == nil {
			l.logger.Warn("staged blob collection failed", "err", err)
		}
		select {
		case <-l.gcStop:
			return
		case <-t.C:
		}
	}
}

// CollectGarbage discards blobs that were staged more than GCGrace ago and are
// still referenced by no version or part: the remains of uploads that died mid-
// stream or whose best-effort discard failed. Blobs of uploads still streaming in
// this process are skipped whatever their age. It returns how many were discarded.
func (l *Local) CollectGarbage(ctx context.Context) (int, error) {
	cutoff := l.now().Add(-l.cfg.GCGrace)
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
		res, err := l.committer.Commit(ctx, cmds...)
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
		if l.isActive(id) {
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
	if discarded > 0 {
		l.logger.Info("discarded abandoned staged blobs", "count", discarded, "grace", l.cfg.GCGrace)
	}
	return discarded, nil
}

package node

import (
	"context"
	"fmt"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// gcBatch is how many DiscardBlob commands the collector submits at once.
const gcBatch = 256

// gcLoop calls collect once at start (uploads that died with the previous process)
// and then every interval, until stop is closed.
func gcLoop(stop <-chan struct{}, done chan<- struct{}, interval time.Duration, collect func(context.Context) (int, error), onErr func(error)) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := collect(ctx); err != nil && ctx.Err() == nil {
			onErr(err)
		}
		select {
		case <-stop:
			return
		case <-t.C:
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

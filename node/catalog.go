package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// The global bucket catalog, as a member of the control region serves it: writes
// go through the member's write path (followers forward them to the leader), the
// whole catalog is read behind the read barrier, and WatchCatalog waits for the
// local store's catalog to change, woken by the FSM (catalogWatch) rather than by
// polling. The catalog is ordinary region state (storage/catalog.go): any member
// can serve these calls, but only the control region's are asked.

// catalogWatch tells the watchers of the catalog that it may have changed. The FSM
// marks it dirty when it applies a catalog command and signals once the commit
// that makes the command visible to reads is done (fsm.flush), or after a
// snapshot replaced the store. Its zero value is ready.
type catalogWatch struct {
	dirty atomic.Bool // a catalog command was applied, not yet committed and signalled

	mu sync.Mutex
	ch chan struct{} // closed by signal; nil while nobody waits
}

// changed returns a channel closed at the next signal. A watcher takes it before
// reading the catalog's version, so that no change between the two goes unseen.
func (w *catalogWatch) changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

// signal wakes every watcher.
func (w *catalogWatch) signal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// ReserveBucket reserves a bucket name for region in the catalog and returns the
// entry that holds it: a new one, or the existing one when region and owner
// reserved it already (a retry). Errors are those of other writes:
// storage.ErrBucketAlreadyExists when another region or owner holds the name,
// ErrFormatNotReady while a member of the region runs a binary without the catalog,
// and RetryableErrors (no leader, unknown outcome: a retry is safe, it succeeds
// unchanged).
//
// The entry is read back behind the read barrier once the reservation is
// committed, since a forwarded write answers only whether it succeeded. A release
// of the name in between would leave nothing to read: the entry returned is then
// the one reserved, without its time.
func (m *Member) ReserveBucket(ctx context.Context, name, region, owner string) (storage.CatalogEntry, error) {
	if _, err := m.commitOne(ctx, cmdReserveBucket(name, region, owner)); err != nil {
		return storage.CatalogEntry{}, fmt.Errorf("reserve bucket %q: %w", name, err)
	}
	if err := m.readBarrier(ctx); err != nil {
		return storage.CatalogEntry{}, fmt.Errorf("reserve bucket %q: read back: %w", name, err)
	}
	e, ok, err := m.store.CatalogLookup(name)
	if err != nil {
		return storage.CatalogEntry{}, fmt.Errorf("reserve bucket %q: %w", name, err)
	}
	if !ok || e.Region != region || e.Owner != owner {
		return storage.CatalogEntry{Bucket: name, Region: region, Owner: owner}, nil
	}
	return e, nil
}

// ReleaseBucket gives a bucket name back: the entry goes if region holds it and,
// when createdBefore is set, was reserved before it. Otherwise it succeeds without
// changing anything. Errors as ReserveBucket's.
func (m *Member) ReleaseBucket(ctx context.Context, name, region string, createdBefore time.Time) error {
	if _, err := m.commitOne(ctx, cmdReleaseBucket(name, region, createdBefore)); err != nil {
		return fmt.Errorf("release bucket %q: %w", name, err)
	}
	return nil
}

// Catalog returns the whole catalog, linearizable: it reflects every reservation
// and release acknowledged before the call.
func (m *Member) Catalog(ctx context.Context) (storage.CatalogSnapshot, error) {
	if err := m.readBarrier(ctx); err != nil {
		return storage.CatalogSnapshot{}, fmt.Errorf("read catalog: %w", err)
	}
	snap, err := m.store.Catalog()
	if err != nil {
		return storage.CatalogSnapshot{}, fmt.Errorf("read catalog: %w", err)
	}
	return snap, nil
}

// WatchCatalog returns this member's catalog as soon as its version is above
// after: at once if it is already. It reads the local store without a read
// barrier (a follower may lag the leader), for caches that follow the catalog. It
// returns ctx.Err() when ctx ends first, and a RetryableError wrapping ErrClosed
// when the member stops.
func (m *Member) WatchCatalog(ctx context.Context, after uint64) (storage.CatalogSnapshot, error) {
	for {
		changed := m.fsm.catalog.changed()
		if m.store.CatalogVersion() > after {
			snap, err := m.store.Catalog()
			if err != nil {
				return storage.CatalogSnapshot{}, fmt.Errorf("watch catalog: %w", err)
			}
			return snap, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return storage.CatalogSnapshot{}, ctx.Err()
		case <-m.stopCtx.Done():
			return storage.CatalogSnapshot{}, unavailable(ErrClosed, nil)
		}
	}
}

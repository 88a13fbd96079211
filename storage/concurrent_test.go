package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
)

// TestStore_ConcurrentReadsAndWrites runs readers against a writer and a snapshot/
// restore cycle. Readers may see any committed state, but never an error other than
// the expected "not there (any more)" ones, and never a wrong body.
func TestStore_ConcurrentReadsAndWrites(t *testing.T) {
	h := newHarness(t)
	h.createBucket("b")
	h.setVersioning("b", VersioningEnabled)
	bodyFor := func(i int) []byte {
		if i%5 == 0 {
			return randomBytes(uint64(i), ChunkSize+i) // chunked
		}
		return randomBytes(uint64(i), 100+i)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	ctx := context.Background()
	for r := range 3 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				key := fmt.Sprintf("k%d", (i+r)%4)
				v, err := h.s.Object(ctx, "b", key, "")
				if errors.Is(err, ErrNoSuchKey) || errors.Is(err, ErrDeleteMarker) || errors.Is(err, ErrNoSuchBucket) {
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				rc, err := h.s.OpenObject(ctx, v, 0, -1)
				if err != nil {
					errc <- err
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if errors.Is(err, ErrBlobMissing) {
					continue // deleted while streaming
				}
				if err != nil {
					errc <- err
					return
				}
				// The body's MD5 is its ETag: any mix-up between versions shows.
				if md5hex(got) != v.ETag {
					errc <- fmt.Errorf("%s: body does not match its etag", key)
					return
				}
				if _, err := h.s.ListObjectVersions(ctx, "b", ListVersionsInput{MaxKeys: 3}); err != nil && !errors.Is(err, ErrNoSuchBucket) {
					errc <- err
					return
				}
			}
		})
	}
	var snap bytes.Buffer
	for i := range 60 {
		key := fmt.Sprintf("k%d", i%4)
		switch i % 4 {
		case 0, 1:
			h.put("b", key, bodyFor(i))
		case 2:
			h.del("b", key, "")
		case 3:
			vs := versionsOf(t, h, "b", key)
			if len(vs) > 2 {
				h.del("b", key, vs[len(vs)-1].VersionIDText())
			}
		}
		if i == 30 {
			if err := h.s.Snapshot(&snap); err != nil {
				t.Fatal(err)
			}
		}
		if i == 45 {
			if err := h.s.Restore(bytes.NewReader(snap.Bytes())); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

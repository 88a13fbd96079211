package storage

import (
	"bytes"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"
)

// TestStore_ReadsFormat1Chunks turns a store's small chunks into format 1's layout
// (every chunk in a nested bucket of its own) and marks it format 1, then checks that
// Open upgrades it, the objects read back, a new small chunk goes in as a plain value
// beside them, and deleting objects removes chunks of either form.
func TestStore_ReadsFormat1Chunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openTestStore(t, path)
	h := &harness{t: t, s: s}
	h.createBucket("b")
	// Over InlineMax, so in a chunk; the large body is a 1 MiB chunk and a 100-byte tail.
	small, large := randomBytes(1, 10<<10), randomBytes(2, ChunkSize+100)
	h.put("b", "small", small)
	h.put("b", "large", large)
	if n := countChunks(t, s); n != 3 {
		t.Fatalf("%d chunks, want 3", n)
	}
	s.Close()

	// Rewrite as format 1: move every plain chunk value into a nested bucket.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	err = db.Update(func(tx *bbolt.Tx) error {
		chunks := tx.Bucket(bktChunks)
		type kv struct{ k, v []byte }
		var plain []kv
		c := chunks.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v != nil {
				plain = append(plain, kv{bytes.Clone(k), bytes.Clone(v)})
			}
		}
		for _, p := range plain {
			if err := chunks.Delete(p.k); err != nil {
				return err
			}
			b, err := chunks.CreateBucket(p.k)
			if err != nil {
				return err
			}
			if err := b.Put(chunkValueKey, p.v); err != nil {
				return err
			}
			moved++
		}
		return tx.Bucket(bktMeta).Put(keyFormat, []byte{formatV1})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if moved != 2 { // the 10 KiB chunk and the 100-byte tail
		t.Fatalf("moved %d small chunks into buckets, want 2", moved)
	}

	s = openTestStore(t, path)
	h.s = s
	var format []byte
	if err := s.view(func(tx *bbolt.Tx) error {
		format = bytes.Clone(tx.Bucket(bktMeta).Get(keyFormat))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(format, []byte{formatVersion}) {
		t.Fatalf("format after Open: %x, want %d", format, formatVersion)
	}
	for key, want := range map[string][]byte{"small": small, "large": large} {
		v, err := h.get("b", key, "")
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		if got := h.read(v, 0, -1); !bytes.Equal(got, want) {
			t.Fatalf("%s: read %d bytes, want %d identical", key, len(got), len(want))
		}
	}
	h.put("b", "new", small)
	if n := countChunks(t, s); n != 4 {
		t.Fatalf("%d chunks after a new PUT, want 4", n)
	}
	for _, key := range []string{"small", "large", "new"} {
		h.del("b", key, "")
	}
	if n := countChunks(t, s); n != 0 {
		t.Fatalf("%d chunks left after deleting every object, want 0", n)
	}
}

package storage

import (
	"context"
	"fmt"
	"io"
	"testing"
)

// BenchmarkPut4KiB measures the storage cost of a small PUT (one command per batch;
// the node batches more under load). NoSync: this is CPU cost, not fsync.
func BenchmarkPut4KiB(b *testing.B) {
	h := newHarness(b)
	h.createBucket("b")
	body := randomBytes(1, 4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.mustApply(h.putCmd("b", fmt.Sprintf("key-%08d", i%10000), body))
		i++
	}
}

// BenchmarkGet4KiB measures Object + OpenObject + read of a small inline object.
func BenchmarkGet4KiB(b *testing.B) {
	h := newHarness(b)
	h.createBucket("b")
	body := randomBytes(1, 4096)
	var cmds []Command
	for i := range 1000 {
		cmds = append(cmds, h.putCmd("b", fmt.Sprintf("key-%08d", i), body))
	}
	h.s.Apply(cmds)
	ctx := context.Background()
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		v, err := h.s.Object(ctx, "b", fmt.Sprintf("key-%08d", i%1000), "")
		if err != nil {
			b.Fatal(err)
		}
		rc, err := h.s.OpenObject(ctx, v, 0, -1)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, rc, buf); err != nil {
			b.Fatal(err)
		}
		rc.Close()
		i++
	}
}

// BenchmarkGet8MiB streams a chunked object (throughput of decode + copy-out).
func BenchmarkGet8MiB(b *testing.B) {
	h := newHarness(b)
	h.createBucket("b")
	v := h.put("b", "big", compressible(8<<20))
	ctx := context.Background()
	buf := make([]byte, 32<<10)
	b.SetBytes(v.Size)
	b.ReportAllocs()
	for b.Loop() {
		rc, _ := h.s.OpenObject(ctx, v, 0, -1)
		if _, err := io.CopyBuffer(io.Discard, rc, buf); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

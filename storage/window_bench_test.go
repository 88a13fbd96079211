package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"testing"
)

// procIO returns this process's wchar (bytes handed to write calls) and syscw
// (write calls) from /proc/self/io; ok is false where that file does not exist.
func procIO() (wchar, syscw int64, ok bool) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, _ := bytes.Cut(sc.Bytes(), []byte(": "))
		n, _ := strconv.ParseInt(string(v), 10, 64)
		switch string(k) {
		case "wchar":
			wchar = n
		case "syscw":
			syscw = n
		}
	}
	return wchar, syscw, true
}

// BenchmarkWindowPut4KiB applies 4 KiB PUTs the way a region member does under load
// (the body as a one-chunk blob, PutChunk and PutObject in one log entry, entries
// applied deferred and committed once per window of `window` entries) and reports
// the bytes and write calls per PUT. Keys are random within the bucket, as a
// loaded region's are; the overwrite case reuses 1,000 keys of an unversioned
// bucket, so that every PUT also deletes the chunk it replaces.
func BenchmarkWindowPut4KiB(b *testing.B) {
	for _, tc := range []struct{ window, keys int }{{16, 1 << 62}, {128, 1 << 62}, {128, 1000}} {
		window, keys := tc.window, tc.keys
		name := fmt.Sprintf("window=%d", window)
		if keys < 1<<62 {
			name += fmt.Sprintf("/overwrite-%d-keys", keys)
		}
		b.Run(name, func(b *testing.B) {
			h := newHarness(b)
			h.createBucket("b")
			body := randomBytes(1, 4096)
			enc, data := EncodeChunk(body)
			idx := uint64(1000)
			w0, c0, ok := procIO()
			puts := 0
			for b.Loop() {
				for range window {
					blob := h.nextBlob()
					idx++
					cmds := []Command{
						PutChunkCmd{Blob: blob, Index: 0, Encoding: enc, RawSize: uint32(len(body)), Data: data, Time: h.now()},
						PutObjectCmd{
							Bucket: "b", Key: fmt.Sprintf("obj/%016x", uint64(puts%keys)*0x9E3779B97F4A7C15), ID: h.nextID(), Time: h.now(),
							Size: int64(len(body)), ETag: "0123456789abcdef0123456789abcdef", Owner: "pangea", Blob: blob, Chunks: 1,
						},
					}
					res, err := h.s.ApplyDeferred(idx, cmds)
					if err != nil {
						b.Fatal(err)
					}
					for _, r := range res {
						if r.Err != nil {
							b.Fatal(r.Err)
						}
					}
					puts++
				}
				if _, err := h.s.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(puts)/1000, "us/put")
			if w1, c1, ok1 := procIO(); ok && ok1 {
				b.ReportMetric(float64(w1-w0)/float64(puts), "B/put")
				b.ReportMetric(float64(c1-c0)/float64(puts), "writes/put")
			}
		})
	}
}

package node

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pangea-s3/pangea/storage"
)

// BenchmarkLocal_PutObject measures the write path without HTTP, fsync off, with
// 8 writers per GOMAXPROCS (b.SetParallelism) so group commit takes effect; 16 MiB
// bodies are cut into chunks that go through the body budget one by one.
func BenchmarkLocal_PutObject(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			l, err := OpenLocal(LocalConfig{Dir: b.TempDir(), Region: "us-east-1", NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			if err := l.CreateBucket(context.Background(), "b", "", "o"); err != nil {
				b.Fatal(err)
			}
			body := randomBytes(1, size)
			var n atomic.Int64
			b.SetBytes(int64(size))
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := fmt.Sprintf("k%d", n.Add(1))
					if _, err := l.PutObject(context.Background(), storage.PutObjectInput{Bucket: "b", Key: key, Owner: "o",
						BodyInput: storage.BodyInput{Body: bytes.NewReader(body), Size: int64(size)}}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.StopTimer()
			s := l.Stats()
			b.ReportMetric(float64(s.Commands)/float64(s.Batches), "cmds/batch")
		})
	}
}

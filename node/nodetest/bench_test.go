package nodetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/s3api"
	"github.com/pangea-s3/pangea/storage"
)

// BenchmarkRegion_Put4KiB compares the 4 KiB PUT rate of the single-node backend
// (node.Local) with a 3-member region written through its leader and through a
// follower, fsync on everywhere (group commit is what the comparison is about).
// Backend calls, no HTTP: the figure is the replication cost. Run with
//
//	go test -run '^$' -bench Region_Put4KiB -benchtime 5s ./node/nodetest
//
// PANGEA_BENCH_NOSYNC=1 turns fsync off to see the CPU cost alone.
func BenchmarkRegion_Put4KiB(b *testing.B) {
	noSync := os.Getenv("PANGEA_BENCH_NOSYNC") != ""
	body := bytes.Repeat([]byte("pangea!\n"), 512)
	run := func(b *testing.B, be s3api.Backend) {
		ctx := context.Background()
		if err := be.CreateBucket(ctx, "bench", "", "o"); err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		b.SetBytes(int64(len(body)))
		b.SetParallelism(32)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				key := fmt.Sprintf("k%d", n.Add(1))
				if _, err := be.PutObject(ctx, storage.PutObjectInput{Bucket: "bench", Key: key, Owner: "o",
					BodyInput: storage.BodyInput{Body: bytes.NewReader(body), Size: int64(len(body))}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("local", func(b *testing.B) {
		l, err := node.OpenLocal(node.LocalConfig{Dir: b.TempDir(), Region: "us-east-1", NoSync: noSync})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		run(b, l)
	})
	for _, via := range []string{"leader", "follower"} {
		b.Run("region3-"+via, func(b *testing.B) {
			// Production timeouts: the test profile's would turn a loaded
			// benchmark machine into elections.
			c := Start(b, Options{NoSync: noSync, Raft: node.DefaultRaftTimeouts()})
			leader, err := c.Leader(context.Background(), "us-east-1")
			if err != nil {
				b.Fatal(err)
			}
			target := leader
			if via == "follower" {
				for _, n := range c.Nodes("us-east-1") {
					if n != leader {
						target = n
						break
					}
				}
			}
			run(b, target.Member)
		})
	}
}

package nodetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkRegion_LeaderKillWriteGap measures the write-unavailability window
// after the leader of a 3-member region is killed: a writer keeps putting small
// objects through a member that survives; the figure is the time from the kill to
// the first write acknowledged after it (reported as gap-ms, one kill per
// iteration), with the production timeouts and with the lab profile, fsync on.
// Run with
//
//	go test -run '^$' -bench LeaderKillWriteGap -benchtime 5x ./node/nodetest
func BenchmarkRegion_LeaderKillWriteGap(b *testing.B) {
	for _, p := range []struct {
		name string
		raft node.RaftTimeouts
	}{{"default", node.DefaultRaftTimeouts()}, {"lab", node.LabRaftTimeouts()}} {
		b.Run(p.name, func(b *testing.B) {
			c := Start(b, Options{Raft: p.raft}) // fsync on, as a node runs
			ctx := context.Background()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				leader, err := c.Leader(ctx, "us-east-1")
				if err != nil {
					b.Fatal(err)
				}
				var writer *Node
				for _, n := range c.Nodes("us-east-1") {
					if n != leader {
						writer = n
						break
					}
				}
				if i == 0 {
					if err := writer.Member.CreateBucket(ctx, "gap", "", "o"); err != nil {
						b.Fatal(err)
					}
				}
				put := func(key string) error {
					pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					_, err := writer.Member.PutObject(pctx, storage.PutObjectInput{Bucket: "gap", Key: key, Owner: "o",
						BodyInput: storage.BodyInput{Body: bytes.NewReader([]byte("x")), Size: 1}})
					return err
				}
				if err := put(fmt.Sprintf("warm-%d", i)); err != nil {
					b.Fatal(err)
				}
				killed := time.Now()
				c.Kill(leader)
				for j := 0; ; j++ {
					if err := put(fmt.Sprintf("after-%d-%d", i, j)); err == nil {
						break
					}
					if time.Since(killed) > time.Minute {
						b.Fatal("no write acknowledged within a minute of the leader kill")
					}
				}
				total += time.Since(killed)
				if err := c.Restart(leader); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "gap-ms")
		})
	}
}

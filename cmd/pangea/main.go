package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/s3api"
)

// The region member is what s3api serves (node.Local remains for embedding and
// benchmarks); keep them in step at compile time.
var (
	_ s3api.Backend = (*node.Member)(nil)
	_ s3api.Backend = (*node.Local)(nil)
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal starts a graceful stop, a second one kills at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/s3api"
)

// The single-node backend is what s3api serves; keep them in step at compile time.
var _ s3api.Backend = (*node.Local)(nil)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal starts a graceful stop, a second one kills at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/labfile"
	"github.com/pangea-s3/pangea/node"
	"github.com/pangea-s3/pangea/s3api"
	"github.com/pangea-s3/pangea/s3api/auth"
)

// Server timeouts. There is deliberately no ReadTimeout or WriteTimeout: they bound
// the whole body, and a 5 GiB upload or download over a slow link must not be cut.
const (
	readHeaderTimeout = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 20 * time.Second
)

func (c *cli) serveCmd(ctx context.Context, args []string, lab bool) int {
	name, synopsis := "node", "Serve one region member: the S3 API over a local store in --data."
	if lab {
		name, synopsis = "lab", "Run the lab on loopback (for now one region, us-east-1, with one node) and print its endpoint and credentials."
	}
	fs := c.newFlagSet(name, synopsis)
	cfg, err := bindServeFlags(fs, c.getenv, lab)
	if err != nil {
		fmt.Fprintf(c.stderr, "pangea %s: %v\n", name, err)
		return 2
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(c.stderr, "pangea %s: %v\n", name, err)
		return 2
	}
	if err := c.serve(ctx, *cfg, lab); err != nil {
		fmt.Fprintf(c.stderr, "pangea %s: %v\n", name, err)
		return 1
	}
	return 0
}

// serve runs one node until ctx ends, then stops it gracefully: new connections
// are refused, requests in flight get shutdownTimeout to finish, then the store
// is closed after every acknowledged write has been applied.
func (c *cli) serve(ctx context.Context, cfg Config, lab bool) error {
	level, _ := parseLevel(cfg.LogLevel) // validated
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
	mode := "node"
	if lab {
		mode = "lab"
	}
	fmt.Fprintf(c.stdout, "pangea %s: %s\n", mode, cfg.Redacted())

	// A lab.json left by a process that died names a port nobody listens on.
	if err := labfile.Remove(cfg.DataDir); err != nil {
		return err
	}
	local, err := node.OpenLocal(node.LocalConfig{
		Dir:    cfg.DataDir,
		Region: cfg.Region,
		Logger: logger,
		NoSync: cfg.NoFsync,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := local.Close(); err != nil {
			logger.Error("close store", "err", err)
		}
	}()

	handler := s3api.New(s3api.Config{
		Region:      cfg.Region,
		BaseDomain:  cfg.BaseDomain,
		Credentials: auth.StaticCredentials{cfg.AccessKey: cfg.SecretKey},
		Logger:      logger,
	}, local)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another process using the port? pick another with --addr)", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	url := endpointURL(ln.Addr())
	lf := labfile.File{
		Endpoints: labfile.Endpoints{Global: url, Regions: map[string][]string{cfg.Region: {url}}},
		AccessKey: cfg.AccessKey,
		SecretKey: cfg.SecretKey,
	}
	if err := labfile.Write(cfg.DataDir, lf); err != nil {
		srv.Close()
		<-served
		return err
	}
	logger.Info("listening", "endpoint", url, "region", cfg.Region, "lab_json", labfile.Path(cfg.DataDir))
	if lab {
		c.printBanner(cfg, url)
	} else {
		fmt.Fprintf(c.stdout, "pangea node: serving %s on %s (lab.json: %s)\n", cfg.Region, url, labfile.Path(cfg.DataDir))
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		labfile.Remove(cfg.DataDir)
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("graceful shutdown incomplete, closing connections", "err", err)
		srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("serve", "err", err)
	}
	if err := labfile.Remove(cfg.DataDir); err != nil {
		logger.Warn("remove lab.json", "err", err)
	}
	logger.Info("stopped")
	return nil
}

// endpointURL turns the bound address into a URL clients can reach: a wildcard
// listen address is reached through loopback.
func endpointURL(a net.Addr) string {
	host, port := "127.0.0.1", "0"
	if t, ok := a.(*net.TCPAddr); ok {
		port = strconv.Itoa(t.Port)
		if !t.IP.IsUnspecified() {
			host = t.IP.String()
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

func (c *cli) printBanner(cfg Config, url string) {
	labJSON := labfile.Path(cfg.DataDir)
	if abs, err := filepath.Abs(labJSON); err == nil {
		labJSON = abs
	}
	fmt.Fprintf(c.stdout, `
  Pangea lab is running.

    endpoint     %s
    region       %s
    access key   %s
    secret key   %s
    lab.json     %s

  Try it:

    export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=%s
    aws --endpoint-url %s s3 mb s3://my-bucket
    aws --endpoint-url %s s3 cp ./some-file s3://my-bucket/
    aws --endpoint-url %s s3 ls s3://my-bucket

  Press Ctrl-C to stop.

`, url, cfg.Region, cfg.AccessKey, cfg.SecretKey, labJSON,
		cfg.AccessKey, cfg.SecretKey, cfg.Region, url, url, url)
}

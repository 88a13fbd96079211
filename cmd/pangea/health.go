package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pangea-s3/pangea/s3api"
)

// healthTimeout bounds one health check; a member answers readiness within ~2 s.
const healthTimeout = 5 * time.Second

// healthCmd asks an S3 endpoint whether it serves (its /_pangea/health endpoints) and
// exits 0 if so, 1 if not: a container or service health check.
func (c *cli) healthCmd(ctx context.Context, args []string) int {
	fs := c.newFlagSet("health", "Ask a Pangea S3 endpoint whether it serves now (ready: it has a leader and\n"+
		"is caught up) or at all (--live: only a restart would help otherwise). Exit status 0\n"+
		"if it does, 1 if not: usable as a Docker or systemd health check.")
	var endpoint string
	var live bool
	fs.StringVar(&endpoint, "endpoint", c.getenv.str("PANGEA_ENDPOINT", "http://127.0.0.1:9000"), "S3 endpoint `URL` (env PANGEA_ENDPOINT)")
	fs.BoolVar(&live, "live", false, "check liveness instead of readiness")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "pangea health: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	path := s3api.HealthReadyPath
	if live {
		path = s3api.HealthLivePath
	}
	url := strings.TrimSuffix(endpoint, "/") + path
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	h, status, err := getHealth(ctx, url)
	if err != nil {
		fmt.Fprintf(c.stderr, "pangea health: %v (is a Pangea node listening there? set --endpoint)\n", err)
		return 1
	}
	if status != http.StatusOK {
		fmt.Fprintf(c.stdout, "%s: %s (HTTP %d): %s\n", url, h.Status, status, h.Reason)
		return 1
	}
	fmt.Fprintf(c.stdout, "%s: %s\n", url, h.Status)
	return 0
}

func getHealth(ctx context.Context, url string) (s3api.Health, int, error) {
	var h s3api.Health
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return h, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return h, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return h, 0, fmt.Errorf("read %s: %w", url, err)
	}
	if err := json.Unmarshal(body, &h); err != nil || h.Status == "" {
		return h, 0, fmt.Errorf("%s answered HTTP %d without a health document", url, resp.StatusCode)
	}
	return h, resp.StatusCode, nil
}

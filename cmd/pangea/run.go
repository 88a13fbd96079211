package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `pangea: a self-hosted, S3-compatible object store

Usage:
  pangea <command> [flags]

Commands:
  node      serve one region member (--data DIR --addr HOST:PORT --region REGION --id ID --peers ...)
  edge      serve an S3 endpoint at a location of a planet that stores nothing and forwards to regions
  lab       run the whole lab on loopback (3 members by default) and print its endpoints and credentials
  ctl       inspect and change a region: status, add ID ADDR, remove ID; with --lab DIR the lab's
            planet status and chaos controls (latency, partition, heal, region-down, member-stop, ...)
  bench     drive an S3 endpoint with PUT/GET load and print ops/s and latencies;
            "bench replication" measures cross-region replication lag in an in-process lab
  health    exit 0 if an S3 endpoint serves (ready, or --live), 1 if not
  version   print the version, commit and Go version
  help      show this help, or "pangea help <command>" for a command's flags

Most flags have an environment fallback PANGEA_<FLAG> (e.g. PANGEA_DATA, PANGEA_ADDR);
"pangea help <command>" names it beside each flag.
Credentials: PANGEA_ACCESS_KEY (default pangea), PANGEA_SECRET_KEY (default pangea-secret).
Region members authenticate each other with PANGEA_CLUSTER_SECRET.
`

// cli carries the process surroundings so tests can run commands in-process.
type cli struct {
	stdout, stderr io.Writer
	getenv         env
}

// run executes the command line args (without the program name) and returns the
// exit code: 0 success, 1 failure, 2 usage error. Cancelling ctx is how a signal
// stops a long-running command gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return c.run(ctx, args)
}

func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "node":
		return c.serveCmd(ctx, rest, false)
	case "lab":
		return c.serveCmd(ctx, rest, true)
	case "edge":
		return c.edgeCmd(ctx, rest)
	case "bench":
		return c.benchCmd(ctx, rest)
	case "ctl":
		return c.ctlCmd(ctx, rest)
	case "health":
		return c.healthCmd(ctx, rest)
	case "version":
		return c.versionCmd(rest)
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] != "help" {
			// Show the command's own flag help.
			return c.run(ctx, []string{rest[0], "-h"})
		}
		fmt.Fprint(c.stdout, usage)
		return 0
	default:
		fmt.Fprintf(c.stderr, "pangea: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// newFlagSet returns a FlagSet that reports errors instead of exiting.
func (c *cli) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("pangea "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: pangea %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; it returns the exit code to use and false when the
// command must stop (help requested: 0, bad flags: 2).
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		fs.Usage()
		return 2, false
	}
	return 0, true
}

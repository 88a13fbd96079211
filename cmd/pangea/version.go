package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and commit are stamped by the build:
//
//	go build -ldflags "-X main.version=v0.1.0 -X main.commit=$(git rev-parse HEAD)"
//
// When they are not, the module version and VCS settings recorded by the Go
// toolchain are used where present.
var (
	version = ""
	commit  = ""
)

// buildInfo returns the version, the commit (with "-dirty" for modified trees) and
// the Go version of this binary.
func buildInfo() (ver, rev, goVer string) {
	ver, rev, goVer = version, commit, runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		if rev == "" {
			modified := false
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value == "true"
				}
			}
			if rev != "" && modified {
				rev += "-dirty"
			}
		}
	}
	if ver == "" {
		ver = "dev"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev, goVer
}

func (c *cli) versionCmd(args []string) int {
	fs := c.newFlagSet("version", "Print the version, commit and Go version.")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	ver, rev, goVer := buildInfo()
	fmt.Fprintf(c.stdout, "pangea %s\ncommit %s\ngo %s\n", ver, rev, goVer)
	return 0
}

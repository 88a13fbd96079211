package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
)

// Config is the configuration of `pangea node` and `pangea lab`.
type Config struct {
	DataDir    string // where the store and lab.json live
	Addr       string // HOST:PORT to listen on; port 0 picks a free port
	Region     string // the region this node serves
	BaseDomain string // virtual-host-style requests: <bucket>.<BaseDomain>
	LogLevel   string // debug, info, warn, error
	NoFsync    bool   // skip fsync: faster, loses acknowledged writes on power loss
	AccessKey  string
	SecretKey  string
}

// DefaultConfig returns the defaults: a lab on 127.0.0.1:9000 with data in
// ./pangea-data and the well-known lab credentials.
func DefaultConfig() Config {
	return Config{
		DataDir:    "./pangea-data",
		Addr:       "127.0.0.1:9000",
		Region:     "us-east-1",
		BaseDomain: "localhost",
		LogLevel:   "info",
		AccessKey:  "pangea",
		SecretKey:  "pangea-secret",
	}
}

// Validate reports the first problem with c, saying what to change.
func (c Config) Validate() error {
	if strings.TrimSpace(c.DataDir) == "" {
		return errors.New("data directory is empty: pass --data DIR or set PANGEA_DATA")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("listen address %q: want HOST:PORT such as 127.0.0.1:9000 (--addr or PANGEA_ADDR)", c.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("listen address %q: port must be a number 0-65535 (0 picks a free port)", c.Addr)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Errorf("listen address %q: host %q is neither an IP address nor a host name", c.Addr, host)
	}
	if !validRegion(c.Region) {
		return fmt.Errorf("region %q: use lower-case letters, digits and hyphens, such as us-east-1 (--region or PANGEA_REGION)", c.Region)
	}
	if !validHostname(c.BaseDomain) {
		return fmt.Errorf("base domain %q: want a host name such as localhost or s3.example.internal (--base-domain or PANGEA_BASE_DOMAIN)", c.BaseDomain)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.AccessKey == "" || strings.ContainsAny(c.AccessKey, " /\t\n") {
		return fmt.Errorf("access key %q: must be non-empty without spaces or slashes (PANGEA_ACCESS_KEY)", c.AccessKey)
	}
	if c.SecretKey == "" {
		return errors.New("secret key is empty: set PANGEA_SECRET_KEY")
	}
	return nil
}

// Redacted renders c for the start-up log with the secret hidden.
func (c Config) Redacted() string {
	fsync := "on"
	if c.NoFsync {
		fsync = "off"
	}
	return fmt.Sprintf("data=%s addr=%s region=%s base_domain=%s log_level=%s fsync=%s access_key=%s secret_key=<redacted>",
		c.DataDir, c.Addr, c.Region, c.BaseDomain, c.LogLevel, fsync, c.AccessKey)
}

func validRegion(s string) bool {
	if s == "" || len(s) > 63 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: use debug, info, warn or error (--log-level or PANGEA_LOG_LEVEL)", s)
	}
	return l, nil
}

// env reads PANGEA_* variables for flag defaults. Flags given on the command line
// win over the environment, which wins over the built-in defaults.
type env func(string) string

func (e env) str(name, def string) string {
	if v := e(name); v != "" {
		return v
	}
	return def
}

// boolean returns the variable as a bool; a malformed value is an error rather
// than silently false, since these switches trade durability for speed.
func (e env) boolean(name string, def bool) (bool, error) {
	v := e(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", name, v)
	}
	return b, nil
}

// bindServeFlags registers the flags shared by `node` and `lab` on fs, with
// defaults from the environment, and returns the config they fill. lab mode
// omits the flags a lab fixes itself.
func bindServeFlags(fs *flag.FlagSet, e env, lab bool) (*Config, error) {
	d := DefaultConfig()
	c := &Config{AccessKey: e.str("PANGEA_ACCESS_KEY", d.AccessKey), SecretKey: e.str("PANGEA_SECRET_KEY", d.SecretKey)}
	noFsync, err := e.boolean("PANGEA_NO_FSYNC", d.NoFsync)
	if err != nil {
		return nil, err
	}
	fs.StringVar(&c.DataDir, "data", e.str("PANGEA_DATA", d.DataDir), "data `directory` (env PANGEA_DATA)")
	fs.StringVar(&c.Addr, "addr", e.str("PANGEA_ADDR", d.Addr), "listen `host:port`; port 0 picks a free port (env PANGEA_ADDR)")
	fs.StringVar(&c.LogLevel, "log-level", e.str("PANGEA_LOG_LEVEL", d.LogLevel), "log `level`: debug, info, warn, error (env PANGEA_LOG_LEVEL)")
	fs.BoolVar(&c.NoFsync, "no-fsync", noFsync, "do not fsync writes: faster, but a crash can lose acknowledged writes (env PANGEA_NO_FSYNC)")
	if lab {
		c.Region = d.Region
		c.BaseDomain = d.BaseDomain
	} else {
		fs.StringVar(&c.Region, "region", e.str("PANGEA_REGION", d.Region), "`region` this node serves (env PANGEA_REGION)")
		fs.StringVar(&c.BaseDomain, "base-domain", e.str("PANGEA_BASE_DOMAIN", d.BaseDomain), "`domain` for virtual-host-style requests (env PANGEA_BASE_DOMAIN)")
	}
	return c, nil
}

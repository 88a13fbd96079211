package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/labfile"
)

func writeLab(t *testing.T, regions map[string][]string) string {
	t.Helper()
	dir := t.TempDir()
	var global string
	for _, urls := range regions {
		global = urls[0]
	}
	if err := labfile.Write(dir, labfile.File{
		Endpoints: labfile.Endpoints{Global: global, Regions: regions},
		AccessKey: "labkey",
		SecretKey: "labsecret",
	}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBenchConfig_Endpoints(t *testing.T) {
	members := []string{"http://127.0.0.1:9101", "http://127.0.0.1:9102", "http://127.0.0.1:9103"}
	lab := writeLab(t, map[string][]string{"lab-1": members})

	cases := []struct {
		name      string
		args      []string
		env       map[string]string
		endpoint  string   // want Config.Endpoint
		endpoints []string // want Config.Endpoints
		region    string   // want Config.Region, if set
	}{
		{name: "one", args: []string{"--endpoint", "http://a:1"}, endpoint: "http://a:1"},
		{name: "comma list", args: []string{"--endpoint", "http://a:1, http://b:1"}, endpoints: []string{"http://a:1", "http://b:1"}},
		{name: "repeated", args: []string{"--endpoint", "http://a:1", "--endpoint", "http://b:1,http://c:1"},
			endpoints: []string{"http://a:1", "http://b:1", "http://c:1"}},
		{name: "env list", env: map[string]string{"PANGEA_ENDPOINT": "http://a:1,http://b:1"},
			endpoints: []string{"http://a:1", "http://b:1"}},
		{name: "flag beats env", args: []string{"--endpoint", "http://c:1"}, env: map[string]string{"PANGEA_ENDPOINT": "http://a:1,http://b:1"},
			endpoint: "http://c:1"},
		{name: "lab global", args: []string{"--lab", lab}, endpoint: members[0], region: "lab-1"},
		{name: "lab spread", args: []string{"--lab", lab, "--spread"}, endpoints: members, region: "lab-1"},
		{name: "lab with explicit endpoints", args: []string{"--lab", lab, "--endpoint", "http://a:1,http://b:1"},
			endpoints: []string{"http://a:1", "http://b:1"}, region: "lab-1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, errb := testCLI(tc.env)
			cfg, code, ok := c.benchConfig(tc.args)
			if !ok {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if cfg.Endpoint != tc.endpoint || !slices.Equal(cfg.Endpoints, tc.endpoints) {
				t.Errorf("Endpoint %q Endpoints %q, want %q %q", cfg.Endpoint, cfg.Endpoints, tc.endpoint, tc.endpoints)
			}
			if tc.region != "" && cfg.Region != tc.region {
				t.Errorf("Region %q, want %q", cfg.Region, tc.region)
			}
		})
	}
}

func TestBenchConfig_EndpointErrors(t *testing.T) {
	lab := writeLab(t, map[string][]string{"lab-1": {"http://127.0.0.1:9101", "http://127.0.0.1:9102"}})
	twoRegions := writeLab(t, map[string][]string{
		"eu-1": {"http://127.0.0.1:9201"},
		"us-1": {"http://127.0.0.1:9301"},
	})
	cases := []struct {
		args     []string
		code     int
		inStderr []string
	}{
		{args: []string{"--spread"}, code: 2, inStderr: []string{"--spread needs --lab", "--endpoint"}},
		{args: []string{"--lab", lab, "--spread", "--endpoint", "http://a:1"}, code: 2, inStderr: []string{"only one"}},
		{args: []string{"--lab", twoRegions, "--spread"}, code: 2, inStderr: []string{"2 regions [eu-1 us-1]", "exactly one", "--endpoint"}},
		{args: []string{"--lab", lab, "--spread", "--concurrency", "1"}, code: 2, inStderr: []string{"--concurrency 2"}},
		{args: []string{"--endpoint", "http://a:1,http://a:1/"}, code: 2, inStderr: []string{"listed twice"}},
		{args: []string{"--endpoint", "http://a:1,b:1"}, code: 2, inStderr: []string{`"b:1"`, "http(s) URL"}},
		{args: []string{"--endpoint", ","}, code: 2, inStderr: []string{"no endpoint"}},
	}
	for _, tc := range cases {
		c, _, errb := testCLI(nil)
		if _, code, ok := c.benchConfig(tc.args); ok || code != tc.code {
			t.Errorf("%v: ok %v exit %d, want exit %d", tc.args, ok, code, tc.code)
		}
		for _, want := range tc.inStderr {
			if !strings.Contains(errb.String(), want) {
				t.Errorf("%v: stderr lacks %q:\n%s", tc.args, want, errb.String())
			}
		}
	}
}

func TestBenchHelp_MentionsSpread(t *testing.T) {
	c, _, errb := testCLI(nil)
	if code := c.run(context.Background(), []string{"bench", "-h"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"-spread", "comma separated", "i mod N"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, errb.String())
		}
	}
}

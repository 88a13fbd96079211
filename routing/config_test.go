package routing

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	c := DefaultConfig()
	c.Name, c.Region, c.Location = "eu-1", "eu-west-1", "dublin"
	c.Secret = []byte("s")
	return c
}

func TestConfig_Validate(t *testing.T) {
	if c := validConfig(); c.Validate() != nil {
		t.Fatalf("valid config refused: %v", c.Validate())
	}
	cases := map[string]func(*Config){
		"no name":            func(c *Config) { c.Name = "" },
		"no region":          func(c *Config) { c.Region = "" },
		"no location":        func(c *Config) { c.Location = "" },
		"bad role":           func(c *Config) { c.Role = 7 },
		"no secret":          func(c *Config) { c.Secret = nil },
		"bind not an ip":     func(c *Config) { c.BindAddr = "localhost" },
		"port out of range":  func(c *Config) { c.BindPort = 70000 },
		"advertise not ip":   func(c *Config) { c.AdvertiseAddr = "node-1" },
		"seed without port":  func(c *Config) { c.Seeds = []string{"10.0.0.1"} },
		"seed bad port":      func(c *Config) { c.Seeds = []string{"10.0.0.1:99999"} },
		"meta too big":       func(c *Config) { c.S3Endpoint = strings.Repeat("x", 600) },
		"timeout >= probe":   func(c *Config) { c.Timing.ProbeTimeout = c.Timing.ProbeInterval },
		"no suspicion":       func(c *Config) { c.Timing.SuspicionMult = 0 },
		"no gossip nodes":    func(c *Config) { c.Timing.GossipNodes = 0 },
		"no reconnect":       func(c *Config) { c.Timing.ReconnectInterval = 0 },
		"smoothing too big":  func(c *Config) { c.Timing.RTTSmoothing = 1.5 },
		"zero timing at all": func(c *Config) { c.Timing = Timing{} },
	}
	for name, mutate := range cases {
		c := validConfig()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDefaultTiming_ProbeTimeoutCoversTheWAN(t *testing.T) {
	const maxRTT = 250 * time.Millisecond
	tm := DefaultTiming()
	if tm.ProbeTimeout < 2*maxRTT {
		t.Errorf("ProbeTimeout %v leaves no margin over the largest emulated RTT %v", tm.ProbeTimeout, maxRTT)
	}
	if tm.ProbeInterval <= tm.ProbeTimeout {
		t.Errorf("ProbeInterval %v must exceed ProbeTimeout %v", tm.ProbeInterval, tm.ProbeTimeout)
	}
}

func TestGossipKey_DerivedFromTheSecret(t *testing.T) {
	a1, err := gossipKey([]byte("secret A"))
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := gossipKey([]byte("secret A"))
	b, _ := gossipKey([]byte("secret B"))
	if len(a1) != 32 {
		t.Errorf("key is %d bytes, want 32 (AES-256)", len(a1))
	}
	if !bytes.Equal(a1, a2) {
		t.Error("the same secret gives different keys")
	}
	if bytes.Equal(a1, b) {
		t.Error("different secrets give the same key")
	}
	if bytes.Equal(a1[:8], []byte("secret A")) {
		t.Error("the key contains the secret")
	}
}

func TestConfig_MemberlistConfigAuthenticatesGossip(t *testing.T) {
	c := validConfig()
	mc, err := c.memberlistConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(mc.SecretKey) != 32 || !mc.GossipVerifyIncoming || !mc.GossipVerifyOutgoing {
		t.Errorf("gossip not authenticated: key %d bytes, verify in %v out %v", len(mc.SecretKey), mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing)
	}
	if mc.ProbeTimeout != c.Timing.ProbeTimeout || mc.ProbeInterval != c.Timing.ProbeInterval ||
		mc.SuspicionMult != c.Timing.SuspicionMult || mc.GossipInterval != c.Timing.GossipInterval ||
		mc.AwarenessMaxMultiplier != c.Timing.AwarenessMaxMultiplier || mc.TCPTimeout != c.Timing.StreamTimeout {
		t.Errorf("timing not carried over: %+v", mc)
	}
	if mc.DeadNodeReclaimTime <= 0 {
		t.Error("a restarted process on a new port could not take its name back")
	}
}

func TestRole_StringAndParse(t *testing.T) {
	for _, r := range []Role{RoleMember, RoleEdge} {
		got, err := ParseRole(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %v, %v", r.String(), got, err)
		}
	}
	if _, err := ParseRole("leader"); err == nil {
		t.Error("ParseRole accepted an unknown role")
	}
}

func TestConfig_LogValueRedactsTheSecret(t *testing.T) {
	c := validConfig()
	c.Secret = []byte("hunter2-cluster-secret")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("start", "config", c)
	out := buf.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("secret logged: %s", out)
	}
	for _, want := range []string{"config.name=eu-1", "config.secret=[redacted]", "config.probe_timeout=600ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
}

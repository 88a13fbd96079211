package routing

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func sampleMeta() Meta {
	return Meta{
		Region:       "eu-west-1",
		Location:     "dublin",
		Role:         RoleMember,
		S3Endpoint:   "http://10.0.0.1:9000",
		InternalAddr: "10.0.0.1:7000",
		Leader:       true,
		LeaderSince:  time.UnixMilli(1_800_000_000_123),
		Started:      time.UnixMilli(1_799_999_000_456),
	}
}

func TestMeta_RoundTrip(t *testing.T) {
	for _, m := range []Meta{
		sampleMeta(),
		{Region: "r", Location: "l", Role: RoleEdge}, // zero times, empty endpoints
		{Region: "ünïcode", Location: "東京", Role: RoleMember, Leaving: true},
	} {
		b := encodeMeta(m)
		if b[0] != metaVersion {
			t.Fatalf("first byte %d, want the format version %d", b[0], metaVersion)
		}
		got, err := decodeMeta(b)
		if err != nil {
			t.Fatalf("decode %+v: %v", m, err)
		}
		if got != m {
			t.Errorf("round trip: got %+v, want %+v", got, m)
		}
	}
}

func TestMeta_DecodeRejectsMalformed(t *testing.T) {
	good := encodeMeta(sampleMeta())
	cases := map[string][]byte{
		"empty":          nil,
		"short":          {metaVersion, byte(RoleMember)},
		"future version": append([]byte{metaVersion + 1}, good[1:]...),
		"unknown role":   append([]byte{metaVersion, 9}, good[2:]...),
		"unknown flag":   append([]byte{metaVersion, byte(RoleMember), 0x80}, good[3:]...),
		"truncated":      good[:len(good)-1],
		"trailing":       append(bytes.Clone(good), 0),
		"huge length":    {metaVersion, byte(RoleMember), 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad utf8":       append([]byte{metaVersion, byte(RoleMember), 0, 0, 0, 1, 0xff}, 0, 0, 0),
		"time overflow":  {metaVersion, byte(RoleMember), 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for name, b := range cases {
		if m, err := decodeMeta(b); err == nil {
			t.Errorf("%s: decoded %+v, want an error", name, m)
		}
	}
}

func TestMeta_LargestFitsMemberlistLimitWithRealisticNames(t *testing.T) {
	m := sampleMeta()
	m.Region = strings.Repeat("r", 64)
	m.Location = strings.Repeat("l", 64)
	m.S3Endpoint = "https://" + strings.Repeat("h", 120) + ":9000"
	m.InternalAddr = strings.Repeat("i", 120) + ":7000"
	m.Leaving = true
	if n := len(encodeMeta(m)); n > memberlist.MetaMaxSize {
		t.Errorf("meta with long names is %d bytes, over memberlist's %d", n, memberlist.MetaMaxSize)
	}
}

// FuzzDecodeMeta checks that decoding never panics, and that whatever decodes
// survives a round trip (the encoding need not be canonical: a varint may carry
// redundant bytes).
func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta(sampleMeta()))
	f.Add(encodeMeta(Meta{Region: "r", Location: "l", Role: RoleEdge}))
	f.Add([]byte{})
	f.Add([]byte{metaVersion, byte(RoleMember), 3, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		again, err := decodeMeta(encodeMeta(m))
		if err != nil || again != m {
			t.Fatalf("decode(%x) = %+v; re-encoded, it decodes as %+v, %v", b, m, again, err)
		}
	})
}

package adminapi

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	body := []byte(`{"a":"x","b":"y"}`)
	good := Authorization("s3cret", "POST", "/partition", body, now)
	for _, tc := range []struct {
		name         string
		authz        string
		method, path string
		body         []byte
		want         error
	}{
		{"good", good, "POST", "/partition", body, nil},
		{"missing", "", "POST", "/partition", body, ErrUnauthenticated},
		{"other scheme", "Bearer x", "POST", "/partition", body, ErrUnauthenticated},
		{"malformed", Scheme + " t=1, n=short, sig=zz", "POST", "/partition", body, ErrUnauthenticated},
		{"wrong secret", Authorization("other", "POST", "/partition", body, now), "POST", "/partition", body, ErrForbidden},
		{"stale", Authorization("s3cret", "POST", "/partition", body, now.Add(-6*time.Minute)), "POST", "/partition", body, ErrForbidden},
		{"future", Authorization("s3cret", "POST", "/partition", body, now.Add(6*time.Minute)), "POST", "/partition", body, ErrForbidden},
		{"tampered body", Authorization("s3cret", "POST", "/partition", body, now), "POST", "/partition", []byte(`{"a":"x","b":"z"}`), ErrForbidden},
		{"tampered path", Authorization("s3cret", "POST", "/partition", body, now), "POST", "/heal", body, ErrForbidden},
		{"tampered method", Authorization("s3cret", "GET", "/status", nil, now), "POST", "/status", nil, ErrForbidden},
		{"tampered time", strings.Replace(good, "t=1800000000", "t=1800000001", 1), "POST", "/partition", body, ErrForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := NewVerifier("s3cret", clock)
			err := v.Verify(tc.authz, tc.method, tc.path, tc.body)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error reveals the secret: %v", err)
			}
		})
	}
	// Within the window, by a minute: accepted once, then refused as a replay.
	v := NewVerifier("s3cret", clock)
	h := Authorization("s3cret", "GET", "/status", nil, now.Add(-time.Minute))
	if err := v.Verify(h, "GET", "/status", nil); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(h, "GET", "/status", nil); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "replay") {
		t.Fatalf("replay: %v", err)
	}
}

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		method, path, body string
		want               Op
		err                error
	}{
		{"GET", "/status", "", Op{Kind: OpStatus}, nil},
		{"POST", "/status", "", Op{}, ErrMethod},
		{"GET", "/replication", "", Op{Kind: OpReplication}, nil},
		{"POST", "/replication", "", Op{}, ErrMethod},
		{"POST", "/links", `{"a":"x","b":"y","rtt":"70ms","jitter":"2ms","loss":0.1}`,
			Op{Kind: OpLink, A: "x", B: "y", Latency: 35 * time.Millisecond, Jitter: 2 * time.Millisecond, Loss: 0.1}, nil},
		{"POST", "/links", `{"a":"x","b":"y","latency":"10ms"}`, Op{Kind: OpLink, A: "x", B: "y", Latency: 10 * time.Millisecond}, nil},
		{"POST", "/links", `{"a":"x","b":"y"}`, Op{}, ErrBadRequest},
		{"POST", "/links", `{"a":"x","b":"y","rtt":"1ms","latency":"1ms"}`, Op{}, ErrBadRequest},
		{"POST", "/links", `{"a":"x","b":"y","rtt":70}`, Op{}, ErrBadRequest},
		{"POST", "/links", `{"a":"x","b":"y","rtt":"-1s"}`, Op{}, ErrBadRequest},
		{"POST", "/links", `{"a":"x","b":"y","rtt":"1s","loss":1}`, Op{}, ErrBadRequest},
		{"POST", "/links", `{"a":"x","b":"x","rtt":"1s"}`, Op{}, ErrBadRequest},
		{"POST", "/links", `{"a":"x","b":"y","rtt":"1s","extra":1}`, Op{}, ErrBadRequest},
		{"POST", "/partition", `{"a":"x","b":"y"}`, Op{Kind: OpPartition, A: "x", B: "y"}, nil},
		{"POST", "/heal", `{"a":"x","b":"y"} {}`, Op{}, ErrBadRequest},
		{"POST", "/heal", `{"a":"x/","b":"y"}`, Op{}, ErrBadRequest},
		{"POST", "/regions/eu-west-1/down", "", Op{Kind: OpRegionDown, Region: "eu-west-1"}, nil},
		{"POST", "/regions/eu-west-1/up", "", Op{Kind: OpRegionUp, Region: "eu-west-1"}, nil},
		{"POST", "/members/eu-west-1/n2/stop", "", Op{Kind: OpMemberStop, Region: "eu-west-1", Member: "n2"}, nil},
		{"POST", "/members/eu-west-1/n2/start", "", Op{Kind: OpMemberStart, Region: "eu-west-1", Member: "n2"}, nil},
		{"GET", "/members/eu-west-1/n2/start", "", Op{}, ErrMethod},
		{"POST", "/regions/eu-west-1/sideways", "", Op{}, ErrNotFound},
	} {
		op, err := ParseRequest(tc.method, tc.path, []byte(tc.body))
		if tc.err == nil && (err != nil || op != tc.want) || tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%s %s %s: %+v, %v; want %+v, %v", tc.method, tc.path, tc.body, op, err, tc.want, tc.err)
		}
	}
}

// FuzzParseRequest: any request parses to an Op or to one of the three errors,
// never panics, and a parsed Op is within the documented bounds.
func FuzzParseRequest(f *testing.F) {
	f.Add("POST", "/links", `{"a":"x","b":"y","rtt":"70ms","jitter":"2ms","loss":0.1}`)
	f.Add("POST", "/partition", `{"a":"x","b":"y"}`)
	f.Add("POST", "/members/r/n1/stop", "")
	f.Add("GET", "/status", "")
	f.Fuzz(func(t *testing.T, method, path, body string) {
		op, err := ParseRequest(method, path, []byte(body))
		if err != nil {
			if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrMethod) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if op.Latency < 0 || op.Latency > MaxLatency || op.Jitter < 0 || op.Loss < 0 || op.Loss >= 1 || op.Bandwidth < 0 {
			t.Fatalf("out of bounds: %+v", op)
		}
		for _, n := range []string{op.A, op.B, op.Region, op.Member} {
			if n != "" && !ValidName(n) {
				t.Fatalf("bad name in %+v", op)
			}
		}
	})
}

// FuzzVerify: the Authorization parser never panics and never accepts a header
// it did not sign.
func FuzzVerify(f *testing.F) {
	f.Add(Authorization("k", "GET", "/status", nil, time.Now()))
	f.Add(Scheme + " t=1, n=0123456789abcdef, sig=00")
	f.Fuzz(func(t *testing.T, h string) {
		if err := NewVerifier("k", nil).Verify(h, "POST", "/heal", []byte("x")); err == nil {
			t.Fatalf("accepted %q", h)
		}
	})
}

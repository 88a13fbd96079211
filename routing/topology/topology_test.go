package topology

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefault_ShapeAndRTTs(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("Default does not validate: %v", err)
	}
	if got := d.ControlRegion().Name; got != "us-east-1" {
		t.Errorf("control region = %q, want us-east-1", got)
	}
	if len(d.Regions) != 3 || len(d.Edges) != 3 {
		t.Fatalf("regions %d, edges %d; want 3 and 3", len(d.Regions), len(d.Edges))
	}
	for _, r := range d.Regions {
		if r.Members != 3 {
			t.Errorf("region %s has %d members, want 3", r.Name, r.Members)
		}
	}
	for _, c := range []struct {
		a, b string
		want time.Duration
	}{
		{"us-east-1", "eu-west-1", 70 * time.Millisecond},
		{"eu-west-1", "us-east-1", 70 * time.Millisecond},
		{"us-east-1", "ap-southeast-2", 200 * time.Millisecond},
		{"ap-southeast-2", "eu-west-1", 250 * time.Millisecond},
		{"eu-west-1", "eu-west-1", 0},
		{"eu-west-1", "mars-1", 0},
	} {
		if got := d.RTT(c.a, c.b); got != c.want {
			t.Errorf("RTT(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestExampleYAML_EqualsDefault(t *testing.T) {
	got, err := Load("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("example.yaml = %+v\nDefault() = %+v", got, want)
	}
}

func TestParse_OmittedEdgesAreOnePerLocation(t *testing.T) {
	src := "locations: [a, b]\nlinks:\n  - between: [a, b]\n    rtt: 10ms\nregions:\n  - {name: r, location: a, members: 1}\n"
	got, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Edge{{Name: "edge-a", Location: "a"}, {Name: "edge-b", Location: "b"}}
	if !reflect.DeepEqual(got.Edges, want) {
		t.Fatalf("edges = %+v, want %+v", got.Edges, want)
	}

	got, err = Parse([]byte(src + "edges: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Edges) != 0 {
		t.Fatalf("edges: [] gave %+v, want none", got.Edges)
	}
}

func TestSized(t *testing.T) {
	for n := 1; n <= len(catalog); n++ {
		topo, err := Sized(n, 2)
		if err != nil {
			t.Fatalf("Sized(%d, 2): %v", n, err)
		}
		if len(topo.Regions) != n || topo.Regions[0].Name != "us-east-1" {
			t.Fatalf("Sized(%d, 2) regions = %+v", n, topo.Regions)
		}
		for _, l := range topo.Links {
			if l.RTT <= 0 {
				t.Errorf("Sized(%d): link %v has no RTT in the catalog", n, l.Between)
			}
		}
	}
	if _, err := Sized(len(catalog)+1, 3); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "regions") {
		t.Errorf("Sized(%d, 3) error = %v, want one naming regions", len(catalog)+1, err)
	}
	if _, err := Sized(3, 0); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "members") {
		t.Errorf("Sized(3, 0) error = %v, want one naming members", err)
	}
}

func TestMarshal_RoundTrips(t *testing.T) {
	topo := Default()
	topo.Links[2].Jitter = 5 * time.Millisecond
	topo.Links[2].Loss = 0.01
	topo.Links[2].Bandwidth = 12_500_000
	data, err := topo.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(Marshal()): %v\n%s", err, data)
	}
	if !reflect.DeepEqual(back, topo) {
		t.Fatalf("round trip changed the topology:\n%s", data)
	}
}

func TestLoad_MissingFileNamesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	if _, err := Load(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want ErrNotExist", err)
	}
}

func TestParse_Errors(t *testing.T) {
	const base = `
locations: [a, b]
links:
  - between: [a, b]
    rtt: 10ms
regions:
  - name: r
    location: a
    members: 1
edges:
  - name: e
    location: b
`
	cases := []struct {
		name string
		old  string // replaced in base by new; empty old means the whole document is new
		new  string
		want string // substring of the error
	}{
		{"empty document", "", "", "empty document"},
		{"unknown key", "regions:", "region_list: []\nregions:", "region_list"},
		{"second document", "", base + "---\n" + base, "more than one YAML document"},
		{"rtt without unit", "rtt: 10ms", "rtt: 10", "line 5: cannot unmarshal !!int `10` into time.Duration"},
		{"no locations", "locations: [a, b]", "locations: []", "locations: no location"},
		{"duplicate location", "locations: [a, b]", "locations: [a, b, a]", `locations[2]: duplicate location "a"`},
		{"bad location name", "locations: [a, b]", "locations: [a, b, 'x y']", "locations[2]: name"},
		{"long location name", "locations: [a, b]", "locations: [a, b, " + strings.Repeat("x", MaxNameLen+1) + "]", "locations[2]: name"},
		{"location starting with dash", "locations: [a, b]", "locations: [a, b, -x]", "locations[2]: name"},
		{"unknown location in link", "between: [a, b]", "between: [a, c]", `links[0].between[1]: unknown location "c"`},
		{"link to itself", "between: [a, b]", "between: [a, a]", "links[0].between: links \"a\" to itself"},
		{"link with one end", "between: [a, b]", "between: [a]", "invalid array"},
		{"duplicate link", "    rtt: 10ms\n", "    rtt: 10ms\n  - between: [b, a]\n    rtt: 20ms\n", `links[1].between: second link between "b" and "a"`},
		{"missing link", "locations: [a, b]", "locations: [a, b, c]", `links: no link between "a" and "c"`},
		{"negative rtt", "rtt: 10ms", "rtt: -1ms", "links[0].rtt: negative"},
		{"negative jitter", "rtt: 10ms", "rtt: 10ms\n    jitter: -1ms", "links[0].jitter: negative"},
		{"negative loss", "rtt: 10ms", "rtt: 10ms\n    loss: -0.1", "links[0].loss: -0.1 is outside [0, 1)"},
		{"loss of one", "rtt: 10ms", "rtt: 10ms\n    loss: 1", "links[0].loss: 1 is outside [0, 1)"},
		{"loss NaN", "rtt: 10ms", "rtt: 10ms\n    loss: .nan", "links[0].loss: NaN is outside [0, 1)"},
		{"negative bandwidth", "rtt: 10ms", "rtt: 10ms\n    bandwidth: -5", "links[0].bandwidth: negative"},
		{"no regions", "regions:\n  - name: r\n    location: a\n    members: 1\n", "regions: []\n", "regions: no region"},
		{"region name empty", "name: r\n", "name: ''\n", "regions[0].name: empty name"},
		{"duplicate region", "    members: 1\n", "    members: 1\n  - {name: r, location: b, members: 1}\n", `regions[1].name: duplicate region "r"`},
		{"unknown region location", "    location: a\n", "    location: z\n", `regions[0].location: unknown location "z"`},
		{"zero members", "members: 1", "members: 0", "regions[0].members: 0 is less than 1"},
		{"negative members", "members: 1", "members: -2", "regions[0].members: -2 is less than 1"},
		{"edge name bad", "name: e", "name: 'e/1'", "edges[0].name: name"},
		{"duplicate edge", "    location: b\n", "    location: b\n  - {name: e, location: a}\n", `edges[1].name: duplicate edge "e"`},
		{"unknown edge location", "    location: b\n", "    location: q\n", `edges[0].location: unknown location "q"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := c.new
			if c.old != "" {
				if !strings.Contains(base, c.old) {
					t.Fatalf("test bug: %q is not in the base document", c.old)
				}
				src = strings.Replace(base, c.old, c.new, 1)
			}
			_, err := Parse([]byte(src))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", src)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
	if _, err := Parse([]byte(base)); err != nil {
		t.Fatalf("the base document itself fails: %v", err)
	}
}

func TestValidate_ErrorsWrapErrInvalid(t *testing.T) {
	topo := Default()
	topo.Regions[1].Members = 0
	if err := topo.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate = %v, want ErrInvalid", err)
	}
}

func TestClone_IsDeep(t *testing.T) {
	a := Default()
	b := a.Clone()
	b.Regions[0].Members = 7
	b.Links[0].RTT = time.Second
	if a.Regions[0].Members != 3 || a.Links[0].RTT != 70*time.Millisecond {
		t.Fatal("editing a clone changed the original")
	}
}

func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("example.yaml"); err == nil {
		f.Add(data)
	}
	if data, err := Default().Marshal(); err == nil {
		f.Add(data)
	}
	f.Add([]byte("locations: [a]\nlinks: []\nregions: [{name: r, location: a, members: 1}]\n"))
	f.Add([]byte("locations: [a, b]\nlinks: [{between: [a, b], rtt: 1s, loss: 0.5, jitter: 1ms, bandwidth: 9}]\nregions: [{name: r, location: b, members: 2}]\nedges: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		topo, err := Parse(data)
		if err != nil {
			return
		}
		if err := topo.Validate(); err != nil {
			t.Fatalf("Parse returned a topology that does not validate: %v", err)
		}
		out, err := topo.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal()): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, topo) {
			t.Fatalf("round trip changed the topology:\n%+v\n%+v", topo, back)
		}
	})
}

// TestParse_MRAPs: the mraps key names the lab's MRAPs; names that cannot make
// bucket names, and duplicates, are refused naming the field.
func TestParse_MRAPs(t *testing.T) {
	base := "locations: [a]\nregions:\n  - {name: r1, location: a, members: 1}\n"
	got, err := Parse([]byte(base + "mraps: [demo, other-one]\n"))
	if err != nil || len(got.MRAPs) != 2 || got.MRAPs[0] != "demo" || got.Clone().MRAPs[1] != "other-one" {
		t.Fatalf("mraps: %+v, %v", got, err)
	}
	for _, bad := range []string{"[Demo]", "[-x-]", "[ab]", "[demo, demo]", "[" + strings.Repeat("a", 41) + "]"} {
		if _, err := Parse([]byte(base + "mraps: " + bad + "\n")); err == nil || !strings.Contains(err.Error(), "mraps[") {
			t.Errorf("mraps: %s: %v", bad, err)
		}
	}
}

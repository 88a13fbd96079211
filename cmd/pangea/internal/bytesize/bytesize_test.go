package bytesize

import "testing"

func TestParse_Limit(t *testing.T) {
	if n, err := Parse("8GiB", 1<<50); err != nil || n != 8<<30 {
		t.Fatalf("8GiB under 1 PiB: %d, %v", n, err)
	}
	if _, err := Parse("8GiB", 5<<30); err == nil {
		t.Fatal("8GiB accepted with a limit of 5GiB")
	}
}

// FuzzParse: Parse never panics, and what it accepts Format writes back in a form
// Parse reads as the same number.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"4KiB", "1MiB", "512", "1.5MiB", "2g", "", "x", "-1", "9999999999999GiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s, 1<<50)
		if err != nil {
			return
		}
		back, err := Parse(Format(n), 1<<50)
		if err != nil || back != n {
			t.Fatalf("Parse(%q) = %d; Format gives %q, which parses to %d, %v", s, n, Format(n), back, err)
		}
	})
}

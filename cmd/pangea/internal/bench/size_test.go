package bench

import "testing"

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"0": 0, "512": 512, "512B": 512, "4KiB": 4096, "4k": 4096, "4KB": 4096, " 1MiB ": 1 << 20, "1m": 1 << 20,
		"1.5MiB": 3 << 19, "2GiB": 2 << 30, "5GiB": 5 << 30,
	}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "KiB", "4XB", "-1", "1.5", "6GiB", "1e3", "4 KiB KiB", "..1"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	sizes, err := ParseSizes([]string{"4KiB,1MiB", "64KiB", ","})
	if err != nil || len(sizes) != 3 || sizes[0] != 4096 || sizes[1] != 1<<20 || sizes[2] != 64<<10 {
		t.Errorf("ParseSizes = %v, %v", sizes, err)
	}
}

func TestFormatSize_RoundTrips(t *testing.T) {
	for _, n := range []int64{0, 1, 1000, 1024, 4096, 1 << 20, 3 << 19, 5 << 30} {
		got, err := ParseSize(FormatSize(n))
		if err != nil || got != n {
			t.Errorf("FormatSize(%d) = %q parses to %d, %v", n, FormatSize(n), got, err)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"4KiB", "1MiB", "1.5m", "0", "", "9999999999999GiB", "1e308", "NaN", ".", "5GiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 || n > maxSize {
			t.Fatalf("ParseSize(%q) = %d: out of range but accepted", s, n)
		}
		if back, err := ParseSize(FormatSize(n)); err != nil || back != n {
			t.Fatalf("%d does not round trip through %q", n, FormatSize(n))
		}
	})
}

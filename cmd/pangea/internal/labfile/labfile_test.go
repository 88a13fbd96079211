package labfile

import (
	"os"
	"testing"
)

func TestWriteRead_RoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := File{
		Endpoints: Endpoints{Global: "http://127.0.0.1:9000", Regions: map[string][]string{"us-east-1": {"http://127.0.0.1:9000"}}},
		AccessKey: "pangea", SecretKey: "pangea-secret",
	}
	if err := Write(dir, in); err != nil {
		t.Fatal(err)
	}
	out, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if out.Endpoints.Global != in.Endpoints.Global || out.AccessKey != "pangea" || out.SecretKey != "pangea-secret" ||
		len(out.Endpoints.Regions["us-east-1"]) != 1 {
		t.Fatalf("round trip: got %+v", out)
	}
	st, err := os.Stat(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("lab.json mode %v: holds a secret, must not be group/world readable", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
	if err := Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := Remove(dir); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := Read(dir); err == nil {
		t.Fatal("read after remove succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"endpoints":{"global":"http://127.0.0.1:9000","regions":{"us-east-1":["http://127.0.0.1:9000"]}},"access_key":"a","secret_key":"b"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"endpoints":{"regions":null}}`))
	f.Add([]byte(`nope`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Parse(b)
		if err == nil && got.Endpoints.Global == "" {
			t.Fatal("accepted a file without a global endpoint")
		}
	})
}

package storage

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"testing"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func TestDigester_Vectors(t *testing.T) {
	body := []byte("123456789")
	sha := sha256.Sum256(body)
	// Check values of the CRC catalogue for "123456789".
	for alg, want := range map[string]string{
		"CRC32":     b64(be32(0xcbf43926)),
		"crc32c":    b64(be32(0xe3069283)),
		"CRC64NVME": b64(be64(0xae8b14860a799888)),
		"SHA1":      "98O8HYCOBHMq32eZZczDTKeuNEE=", // f7c3bc1d808e04732adf679965ccc34ca7ae3441
		"SHA256":    b64(sha[:]),
	} {
		d, err := NewDigester(DigestExpectation{ChecksumAlgorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		d.Write(body[:4])
		d.Write(body[4:])
		etag, cs, err := d.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if etag != "25f9e794323b453885f5181f1b624d0b" {
			t.Fatalf("etag = %s", etag)
		}
		if cs == nil || cs.Value != want || cs.Type != ChecksumFullObject {
			t.Errorf("%s = %+v, want %s", alg, cs, want)
		}
		// The same value given by the client verifies; another one does not.
		for _, exp := range []DigestExpectation{
			{ChecksumAlgorithm: alg, ChecksumValue: want},
			{ChecksumAlgorithm: alg, Trailer: func() string { return want }},
		} {
			d, _ := NewDigester(exp)
			d.Write(body)
			if _, _, err := d.Finish(); err != nil {
				t.Errorf("%s: matching value rejected: %v", alg, err)
			}
		}
		d, _ = NewDigester(DigestExpectation{ChecksumAlgorithm: alg, Trailer: func() string { return want }})
		d.Write(body[1:])
		if _, _, err := d.Finish(); !errorsIs(err, ErrChecksumMismatch) {
			t.Errorf("%s: mismatch err = %v", alg, err)
		}
	}
}

func TestDigester_Errors(t *testing.T) {
	sum := md5.Sum([]byte("hello"))
	for _, exp := range []DigestExpectation{
		{ContentMD5: "not base64!"},
		{ContentMD5: b64([]byte("short"))},
		{ChecksumAlgorithm: "MD4"},
		{ChecksumValue: "AAAAAA=="},
		{ChecksumAlgorithm: "CRC32", ChecksumValue: b64(be64(1))},
	} {
		if _, err := NewDigester(exp); !errorsIs(err, ErrInvalidArgument) {
			t.Errorf("%+v: err = %v", exp, err)
		}
	}
	d, _ := NewDigester(DigestExpectation{ContentMD5: b64(sum[:])})
	d.Write([]byte("hello"))
	if _, cs, err := d.Finish(); err != nil || cs != nil {
		t.Fatalf("good MD5: %v %v", cs, err)
	}
	d, _ = NewDigester(DigestExpectation{ContentMD5: b64(sum[:])})
	d.Write([]byte("hellO"))
	if _, _, err := d.Finish(); !errorsIs(err, ErrBadDigest) {
		t.Fatalf("bad MD5: %v", err)
	}
	d, _ = NewDigester(DigestExpectation{ChecksumAlgorithm: "CRC32", Trailer: func() string { return "garbage" }})
	if _, _, err := d.Finish(); !errorsIs(err, ErrChecksumMismatch) {
		t.Fatalf("garbage trailer: %v", err)
	}
}

func TestMultipartETagAndComposite(t *testing.T) {
	// Known S3 value: two parts whose MD5s are those of "a" and "b".
	ea, eb := md5.Sum([]byte("a")), md5.Sum([]byte("b"))
	both := md5.Sum(append(ea[:], eb[:]...))
	got, err := MultipartETag([]string{`"0cc175b9c0f1b6a831c399e269772661"`, "92eb5ffee6ae2fec3ad71c777531578f"})
	if err != nil || got != b64hex(both[:])+"-2" {
		t.Fatalf("MultipartETag = %q, %v", got, err)
	}
	if _, err := MultipartETag([]string{"xyz"}); !errorsIs(err, ErrInvalidPart) {
		t.Fatalf("bad etag: %v", err)
	}
	c1, c2 := be32(0xcbf43926), be32(0xe3069283)
	cs, err := CompositeChecksum("crc32", []string{b64(c1), b64(c2)})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewDigester(DigestExpectation{ChecksumAlgorithm: "CRC32"})
	d.Write(append(c1, c2...))
	_, whole, _ := d.Finish()
	if cs.Value != whole.Value+"-2" || cs.Type != ChecksumComposite || cs.Algorithm != "CRC32" {
		t.Fatalf("composite = %+v", cs)
	}
}

func b64hex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

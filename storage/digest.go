package storage

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strconv"
	"strings"
)

// Checksum types as S3 names them.
const (
	ChecksumFullObject = "FULL_OBJECT"
	ChecksumComposite  = "COMPOSITE"
)

// crc64NVMETable is CRC-64/NVME (reflected polynomial 0x9a6c9329ac4bc9b5). hash/crc64
// already applies the all-ones init and final xor the algorithm specifies. Built once:
// it is read-only after init.
var crc64NVMETable = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// NormalizeChecksumAlgorithm returns the canonical upper-case name of a checksum
// algorithm, or an error wrapping ErrInvalidArgument if it is not supported.
func NormalizeChecksumAlgorithm(alg string) (string, error) {
	a := strings.ToUpper(alg)
	if _, ok := checksumSize(a); !ok {
		return "", fmt.Errorf("%w: unsupported checksum algorithm %q", ErrInvalidArgument, alg)
	}
	return a, nil
}

func checksumSize(alg string) (int, bool) {
	switch alg {
	case "CRC32", "CRC32C":
		return 4, true
	case "CRC64NVME":
		return 8, true
	case "SHA1":
		return sha1.Size, true
	case "SHA256":
		return sha256.Size, true
	}
	return 0, false
}

// newChecksumHash returns a hash for a canonical algorithm name. Sum of the CRC hashes
// is the big-endian value, which is what S3 base64-encodes.
func newChecksumHash(alg string) hash.Hash {
	switch alg {
	case "CRC32":
		return crc32.NewIEEE()
	case "CRC32C":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "CRC64NVME":
		return crc64.New(crc64NVMETable)
	case "SHA1":
		return sha1.New()
	case "SHA256":
		return sha256.New()
	}
	return nil
}

// decodeChecksumValue decodes a base64 checksum value and checks its length.
func decodeChecksumValue(alg, value string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return nil, false
	}
	n, _ := checksumSize(alg)
	return b, len(b) == n
}

// Digester computes a body's MD5 (its ETag) and, if asked, one additional checksum,
// as the body is written through it, then checks them against what the client claimed.
type Digester struct {
	exp     DigestExpectation
	md5     hash.Hash
	wantMD5 []byte
	alg     string
	sum     hash.Hash
	n       int64
}

// NewDigester prepares a Digester. An unsupported algorithm, a checksum value without
// an algorithm, or a malformed Content-MD5 or checksum value fails with an error
// wrapping ErrInvalidArgument.
func NewDigester(exp DigestExpectation) (*Digester, error) {
	d := &Digester{exp: exp, md5: md5.New()}
	if exp.ContentMD5 != "" {
		b, err := base64.StdEncoding.DecodeString(exp.ContentMD5)
		if err != nil || len(b) != md5.Size {
			return nil, fmt.Errorf("%w: malformed Content-MD5", ErrInvalidArgument)
		}
		d.wantMD5 = b
	}
	if exp.ChecksumAlgorithm == "" {
		if exp.ChecksumValue != "" {
			return nil, fmt.Errorf("%w: checksum value without algorithm", ErrInvalidArgument)
		}
		return d, nil
	}
	alg, err := NormalizeChecksumAlgorithm(exp.ChecksumAlgorithm)
	if err != nil {
		return nil, err
	}
	if exp.ChecksumValue != "" {
		if _, ok := decodeChecksumValue(alg, exp.ChecksumValue); !ok {
			return nil, fmt.Errorf("%w: malformed x-amz-checksum-%s value", ErrInvalidArgument, strings.ToLower(alg))
		}
	}
	d.alg = alg
	d.sum = newChecksumHash(alg)
	return d, nil
}

// Write feeds body bytes to every hash. It never fails.
func (d *Digester) Write(p []byte) (int, error) {
	d.md5.Write(p)
	if d.sum != nil {
		d.sum.Write(p)
	}
	d.n += int64(len(p))
	return len(p), nil
}

// Written returns the number of bytes written so far.
func (d *Digester) Written() int64 { return d.n }

// Finish returns the ETag (hex MD5, no quotes) and the additional checksum (nil if
// none was requested). It fails with ErrBadDigest when Content-MD5 does not match and
// ErrChecksumMismatch when the header or trailer checksum does not. Call it after the
// body hit EOF: the trailer is only known then.
func (d *Digester) Finish() (string, *Checksum, error) {
	sum := d.md5.Sum(nil)
	if d.wantMD5 != nil && string(sum) != string(d.wantMD5) {
		return "", nil, ErrBadDigest
	}
	etag := hex.EncodeToString(sum)
	if d.sum == nil {
		return etag, nil, nil
	}
	got := d.sum.Sum(nil)
	want := d.exp.ChecksumValue
	if want == "" && d.exp.Trailer != nil {
		want = d.exp.Trailer()
	}
	if want != "" {
		w, ok := decodeChecksumValue(d.alg, want)
		if !ok || string(w) != string(got) {
			return "", nil, fmt.Errorf("%w: %s", ErrChecksumMismatch, strings.ToLower(d.alg))
		}
	}
	return etag, &Checksum{Algorithm: d.alg, Value: base64.StdEncoding.EncodeToString(got), Type: ChecksumFullObject}, nil
}

// MultipartETag returns the S3 ETag of a multipart object: the hex MD5 of the
// concatenated binary MD5s of its parts, then "-" and the part count. Part ETags may
// carry quotes.
func MultipartETag(partETags []string) (string, error) {
	h := md5.New()
	for _, e := range partETags {
		b, err := hex.DecodeString(strings.Trim(e, `"`))
		if err != nil || len(b) != md5.Size {
			return "", fmt.Errorf("%w: part etag %q", ErrInvalidPart, e)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(partETags)), nil
}

// CompositeChecksum returns the S3 composite checksum of a multipart object: the
// algorithm's hash of the concatenated raw part checksums, base64, then "-" and the
// part count.
func CompositeChecksum(alg string, partValues []string) (*Checksum, error) {
	alg, err := NormalizeChecksumAlgorithm(alg)
	if err != nil {
		return nil, err
	}
	h := newChecksumHash(alg)
	for _, v := range partValues {
		b, ok := decodeChecksumValue(alg, v)
		if !ok {
			return nil, fmt.Errorf("%w: part checksum %q", ErrInvalidPart, v)
		}
		h.Write(b)
	}
	return &Checksum{
		Algorithm: alg,
		Value:     base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(partValues)),
		Type:      ChecksumComposite,
	}, nil
}

package s3api

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// Request body limits for XML and JSON documents. Object bodies are streamed and
// never limited here.
const (
	maxXMLBody    = 1 << 20
	maxDeleteBody = 2 << 20
	// maxObjectSize is S3's limit for a single PUT, a part and a copy source.
	maxObjectSize int64 = 5 << 30
	// maxUserMetadata is S3's limit on the user-defined metadata of an object.
	maxUserMetadata = 2 << 10
)

// checksumAlgorithms lists the additional checksums S3 supports, with the canonical
// header key carrying each and the length of its raw digest.
var checksumAlgorithms = [...]struct {
	name   string
	header string
	size   int
}{
	{"CRC32", "X-Amz-Checksum-Crc32", 4},
	{"CRC32C", "X-Amz-Checksum-Crc32c", 4},
	{"CRC64NVME", "X-Amz-Checksum-Crc64nvme", 8},
	{"SHA1", "X-Amz-Checksum-Sha1", 20},
	{"SHA256", "X-Amz-Checksum-Sha256", 32},
}

// normalizeChecksumAlgorithm returns the canonical name of a checksum algorithm, or
// "" when it is not one S3 supports.
func normalizeChecksumAlgorithm(alg string) string {
	for _, a := range checksumAlgorithms {
		if strings.EqualFold(a.name, alg) {
			return a.name
		}
	}
	return ""
}

func errUnsupportedChecksum() *Error {
	return apiErr("InvalidRequest", "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
}

// digestExpectation collects what the request claims about its body: Content-MD5,
// one x-amz-checksum-<alg> header or trailer, and x-amz-sdk-checksum-algorithm.
func digestExpectation(rc *reqCtx) (storage.DigestExpectation, error) {
	var exp storage.DigestExpectation
	h := rc.r.Header
	if v, ok := h["Content-Md5"]; ok {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[0]))
		if err != nil || len(raw) != 16 {
			return exp, apiErr("InvalidDigest", "The Content-MD5 you specified was not valid.")
		}
		exp.ContentMD5 = strings.TrimSpace(v[0])
	}
	for _, a := range checksumAlgorithms {
		v, ok := h[a.header]
		if !ok {
			continue
		}
		if exp.ChecksumAlgorithm != "" {
			return exp, apiErr("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[0]))
		if err != nil || len(raw) != a.size {
			return exp, apiErr("InvalidRequest", "Value for "+strings.ToLower(a.header)+" header is invalid.")
		}
		exp.ChecksumAlgorithm = a.name
		exp.ChecksumValue = strings.TrimSpace(v[0])
	}
	if t := h.Get("X-Amz-Trailer"); t != "" {
		for name := range strings.SplitSeq(t, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			alg, ok := strings.CutPrefix(name, "x-amz-checksum-")
			if !ok {
				continue
			}
			canon := normalizeChecksumAlgorithm(alg)
			if canon == "" {
				return exp, errUnsupportedChecksum()
			}
			if exp.ChecksumAlgorithm != "" && exp.ChecksumAlgorithm != canon {
				return exp, apiErr("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
			}
			exp.ChecksumAlgorithm = canon
			if rc.auth != nil && rc.auth.Trailer != nil {
				trailer := rc.auth.Trailer
				exp.Trailer = func() string { return trailer(name) }
			}
		}
	}
	if sdk := h.Get("X-Amz-Sdk-Checksum-Algorithm"); sdk != "" {
		canon := normalizeChecksumAlgorithm(sdk)
		if canon == "" {
			return exp, errUnsupportedChecksum()
		}
		if exp.ChecksumAlgorithm == "" {
			exp.ChecksumAlgorithm = canon
		} else if exp.ChecksumAlgorithm != canon {
			return exp, apiErr("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.")
		}
	}
	return exp, nil
}

// body returns the verified request body. Its reads can be given a deadline
// (SetReadDeadline): the backend gives one to every read of an object's body, to
// cut a client that stops sending while it sends nothing (node.UploadPace).
func (rc *reqCtx) body() io.Reader {
	var r io.Reader
	switch {
	case rc.auth != nil && rc.auth.Body != nil:
		r = rc.auth.Body
	case rc.r.Body == nil || rc.r.Body == http.NoBody:
		return http.NoBody
	default:
		r = rc.r.Body
	}
	return &deadlineBody{Reader: r, w: rc.w}
}

// deadlineBody is a request body whose reads can be given a deadline: the
// connection's read deadline, through http.ResponseController (ErrNotSupported
// where the writer has none). A read that fails at the deadline is a
// clientIOError, answered 400 RequestTimeout.
type deadlineBody struct {
	io.Reader
	w http.ResponseWriter
}

func (b *deadlineBody) SetReadDeadline(t time.Time) error {
	return http.NewResponseController(b.w).SetReadDeadline(t)
}

// readDocument reads a small request document (XML or JSON) of at most limit bytes,
// verifying Content-MD5 and x-amz-checksum-* when sent. requireDigest makes one of
// them mandatory, as S3 does for DeleteObjects.
func readDocument(rc *reqCtx, limit int64, requireDigest bool) ([]byte, error) {
	exp, err := digestExpectation(rc)
	if err != nil {
		return nil, err
	}
	if requireDigest && exp.ContentMD5 == "" && exp.ChecksumAlgorithm == "" {
		return nil, apiErr("InvalidRequest", "Missing required header for this request: Content-MD5")
	}
	if rc.r.ContentLength > limit {
		return nil, apiErr("MaxMessageLengthExceeded", "Your request was too big.")
	}
	data, err := io.ReadAll(io.LimitReader(rc.body(), limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, apiErr("MaxMessageLengthExceeded", "Your request was too big.")
	}
	if exp.ContentMD5 == "" && exp.ChecksumAlgorithm == "" {
		return data, nil
	}
	d, err := storage.NewDigester(exp)
	if err != nil {
		return nil, err
	}
	if _, err := d.Write(data); err != nil {
		return nil, err
	}
	if _, _, err := d.Finish(); err != nil {
		return nil, err
	}
	return data, nil
}

package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// attachBody sets res.Body, DecodedLength and Trailer from the payload mode
// named by x-amz-content-sha256. signer is the seeded chunk chain of a SigV4
// or SigV4A request, nil for anonymous and SigV2 requests, which therefore
// cannot use signed streaming.
func (v *Verifier) attachBody(r *http.Request, res *Result, signer *chunkSigner) *Error {
	body := io.Reader(r.Body)
	if r.Body == nil {
		body = http.NoBody
	}
	res.Body = body
	res.DecodedLength = r.ContentLength
	res.Trailer = func(string) string { return "" }

	vals := r.Header.Values(headerContentSHA256)
	if len(vals) == 0 {
		return nil
	}
	mode := vals[0]
	if len(vals) > 1 || !isPayloadHash(mode) {
		return errBadPayloadHash()
	}
	var alg string
	trailers := false
	switch mode {
	case UnsignedPayload:
		return nil
	case StreamingUnsignedPayload:
		signer, trailers = nil, true
	case StreamingPayload:
		alg = algV4
	case StreamingPayloadTrailer:
		alg, trailers = algV4, true
	case StreamingECDSAPayload:
		alg = algV4A
	case StreamingECDSAPayloadTrailer:
		alg, trailers = algV4A, true
	default:
		want, _ := hex.DecodeString(mode)
		res.Body = &sha256Reader{r: body, h: sha256.New(), want: want}
		return nil
	}
	if alg != "" && (signer == nil || signer.alg != alg) {
		return newError(codeInvalidRequest, "x-amz-content-sha256 %s does not match how the request was signed.", mode)
	}
	decoded := int64(-1)
	if d := r.Header.Get(headerDecodedLength); d != "" {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n < 0 {
			return newError(codeInvalidArgument, "x-amz-decoded-content-length must be a non-negative integer.")
		}
		decoded = n
	}
	var declared map[string]bool
	if trailers {
		declared = make(map[string]bool)
		for _, h := range r.Header.Values(headerTrailer) {
			for _, name := range strings.Split(h, ",") {
				if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
					declared[name] = true
				}
			}
		}
		if len(declared) > maxTrailers {
			return newError(codeInvalidRequest, "Too many trailers declared in x-amz-trailer.")
		}
	}
	cr := newChunkedReader(body, signer, trailers, declared, decoded)
	res.Body = cr
	res.DecodedLength = decoded
	res.Trailer = cr.trailer
	return nil
}

// sha256Reader passes a body through and, at its end, returns
// XAmzContentSHA256Mismatch instead of io.EOF unless the body hashes to want.
type sha256Reader struct {
	r    io.Reader
	h    hash.Hash
	want []byte
}

func (s *sha256Reader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.h.Write(p[:n])
	if err == io.EOF && subtle.ConstantTimeCompare(s.h.Sum(nil), s.want) != 1 {
		return n, newError(codeContentSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return n, err
}

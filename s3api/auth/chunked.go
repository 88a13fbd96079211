package auth

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Limits of the aws-chunked decoder. Chunk data is streamed through a fixed
// buffer whatever size a chunk header declares; only header and trailer lines
// are buffered, and they are short.
const (
	chunkBufferSize = 64 << 10
	maxChunkLine    = 4 << 10
	maxTrailers     = 32
)

// chunkSigner holds the chain state of a signed aws-chunked body: each chunk
// signature covers the previous one, starting from the request's seed
// signature, so chunks cannot be dropped, reordered or replaced.
type chunkSigner struct {
	alg     string // algV4 or algV4A
	amzDate string
	scope   string
	key     []byte            // SigV4 signing key
	pub     *ecdsa.PublicKey  // SigV4A verification key
	priv    *ecdsa.PrivateKey // SigV4A signing key (signers only)
	prev    string            // previous signature, hex, no padding
}

// chunkStringToSign is the string to sign of a chunk whose data hashes to h.
func (s *chunkSigner) chunkStringToSign(h []byte) string {
	return s.alg + "-PAYLOAD\n" + s.amzDate + "\n" + s.scope + "\n" + s.prev + "\n" +
		emptySHA256 + "\n" + hex.EncodeToString(h)
}

// trailerStringToSign is the string to sign of the trailer section whose
// canonical form hashes to h.
func (s *chunkSigner) trailerStringToSign(h []byte) string {
	return s.alg + "-TRAILER\n" + s.amzDate + "\n" + s.scope + "\n" + s.prev + "\n" + hex.EncodeToString(h)
}

// check verifies sig over sts and, when it matches, advances the chain.
func (s *chunkSigner) check(sts, sig string) bool {
	if s.alg == algV4A {
		sig = trimSigV4APadding(sig)
		if !verifyECDSAHex(s.pub, sts, sig) {
			return false
		}
		s.prev = sig
		return true
	}
	want := hexHMAC(s.key, sts)
	if !hexEqual(sig, want) {
		return false
	}
	s.prev = want
	return true
}

// sign signs sts and advances the chain; it returns the wire form of the
// signature (SigV4A padded to its fixed width).
func (s *chunkSigner) sign(sts string) (string, error) {
	if s.alg == algV4A {
		sig, err := signECDSAHex(s.priv, sts)
		if err != nil {
			return "", err
		}
		s.prev = sig
		if len(sig) < sigV4APaddedLen {
			sig += strings.Repeat(string(sigV4APadding), sigV4APaddedLen-len(sig))
		}
		return sig, nil
	}
	sig := hexHMAC(s.key, sts)
	s.prev = sig
	return sig, nil
}

// canonicalTrailers is the text a trailer signature covers: "name:value\n"
// per trailer, names lower-case and sorted.
func canonicalTrailers(values map[string]string) []byte {
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(values[n])
		b.WriteByte('\n')
	}
	h := sha256.Sum256([]byte(b.String()))
	return h[:]
}

// chunkedReader decodes an aws-chunked body:
//
//	<hex-size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n[<trailers>]\r\n
//
// verifying every chunk signature when signer is set and the trailer section
// when trailers are expected.
type chunkedReader struct {
	src      *bufio.Reader
	signer   *chunkSigner    // nil: chunks are not signed
	trailers bool            // a trailer section may follow the final chunk
	declared map[string]bool // trailer names announced in x-amz-trailer
	decoded  int64           // x-amz-decoded-content-length, -1 unknown

	total  int64     // decoded bytes so far
	left   int64     // bytes left in the current chunk
	sig    string    // the current chunk's signature
	h      hash.Hash // SHA-256 of the current chunk's data
	values map[string]string
	done   bool
	err    error
}

func newChunkedReader(src io.Reader, signer *chunkSigner, trailers bool, declared map[string]bool, decoded int64) *chunkedReader {
	c := &chunkedReader{
		src:      bufio.NewReaderSize(src, chunkBufferSize),
		signer:   signer,
		trailers: trailers,
		declared: declared,
		decoded:  decoded,
	}
	if signer != nil {
		c.h = sha256.New()
	}
	return c
}

// trailer returns a trailer value once the body has been read to the end.
func (c *chunkedReader) trailer(name string) string {
	if !c.done {
		return ""
	}
	return c.values[strings.ToLower(name)]
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	for {
		if c.err != nil {
			return 0, c.err
		}
		if c.done {
			return 0, io.EOF
		}
		if c.left > 0 {
			break
		}
		if err := c.nextChunk(); err != nil {
			c.err = err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.src.Read(p)
	if n > 0 {
		if c.h != nil {
			c.h.Write(p[:n])
		}
		c.left -= int64(n)
		c.total += int64(n)
	}
	if err != nil {
		c.err = truncation(err)
		return n, c.err
	}
	if c.left == 0 {
		if err := c.endChunk(); err != nil {
			c.err = err
			return n, err
		}
	}
	return n, nil
}

// truncation maps the end of the input in the middle of the encoding to
// IncompleteBody; other read errors (a broken connection, a size limit) pass
// through unchanged.
func truncation(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errIncompleteBody("The request body ended before the aws-chunked encoding was complete.")
	}
	return err
}

// errFraming is the answer to an aws-chunked body whose framing is broken: a
// chunk size that is not hex, a line too long or not ended by CRLF, chunk data
// longer than its size. S3 answers every such body 400 IncompleteBody ("The
// request body terminated unexpectedly"), as it does a truncated one: the
// decoder cannot tell where the body the client meant ends. (InvalidRequest
// stays for a well-framed body that breaks a rule: undeclared trailers, data
// beyond the final chunk or beyond x-amz-decoded-content-length.)
func errFraming(what string) *Error {
	return errIncompleteBody("The request body terminated unexpectedly: %s.", what)
}

// readLine reads one header or trailer line without its CRLF. A bare LF is
// refused like any other broken framing, as net/http refuses it in
// Transfer-Encoding: chunked: lenient line endings let two parsers of one
// body disagree on where its chunks are.
func (c *chunkedReader) readLine() (string, error) {
	line, err := c.src.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxChunkLine {
		return "", errFraming("an aws-chunked line is too long")
	}
	if err != nil {
		return "", truncation(err)
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", errFraming("an aws-chunked line does not end with CRLF")
	}
	return string(line[:len(line)-2]), nil
}

// nextChunk reads a chunk header; the final (empty) chunk ends the body.
func (c *chunkedReader) nextChunk() error {
	line, err := c.readLine()
	if err != nil {
		return err
	}
	size, sig, perr := parseChunkHeader(line, c.signer != nil)
	if perr != nil {
		return perr
	}
	if c.decoded >= 0 && size > c.decoded-c.total {
		return newError(codeInvalidRequest, "The aws-chunked body is longer than x-amz-decoded-content-length.")
	}
	c.sig = sig
	if c.h != nil {
		c.h.Reset()
	}
	if size > 0 {
		c.left = size
		return nil
	}
	return c.finish()
}

// endChunk consumes the CRLF after a chunk's data and checks its signature.
func (c *chunkedReader) endChunk() error {
	line, err := c.readLine()
	if err != nil {
		return err
	}
	if line != "" {
		return errFraming("an aws-chunked chunk is longer than its declared size")
	}
	return c.checkChunk()
}

func (c *chunkedReader) checkChunk() error {
	if c.signer == nil {
		return nil
	}
	if !c.signer.check(c.signer.chunkStringToSign(c.h.Sum(nil)), c.sig) {
		return newError(codeSignatureDoesNotMatch, msgChunkSignatureDoesNotMatch)
	}
	return nil
}

// finish verifies the final chunk, reads the trailer section and checks
// the decoded length.
func (c *chunkedReader) finish() error {
	if err := c.checkChunk(); err != nil {
		return err
	}
	if err := c.readTrailers(); err != nil {
		return err
	}
	if c.decoded >= 0 && c.total != c.decoded {
		return errIncompleteBody("You did not provide the number of bytes specified by the x-amz-decoded-content-length HTTP header.")
	}
	// Anything after the encoding's end was not covered by it.
	if _, err := c.src.ReadByte(); err == nil {
		return newError(codeInvalidRequest, "Unexpected data after the final aws-chunked chunk.")
	}
	c.done = true
	return nil
}

// readTrailers reads "name:value" lines up to the empty line that ends the
// body, then verifies x-amz-trailer-signature when chunks are signed.
func (c *chunkedReader) readTrailers() error {
	values := make(map[string]string)
	var sig string
	sawSig := false
	for i := 0; ; i++ {
		line, err := c.readLine()
		if err != nil {
			return err
		}
		if line == "" {
			break
		}
		if i >= maxTrailers {
			return newError(codeInvalidRequest, "Too many aws-chunked trailers.")
		}
		name, val, perr := parseTrailerLine(line)
		if perr != nil {
			return perr
		}
		switch {
		case !c.trailers:
			return newError(codeInvalidRequest, "This request's x-amz-content-sha256 does not allow trailers.")
		case sawSig:
			return newError(codeInvalidRequest, "An aws-chunked trailer follows the trailer signature.")
		case name == trailerSignatureName && c.signer != nil:
			sig, sawSig = val, true
		case !c.declared[name]:
			return newError(codeInvalidRequest, "The trailer %s was not declared in x-amz-trailer.", name)
		default:
			if _, dup := values[name]; dup {
				return newError(codeInvalidRequest, "The trailer %s is repeated.", name)
			}
			values[name] = val
		}
	}
	for name := range c.declared {
		if _, ok := values[name]; !ok && c.trailers {
			return errIncompleteBody("The trailer %s declared in x-amz-trailer is missing.", name)
		}
	}
	if c.signer != nil && c.trailers {
		if !sawSig || !c.signer.check(c.signer.trailerStringToSign(canonicalTrailers(values)), sig) {
			return newError(codeSignatureDoesNotMatch, "The trailer signature we calculated does not match the signature you provided.")
		}
	}
	c.values = values
	return nil
}

// parseChunkHeader parses "<hex-size>[;chunk-signature=<sig>]". Signed
// chunks must carry exactly that extension; unsigned chunks' extensions are
// ignored.
func parseChunkHeader(line string, signed bool) (int64, string, *Error) {
	sizeHex, ext, hasExt := strings.Cut(line, ";")
	if sizeHex == "" || len(sizeHex) > 15 || !isHex(sizeHex) {
		return 0, "", errFraming("an aws-chunked chunk size is not a hex number")
	}
	size, err := strconv.ParseInt(sizeHex, 16, 64)
	if err != nil {
		return 0, "", errFraming("an aws-chunked chunk size is not a hex number")
	}
	if !signed {
		return size, "", nil
	}
	sig, ok := strings.CutPrefix(ext, "chunk-signature=")
	if !hasExt || !ok || sig == "" {
		return 0, "", newError(codeSignatureDoesNotMatch, "An aws-chunked chunk has no chunk-signature.")
	}
	if len(sig) > 2*sigV4APaddedLen || !isHex(trimSigV4APadding(sig)) {
		return 0, "", newError(codeInvalidRequest, "An aws-chunked chunk-signature is malformed.")
	}
	return size, sig, nil
}

// parseTrailerLine parses "name:value" into a lower-case name and a trimmed
// value.
func parseTrailerLine(line string) (string, string, *Error) {
	name, val, ok := strings.Cut(line, ":")
	name = strings.ToLower(strings.TrimSpace(name))
	if !ok || name == "" || !isLowerToken(name) {
		return "", "", newError(codeInvalidRequest, "An aws-chunked trailer is malformed.")
	}
	return name, strings.TrimSpace(val), nil
}

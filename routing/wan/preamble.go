package wan

import (
	"errors"
	"fmt"
	"io"

	"github.com/pangea-s3/pangea/routing/topology"
)

// Every emulated connection starts with a preamble, and every emulated
// memberlist packet with a header, of the same shape:
//
//	'P' 'W' | version 1 | kind | length (1..63) | location (length bytes)
//
// kind is kindDial (sent by the dialer), kindAnswer (the acceptor's reply) or
// kindPacket (a memberlist packet; the payload follows). The location is the
// sender's; it is emulation metadata only, outside any authentication: a
// peer can claim any location, which only changes the delay it is given, so
// the cluster handshake (node) and memberlist's encryption still run above.

const (
	headerVersion = 1
	headerFixed   = 5 // magic, version, kind, length

	kindDial   byte = 'D'
	kindAnswer byte = 'A'
	kindPacket byte = 'P'
)

// ErrPreamble is wrapped by the errors for a malformed preamble or header.
var ErrPreamble = errors.New("wan: bad preamble")

// appendHeader appends the header of kind for location loc, which the caller
// has checked with topology.ValidName.
func appendHeader(b []byte, kind byte, loc string) []byte {
	b = append(b, 'P', 'W', headerVersion, kind, byte(len(loc)))
	return append(b, loc...)
}

// checkFixed validates the fixed part of a header and returns the length of
// the location that follows.
func checkFixed(h []byte, kind byte) (int, error) {
	if h[0] != 'P' || h[1] != 'W' {
		return 0, fmt.Errorf("%w: magic %q", ErrPreamble, h[:2])
	}
	if h[2] != headerVersion {
		return 0, fmt.Errorf("%w: version %d", ErrPreamble, h[2])
	}
	if h[3] != kind {
		return 0, fmt.Errorf("%w: kind %q, want %q", ErrPreamble, h[3], kind)
	}
	n := int(h[4])
	if n < 1 || n > topology.MaxNameLen {
		return 0, fmt.Errorf("%w: location length %d", ErrPreamble, n)
	}
	return n, nil
}

func checkLocation(b []byte) (string, error) {
	loc := string(b)
	if !topology.ValidName(loc) {
		return "", fmt.Errorf("%w: location %q", ErrPreamble, loc)
	}
	return loc, nil
}

// splitHeader parses the header of kind at the start of b and returns the
// sender's location and the rest of b.
func splitHeader(b []byte, kind byte) (string, []byte, error) {
	if len(b) < headerFixed {
		return "", nil, fmt.Errorf("%w: %d bytes", ErrPreamble, len(b))
	}
	n, err := checkFixed(b[:headerFixed], kind)
	if err != nil {
		return "", nil, err
	}
	if len(b) < headerFixed+n {
		return "", nil, fmt.Errorf("%w: truncated location", ErrPreamble)
	}
	loc, err := checkLocation(b[headerFixed : headerFixed+n])
	if err != nil {
		return "", nil, err
	}
	return loc, b[headerFixed+n:], nil
}

// readHeader reads exactly one header of kind from r, never more, so that the
// bytes after it stay in r for the wrapped connection.
func readHeader(r io.Reader, kind byte) (string, error) {
	var buf [headerFixed + topology.MaxNameLen]byte
	if _, err := io.ReadFull(r, buf[:headerFixed]); err != nil {
		return "", fmt.Errorf("wan: read preamble: %w", err)
	}
	n, err := checkFixed(buf[:headerFixed], kind)
	if err != nil {
		return "", err
	}
	if _, err := io.ReadFull(r, buf[headerFixed:headerFixed+n]); err != nil {
		return "", fmt.Errorf("wan: read preamble: %w", err)
	}
	return checkLocation(buf[headerFixed : headerFixed+n])
}

package s3api

import (
	"net/netip"
	"strings"
	"unicode/utf8"
)

// maxKeyLength is S3's limit on object key length, in bytes.
const maxKeyLength = 1024

// checkObjectKey applies S3's rules for object keys, the one check every key a
// request names goes through (the URL's, x-amz-copy-source's, DeleteObjects'): a
// key is a sequence of Unicode characters in UTF-8 of at most 1024 bytes. Bytes
// that are not UTF-8 are refused as S3 refuses them, 400 InvalidURI, so that no
// stored key lacks a name a listing can show. Any character is allowed, controls
// and NUL included (S3 stores them; listings show them as character references,
// or percent-encoded with encoding-type=url: see xmlString).
func checkObjectKey(key string) *Error {
	switch {
	case len(key) > maxKeyLength:
		return apiErr("KeyTooLongError", "Your key is too long")
	case !utf8.ValidString(key):
		return apiErr("InvalidURI", "Couldn't parse the specified URI.")
	}
	return nil
}

// validBucketName applies S3's general-purpose bucket naming rules:
// 3-63 characters of lower-case letters, digits, dots and hyphens; beginning and
// ending with a letter or digit; no two adjacent dots; not formatted as an IP
// address; none of the reserved prefixes and suffixes S3 keeps for itself.
func validBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.' || c == '-':
			if i == 0 || i == len(name)-1 {
				return false
			}
		default:
			return false
		}
	}
	if strings.Contains(name, "..") {
		return false
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return false
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return false
		}
	}
	return true
}

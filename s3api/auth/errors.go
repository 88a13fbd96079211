package auth

import (
	"fmt"
	"net/http"
	"strings"
)

// Error is an authentication failure. Code is the S3 error code the client
// must see (SignatureDoesNotMatch, InvalidAccessKeyId, AccessDenied,
// RequestTimeTooSkewed, AuthorizationHeaderMalformed,
// AuthorizationQueryParametersError, XAmzContentSHA256Mismatch, IncompleteBody,
// InvalidArgument, InvalidRequest, MissingSecurityHeader, ...); Message is the
// human-readable text of the S3 error document.
type Error struct {
	Code    string
	Message string
	// HeadersNotSigned names, lower-case and sorted, the x-amz-* headers a
	// request carried without signing them (AccessDenied); S3's error
	// document lists them in a HeadersNotSigned element.
	HeadersNotSigned []string
	// Region is set when a request was signed for another region than the one
	// that must serve it: the region expected. S3's error document carries it
	// in a Region element, from which SDKs learn where to sign their retry.
	Region string
}

func (e *Error) Error() string {
	if len(e.HeadersNotSigned) > 0 {
		return e.Code + ": " + e.Message + " (HeadersNotSigned: " + strings.Join(e.HeadersNotSigned, ", ") + ")"
	}
	return e.Code + ": " + e.Message
}

// Is reports whether target is an *Error with the same Code, so callers can
// write errors.Is(err, &auth.Error{Code: "SignatureDoesNotMatch"}).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// StatusCode is the HTTP status S3 uses for the error's Code (400 when the
// code is not one this package produces).
func (e *Error) StatusCode() int {
	switch e.Code {
	case codeSignatureDoesNotMatch, codeInvalidAccessKeyID, codeAccessDenied,
		codeRequestTimeTooSkewed:
		return http.StatusForbidden
	case codeMissingContentLength:
		return http.StatusLengthRequired
	case codeNotImplemented:
		return http.StatusNotImplemented
	default:
		return http.StatusBadRequest
	}
}

// S3 error codes produced by this package.
const (
	codeSignatureDoesNotMatch     = "SignatureDoesNotMatch"
	codeInvalidAccessKeyID        = "InvalidAccessKeyId"
	codeAccessDenied              = "AccessDenied"
	codeRequestTimeTooSkewed      = "RequestTimeTooSkewed"
	codeHeaderMalformed           = "AuthorizationHeaderMalformed"
	codeQueryParametersError      = "AuthorizationQueryParametersError"
	codeContentSHA256Mismatch     = "XAmzContentSHA256Mismatch"
	codeIncompleteBody            = "IncompleteBody"
	codeInvalidArgument           = "InvalidArgument"
	codeInvalidRequest            = "InvalidRequest"
	codeMissingContentLength      = "MissingContentLength"
	codeNotImplemented            = "NotImplemented"
	msgSignatureDoesNotMatch      = "The request signature we calculated does not match the signature you provided. Check your key and signing method."
	msgChunkSignatureDoesNotMatch = "The chunk signature we calculated does not match the signature you provided."
)

func newError(code, format string, args ...any) *Error {
	if len(args) == 0 {
		return &Error{Code: code, Message: format}
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func errHeaderMalformed(format string, args ...any) *Error {
	return newError(codeHeaderMalformed, "The authorization header is malformed; "+format, args...)
}

func errQueryMalformed(format string, args ...any) *Error {
	return newError(codeQueryParametersError, format, args...)
}

// msgHeadersNotSigned is S3's message for a request carrying x-amz-* headers
// its signature does not cover.
const msgHeadersNotSigned = "There were headers present in the request which were not signed"

func errHeadersNotSigned(names []string) *Error {
	return &Error{Code: codeAccessDenied, Message: msgHeadersNotSigned, HeadersNotSigned: names}
}

func errSignatureMismatch() *Error {
	return newError(codeSignatureDoesNotMatch, msgSignatureDoesNotMatch)
}

func errIncompleteBody(format string, args ...any) *Error {
	return newError(codeIncompleteBody, format, args...)
}

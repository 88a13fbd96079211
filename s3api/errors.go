package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/pangea-s3/pangea/replication/rules"
	"github.com/pangea-s3/pangea/s3api/auth"
	"github.com/pangea-s3/pangea/s3api/policy"
	"github.com/pangea-s3/pangea/storage"
)

// This file is the single translation point from Go errors to S3 error responses.
// Handlers return errors; only writeError turns them into status codes and XML.

// Error is an S3 API error: a code from the S3 error vocabulary, a message and the
// HTTP status it is answered with. Handlers return it for protocol-level problems;
// translate maps every other error onto one.
type Error struct {
	Code    string
	Message string
	Status  int
	// HeadersNotSigned is the HeadersNotSigned element of an AccessDenied
	// for a request with unsigned x-amz-* headers ("a, b").
	HeadersNotSigned string
	// Region is the Region element of an error about a request signed for the
	// wrong region: the region to sign for.
	Region string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Retryable is implemented by errors after which the client should retry: nothing
// happened (no leader reachable, the member closing) or the write may or may not
// have happened (for example raft leadership lost after a command was proposed).
// Such an error, when Retryable reports true, is answered 503 ServiceUnavailable so
// that clients retry instead of trusting a success or a failure that may be false.
// A backend error whose outcome is unknown must implement it.
type Retryable interface {
	Retryable() bool
}

// ClientTimeout is implemented by backend errors that cut a request because its
// client was too slow: a body that arrived below the backend's minimum upload rate
// (node.ErrUploadTooSlow). Such an error, when ClientTimeout reports true, is
// answered as S3 answers a body that stops or crawls: 400 RequestTimeout.
type ClientTimeout interface {
	ClientTimeout() bool
}

// clientIOError is a failure to read the request body or to write the response.
// Both are the client's doing, never the server's: a framing it broke (net/http
// reports malformed Transfer-Encoding: chunked only as an error from Body.Read), a
// connection it reset or closed early, a deadline it let pass. It is answered as a
// client error (if the client still listens) and logged at Debug.
type clientIOError struct {
	err   error
	write bool // writing the response failed
}

func (e *clientIOError) Error() string {
	if e.write {
		return "writing the response: " + e.err.Error()
	}
	return "reading the request body: " + e.err.Error()
}

func (e *clientIOError) Unwrap() error { return e.err }

// clientBody is a request body whose read errors are clientIOErrors. io.EOF
// passes unchanged; io.ErrUnexpectedEOF (the connection closed early) is wrapped
// too, so that no reader mistakes a truncated body for a complete one.
type clientBody struct{ io.ReadCloser }

func (b clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = &clientIOError{err: err}
	}
	return n, err
}

// clientWriter is a response writer whose write errors are clientIOErrors.
type clientWriter struct{ io.Writer }

func (w clientWriter) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	if err != nil {
		err = &clientIOError{err: err, write: true}
	}
	return n, err
}

// statusByCode is the HTTP status of every S3 error code Pangea can answer with.
// Codes absent from the table (for example a code a dependency invents) get 400.
var statusByCode = map[string]int{
	"AccessControlListNotSupported":           http.StatusBadRequest,
	"AccessDenied":                            http.StatusForbidden,
	"AuthorizationHeaderMalformed":            http.StatusBadRequest,
	"AuthorizationQueryParametersError":       http.StatusBadRequest,
	"BadDigest":                               http.StatusBadRequest,
	"BadRequest":                              http.StatusBadRequest,
	"BucketAlreadyExists":                     http.StatusConflict,
	"BucketAlreadyOwnedByYou":                 http.StatusConflict,
	"BucketNotEmpty":                          http.StatusConflict,
	"EntityTooLarge":                          http.StatusBadRequest,
	"EntityTooSmall":                          http.StatusBadRequest,
	"ExpiredToken":                            http.StatusBadRequest,
	"IllegalLocationConstraintException":      http.StatusBadRequest,
	"IllegalVersioningConfigurationException": http.StatusBadRequest,
	"IncompleteBody":                          http.StatusBadRequest,
	"InternalError":                           http.StatusInternalServerError,
	"InvalidAccessKeyId":                      http.StatusForbidden,
	"InvalidArgument":                         http.StatusBadRequest,
	"InvalidBucketAclWithObjectOwnership":     http.StatusBadRequest,
	"InvalidBucketName":                       http.StatusBadRequest,
	"InvalidBucketState":                      http.StatusConflict,
	"InvalidDigest":                           http.StatusBadRequest,
	"InvalidEncryptionAlgorithmError":         http.StatusBadRequest,
	"InvalidLocationConstraint":               http.StatusBadRequest,
	"InvalidPart":                             http.StatusBadRequest,
	"InvalidPartNumber":                       http.StatusRequestedRangeNotSatisfiable,
	"InvalidPartOrder":                        http.StatusBadRequest,
	"InvalidRange":                            http.StatusRequestedRangeNotSatisfiable,
	"InvalidRequest":                          http.StatusBadRequest,
	"InvalidStorageClass":                     http.StatusBadRequest,
	"InvalidTag":                              http.StatusBadRequest,
	"InvalidURI":                              http.StatusBadRequest,
	"KeyTooLongError":                         http.StatusBadRequest,
	"MalformedPolicy":                         http.StatusBadRequest,
	"MalformedXML":                            http.StatusBadRequest,
	"MaxMessageLengthExceeded":                http.StatusBadRequest,
	"MetadataTooLarge":                        http.StatusBadRequest,
	"MethodNotAllowed":                        http.StatusMethodNotAllowed,
	"MissingContentLength":                    http.StatusLengthRequired,
	"MissingRequestBodyError":                 http.StatusBadRequest,
	"MissingSecurityHeader":                   http.StatusBadRequest,
	"MultiRegionAccessPointAlreadyExists":     http.StatusConflict,
	"ConflictingRouteUpdate":                  http.StatusConflict,
	"NoSuchAsyncRequest":                      http.StatusNotFound,
	"NoSuchMultiRegionAccessPoint":            http.StatusNotFound,
	"NotFound":                                http.StatusNotFound,
	"NoSuchBucket":                            http.StatusNotFound,
	"NoSuchBucketPolicy":                      http.StatusNotFound,
	"NoSuchKey":                               http.StatusNotFound,
	"NoSuchPublicAccessBlockConfiguration":    http.StatusNotFound,
	"NoSuchTagSet":                            http.StatusNotFound,
	"NoSuchUpload":                            http.StatusNotFound,
	"NoSuchVersion":                           http.StatusNotFound,
	"NotImplemented":                          http.StatusNotImplemented,
	"NotModified":                             http.StatusNotModified,
	"PolicyTooLarge":                          http.StatusBadRequest,
	"PreconditionFailed":                      http.StatusPreconditionFailed,
	"ReplicationConfigurationNotFoundError":   http.StatusNotFound,
	"RequestTimeTooSkewed":                    http.StatusForbidden,
	"RequestTimeout":                          http.StatusBadRequest,
	"ServiceUnavailable":                      http.StatusServiceUnavailable,
	"SignatureDoesNotMatch":                   http.StatusForbidden,
	"SlowDown":                                http.StatusServiceUnavailable,
	"XAmzContentSHA256Mismatch":               http.StatusBadRequest,
	"InvalidChunkSizeError":                   http.StatusForbidden,
}

// statusOf returns the HTTP status for an S3 error code (400 when unknown).
func statusOf(code string) int {
	if st, ok := statusByCode[code]; ok {
		return st
	}
	return http.StatusBadRequest
}

// apiErr builds an *Error whose status comes from the table.
func apiErr(code, msg string) *Error {
	return &Error{Code: code, Message: msg, Status: statusOf(code)}
}

// Messages S3 uses, kept verbatim because some clients and tests match on them.
const (
	msgNoSuchBucket     = "The specified bucket does not exist"
	msgNoSuchKey        = "The specified key does not exist."
	msgNoSuchVersion    = "The specified version does not exist."
	msgNoSuchUpload     = "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
	msgAccessDenied     = "Access Denied"
	msgMalformedXML     = "The XML you provided was not well-formed or did not validate against our published schema"
	msgNotImplemented   = "A header or query you provided implies functionality that is not implemented."
	msgInternal         = "We encountered an internal error. Please try again."
	msgUnavailable      = "The service is unavailable or the outcome of the request is unknown. Please retry."
	msgMethodNotAllowed = "The specified method is not allowed against this resource."
)

var (
	errAccessDenied     = apiErr("AccessDenied", msgAccessDenied)
	errMalformedXML     = apiErr("MalformedXML", msgMalformedXML)
	errNotImplemented   = apiErr("NotImplemented", msgNotImplemented)
	errMethodNotAllowed = apiErr("MethodNotAllowed", msgMethodNotAllowed)
	errRequestTimeout   = apiErr("RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.")
	// errPreconditionFailed answers every failed precondition, read or write.
	errPreconditionFailed = apiErr("PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
)

// translate maps any error to an S3 error. internal reports whether err was not
// understood (the caller logs its detail; the client only sees InternalError).
func translate(err error) (e *Error, internal bool) {
	var ae *Error
	if errors.As(err, &ae) {
		return ae, false
	}
	var fe *forwardError
	if errors.As(err, &fe) {
		return fe.s3Error(), false
	}
	if errors.Is(err, ErrUnknownRegion) {
		return apiErr("InvalidLocationConstraint", "The specified location-constraint is not valid"), false
	}
	// Checked before the sentinels: a retryable error may wrap anything.
	var re Retryable
	if errors.As(err, &re) && re.Retryable() {
		e := apiErr("ServiceUnavailable", msgUnavailable)
		var um interface{ UnavailableMessage() string }
		if errors.As(err, &um) {
			e.Message = um.UnavailableMessage() // what is unreachable, to retry
		}
		return e, false
	}
	var authErr *auth.Error
	if errors.As(err, &authErr) {
		return &Error{Code: authErr.Code, Message: authErr.Message, Status: statusOf(authErr.Code),
			HeadersNotSigned: strings.Join(authErr.HeadersNotSigned, ", "), Region: authErr.Region}, false
	}
	var polErr *policy.Error
	if errors.As(err, &polErr) {
		return &Error{Code: polErr.Code, Message: polErr.Message, Status: statusOf(polErr.Code)}, false
	}
	var rulesErr *rules.Error
	if errors.As(err, &rulesErr) {
		return &Error{Code: rulesErr.Code, Message: rulesErr.Message, Status: statusOf(rulesErr.Code)}, false
	}
	var ct ClientTimeout
	if errors.As(err, &ct) && ct.ClientTimeout() {
		return errRequestTimeout, false
	}
	var cio *clientIOError
	if errors.As(err, &cio) {
		return clientIOErr(cio), false
	}
	switch {
	case errors.Is(err, storage.ErrNoSuchBucket):
		return apiErr("NoSuchBucket", msgNoSuchBucket), false
	case errors.Is(err, storage.ErrBucketAlreadyExists):
		return apiErr("BucketAlreadyExists", "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."), false
	case errors.Is(err, storage.ErrBucketAlreadyOwnedByYou):
		return apiErr("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it."), false
	case errors.Is(err, storage.ErrBucketNotEmpty):
		return apiErr("BucketNotEmpty", "The bucket you tried to delete is not empty"), false
	case errors.Is(err, storage.ErrNoSuchKey):
		return apiErr("NoSuchKey", msgNoSuchKey), false
	case errors.Is(err, storage.ErrPreconditionFailed):
		return errPreconditionFailed, false
	case errors.Is(err, storage.ErrNoSuchVersion):
		return apiErr("NoSuchVersion", msgNoSuchVersion), false
	case errors.Is(err, storage.ErrDeleteMarker):
		return errMethodNotAllowed, false
	case errors.Is(err, storage.ErrNoSuchUpload):
		return apiErr("NoSuchUpload", msgNoSuchUpload), false
	case errors.Is(err, storage.ErrInvalidPart):
		return apiErr("InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."), false
	case errors.Is(err, storage.ErrInvalidPartOrder):
		return apiErr("InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number."), false
	case errors.Is(err, storage.ErrEntityTooSmall):
		return apiErr("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size."), false
	case errors.Is(err, storage.ErrEntityTooLarge):
		return apiErr("EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size."), false
	case errors.Is(err, storage.ErrIncompleteBody), errors.Is(err, io.ErrUnexpectedEOF):
		return apiErr("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header."), false
	case errors.Is(err, storage.ErrBadDigest):
		return apiErr("BadDigest", "The Content-MD5 you specified did not match what we received."), false
	case errors.Is(err, storage.ErrChecksumMismatch):
		return apiErr("BadDigest", "The checksum you specified did not match the calculated checksum."), false
	case errors.Is(err, storage.ErrInvalidVersionID):
		return apiErr("InvalidArgument", "Invalid version id specified"), false
	case errors.Is(err, storage.ErrInvalidArgument):
		return apiErr("InvalidArgument", "Invalid argument."), false
	case errors.Is(err, storage.ErrNoSuchConfig):
		// Handlers translate a missing configuration into the sub-resource's own
		// code; reaching here means a handler forgot to.
		return apiErr("NoSuchKey", "The specified configuration does not exist."), false
	case errors.Is(err, storage.ErrNoSuchMRAP):
		return apiErr("NoSuchMultiRegionAccessPoint", "The specified Multi-Region Access Point does not exist."), false
	case errors.Is(err, storage.ErrNoSuchAsyncRequest):
		return apiErr("NoSuchAsyncRequest", "The specified asynchronous request does not exist."), false
	case errors.Is(err, storage.ErrMRAPAlreadyExists):
		return apiErr("MultiRegionAccessPointAlreadyExists", "A Multi-Region Access Point with this name already exists in the account."), false
	case errors.Is(err, storage.ErrMRAPRouteConflict):
		return apiErr("ConflictingRouteUpdate", "Another route update for this Multi-Region Access Point is in progress. Please try again."), false
	case errors.Is(err, storage.ErrInvalidMRAP):
		return apiErr("InvalidRequest", invalidMRAPMessage(err)), false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return errRequestTimeout, false
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apiErr("MaxMessageLengthExceeded", "Your request was too big."), false
	}
	return apiErr("InternalError", msgInternal), true
}

// clientIOErr is the answer to a request whose body could not be read. Whatever
// broke the body (framing, an early close, a reset), S3 answers 400 IncompleteBody
// ("The request body terminated unexpectedly"); a read that timed out is S3's
// RequestTimeout, and a body over a size limit keeps its own code.
func clientIOErr(e *clientIOError) *Error {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(e.err, &mbe):
		return apiErr("MaxMessageLengthExceeded", "Your request was too big.")
	case errors.Is(e.err, os.ErrDeadlineExceeded), errors.As(e.err, &ne) && ne.Timeout():
		return errRequestTimeout
	}
	return apiErr("IncompleteBody", "The request body terminated unexpectedly.")
}

// errorBody is the XML document of every S3 error response.
type errorBody struct {
	XMLName xml.Name `xml:"Error"`
	Code    string   `xml:"Code"`
	Message string   `xml:"Message"`
	// Region is the region a request must be signed for, as S3 tells it after
	// AuthorizationHeaderMalformed and AuthorizationQueryParametersError.
	Region string `xml:"Region,omitempty"`
	// HeadersNotSigned names a request's unsigned x-amz-* headers, as S3 does.
	HeadersNotSigned string `xml:"HeadersNotSigned,omitempty"`
	Resource         string `xml:"Resource,omitempty"`
	RequestID        string `xml:"RequestId"`
	HostID           string `xml:"HostId"`
}

// writeError answers the request with err translated. Headers already set on w (for
// example x-amz-delete-marker) are kept; body-describing headers are removed. HEAD
// responses carry no body.
func (s *Server) writeError(rc *reqCtx, err error) {
	e, internal := translate(err)
	// Error is for faults of the server only (an error nobody translated), Warn
	// for the server unable to serve (503). Everything caused by the request,
	// including asking for what Pangea does not implement (501), is Debug.
	level := slog.LevelDebug
	switch {
	case internal:
		level = slog.LevelError
	case e.Status >= 500 && e.Status != http.StatusNotImplemented:
		level = slog.LevelWarn
	}
	if s.log.Enabled(rc.r.Context(), level) {
		s.log.Log(rc.r.Context(), level, "s3 request failed",
			"request_id", rc.id, "op", rc.op.name(), "bucket", rc.bucket, "key", rc.key,
			"code", e.Code, "err", err)
	}
	rc.errCode = e.Code
	h := rc.w.Header()
	for _, k := range []string{"Content-Length", "Etag", "Accept-Ranges", "Content-Encoding", "Content-Disposition", "Content-Language", "Cache-Control", "Expires"} {
		delete(h, k)
	}
	if e.Status == http.StatusNotModified || rc.r.Method == http.MethodHead {
		delete(h, "Content-Type")
		rc.w.WriteHeader(e.Status)
		return
	}
	var body any = errorBody{Code: e.Code, Message: e.Message, Region: e.Region, HeadersNotSigned: e.HeadersNotSigned,
		Resource: rc.resource(), RequestID: rc.id, HostID: s.hostID}
	if rc.control { // the S3 Control API's wrapped form (control.go)
		body = controlErrorBody{Code: e.Code, Message: e.Message, RequestID: rc.id, HostID: s.hostID}
	}
	buf, mErr := xml.Marshal(body)
	if mErr != nil { // cannot happen for plain strings; keep the status anyway
		rc.w.WriteHeader(e.Status)
		return
	}
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", itoa(int64(len(xml.Header)+len(buf))))
	rc.w.WriteHeader(e.Status)
	_, _ = io.WriteString(rc.w, xml.Header)
	_, _ = rc.w.Write(buf)
}

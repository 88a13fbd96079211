// Package auth authenticates S3 requests and decodes their bodies.
//
// It owns every way a real S3 client proves who it is: AWS Signature Version 4
// in the Authorization header and in presigned query strings, Signature
// Version 4A (AWS4-ECDSA-P256-SHA256, used for Multi-Region Access Points),
// Signature Version 2 presigned URLs and headers, and the aws-chunked body
// encodings (signed chunks, signed and unsigned trailers). The s3api server
// calls (*Verifier).Verify once per request and then reads the request body
// only through Result.Body, which verifies as it streams: it returns an
// *Error instead of io.EOF when a payload hash, chunk signature or trailer
// signature does not match, so nothing may be committed before Body returned
// io.EOF. Once the server knows which region serves the request (the
// addressed bucket's), it calls (*Result).CheckRegion: a signature is valid
// only in the region it was made for.
//
// The package does no HTTP routing, S3 operation logic or authorisation:
// an anonymous request is reported as such (Result.Anonymous) and the bucket
// policy decides later. Memory is bounded whatever the body size: bodies are
// verified in a fixed buffer, never held whole.
//
// Signing helpers (SignV4, PresignV4, SignV4A, PresignV4A, PresignV2) share
// the canonicalisation code with verification, so the golden vectors that
// cover one cover the other. They are used by tests and by `pangea bench`.
package auth

package s3api

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pangea-s3/pangea/storage"
)

// Copies from a bucket of another region (CopyObject, UploadPartCopy). The
// region serving the destination reads the source from its region over the
// internal channel, as the principal of the request: a HEAD (metadata, size,
// checksum; the source region authorizes the read), a GET ?tagging when the
// tags are copied, and a GET of the bytes (ranged for a part), pinned to the
// HEAD's ETag so that a source overwritten in between fails the copy instead of
// mixing two versions. The source's bytes cross the WAN once, streamed.

// remoteSource is a copy source in another region.
type remoteSource struct {
	t      Target
	bucket string
	key    string
	vid    string // as asked ("" the current version)
}

// remoteCopySource looks the source up in its region: the version as a HEAD
// describes it, and the tags when withTags.
func (s *Server) remoteCopySource(rc *reqCtx, t Target, cs copySource, withTags bool) (storage.BucketInfo, storage.ObjectVersion, *remoteSource, error) {
	src := &remoteSource{t: t, bucket: cs.bucket, key: cs.key, vid: cs.versionID}
	b := storage.BucketInfo{Name: cs.bucket, Region: t.Region}
	var v storage.ObjectVersion
	resp, err := s.internalRequest(rc, &t, http.MethodHead, src.path(""), http.Header{"X-Amz-Checksum-Mode": {"ENABLED"}})
	if err != nil {
		return b, v, nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return b, v, nil, remoteError(resp, nil)
	}
	h := resp.Header
	v.Bucket, v.Key = cs.bucket, cs.key
	v.ETag = strings.Trim(h.Get("Etag"), `"`)
	v.Size = resp.ContentLength
	if lm, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		v.ModTime = lm
	}
	if v.Meta, err = metaFromHeaders(h, false); err != nil {
		return b, v, nil, fmt.Errorf("copy source in %s: its metadata: %w", t.Region, err)
	}
	switch vid := h.Get("X-Amz-Version-Id"); vid {
	case "":
		v.IsNull = true
	case "null":
		v.IsNull = true
		b.Versioning = storage.VersioningSuspended // it has a version header
	default:
		if v.ID, err = storage.ParseVersionID(vid); err != nil {
			return b, v, nil, fmt.Errorf("copy source in %s: version %q: %w", t.Region, vid, err)
		}
		b.Versioning = storage.VersioningEnabled
	}
	for _, a := range checksumAlgorithms {
		if val := h.Get(a.header); val != "" {
			v.Checksum = &storage.Checksum{Algorithm: a.name, Value: val, Type: h.Get("X-Amz-Checksum-Type")}
			break
		}
	}
	if withTags {
		resp, err := s.internalRequest(rc, &t, http.MethodGet, src.path("tagging"), nil)
		if err != nil {
			return b, v, nil, err
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxXMLBody))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return b, v, nil, remoteError(resp, body)
		}
		if rerr != nil {
			return b, v, nil, regionUnreachable(t.Region, rerr)
		}
		if v.Meta.Tags, err = parseTaggingXML(body, maxObjectTags); err != nil {
			return b, v, nil, fmt.Errorf("copy source in %s: its tags: %w", t.Region, err)
		}
	}
	return b, v, src, nil
}

// open streams length bytes of the source from offset, as long as it is still
// the version v (its ETag).
func (r *remoteSource) open(s *Server, rc *reqCtx, v storage.ObjectVersion, offset, length int64) (io.ReadCloser, error) {
	h := http.Header{
		"If-Match": {quoteETag(v.ETag)},
		"Range":    {"bytes=" + strconv.FormatInt(offset, 10) + "-" + strconv.FormatInt(offset+length-1, 10)},
	}
	t := r.t
	resp, err := s.internalRequest(rc, &t, http.MethodGet, r.path(""), h)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusPartialContent:
		return resp.Body, nil
	case http.StatusPreconditionFailed:
		resp.Body.Close()
		return nil, &Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable,
			Message: "The copy source changed while it was being copied. Please retry."}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxXMLBody))
	resp.Body.Close()
	return nil, remoteError(resp, body)
}

// path is the source's path-style URI, with sub (a sub-resource) and its version.
func (r *remoteSource) path(sub string) string {
	p := "/" + url.PathEscape(r.bucket) + "/" + escapeKey(r.key)
	q := url.Values{}
	if r.vid != "" {
		q.Set("versionId", r.vid)
	}
	enc := q.Encode()
	if sub != "" {
		if enc != "" {
			enc = sub + "&" + enc
		} else {
			enc = sub
		}
	}
	if enc != "" {
		p += "?" + enc
	}
	return p
}

// escapeKey escapes a key for a path, keeping its slashes.
func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// internalRequest sends a request of this server's own to t's region over the
// internal channel, as rc's principal (sendToRegion).
func (s *Server) internalRequest(rc *reqCtx, t *Target, method, uri string, h http.Header) (*http.Response, error) {
	return s.sendToRegion(rc, t, func(addr string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(rc.r.Context(), method, "http://"+addr+uri, nil)
		if err != nil {
			return nil, fmt.Errorf("s3api: internal request: %w", err)
		}
		for k, v := range h {
			req.Header[k] = v
		}
		if a := rc.auth; a != nil {
			if a.AccessKey != "" {
				req.Header.Set(hdrPrincipal, a.AccessKey)
			}
			// No region set: the signature was judged where the request
			// entered, against the destination's region.
			req.Header.Set(hdrAuthMethod, a.Method)
		}
		req.Header.Set(hdrEntryRequest, rc.id)
		return req, nil
	}, func() bool { return true }, nil)
}

// remoteError is the S3 error another region answered (its XML body when it has
// one; HEAD answers have none).
func remoteError(resp *http.Response, body []byte) error {
	var eb struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if len(body) > 0 && xml.Unmarshal(body, &eb) == nil && eb.Code != "" {
		return &Error{Code: eb.Code, Message: eb.Message, Status: resp.StatusCode}
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return apiErr("NoSuchKey", "The specified key does not exist.")
	case http.StatusForbidden:
		return errAccessDenied
	case http.StatusPreconditionFailed, http.StatusNotModified:
		return errPreconditionFailed
	case http.StatusServiceUnavailable:
		return &Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable, Message: msgUnavailable}
	}
	return &Error{Code: "InternalError", Status: http.StatusInternalServerError, Message: fmt.Sprintf("The copy source's region answered %d.", resp.StatusCode)}
}

// openSource streams length bytes (-1: to the end) of the copy source v from
// offset: from this region's Backend, or from remote's region.
func (s *Server) openSource(rc *reqCtx, remote *remoteSource, v storage.ObjectVersion, offset, length int64) (io.ReadCloser, error) {
	if remote == nil {
		return s.b.OpenObject(rc.r.Context(), v, offset, length)
	}
	if length < 0 {
		length = v.Size - offset
	}
	return remote.open(s, rc, v, offset, length)
}

package s3api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pangea-s3/pangea/storage"
)

// versionHeader is the x-amz-version-id of v in bucket b: absent ("") while the
// bucket has never been versioned, "null" for the null version.
func versionHeader(b storage.BucketInfo, v storage.ObjectVersion) string {
	switch {
	case !v.IsNull:
		// Only a versioning-enabled bucket makes non-null versions: trust the version
		// over b, which may predate the change (see RequestScoper).
		return v.ID.String()
	case b.Versioning == storage.Unversioned:
		return ""
	default:
		return "null"
	}
}

// objectLookupError adjusts an Object lookup error: a delete marker that is the
// current version means "no such key"; one named by version ID is 405.
func objectLookupError(err error, versionID string) error {
	if errors.Is(err, storage.ErrDeleteMarker) {
		if versionID == "" {
			return apiErr("NoSuchKey", msgNoSuchKey)
		}
		return errMethodNotAllowed
	}
	return err
}

// hideMissing turns "no such key" into AccessDenied for callers that may not list
// the bucket, as S3 does, so that object existence does not leak.
func (a *authorizer) hideMissing(err error) error {
	if (errors.Is(err, storage.ErrNoSuchKey) || errors.Is(err, storage.ErrDeleteMarker)) && !a.isOwner() {
		if a.check("s3:ListBucket", "", nil) != nil {
			return errAccessDenied
		}
	}
	return err
}

// validStorageClass reports whether s is a storage class S3 knows.
func validStorageClass(s string) bool {
	switch s {
	case "", "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
		"GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "OUTPOSTS", "SNOW", "EXPRESS_ONEZONE":
		return true
	}
	return false
}

// stripAWSChunked removes the aws-chunked content coding, which describes the
// transfer (decoded by auth), not the object.
func stripAWSChunked(ce string) string {
	if !strings.Contains(ce, "aws-chunked") {
		return ce
	}
	var parts []string
	for p := range strings.SplitSeq(ce, ",") {
		p = strings.TrimSpace(p)
		if p != "" && p != "aws-chunked" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ",")
}

// checkUnsupportedObjectHeaders rejects request headers asking for features Pangea
// does not have, rather than silently ignoring them.
func checkUnsupportedObjectHeaders(h http.Header) error {
	if !cannedACLAllowed(h.Get("X-Amz-Acl")) || hasGrantHeaders(h) {
		return errACLNotSupported
	}
	if sse := h.Get("X-Amz-Server-Side-Encryption"); sse != "" && sse != "AES256" {
		return errNotImplemented
	}
	for _, k := range []string{"X-Amz-Server-Side-Encryption-Customer-Algorithm", "X-Amz-Object-Lock-Mode",
		"X-Amz-Object-Lock-Retain-Until-Date", "X-Amz-Object-Lock-Legal-Hold", "X-Amz-Website-Redirect-Location"} {
		if _, ok := h[k]; ok {
			return errNotImplemented
		}
	}
	return nil
}

// metaFromHeaders reads an object's metadata (system headers, x-amz-meta-*,
// storage class and, when withTags, x-amz-tagging) from request headers.
func metaFromHeaders(h http.Header, withTags bool) (storage.ObjectMeta, error) {
	meta := storage.ObjectMeta{
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    stripAWSChunked(h.Get("Content-Encoding")),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
		StorageClass:       h.Get("X-Amz-Storage-Class"),
	}
	if !validStorageClass(meta.StorageClass) {
		return meta, apiErr("InvalidStorageClass", "The storage class you specified is not valid")
	}
	if meta.StorageClass == "STANDARD" {
		meta.StorageClass = ""
	}
	size := 0
	for k, vs := range h {
		name, ok := strings.CutPrefix(k, "X-Amz-Meta-")
		if !ok {
			continue
		}
		if meta.UserMeta == nil {
			meta.UserMeta = make(map[string]string)
		}
		name = strings.ToLower(name)
		v := strings.Join(vs, ",")
		meta.UserMeta[name] = v
		size += len(name) + len(v)
	}
	if size > maxUserMetadata {
		return meta, apiErr("MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.")
	}
	if withTags {
		tags, err := parseTaggingHeader(h.Get("X-Amz-Tagging"))
		if err != nil {
			return meta, err
		}
		meta.Tags = tags
	}
	return meta, nil
}

// setObjectHeaders writes the response headers describing v.
func setObjectHeaders(h http.Header, b storage.BucketInfo, v storage.ObjectVersion, withChecksum, withTagCount bool) {
	h["Last-Modified"] = []string{v.ModTime.UTC().Format(http.TimeFormat)}
	h["Etag"] = []string{quoteETag(v.ETag)}
	h["Accept-Ranges"] = []string{"bytes"}
	ct := v.Meta.ContentType
	if ct == "" {
		ct = "binary/octet-stream"
	}
	h["Content-Type"] = []string{ct}
	if v.Meta.ContentEncoding != "" {
		h["Content-Encoding"] = []string{v.Meta.ContentEncoding}
	}
	if v.Meta.ContentDisposition != "" {
		h["Content-Disposition"] = []string{v.Meta.ContentDisposition}
	}
	if v.Meta.ContentLanguage != "" {
		h["Content-Language"] = []string{v.Meta.ContentLanguage}
	}
	if v.Meta.CacheControl != "" {
		h["Cache-Control"] = []string{v.Meta.CacheControl}
	}
	if v.Meta.Expires != "" {
		h["Expires"] = []string{v.Meta.Expires}
	}
	for k, val := range v.Meta.UserMeta {
		h["X-Amz-Meta-"+k] = []string{val}
	}
	if vid := versionHeader(b, v); vid != "" {
		h["X-Amz-Version-Id"] = []string{vid}
	}
	if sc := v.Meta.StorageClass; sc != "" && sc != "STANDARD" {
		h["X-Amz-Storage-Class"] = []string{sc}
	}
	if withTagCount && len(v.Meta.Tags) > 0 {
		h["X-Amz-Tagging-Count"] = []string{strconv.Itoa(len(v.Meta.Tags))}
	}
	if v.ReplicationStatus != "" {
		h["X-Amz-Replication-Status"] = []string{v.ReplicationStatus}
	}
	if withChecksum && v.Checksum != nil {
		setChecksumHeader(h, v.Checksum)
	}
}

func setChecksumHeader(h http.Header, c *storage.Checksum) {
	for _, a := range checksumAlgorithms {
		if strings.EqualFold(a.name, c.Algorithm) {
			h[a.header] = []string{c.Value}
			if c.Type != "" {
				h["X-Amz-Checksum-Type"] = []string{c.Type}
			}
			return
		}
	}
}

// responseOverrides are the response-* query parameters of GetObject and the
// headers they replace.
var responseOverrides = [...]struct{ param, header string }{
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
}

// parsePartNumber validates a partNumber parameter (1..10000).
func parsePartNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 10000 {
		return 0, apiErr("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
	}
	return n, nil
}

// getObject serves GetObject and HeadObject.
func (s *Server) getObject(rc *reqCtx, az *authorizer) error {
	ctx := rc.r.Context()
	head := rc.r.Method == http.MethodHead
	vid := rc.param("versionId")
	action := "s3:GetObject"
	if vid != "" {
		action = "s3:GetObjectVersion"
	}
	if err := az.check(action, rc.key, nil); err != nil {
		return err
	}
	if rc.query != nil {
		for _, o := range responseOverrides {
			if rc.param(o.param) != "" && rc.anonymous() {
				return apiErr("InvalidRequest", "Request specific response headers cannot be used for anonymous GET requests.")
			}
		}
	}
	partNumber := 0
	if pn := rc.param("partNumber"); pn != "" {
		n, err := parsePartNumber(pn)
		if err != nil {
			return err
		}
		if rc.r.Header.Get("Range") != "" {
			return apiErr("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
		}
		partNumber = n
	}

	v, err := s.b.Object(ctx, rc.bucket, rc.key, vid)
	if err != nil {
		if errors.Is(err, storage.ErrDeleteMarker) {
			h := rc.w.Header()
			h["X-Amz-Delete-Marker"] = []string{"true"}
			if mv := versionHeader(az.b, v); mv != "" {
				h["X-Amz-Version-Id"] = []string{mv}
			}
			if vid != "" {
				h["Last-Modified"] = []string{v.ModTime.UTC().Format(http.TimeFormat)}
				return errMethodNotAllowed
			}
		}
		return az.hideMissing(objectLookupError(err, vid))
	}
	h := rc.w.Header()
	switch requestPreconditions(rc.r.Header).evaluate(v.ETag, v.ModTime) {
	case http.StatusPreconditionFailed:
		return errPreconditionFailed
	case http.StatusNotModified:
		h["Etag"] = []string{quoteETag(v.ETag)}
		h["Last-Modified"] = []string{v.ModTime.UTC().Format(http.TimeFormat)}
		if vh := versionHeader(az.b, v); vh != "" {
			h["X-Amz-Version-Id"] = []string{vh}
		}
		rc.w.WriteHeader(http.StatusNotModified)
		return nil
	}

	var rng byteRange
	ranged := false
	if partNumber > 0 {
		if len(v.PartSizes) > 0 {
			if partNumber > len(v.PartSizes) {
				return apiErr("InvalidPartNumber", "The requested partnumber is not satisfiable")
			}
			for _, ps := range v.PartSizes[:partNumber-1] {
				rng.start += ps
			}
			rng.length = v.PartSizes[partNumber-1]
			h["X-Amz-Mp-Parts-Count"] = []string{strconv.Itoa(len(v.PartSizes))}
		} else {
			if partNumber > 1 {
				return apiErr("InvalidPartNumber", "The requested partnumber is not satisfiable")
			}
			rng.length = v.Size
		}
		ranged = rng.length > 0
	} else if hr := rc.r.Header.Get("Range"); hr != "" {
		var rerr error
		rng, ranged, rerr = parseRange(hr, v.Size)
		if rerr != nil {
			h["Content-Range"] = []string{"bytes */" + itoa(v.Size)}
			return rerr
		}
	}
	// A full-object checksum describes only the whole body.
	wantChecksum := strings.EqualFold(rc.r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") &&
		(!ranged || (rng.start == 0 && rng.length == v.Size))

	offset, length := int64(0), v.Size
	if ranged {
		offset, length = rng.start, rng.length
	}
	var body interface {
		Read([]byte) (int, error)
		Close() error
	}
	if !head && length > 0 {
		rd, err := s.b.OpenObject(ctx, v, offset, length)
		if err != nil {
			return err
		}
		defer rd.Close()
		body = rd
	}
	setObjectHeaders(h, az.b, v, wantChecksum, !head)
	for _, o := range responseOverrides {
		if val := rc.param(o.param); val != "" {
			h[o.header] = []string{val}
		}
	}
	h["Content-Length"] = []string{itoa(length)}
	status := http.StatusOK
	if ranged {
		h["Content-Range"] = []string{rng.contentRange(v.Size)}
		status = http.StatusPartialContent
	}
	rc.w.WriteHeader(status)
	if body == nil {
		return nil
	}
	if _, err := s.copyOut(rc.w, body); err != nil {
		return err
	}
	return nil
}

// putObject serves PutObject.
func (s *Server) putObject(rc *reqCtx, az *authorizer) error {
	ctx := rc.r.Context()
	if err := az.check("s3:PutObject", rc.key, nil); err != nil {
		return err
	}
	h := rc.r.Header
	if err := checkUnsupportedObjectHeaders(h); err != nil {
		return err
	}
	size, err := bodySize(rc)
	if err != nil {
		return err
	}
	meta, err := metaFromHeaders(h, true)
	if err != nil {
		return err
	}
	exp, err := digestExpectation(rc)
	if err != nil {
		return err
	}
	cond, err := writeConditions(h)
	if err != nil {
		return err
	}
	v, err := s.b.PutObject(ctx, storage.PutObjectInput{
		Bucket: rc.bucket, Key: rc.key, Owner: rc.principal(), Meta: meta,
		BodyInput:       storage.BodyInput{Body: rc.body(), Size: size, Expect: exp},
		WriteConditions: cond,
	})
	if err != nil {
		return err
	}
	out := rc.w.Header()
	out["Etag"] = []string{quoteETag(v.ETag)}
	if vh := versionHeader(az.b, v); vh != "" {
		out["X-Amz-Version-Id"] = []string{vh}
	}
	if v.Checksum != nil && exp.ChecksumAlgorithm != "" {
		setChecksumHeader(out, v.Checksum)
	}
	out["Content-Length"] = []string{"0"}
	rc.w.WriteHeader(http.StatusOK)
	return nil
}

// bodySize returns the decoded length of an upload body, enforcing S3's rules:
// a length is required unless the body is aws-chunked, and at most 5 GiB.
func bodySize(rc *reqCtx) (int64, error) {
	size := rc.r.ContentLength
	if rc.auth != nil {
		size = rc.auth.DecodedLength
	}
	if size < 0 {
		streaming := strings.Contains(rc.r.Header.Get("Content-Encoding"), "aws-chunked") ||
			strings.HasPrefix(rc.r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-")
		if !streaming {
			return 0, apiErr("MissingContentLength", "You must provide the Content-Length HTTP header.")
		}
		size = -1
	}
	if size > maxObjectSize {
		return 0, apiErr("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
	}
	return size, nil
}

// writeConditions reads the conditional-write headers of PutObject and
// CompleteMultipartUpload: If-None-Match (only "*" is supported, as in S3) and
// If-Match (an ETag list). Only the headers are checked here: the conditions travel
// inside the write's command and are evaluated when it is applied, atomically with
// the write (storage.WriteConditions), so that of racing conditional writers only
// those whose condition held at their turn succeed.
func writeConditions(h http.Header) (storage.WriteConditions, error) {
	var c storage.WriteConditions
	if inm := h.Get("If-None-Match"); inm != "" {
		if strings.TrimSpace(inm) != "*" {
			return c, apiErr("NotImplemented", "If-None-Match only supports the value *")
		}
		c.IfNoneMatch = true
	}
	c.IfMatch = h.Get("If-Match")
	return c, nil
}

// deleteObject serves DeleteObject.
func (s *Server) deleteObject(rc *reqCtx, az *authorizer) error {
	vid := rc.param("versionId")
	action := "s3:DeleteObject"
	if vid != "" {
		action = "s3:DeleteObjectVersion"
	}
	if err := az.check(action, rc.key, nil); err != nil {
		return err
	}
	res, err := s.b.DeleteObject(rc.r.Context(), rc.bucket, rc.key, vid, rc.principal())
	if err != nil {
		return err
	}
	h := rc.w.Header()
	if res.VersionID != "" {
		h["X-Amz-Version-Id"] = []string{res.VersionID}
	}
	if res.DeleteMarker {
		h["X-Amz-Delete-Marker"] = []string{"true"}
	}
	rc.w.WriteHeader(http.StatusNoContent)
	return nil
}

// copySource is a parsed x-amz-copy-source header.
type copySource struct {
	bucket, key, versionID string
}

// parseCopySource parses "[/]bucket/key[?versionId=id]", URL-encoded.
func parseCopySource(v string) (copySource, error) {
	var cs copySource
	bad := apiErr("InvalidArgument", "Invalid copy source object key")
	path, query, hasQuery := strings.Cut(v, "?")
	p, err := url.PathUnescape(path)
	if err != nil {
		return cs, bad
	}
	p = strings.TrimPrefix(p, "/")
	if strings.HasPrefix(p, "arn:") {
		return cs, errNotImplemented
	}
	b, k, ok := strings.Cut(p, "/")
	if !ok || b == "" || k == "" {
		return cs, bad
	}
	if err := checkObjectKey(k); err != nil {
		if err.Code == "InvalidURI" { // the header is no URI: say which value is wrong
			return cs, apiErr("InvalidArgument", "Invalid copy source encoding")
		}
		return cs, err
	}
	cs.bucket, cs.key = b, k
	if hasQuery {
		q, err := url.ParseQuery(query)
		if err != nil {
			return cs, bad
		}
		if vs, ok := q["versionId"]; ok {
			if len(vs) != 1 || vs[0] == "" {
				return cs, apiErr("InvalidArgument", "Invalid version id specified")
			}
			cs.versionID = vs[0]
		}
	}
	return cs, nil
}

// openCopySource authorizes reading the copy source, looks it up and applies the
// x-amz-copy-source-if-* preconditions. A source in another region (remote not
// nil) is looked up, and authorized, there (remotecopy.go), its tags too when
// withTags.
func (s *Server) openCopySource(rc *reqCtx, az *authorizer, withTags bool) (storage.BucketInfo, storage.ObjectVersion, *remoteSource, error) {
	b, v, remote, err := s.lookupCopySource(rc, az, withTags)
	if err != nil {
		return b, v, nil, err
	}
	if copySourcePreconditions(rc.r.Header).evaluate(v.ETag, v.ModTime) != 0 {
		return b, v, nil, errPreconditionFailed
	}
	return b, v, remote, nil
}

func (s *Server) lookupCopySource(rc *reqCtx, az *authorizer, withTags bool) (storage.BucketInfo, storage.ObjectVersion, *remoteSource, error) {
	var v storage.ObjectVersion
	cs, err := parseCopySource(rc.r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return storage.BucketInfo{}, v, nil, err
	}
	if cs.bucket != az.b.Name && s.cfg.Resolver != nil {
		t, err := s.cfg.Resolver.Resolve(rc.r.Context(), cs.bucket)
		if err != nil {
			return storage.BucketInfo{}, v, nil, err
		}
		if !t.Local {
			return s.remoteCopySource(rc, t, cs, withTags)
		}
	}
	srcAz := az
	if cs.bucket != az.b.Name {
		sb, err := s.b.Bucket(rc.r.Context(), cs.bucket)
		if err != nil {
			return sb, v, nil, err
		}
		srcAz = newAuthorizer(s, rc, sb)
	}
	action := "s3:GetObject"
	if cs.versionID != "" {
		action = "s3:GetObjectVersion"
	}
	if err := srcAz.check(action, cs.key, nil); err != nil {
		return srcAz.b, v, nil, err
	}
	v, err = s.b.Object(rc.r.Context(), cs.bucket, cs.key, cs.versionID)
	if err != nil {
		if errors.Is(err, storage.ErrDeleteMarker) && cs.versionID != "" {
			return srcAz.b, v, nil, apiErr("InvalidRequest", "The source of a copy request may not specifically refer to a delete marker by version id.")
		}
		return srcAz.b, v, nil, srcAz.hideMissing(objectLookupError(err, cs.versionID))
	}
	return srcAz.b, v, nil, nil
}

func directive(h http.Header, name string) (string, error) {
	d := h.Get(name)
	switch d {
	case "", "COPY":
		return "COPY", nil
	case "REPLACE":
		return "REPLACE", nil
	}
	return "", apiErr("InvalidArgument", "Unknown "+strings.ToLower(name)+" value.")
}

// copyObject serves CopyObject: the source is read through the Backend and written
// as a new object, so every copy is a full, verified rewrite (no shared bodies).
func (s *Server) copyObject(rc *reqCtx, az *authorizer) error {
	ctx := rc.r.Context()
	h := rc.r.Header
	if err := az.check("s3:PutObject", rc.key, nil); err != nil {
		return err
	}
	if err := checkUnsupportedObjectHeaders(h); err != nil {
		return err
	}
	cond, err := writeConditions(h) // on the destination, checked when the copy is applied
	if err != nil {
		return err
	}
	metaDir, err := directive(h, "X-Amz-Metadata-Directive")
	if err != nil {
		return err
	}
	tagDir, err := directive(h, "X-Amz-Tagging-Directive")
	if err != nil {
		return err
	}
	srcBucket, src, remote, err := s.openCopySource(rc, az, tagDir == "COPY")
	if err != nil {
		return err
	}
	if src.Size > maxObjectSize {
		return apiErr("InvalidRequest", "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
	}
	sc := h.Get("X-Amz-Storage-Class")
	if srcBucket.Name == rc.bucket && src.Key == rc.key && src.IsLatest && metaDir != "REPLACE" && sc == "" &&
		h.Get("X-Amz-Server-Side-Encryption") == "" {
		return apiErr("InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	var meta storage.ObjectMeta
	if metaDir == "REPLACE" {
		if meta, err = metaFromHeaders(h, false); err != nil {
			return err
		}
	} else {
		meta = src.Meta
		meta.Tags = nil
		// A copy lands in the requested storage class, STANDARD by default.
		meta.StorageClass = sc
		if !validStorageClass(sc) {
			return apiErr("InvalidStorageClass", "The storage class you specified is not valid")
		}
		if sc == "STANDARD" {
			meta.StorageClass = ""
		}
	}
	if tagDir == "REPLACE" {
		if meta.Tags, err = parseTaggingHeader(h.Get("X-Amz-Tagging")); err != nil {
			return err
		}
	} else {
		meta.Tags = src.Meta.Tags
	}
	var exp storage.DigestExpectation
	if alg := h.Get("X-Amz-Checksum-Algorithm"); alg != "" {
		if exp.ChecksumAlgorithm = normalizeChecksumAlgorithm(alg); exp.ChecksumAlgorithm == "" {
			return errUnsupportedChecksum()
		}
	} else if src.Checksum != nil {
		exp.ChecksumAlgorithm = normalizeChecksumAlgorithm(src.Checksum.Algorithm)
	}
	if src.Checksum != nil && exp.ChecksumAlgorithm != "" && src.Checksum.Type != "COMPOSITE" &&
		strings.EqualFold(src.Checksum.Algorithm, exp.ChecksumAlgorithm) {
		// Verifies the copy end to end against the source's own checksum.
		exp.ChecksumValue = src.Checksum.Value
	}
	var body interface {
		Read([]byte) (int, error)
		Close() error
	}
	if src.Size > 0 {
		rd, err := s.openSource(rc, remote, src, 0, -1)
		if err != nil {
			return err
		}
		defer rd.Close()
		body = rd
	}
	in := storage.PutObjectInput{
		Bucket: rc.bucket, Key: rc.key, Owner: rc.principal(), Meta: meta,
		BodyInput:       storage.BodyInput{Body: http.NoBody, Size: src.Size, Expect: exp},
		WriteConditions: cond,
	}
	if body != nil {
		in.Body = body
	}
	v, err := s.b.PutObject(ctx, in)
	if err != nil {
		return err
	}
	out := rc.w.Header()
	if vh := versionHeader(az.b, v); vh != "" {
		out["X-Amz-Version-Id"] = []string{vh}
	}
	if svh := versionHeader(srcBucket, src); svh != "" {
		out["X-Amz-Copy-Source-Version-Id"] = []string{svh}
	}
	res := copyObjectResult{ETag: quoteETag(v.ETag), LastModified: isoTime(v.ModTime)}
	if h.Get("X-Amz-Checksum-Algorithm") != "" {
		res.checksumFields = checksumFieldsOf(v.Checksum)
	}
	return s.writeXML(rc, http.StatusOK, res)
}

// ---- object tagging ----

func (s *Server) getObjectTagging(rc *reqCtx, az *authorizer) error {
	vid := rc.param("versionId")
	action := "s3:GetObjectTagging"
	if vid != "" {
		action = "s3:GetObjectVersionTagging"
	}
	if err := az.check(action, rc.key, nil); err != nil {
		return err
	}
	v, err := s.b.Object(rc.r.Context(), rc.bucket, rc.key, vid)
	if err != nil {
		return az.hideMissing(objectLookupError(err, vid))
	}
	if vh := versionHeader(az.b, v); vh != "" {
		rc.w.Header()["X-Amz-Version-Id"] = []string{vh}
	}
	return s.writeXML(rc, http.StatusOK, taggingDocument(v.Meta.Tags))
}

func (s *Server) putObjectTagging(rc *reqCtx, az *authorizer) error {
	vid := rc.param("versionId")
	action := "s3:PutObjectTagging"
	if vid != "" {
		action = "s3:PutObjectVersionTagging"
	}
	if err := az.check(action, rc.key, nil); err != nil {
		return err
	}
	body, err := readDocument(rc, maxXMLBody, false)
	if err != nil {
		return err
	}
	tags, err := parseTaggingXML(body, maxObjectTags)
	if err != nil {
		return err
	}
	return s.setObjectTags(rc, az, vid, tags, http.StatusOK)
}

func (s *Server) deleteObjectTagging(rc *reqCtx, az *authorizer) error {
	vid := rc.param("versionId")
	action := "s3:DeleteObjectTagging"
	if vid != "" {
		action = "s3:DeleteObjectVersionTagging"
	}
	if err := az.check(action, rc.key, nil); err != nil {
		return err
	}
	return s.setObjectTags(rc, az, vid, nil, http.StatusNoContent)
}

func (s *Server) setObjectTags(rc *reqCtx, az *authorizer, vid string, tags []storage.Tag, status int) error {
	got, err := s.b.PutObjectTagging(rc.r.Context(), rc.bucket, rc.key, vid, tags)
	if err != nil {
		return objectLookupError(err, vid)
	}
	if got != "" && az.b.Versioning != storage.Unversioned {
		rc.w.Header()["X-Amz-Version-Id"] = []string{got}
	}
	rc.w.WriteHeader(status)
	return nil
}

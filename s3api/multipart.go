package s3api

import (
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/pangea-s3/pangea/storage"
)

// maxDeleteObjects is S3's limit on keys per DeleteObjects request.
const maxDeleteObjects = 1000

// deleteParallelism bounds concurrent deletes of one DeleteObjects request: enough
// for the backend to group-commit them, few enough not to starve other requests.
const deleteParallelism = 16

func (s *Server) createMultipartUpload(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:PutObject", rc.key, nil); err != nil {
		return err
	}
	h := rc.r.Header
	if err := checkUnsupportedObjectHeaders(h); err != nil {
		return err
	}
	meta, err := metaFromHeaders(h, true)
	if err != nil {
		return err
	}
	alg := ""
	if a := h.Get("X-Amz-Checksum-Algorithm"); a != "" {
		if alg = normalizeChecksumAlgorithm(a); alg == "" {
			return errUnsupportedChecksum()
		}
	}
	up, err := s.b.CreateMultipartUpload(rc.r.Context(), rc.bucket, rc.key, meta, alg, rc.principal())
	if err != nil {
		return err
	}
	if alg != "" {
		rc.w.Header().Set("X-Amz-Checksum-Algorithm", alg)
	}
	return s.writeXML(rc, http.StatusOK, initiateMultipartUploadResult{Bucket: rc.bucket, Key: rc.key, UploadID: up.UploadID})
}

func (s *Server) uploadPart(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:PutObject", rc.key, nil); err != nil {
		return err
	}
	n, err := parsePartNumber(rc.param("partNumber"))
	if err != nil {
		return err
	}
	size, err := bodySize(rc)
	if err != nil {
		return err
	}
	exp, err := digestExpectation(rc)
	if err != nil {
		return err
	}
	p, err := s.b.UploadPart(rc.r.Context(), storage.UploadPartInput{
		Bucket: rc.bucket, Key: rc.key, UploadID: rc.param("uploadId"), PartNumber: n,
		BodyInput: storage.BodyInput{Body: rc.body(), Size: size, Expect: exp},
	})
	if err != nil {
		return err
	}
	out := rc.w.Header()
	out["Etag"] = []string{quoteETag(p.ETag)}
	if p.Checksum != nil {
		setChecksumHeader(out, p.Checksum)
	}
	out["Content-Length"] = []string{"0"}
	rc.w.WriteHeader(http.StatusOK)
	return nil
}

// parseCopySourceRange parses x-amz-copy-source-range "bytes=first-last" against
// the source size.
func parseCopySourceRange(v string, size int64) (byteRange, error) {
	bad := apiErr("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !ok {
		return byteRange{}, bad
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return byteRange{}, bad
	}
	first, err1 := parseDigits(a)
	last, err2 := parseDigits(b)
	if err1 != nil || err2 != nil || last < first {
		return byteRange{}, bad
	}
	if last >= size {
		// S3 answers 400 InvalidArgument here, not 416.
		return byteRange{}, apiErr("InvalidArgument", "Range specified is not valid for source object of size: "+itoa(size))
	}
	return byteRange{start: first, length: last - first + 1}, nil
}

func (s *Server) uploadPartCopy(rc *reqCtx, az *authorizer) error {
	ctx := rc.r.Context()
	if err := az.check("s3:PutObject", rc.key, nil); err != nil {
		return err
	}
	n, err := parsePartNumber(rc.param("partNumber"))
	if err != nil {
		return err
	}
	_, src, remote, err := s.openCopySource(rc, az, false)
	if err != nil {
		return err
	}
	rng := byteRange{length: src.Size}
	if v := rc.r.Header.Get("X-Amz-Copy-Source-Range"); v != "" {
		if rng, err = parseCopySourceRange(v, src.Size); err != nil {
			return err
		}
	}
	if rng.length > maxObjectSize {
		return apiErr("InvalidRequest", "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
	}
	in := storage.UploadPartInput{
		Bucket: rc.bucket, Key: rc.key, UploadID: rc.param("uploadId"), PartNumber: n,
		BodyInput: storage.BodyInput{Body: http.NoBody, Size: rng.length},
	}
	if rng.length > 0 {
		rd, err := s.openSource(rc, remote, src, rng.start, rng.length)
		if err != nil {
			return err
		}
		defer rd.Close()
		in.Body = rd
	}
	p, err := s.b.UploadPart(ctx, in)
	if err != nil {
		return err
	}
	res := copyPartResult{ETag: quoteETag(p.ETag), LastModified: isoTime(p.ModTime), checksumFields: checksumFieldsOf(p.Checksum)}
	return s.writeXML(rc, http.StatusOK, res)
}

// parseCompleteMultipartUpload parses a CompleteMultipartUpload body.
func parseCompleteMultipartUpload(body []byte) ([]storage.CompletedPart, error) {
	var in completeMultipartUpload
	if err := parseXML(body, &in); err != nil {
		return nil, err
	}
	if len(in.Parts) == 0 || len(in.Parts) > 10000 {
		return nil, errMalformedXML
	}
	parts := make([]storage.CompletedPart, 0, len(in.Parts))
	for _, p := range in.Parts {
		if p.PartNumber < 1 || p.PartNumber > 10000 {
			return nil, apiErr("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
		}
		cs := p.ChecksumCRC32
		for _, c := range []string{p.ChecksumCRC32C, p.ChecksumCRC64NVME, p.ChecksumSHA1, p.ChecksumSHA256} {
			if cs == "" {
				cs = c
			}
		}
		parts = append(parts, storage.CompletedPart{Number: p.PartNumber, ETag: strings.TrimSpace(p.ETag), Checksum: cs})
	}
	return parts, nil
}

func (s *Server) completeMultipartUpload(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:PutObject", rc.key, nil); err != nil {
		return err
	}
	cond, err := writeConditions(rc.r.Header)
	if err != nil {
		return err
	}
	body, err := readDocument(rc, maxDeleteBody, false)
	if err != nil {
		return err
	}
	parts, err := parseCompleteMultipartUpload(body)
	if err != nil {
		return err
	}
	v, err := s.b.CompleteMultipartUpload(rc.r.Context(), rc.bucket, rc.key, rc.param("uploadId"), parts, cond)
	if err != nil {
		return err
	}
	if vh := versionHeader(az.b, v); vh != "" {
		rc.w.Header()["X-Amz-Version-Id"] = []string{vh}
	}
	scheme := "http"
	if rc.r.TLS != nil {
		scheme = "https"
	}
	res := completeMultipartUploadResult{
		Location:       scheme + "://" + rc.r.Host + "/" + rc.bucket + "/" + s3URLEncode(rc.key),
		Bucket:         rc.bucket,
		Key:            rc.key,
		ETag:           quoteETag(v.ETag),
		checksumFields: checksumFieldsOf(v.Checksum),
	}
	return s.writeXML(rc, http.StatusOK, res)
}

func (s *Server) abortMultipartUpload(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:AbortMultipartUpload", rc.key, nil); err != nil {
		return err
	}
	if err := s.b.AbortMultipartUpload(rc.r.Context(), rc.bucket, rc.key, rc.param("uploadId")); err != nil {
		return err
	}
	rc.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listParts(rc *reqCtx, az *authorizer) error {
	if err := az.check("s3:ListMultipartUploadParts", rc.key, nil); err != nil {
		return err
	}
	maxParts, err := parseMaxKeys(rc, "max-parts")
	if err != nil {
		return err
	}
	marker := 0
	if m := rc.param("part-number-marker"); m != "" {
		if marker, err = strconv.Atoi(m); err != nil || marker < 0 {
			return apiErr("InvalidArgument", "Provided part-number-marker not an integer or within integer range")
		}
	}
	res, err := s.b.ListParts(rc.r.Context(), rc.bucket, rc.key, rc.param("uploadId"), marker, maxParts)
	if err != nil {
		return err
	}
	sc := res.Upload.Meta.StorageClass
	if sc == "" {
		sc = "STANDARD"
	}
	out := listPartsResult{
		Bucket: rc.bucket, Key: rc.key, UploadID: rc.param("uploadId"),
		Initiator: ownerOf(res.Upload.Owner), Owner: ownerOf(res.Upload.Owner), StorageClass: sc,
		PartNumberMarker: marker, NextPartNumberMarker: res.NextPartNumberMarker, MaxParts: maxParts,
		IsTruncated: res.IsTruncated, ChecksumAlgorithm: res.Upload.ChecksumAlgorithm,
	}
	for _, p := range res.Parts {
		out.Parts = append(out.Parts, partEntry{
			PartNumber: p.Number, LastModified: isoTime(p.ModTime), ETag: quoteETag(p.ETag), Size: p.Size,
			checksumFields: checksumFieldsOf(p.Checksum),
		})
	}
	return s.writeXML(rc, http.StatusOK, out)
}

// parseDeleteRequest parses a DeleteObjects body.
func parseDeleteRequest(body []byte) (deleteRequest, error) {
	var in deleteRequest
	if err := parseXML(body, &in); err != nil {
		return in, err
	}
	if len(in.Objects) == 0 || len(in.Objects) > maxDeleteObjects {
		return in, errMalformedXML
	}
	return in, nil
}

func (s *Server) deleteObjects(rc *reqCtx, az *authorizer) error {
	body, err := readDocument(rc, maxDeleteBody, true)
	if err != nil {
		return err
	}
	in, err := parseDeleteRequest(body)
	if err != nil {
		return err
	}
	type outcome struct {
		res storage.DeleteResult
		err error
	}
	results := make([]outcome, len(in.Objects))
	// Authorization is decided up front and sequentially (the authorizer is not
	// safe for concurrent use); the deletes then run in parallel so that the backend
	// can commit them in a few batches instead of one by one.
	for i, o := range in.Objects {
		action := "s3:DeleteObject"
		if o.VersionID != "" {
			action = "s3:DeleteObjectVersion"
		}
		if o.Key == "" {
			results[i].err = apiErr("UserKeyMustBeSpecified", "The key must be specified.")
		} else if err := checkObjectKey(o.Key); err != nil {
			results[i].err = err
		} else {
			results[i].err = az.check(action, o.Key, nil)
		}
	}
	sem := make(chan struct{}, deleteParallelism)
	var wg sync.WaitGroup
	for i, o := range in.Objects {
		if results[i].err != nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i].res, results[i].err = s.b.DeleteObject(rc.r.Context(), rc.bucket, o.Key, o.VersionID, rc.principal())
		})
	}
	wg.Wait()

	out := deleteResult{}
	for i, o := range in.Objects {
		r := results[i]
		if r.err != nil {
			e, internal := translate(r.err)
			if internal {
				s.log.Error("delete objects: delete failed", "request_id", rc.id, "bucket", rc.bucket, "key", o.Key, "err", r.err)
			}
			out.Errors = append(out.Errors, deleteErrorEntry{Key: o.Key, VersionID: o.VersionID, Code: e.Code, Message: e.Message})
			continue
		}
		if in.Quiet {
			continue
		}
		d := deletedEntry{Key: o.Key, VersionID: o.VersionID}
		if r.res.DeleteMarker {
			d.DeleteMarker = true
			d.DeleteMarkerVersionID = r.res.VersionID
		}
		out.Deleted = append(out.Deleted, d)
	}
	return s.writeXML(rc, http.StatusOK, out)
}

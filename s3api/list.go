package s3api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pangea-s3/pangea/storage"
)

// maxListKeys is S3's default and maximum page size for listings.
const maxListKeys = 1000

// s3URLEncode is the encoding of encoding-type=url: form encoding (space as '+'),
// with '/' left readable. Both botocore (unquote_plus) and url.QueryUnescape decode it.
func s3URLEncode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

// listEncoder returns the function applied to keys, prefixes and markers in a
// listing: as they are (xmlString then writes what XML 1.0 cannot hold as
// character references), or URL-encoded for encoding-type=url.
func listEncoder(rc *reqCtx) (func(string) xmlString, string, error) {
	switch et := rc.param("encoding-type"); et {
	case "":
		return func(s string) xmlString { return xmlString(s) }, "", nil
	case "url":
		return func(s string) xmlString { return xmlString(s3URLEncode(s)) }, "url", nil
	default:
		return nil, "", apiErr("InvalidArgument", "Invalid Encoding Method specified in Request")
	}
}

// parseMaxKeys reads a page-size parameter: default 1000, capped at 1000,
// negative or non-numeric values rejected.
func parseMaxKeys(rc *reqCtx, name string) (int, error) {
	v, ok := rc.query[name]
	if !ok || len(v) == 0 {
		return maxListKeys, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil {
		return 0, apiErr("InvalidArgument", "Provided "+name+" not an integer or within integer range")
	}
	if n < 0 {
		return 0, apiErr("InvalidArgument", "Argument "+name+" must be an integer between 0 and 2147483647")
	}
	return min(n, maxListKeys), nil
}

// listConditions are the s3:prefix, s3:delimiter and s3:max-keys condition keys.
// startList is the common start of the listing operations: authorize action with
// the listing's condition keys, then read encoding-type and the page size parameter
// maxName (max-keys, max-uploads).
func startList(rc *reqCtx, az *authorizer, action, maxName string) (enc func(string) xmlString, encodingType string, max int, err error) {
	if err := az.check(action, "", listConditions(rc, maxName)); err != nil {
		return nil, "", 0, err
	}
	if enc, encodingType, err = listEncoder(rc); err != nil {
		return nil, "", 0, err
	}
	if max, err = parseMaxKeys(rc, maxName); err != nil {
		return nil, "", 0, err
	}
	return enc, encodingType, max, nil
}

func listConditions(rc *reqCtx, maxName string) map[string][]string {
	c := map[string][]string{"s3:prefix": {rc.param("prefix")}}
	if d := rc.param("delimiter"); d != "" {
		c["s3:delimiter"] = []string{d}
	}
	if m := rc.param(maxName); m != "" {
		c["s3:max-keys"] = []string{m}
	}
	return c
}

func storageClassOf(v storage.ObjectVersion) string {
	if v.Meta.StorageClass == "" {
		return "STANDARD"
	}
	return v.Meta.StorageClass
}

func objectEntryOf(v storage.ObjectVersion, enc func(string) xmlString, withOwner bool) objectEntry {
	e := objectEntry{
		Key:          enc(v.Key),
		LastModified: isoTime(v.ModTime),
		ETag:         quoteETag(v.ETag),
		Size:         v.Size,
		StorageClass: storageClassOf(v),
	}
	if withOwner {
		e.Owner = ownerOf(v.Owner)
	}
	if v.Checksum != nil {
		e.ChecksumAlgorithm = []string{strings.ToUpper(v.Checksum.Algorithm)}
		e.ChecksumType = v.Checksum.Type
	}
	return e
}

func commonPrefixesOf(ps []string, enc func(string) xmlString) []commonPrefix {
	if len(ps) == 0 {
		return nil
	}
	out := make([]commonPrefix, len(ps))
	for i, p := range ps {
		out[i] = commonPrefix{Prefix: enc(p)}
	}
	return out
}

func (s *Server) listObjectsV1(rc *reqCtx, az *authorizer) error {
	enc, et, maxKeys, err := startList(rc, az, "s3:ListBucket", "max-keys")
	if err != nil {
		return err
	}
	prefix, delim, marker := rc.param("prefix"), rc.param("delimiter"), rc.param("marker")
	out := listBucketResultV1{
		Name: rc.bucket, Prefix: enc(prefix), Marker: enc(marker), MaxKeys: maxKeys,
		Delimiter: enc(delim), EncodingType: et,
	}
	if maxKeys > 0 {
		res, err := s.b.ListObjects(rc.r.Context(), rc.bucket, storage.ListObjectsInput{
			Prefix: prefix, Delimiter: delim, Marker: marker, MaxKeys: maxKeys,
		})
		if err != nil {
			return err
		}
		out.IsTruncated = res.IsTruncated
		// S3 sends NextMarker only with a delimiter; without one, clients use the last key.
		if res.IsTruncated && delim != "" {
			out.NextMarker = enc(res.NextMarker)
		}
		out.Contents = make([]objectEntry, 0, len(res.Objects))
		for _, v := range res.Objects {
			out.Contents = append(out.Contents, objectEntryOf(v, enc, true))
		}
		out.CommonPrefixes = commonPrefixesOf(res.CommonPrefixes, enc)
	}
	return s.writeXML(rc, http.StatusOK, out)
}

func (s *Server) listObjectsV2(rc *reqCtx, az *authorizer) error {
	enc, et, maxKeys, err := startList(rc, az, "s3:ListBucket", "max-keys")
	if err != nil {
		return err
	}
	prefix, delim, startAfter := rc.param("prefix"), rc.param("delimiter"), rc.param("start-after")
	marker := startAfter
	token, hasToken := "", has(rc.query, "continuation-token")
	if hasToken {
		token = rc.param("continuation-token")
		k, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(k) == 0 {
			return apiErr("InvalidArgument", "The continuation token provided is incorrect")
		}
		// The token resumes after the last key returned, which is past start-after.
		marker = string(k)
	}
	out := listBucketResultV2{
		Name: rc.bucket, Prefix: enc(prefix), Delimiter: enc(delim), MaxKeys: maxKeys,
		EncodingType: et, ContinuationToken: token,
	}
	if startAfter != "" {
		out.StartAfter = enc(startAfter)
	}
	if maxKeys > 0 {
		res, err := s.b.ListObjects(rc.r.Context(), rc.bucket, storage.ListObjectsInput{
			Prefix: prefix, Delimiter: delim, Marker: marker, MaxKeys: maxKeys,
		})
		if err != nil {
			return err
		}
		out.IsTruncated = res.IsTruncated
		if res.IsTruncated {
			out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(res.NextMarker))
		}
		withOwner := rc.param("fetch-owner") == "true"
		out.Contents = make([]objectEntry, 0, len(res.Objects))
		for _, v := range res.Objects {
			out.Contents = append(out.Contents, objectEntryOf(v, enc, withOwner))
		}
		out.CommonPrefixes = commonPrefixesOf(res.CommonPrefixes, enc)
		out.KeyCount = len(res.Objects) + len(res.CommonPrefixes)
	}
	return s.writeXML(rc, http.StatusOK, out)
}

// versionIDOf is the S3 text form of a version's ID.
func versionIDOf(v storage.ObjectVersion) string {
	if v.IsNull {
		return "null"
	}
	return v.ID.String()
}

func (s *Server) listObjectVersions(rc *reqCtx, az *authorizer) error {
	enc, et, maxKeys, err := startList(rc, az, "s3:ListBucketVersions", "max-keys")
	if err != nil {
		return err
	}
	prefix, delim := rc.param("prefix"), rc.param("delimiter")
	keyMarker, vidMarker := rc.param("key-marker"), rc.param("version-id-marker")
	if vidMarker != "" && keyMarker == "" {
		return apiErr("InvalidArgument", "A version-id marker cannot be specified without a key marker.")
	}
	out := listVersionsResult{
		Name: rc.bucket, Prefix: enc(prefix), KeyMarker: enc(keyMarker), VersionIDMarker: vidMarker,
		MaxKeys: maxKeys, Delimiter: enc(delim), EncodingType: et,
	}
	if maxKeys > 0 {
		res, err := s.b.ListObjectVersions(rc.r.Context(), rc.bucket, storage.ListVersionsInput{
			Prefix: prefix, Delimiter: delim, KeyMarker: keyMarker, VersionIDMarker: vidMarker, MaxKeys: maxKeys,
		})
		if err != nil {
			return err
		}
		out.IsTruncated = res.IsTruncated
		if res.IsTruncated {
			out.NextKeyMarker = enc(res.NextKeyMarker)
			out.NextVersionIDMarker = res.NextVersionIDMarker
		}
		out.Entries = make([]versionEntry, 0, len(res.Versions))
		for _, v := range res.Versions {
			e := versionEntry{
				DeleteMarker: v.DeleteMarker,
				Key:          enc(v.Key),
				VersionID:    versionIDOf(v),
				IsLatest:     v.IsLatest,
				LastModified: isoTime(v.ModTime),
				Owner:        ownerOf(v.Owner),
			}
			if !v.DeleteMarker {
				e.ETag = quoteETag(v.ETag)
				e.Size = v.Size
				e.StorageClass = storageClassOf(v)
				if v.Checksum != nil {
					e.ChecksumAlgo = strings.ToUpper(v.Checksum.Algorithm)
				}
			}
			out.Entries = append(out.Entries, e)
		}
		out.CommonPrefixes = commonPrefixesOf(res.CommonPrefixes, enc)
	}
	return s.writeXML(rc, http.StatusOK, out)
}

func (s *Server) listMultipartUploads(rc *reqCtx, az *authorizer) error {
	enc, et, maxUploads, err := startList(rc, az, "s3:ListBucketMultipartUploads", "max-uploads")
	if err != nil {
		return err
	}
	prefix, delim := rc.param("prefix"), rc.param("delimiter")
	keyMarker, uidMarker := rc.param("key-marker"), rc.param("upload-id-marker")
	out := listMultipartUploadsResult{
		Bucket: rc.bucket, KeyMarker: enc(keyMarker), UploadIDMarker: uidMarker, Prefix: enc(prefix),
		Delimiter: enc(delim), MaxUploads: maxUploads, EncodingType: et,
	}
	if maxUploads > 0 {
		res, err := s.b.ListMultipartUploads(rc.r.Context(), rc.bucket, storage.ListUploadsInput{
			Prefix: prefix, Delimiter: delim, KeyMarker: keyMarker, UploadIDMarker: uidMarker, MaxUploads: maxUploads,
		})
		if err != nil {
			return err
		}
		out.IsTruncated = res.IsTruncated
		out.NextKeyMarker = enc(res.NextKeyMarker)
		out.NextUploadIDMarker = res.NextUploadIDMarker
		for _, u := range res.Uploads {
			sc := u.Meta.StorageClass
			if sc == "" {
				sc = "STANDARD"
			}
			out.Uploads = append(out.Uploads, uploadEntry{
				Key: enc(u.Key), UploadID: u.UploadID, Initiator: ownerOf(u.Owner), Owner: ownerOf(u.Owner),
				StorageClass: sc, Initiated: isoTime(u.Initiated), ChecksumAlgorithm: u.ChecksumAlgorithm,
			})
		}
		out.CommonPrefixes = commonPrefixesOf(res.CommonPrefixes, enc)
	}
	return s.writeXML(rc, http.StatusOK, out)
}

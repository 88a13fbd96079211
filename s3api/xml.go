package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pangea-s3/pangea/storage"
)

// s3NS is the namespace of every S3 response document.
const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// isoTime formats a time as S3 does in XML bodies.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// quoteETag returns the header/XML form of an ETag.
func quoteETag(etag string) string { return `"` + etag + `"` }

// writeXML answers status with v marshalled after the XML declaration.
func (s *Server) writeXML(rc *reqCtx, status int, v any) error {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		return err
	}
	h := rc.w.Header()
	h["Content-Type"] = []string{"application/xml"}
	h["Content-Length"] = []string{itoa(int64(buf.Len()))}
	rc.w.WriteHeader(status)
	_, err := rc.w.Write(buf.Bytes())
	if err != nil {
		// The status is sent; nothing more can be told to the client.
		s.log.Debug("write response", "request_id", rc.id, "err", err)
	}
	return nil
}

// xmlString is text that a listing must carry exactly: keys, prefixes, markers.
// encoding/xml writes a character that XML 1.0 cannot hold (the C0 controls but
// tab, LF and CR; U+FFFE and U+FFFF) as U+FFFD, which names another key, so a
// listed name could answer 404. S3 stores such keys and lists them as numeric
// character references (<Key>a&#x1b;</Key>), which XML 1.0 parsers refuse: its
// documented remedy is encoding-type=url, with which a listing names every key
// in ASCII. xmlString does as S3 does: the listing never shows a wrong name.
type xmlString string

// MarshalXML writes the element with its text escaped by escapeXMLText.
func (s xmlString) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return e.EncodeElement(struct {
		Text string `xml:",innerxml"`
	}{escapeXMLText(string(s))}, start)
}

// escapeXMLText escapes s as character data: markup characters and whitespace
// other than a space as encoding/xml escapes them (CR, LF and tab as references,
// so that parsers do not normalize them), every character outside XML 1.0's
// Char production as a hexadecimal character reference. Bytes that are not UTF-8
// (no key is, since checkObjectKey) become U+FFFD: XML has no way to tell them.
func escapeXMLText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&#34;")
		case r == '\'':
			b.WriteString("&#39;")
		case r == '\t':
			b.WriteString("&#x9;")
		case r == '\n':
			b.WriteString("&#xA;")
		case r == '\r':
			b.WriteString("&#xD;")
		case !inXMLCharRange(r):
			b.WriteString("&#x") // lower-case hex, as S3 writes them
			b.WriteString(strconv.FormatInt(int64(r), 16))
			b.WriteByte(';')
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// inXMLCharRange reports whether XML 1.0 can hold r as a character.
func inXMLCharRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// owner is the Owner/Initiator element. Pangea has a single account, so the
// owner's ID and display name are its access key.
type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName,omitempty"`
}

func ownerOf(accessKey string) *owner { return &owner{ID: accessKey, DisplayName: accessKey} }

// ---- buckets ----

type listAllMyBucketsResult struct {
	XMLName xml.Name      `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Owner   *owner        `xml:"Owner"`
	Buckets []bucketEntry `xml:"Buckets>Bucket"`
	// ContinuationToken resumes the listing after this page (set when more remain).
	ContinuationToken string `xml:"ContinuationToken,omitempty"`
	Prefix            string `xml:"Prefix,omitempty"`
}

type bucketEntry struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion,omitempty"`
}

type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
	Location           *struct {
		Name string `xml:"Name"`
		Type string `xml:"Type"`
	} `xml:"Location"`
	Bucket *struct {
		Type string `xml:"Type"`
	} `xml:"Bucket"`
}

type locationConstraint struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Region  string   `xml:",chardata"`
}

type versioningConfiguration struct {
	XMLName   xml.Name `xml:"VersioningConfiguration"`
	Status    string   `xml:"Status,omitempty"`
	MfaDelete string   `xml:"MfaDelete,omitempty"`
}

type versioningConfigurationOut struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ VersioningConfiguration"`
	Status  string   `xml:"Status,omitempty"`
}

// ---- listings ----

type objectEntry struct {
	Key               xmlString `xml:"Key"`
	LastModified      string    `xml:"LastModified"`
	ETag              string    `xml:"ETag"`
	ChecksumAlgorithm []string  `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string    `xml:"ChecksumType,omitempty"`
	Size              int64     `xml:"Size"`
	Owner             *owner    `xml:"Owner,omitempty"`
	StorageClass      string    `xml:"StorageClass"`
}

type commonPrefix struct {
	Prefix xmlString `xml:"Prefix"`
}

type listBucketResultV1 struct {
	XMLName        xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name           string         `xml:"Name"`
	Prefix         xmlString      `xml:"Prefix"`
	Marker         xmlString      `xml:"Marker"`
	NextMarker     xmlString      `xml:"NextMarker,omitempty"`
	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      xmlString      `xml:"Delimiter,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
	Contents       []objectEntry  `xml:"Contents"`
	CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
}

type listBucketResultV2 struct {
	XMLName               xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                xmlString      `xml:"Prefix"`
	Delimiter             xmlString      `xml:"Delimiter,omitempty"`
	MaxKeys               int            `xml:"MaxKeys"`
	KeyCount              int            `xml:"KeyCount"`
	IsTruncated           bool           `xml:"IsTruncated"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	StartAfter            xmlString      `xml:"StartAfter,omitempty"`
	Contents              []objectEntry  `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

type listVersionsResult struct {
	XMLName             xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListVersionsResult"`
	Name                string         `xml:"Name"`
	Prefix              xmlString      `xml:"Prefix"`
	KeyMarker           xmlString      `xml:"KeyMarker"`
	VersionIDMarker     string         `xml:"VersionIdMarker"`
	NextKeyMarker       xmlString      `xml:"NextKeyMarker,omitempty"`
	NextVersionIDMarker string         `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int            `xml:"MaxKeys"`
	Delimiter           xmlString      `xml:"Delimiter,omitempty"`
	IsTruncated         bool           `xml:"IsTruncated"`
	EncodingType        string         `xml:"EncodingType,omitempty"`
	Entries             []versionEntry `xml:"Version"`
	CommonPrefixes      []commonPrefix `xml:"CommonPrefixes"`
}

// versionEntry is a Version or a DeleteMarker element; they are interleaved in one
// slice so that the document keeps the storage order (key, then newest first).
type versionEntry struct {
	DeleteMarker bool
	Key          xmlString
	VersionID    string
	IsLatest     bool
	LastModified string
	ETag         string
	Size         int64
	Owner        *owner
	StorageClass string
	ChecksumAlgo string
}

type versionXML struct {
	Key               xmlString `xml:"Key"`
	VersionID         string    `xml:"VersionId"`
	IsLatest          bool      `xml:"IsLatest"`
	LastModified      string    `xml:"LastModified"`
	ETag              string    `xml:"ETag"`
	ChecksumAlgorithm []string  `xml:"ChecksumAlgorithm,omitempty"`
	Size              int64     `xml:"Size"`
	Owner             *owner    `xml:"Owner,omitempty"`
	StorageClass      string    `xml:"StorageClass"`
}

type deleteMarkerXML struct {
	Key          xmlString `xml:"Key"`
	VersionID    string    `xml:"VersionId"`
	IsLatest     bool      `xml:"IsLatest"`
	LastModified string    `xml:"LastModified"`
	Owner        *owner    `xml:"Owner,omitempty"`
}

// MarshalXML names the element after the entry's kind.
func (v versionEntry) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if v.DeleteMarker {
		start.Name.Local = "DeleteMarker"
		return e.EncodeElement(deleteMarkerXML{Key: v.Key, VersionID: v.VersionID, IsLatest: v.IsLatest,
			LastModified: v.LastModified, Owner: v.Owner}, start)
	}
	start.Name.Local = "Version"
	x := versionXML{Key: v.Key, VersionID: v.VersionID, IsLatest: v.IsLatest, LastModified: v.LastModified,
		ETag: v.ETag, Size: v.Size, Owner: v.Owner, StorageClass: v.StorageClass}
	if v.ChecksumAlgo != "" {
		x.ChecksumAlgorithm = []string{v.ChecksumAlgo}
	}
	return e.EncodeElement(x, start)
}

// ---- multipart ----

type initiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

type completeMultipartUpload struct {
	XMLName xml.Name `xml:"CompleteMultipartUpload"`
	Parts   []struct {
		PartNumber        int    `xml:"PartNumber"`
		ETag              string `xml:"ETag"`
		ChecksumCRC32     string `xml:"ChecksumCRC32"`
		ChecksumCRC32C    string `xml:"ChecksumCRC32C"`
		ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME"`
		ChecksumSHA1      string `xml:"ChecksumSHA1"`
		ChecksumSHA256    string `xml:"ChecksumSHA256"`
	} `xml:"Part"`
}

// checksumFields are the Checksum<ALG> elements of results.
type checksumFields struct {
	ChecksumCRC32     string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumSHA1      string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256    string `xml:"ChecksumSHA256,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
}

func checksumFieldsOf(c *storage.Checksum) checksumFields {
	var f checksumFields
	if c == nil {
		return f
	}
	switch strings.ToUpper(c.Algorithm) {
	case "CRC32":
		f.ChecksumCRC32 = c.Value
	case "CRC32C":
		f.ChecksumCRC32C = c.Value
	case "CRC64NVME":
		f.ChecksumCRC64NVME = c.Value
	case "SHA1":
		f.ChecksumSHA1 = c.Value
	case "SHA256":
		f.ChecksumSHA256 = c.Value
	default:
		return f
	}
	f.ChecksumType = c.Type
	return f
}

type completeMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
	checksumFields
}

type partEntry struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	checksumFields
}

type listPartsResult struct {
	XMLName              xml.Name    `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
	Bucket               string      `xml:"Bucket"`
	Key                  string      `xml:"Key"`
	UploadID             string      `xml:"UploadId"`
	Initiator            *owner      `xml:"Initiator"`
	Owner                *owner      `xml:"Owner"`
	StorageClass         string      `xml:"StorageClass"`
	PartNumberMarker     int         `xml:"PartNumberMarker"`
	NextPartNumberMarker int         `xml:"NextPartNumberMarker"`
	MaxParts             int         `xml:"MaxParts"`
	IsTruncated          bool        `xml:"IsTruncated"`
	ChecksumAlgorithm    string      `xml:"ChecksumAlgorithm,omitempty"`
	Parts                []partEntry `xml:"Part"`
}

type uploadEntry struct {
	Key               xmlString `xml:"Key"`
	UploadID          string    `xml:"UploadId"`
	Initiator         *owner    `xml:"Initiator"`
	Owner             *owner    `xml:"Owner"`
	StorageClass      string    `xml:"StorageClass"`
	Initiated         string    `xml:"Initiated"`
	ChecksumAlgorithm string    `xml:"ChecksumAlgorithm,omitempty"`
}

type listMultipartUploadsResult struct {
	XMLName            xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          xmlString      `xml:"KeyMarker"`
	UploadIDMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      xmlString      `xml:"NextKeyMarker"`
	NextUploadIDMarker string         `xml:"NextUploadIdMarker"`
	Prefix             xmlString      `xml:"Prefix"`
	Delimiter          xmlString      `xml:"Delimiter,omitempty"`
	MaxUploads         int            `xml:"MaxUploads"`
	IsTruncated        bool           `xml:"IsTruncated"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
	Uploads            []uploadEntry  `xml:"Upload"`
	CommonPrefixes     []commonPrefix `xml:"CommonPrefixes"`
}

// ---- delete, copy ----

type deleteRequest struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   bool     `xml:"Quiet"`
	Objects []struct {
		Key       string `xml:"Key"`
		VersionID string `xml:"VersionId"`
	} `xml:"Object"`
}

type deletedEntry struct {
	Key                   string `xml:"Key"`
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:"DeleteMarker,omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

type deleteErrorEntry struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

type deleteResult struct {
	XMLName xml.Name           `xml:"http://s3.amazonaws.com/doc/2006-03-01/ DeleteResult"`
	Deleted []deletedEntry     `xml:"Deleted"`
	Errors  []deleteErrorEntry `xml:"Error"`
}

type copyObjectResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyObjectResult"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
	checksumFields
}

type copyPartResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
	checksumFields
}

// ---- tagging, ACL ----

type tagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type taggingIn struct {
	XMLName xml.Name `xml:"Tagging"`
	TagSet  *struct {
		Tags []tagXML `xml:"Tag"`
	} `xml:"TagSet"`
}

type taggingOut struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ Tagging"`
	TagSet  []tagXML `xml:"TagSet>Tag"`
}

type grantee struct {
	XMLNSXSI    string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName,omitempty"`
}

type grant struct {
	Grantee    grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

type accessControlPolicy struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ AccessControlPolicy"`
	Owner   *owner   `xml:"Owner"`
	Grants  []grant  `xml:"AccessControlList>Grant"`
}

// accessControlPolicyIn is a PutBucketAcl/PutObjectAcl body, parsed loosely: only its
// grants matter, to accept the one ACL Pangea supports (owner FULL_CONTROL).
type accessControlPolicyIn struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Grants  []struct {
		Grantee struct {
			ID  string `xml:"ID"`
			URI string `xml:"URI"`
		} `xml:"Grantee"`
		Permission string `xml:"Permission"`
	} `xml:"AccessControlList>Grant"`
}

// ---- request body parsing ----

// parseXML unmarshals a request body strictly enough: a well-formed document whose
// root element is the expected one, without trailing garbage. Any failure is
// MalformedXML.
func parseXML(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errMalformedXML
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return errMalformedXML
	}
	// Only whitespace, comments and processing instructions may follow the root.
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errMalformedXML
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return errMalformedXML
			}
		case xml.Comment, xml.ProcInst:
		default:
			return errMalformedXML
		}
	}
}

package s3api

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	"github.com/pangea-s3/pangea/storage"
)

// GetObjectAttributes (GET /{key}?attributes): what x-amz-object-attributes
// asks for of an object version (ETag, Checksum, ObjectParts, StorageClass,
// ObjectSize), without its body.

type objectAttributesOut struct {
	XMLName      xml.Name         `xml:"http://s3.amazonaws.com/doc/2006-03-01/ GetObjectAttributesResponse"`
	ETag         string           `xml:"ETag,omitempty"`
	Checksum     *attrChecksum    `xml:"Checksum,omitempty"`
	ObjectParts  *attrObjectParts `xml:"ObjectParts,omitempty"`
	StorageClass string           `xml:"StorageClass,omitempty"`
	ObjectSize   *int64           `xml:"ObjectSize,omitempty"`
}

type attrChecksum struct {
	ChecksumCRC32     string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumSHA1      string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256    string `xml:"ChecksumSHA256,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
}

type attrObjectParts struct {
	TotalPartsCount      int        `xml:"PartsCount"` // the SDKs' TotalPartsCount
	PartNumberMarker     int        `xml:"PartNumberMarker"`
	NextPartNumberMarker int        `xml:"NextPartNumberMarker"`
	MaxParts             int        `xml:"MaxParts"`
	IsTruncated          bool       `xml:"IsTruncated"`
	Parts                []attrPart `xml:"Part"`
}

type attrPart struct {
	PartNumber int   `xml:"PartNumber"`
	Size       int64 `xml:"Size"`
}

// objectAttributeNames are the values x-amz-object-attributes may list.
var objectAttributeNames = map[string]bool{"ETag": true, "Checksum": true, "ObjectParts": true, "StorageClass": true, "ObjectSize": true}

func (s *Server) getObjectAttributes(rc *reqCtx, az *authorizer) error {
	vid := rc.param("versionId")
	action := "s3:GetObjectAttributes"
	if vid != "" {
		action = "s3:GetObjectVersionAttributes"
	}
	if err := az.check(action, rc.key, nil); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, h := range rc.r.Header.Values("X-Amz-Object-Attributes") {
		for _, a := range strings.Split(h, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if !objectAttributeNames[a] {
				return apiErr("InvalidArgument", "Invalid attribute name specified.")
			}
			want[a] = true
		}
	}
	if len(want) == 0 {
		return apiErr("InvalidArgument", "Minimum of 1 attribute name must be specified (x-amz-object-attributes).")
	}
	maxParts, marker := 1000, 0
	if v := rc.r.Header.Get("X-Amz-Max-Parts"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return apiErr("InvalidArgument", "x-amz-max-parts must be an integer between 0 and 1000.")
		}
		maxParts = min(n, 1000)
	}
	if v := rc.r.Header.Get("X-Amz-Part-Number-Marker"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return apiErr("InvalidArgument", "x-amz-part-number-marker must be a non-negative integer.")
		}
		marker = n
	}
	v, err := s.b.Object(rc.r.Context(), rc.bucket, rc.key, vid)
	if err != nil {
		if v.DeleteMarker {
			rc.w.Header()["X-Amz-Delete-Marker"] = []string{"true"}
			if vh := versionHeader(az.b, v); vh != "" {
				rc.w.Header()["X-Amz-Version-Id"] = []string{vh}
			}
		}
		return az.hideMissing(objectLookupError(err, vid))
	}
	h := rc.w.Header()
	h["Last-Modified"] = []string{v.ModTime.UTC().Format(http.TimeFormat)}
	if vh := versionHeader(az.b, v); vh != "" {
		h["X-Amz-Version-Id"] = []string{vh}
	}
	return s.writeXML(rc, http.StatusOK, objectAttributes(v, want, maxParts, marker))
}

// objectAttributes is the response document of version v for the attributes
// in want, its parts paged from after marker, at most maxParts.
func objectAttributes(v storage.ObjectVersion, want map[string]bool, maxParts, marker int) objectAttributesOut {
	var out objectAttributesOut
	if want["ETag"] {
		out.ETag = strings.Trim(v.ETag, `"`)
	}
	if want["Checksum"] && v.Checksum != nil {
		c := &attrChecksum{ChecksumType: v.Checksum.Type}
		switch strings.ToUpper(v.Checksum.Algorithm) {
		case "CRC32":
			c.ChecksumCRC32 = v.Checksum.Value
		case "CRC32C":
			c.ChecksumCRC32C = v.Checksum.Value
		case "CRC64NVME":
			c.ChecksumCRC64NVME = v.Checksum.Value
		case "SHA1":
			c.ChecksumSHA1 = v.Checksum.Value
		case "SHA256":
			c.ChecksumSHA256 = v.Checksum.Value
		}
		out.Checksum = c
	}
	if want["ObjectParts"] && len(v.PartSizes) > 0 {
		p := &attrObjectParts{TotalPartsCount: len(v.PartSizes), PartNumberMarker: marker, MaxParts: maxParts, Parts: []attrPart{}}
		for i, size := range v.PartSizes {
			n := i + 1
			if n <= marker {
				continue
			}
			if len(p.Parts) == maxParts {
				p.IsTruncated = true
				break
			}
			p.Parts = append(p.Parts, attrPart{PartNumber: n, Size: size})
			p.NextPartNumberMarker = n
		}
		out.ObjectParts = p
	}
	if want["StorageClass"] {
		out.StorageClass = v.Meta.StorageClass
		if out.StorageClass == "" {
			out.StorageClass = "STANDARD"
		}
	}
	if want["ObjectSize"] {
		size := v.Size
		out.ObjectSize = &size
	}
	return out
}

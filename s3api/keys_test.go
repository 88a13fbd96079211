package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// A key that is not UTF-8 is refused by every request that names it, as S3
// refuses it (400 InvalidURI), so that none is ever stored.
func TestServer_KeyNotUTF8IsRefused(t *testing.T) {
	e := newEnv(t)
	e.createBucket("keys")
	e.put("keys", "src", "source")
	const bad = "/keys/a%FFb" // the byte 0xFF alone
	for _, c := range []struct {
		method, path string
		header       map[string]string
	}{
		{"PUT", bad, nil},
		{"POST", bad + "?uploads", nil},
		{"PUT", bad, map[string]string{"X-Amz-Copy-Source": "/keys/src"}},
		{"GET", bad, nil},
		{"HEAD", bad, nil},
		{"DELETE", bad, nil},
		{"PUT", bad + "?tagging", nil},
	} {
		r := e.ownerDo(c.method, c.path, nil, c.header)
		if r.status != http.StatusBadRequest || (c.method != "HEAD" && r.code() != "InvalidURI") {
			t.Errorf("%s %s: %d %s, want 400 InvalidURI", c.method, c.path, r.status, r.body)
		}
	}
	// Copying from such a key is refused too.
	r := e.ownerDo("PUT", "/keys/dst", nil, map[string]string{"X-Amz-Copy-Source": "/keys/a%FFb"})
	if r.status != http.StatusBadRequest || r.code() != "InvalidArgument" {
		t.Errorf("copy from a key that is not UTF-8: %d %s", r.status, r.body)
	}
	out, err := e.owner().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("keys")})
	must(t, "list", err)
	if len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "src" {
		t.Errorf("listing after the refused writes: %+v", out.Contents)
	}
}

// listedKeys lists bucket raw, with or without encoding-type=url, and returns
// the Key elements as a client reads them: XML character references resolved,
// URL encoding decoded. Numeric references to characters XML 1.0 cannot hold
// (which strict XML parsers, Go's included, refuse: S3 answers with them too)
// are resolved by hand.
func (e *testEnv) listedKeys(bucket, query string) []string {
	e.t.Helper()
	r := e.ownerDo("GET", "/"+bucket+"?"+query, nil, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("list %s: %d %s", query, r.status, r.body)
	}
	var keys []string
	for _, part := range strings.Split(string(r.body), "<Key>")[1:] {
		raw, _, ok := strings.Cut(part, "</Key>")
		if !ok {
			e.t.Fatalf("no </Key> in %s", r.body)
		}
		k := resolveXMLText(e.t, raw)
		if strings.Contains(query, "encoding-type=url") {
			var err error
			if k, err = url.QueryUnescape(k); err != nil {
				e.t.Fatalf("listed key %q: %v", raw, err)
			}
		}
		keys = append(keys, k)
	}
	return keys
}

// resolveXMLText resolves the entity and character references of XML text,
// accepting references to any code point.
func resolveXMLText(t *testing.T, s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], ';')
		if j < 0 {
			t.Fatalf("unterminated reference in %q", s)
		}
		ref := s[i+1 : i+j]
		s = s[i+j+1:]
		switch {
		case ref == "amp", ref == "lt", ref == "gt", ref == "quot", ref == "apos":
			b.WriteString(map[string]string{"amp": "&", "lt": "<", "gt": ">", "quot": `"`, "apos": "'"}[ref])
		case strings.HasPrefix(ref, "#x"):
			var r rune
			if _, err := fmt.Sscanf(ref[2:], "%x", &r); err != nil {
				t.Fatalf("bad reference %q", ref)
			}
			b.WriteRune(r)
		case strings.HasPrefix(ref, "#"):
			var r rune
			if _, err := fmt.Sscanf(ref[1:], "%d", &r); err != nil {
				t.Fatalf("bad reference %q", ref)
			}
			b.WriteRune(r)
		default:
			t.Fatalf("unknown entity %q", ref)
		}
	}
}

// Every key that can be stored is read back by the name a listing shows, with
// encoding-type=url and without. Characters XML 1.0 cannot hold (controls, NUL,
// U+FFFE) are stored, as S3 stores them; a listing without encoding-type carries
// them as character references, as S3 does, never as a different character.
func TestServer_EveryStoredKeyReadsBackByItsListedName(t *testing.T) {
	e := newEnv(t)
	e.createBucket("keys")
	ctx := context.Background()
	c := e.owner()
	xml10 := []string{"caf\u00e9", "\u65e5\u672c/\u30c7\u30fc\u30bf.txt", "tab\tkey", "cr\rkey", "lf\nkey", "amp&<lt>\"q'"}
	beyond := []string{"ctl\x01key", "nul\x00key", "esc\x1b[0m", "del\x7fkey", "nonchar\ufffekey", "c1\u0085key"}
	all := append(append([]string{}, xml10...), beyond...)
	for _, k := range all {
		e.put("keys", k, "body of "+k)
	}
	// Multipart and copy name keys too.
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("keys"), Key: aws.String("mp\x02key")})
	must(t, "create multipart upload", err)
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("keys"), Key: aws.String("mp\x02key"),
		UploadId: mp.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("body of mp\x02key")})
	must(t, "upload part", err)
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("keys"), Key: aws.String("mp\x02key"),
		UploadId: mp.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	must(t, "complete multipart upload", err)
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("keys"), Key: aws.String("copy\x03key"),
		CopySource: aws.String("keys/" + url.PathEscape("ctl\x01key"))})
	must(t, "copy", err)
	all = append(all, "mp\x02key", "copy\x03key")
	bodies := map[string]string{"copy\x03key": "body of ctl\x01key"}

	want := map[string]bool{}
	for _, k := range all {
		want[k] = true
	}
	for _, q := range []string{"list-type=2", "list-type=2&encoding-type=url", "", "encoding-type=url", "versions", "versions&encoding-type=url"} {
		listed := e.listedKeys("keys", q)
		got := map[string]bool{}
		for _, k := range listed {
			got[k] = true
		}
		for k := range want {
			if !got[k] {
				t.Errorf("?%s: %q not listed; listed %q", q, k, listed)
			}
		}
		for _, k := range listed {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("keys"), Key: aws.String(k)})
			if err != nil {
				t.Errorf("?%s: GET of listed name %q: %v", q, k, err)
				continue
			}
			wantBody := "body of " + k
			if b, ok := bodies[k]; ok {
				wantBody = b
			}
			if got := readAll(t, out.Body); got != wantBody {
				t.Errorf("?%s: GET %q = %q", q, k, got)
			}
		}
	}

	// Uploads in progress are listed by their exact keys too.
	_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("keys"), Key: aws.String("pending\x04key")})
	must(t, "create multipart upload", err)
	for _, q := range []string{"uploads", "uploads&encoding-type=url"} {
		if listed := e.listedKeys("keys", q); len(listed) != 1 || listed[0] != "pending\x04key" {
			t.Errorf("?%s lists %q", q, listed)
		}
	}

	// Without encoding-type the characters beyond XML 1.0 are references, and
	// nothing is replaced by U+FFFD.
	r := e.ownerDo("GET", "/keys?list-type=2", nil, nil)
	for _, ref := range []string{"ctl&#x1;key", "nul&#x0;key", "esc&#x1b;[0m", "nonchar&#xfffe;key"} {
		if !bytes.Contains(r.body, []byte("<Key>"+ref+"</Key>")) {
			t.Errorf("listing lacks <Key>%s</Key>: %s", ref, r.body)
		}
	}
	if bytes.Contains(r.body, []byte("\uFFFD")) {
		t.Errorf("listing holds U+FFFD: %s", r.body)
	}

	// An SDK asking for encoding-type=url gets every key, and decodes them.
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("keys"), EncodingType: types.EncodingTypeUrl})
	must(t, "SDK list with encoding-type=url", err)
	if len(out.Contents) != len(all) {
		t.Errorf("SDK listing has %d keys, want %d", len(out.Contents), len(all))
	}
	for _, o := range out.Contents {
		k, err := url.QueryUnescape(aws.ToString(o.Key))
		if err != nil || !want[k] {
			t.Errorf("SDK listed %q (%q, %v)", aws.ToString(o.Key), k, err)
		}
	}
	// Keys XML 1.0 holds list exactly without encoding-type too, for every
	// XML parser.
	e2 := newEnv(t)
	e2.createBucket("plain")
	for _, k := range xml10 {
		e2.put("plain", k, k)
	}
	plain, err := e2.owner().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("plain")})
	must(t, "SDK list without encoding-type", err)
	for _, o := range plain.Contents {
		if _, err := e2.owner().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("plain"), Key: o.Key}); err != nil {
			t.Errorf("HEAD listed %q: %v", aws.ToString(o.Key), err)
		}
	}
	if len(plain.Contents) != len(xml10) {
		t.Errorf("SDK listing without encoding-type has %d keys, want %d", len(plain.Contents), len(xml10))
	}
	var v struct {
		Keys []string `xml:"Contents>Key"`
	}
	if err := xml.Unmarshal(e2.ownerDo("GET", "/plain?list-type=2", nil, nil).body, &v); err != nil || len(v.Keys) != len(xml10) {
		t.Errorf("strict XML parse of the listing: %v, %q", err, v.Keys)
	}
}

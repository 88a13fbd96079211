package s3api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

type routeCase struct {
	name     string
	method   string
	target   string
	host     string
	header   map[string]string
	wantOp   op
	wantB    string
	wantK    string
	wantCode string // expected error code, "" for success
}

func TestRoute_Table(t *testing.T) {
	const base = ".localhost"
	cases := []routeCase{
		{name: "list buckets", method: "GET", target: "/", wantOp: opListBuckets},
		{name: "list buckets wrong method", method: "POST", target: "/", wantCode: "MethodNotAllowed"},
		{name: "create bucket", method: "PUT", target: "/b1", wantOp: opCreateBucket, wantB: "b1"},
		{name: "create bucket trailing slash", method: "PUT", target: "/b1/", wantOp: opCreateBucket, wantB: "b1"},
		{name: "head bucket", method: "HEAD", target: "/b1", wantOp: opHeadBucket, wantB: "b1"},
		{name: "delete bucket", method: "DELETE", target: "/b1", wantOp: opDeleteBucket, wantB: "b1"},
		{name: "list v1", method: "GET", target: "/b1?prefix=a", wantOp: opListObjects, wantB: "b1"},
		{name: "list v2", method: "GET", target: "/b1?list-type=2&x-id=ListObjectsV2", wantOp: opListObjectsV2, wantB: "b1"},
		{name: "list versions", method: "GET", target: "/b1?versions", wantOp: opListObjectVersions, wantB: "b1"},
		{name: "list uploads", method: "GET", target: "/b1?uploads", wantOp: opListMultipartUploads, wantB: "b1"},
		{name: "location", method: "GET", target: "/b1?location", wantOp: opGetBucketLocation, wantB: "b1"},
		{name: "get versioning", method: "GET", target: "/b1?versioning", wantOp: opGetBucketVersioning, wantB: "b1"},
		{name: "put versioning", method: "PUT", target: "/b1?versioning", wantOp: opPutBucketVersioning, wantB: "b1"},
		{name: "delete versioning", method: "DELETE", target: "/b1?versioning", wantCode: "MethodNotAllowed"},
		{name: "get bucket tagging", method: "GET", target: "/b1?tagging", wantOp: opGetBucketTagging, wantB: "b1"},
		{name: "put bucket tagging", method: "PUT", target: "/b1?tagging", wantOp: opPutBucketTagging, wantB: "b1"},
		{name: "delete bucket tagging", method: "DELETE", target: "/b1?tagging", wantOp: opDeleteBucketTagging, wantB: "b1"},
		{name: "get policy", method: "GET", target: "/b1?policy", wantOp: opGetBucketPolicy, wantB: "b1"},
		{name: "put policy", method: "PUT", target: "/b1?policy", wantOp: opPutBucketPolicy, wantB: "b1"},
		{name: "delete policy", method: "DELETE", target: "/b1?policy", wantOp: opDeleteBucketPolicy, wantB: "b1"},
		{name: "get pab", method: "GET", target: "/b1?publicAccessBlock", wantOp: opGetPublicAccessBlock, wantB: "b1"},
		{name: "put pab", method: "PUT", target: "/b1?publicAccessBlock", wantOp: opPutPublicAccessBlock, wantB: "b1"},
		{name: "delete pab", method: "DELETE", target: "/b1?publicAccessBlock", wantOp: opDeletePublicAccessBlock, wantB: "b1"},
		{name: "get replication", method: "GET", target: "/b1?replication", wantOp: opGetBucketReplication, wantB: "b1"},
		{name: "put replication", method: "PUT", target: "/b1?replication", wantOp: opPutBucketReplication, wantB: "b1"},
		{name: "delete replication", method: "DELETE", target: "/b1?replication", wantOp: opDeleteBucketReplication, wantB: "b1"},
		{name: "get bucket acl", method: "GET", target: "/b1?acl", wantOp: opGetBucketACL, wantB: "b1"},
		{name: "put bucket acl", method: "PUT", target: "/b1?acl", wantOp: opPutBucketACL, wantB: "b1"},
		{name: "delete objects", method: "POST", target: "/b1?delete", wantOp: opDeleteObjects, wantB: "b1"},
		{name: "post object form", method: "POST", target: "/b1", wantCode: "NotImplemented"},
		{name: "get object", method: "GET", target: "/b1/k", wantOp: opGetObject, wantB: "b1", wantK: "k"},
		{name: "get object sdk x-id", method: "GET", target: "/b1/k?x-id=GetObject", wantOp: opGetObject, wantB: "b1", wantK: "k"},
		{name: "get object version", method: "GET", target: "/b1/k?versionId=abc", wantOp: opGetObject, wantB: "b1", wantK: "k"},
		{name: "head object", method: "HEAD", target: "/b1/a/b/c", wantOp: opHeadObject, wantB: "b1", wantK: "a/b/c"},
		{name: "put object", method: "PUT", target: "/b1/k", wantOp: opPutObject, wantB: "b1", wantK: "k"},
		{name: "copy object", method: "PUT", target: "/b1/k", header: map[string]string{"X-Amz-Copy-Source": "/b2/x"}, wantOp: opCopyObject, wantB: "b1", wantK: "k"},
		{name: "delete object", method: "DELETE", target: "/b1/k", wantOp: opDeleteObject, wantB: "b1", wantK: "k"},
		{name: "get object tagging", method: "GET", target: "/b1/k?tagging", wantOp: opGetObjectTagging, wantB: "b1", wantK: "k"},
		{name: "put object tagging", method: "PUT", target: "/b1/k?tagging", wantOp: opPutObjectTagging, wantB: "b1", wantK: "k"},
		{name: "delete object tagging", method: "DELETE", target: "/b1/k?tagging", wantOp: opDeleteObjectTagging, wantB: "b1", wantK: "k"},
		{name: "get object acl", method: "GET", target: "/b1/k?acl", wantOp: opGetObjectACL, wantB: "b1", wantK: "k"},
		{name: "put object acl", method: "PUT", target: "/b1/k?acl", wantOp: opPutObjectACL, wantB: "b1", wantK: "k"},
		{name: "create upload", method: "POST", target: "/b1/k?uploads", wantOp: opCreateMultipartUpload, wantB: "b1", wantK: "k"},
		{name: "upload part", method: "PUT", target: "/b1/k?partNumber=1&uploadId=u", wantOp: opUploadPart, wantB: "b1", wantK: "k"},
		{name: "upload part copy", method: "PUT", target: "/b1/k?partNumber=1&uploadId=u", header: map[string]string{"X-Amz-Copy-Source": "b2/x"}, wantOp: opUploadPartCopy, wantB: "b1", wantK: "k"},
		{name: "upload part without id", method: "PUT", target: "/b1/k?partNumber=1", wantCode: "InvalidRequest"},
		{name: "complete upload", method: "POST", target: "/b1/k?uploadId=u", wantOp: opCompleteMultipartUpload, wantB: "b1", wantK: "k"},
		{name: "abort upload", method: "DELETE", target: "/b1/k?uploadId=u", wantOp: opAbortMultipartUpload, wantB: "b1", wantK: "k"},
		{name: "list parts", method: "GET", target: "/b1/k?uploadId=u", wantOp: opListParts, wantB: "b1", wantK: "k"},
		{name: "post object without subresource", method: "POST", target: "/b1/k", wantCode: "MethodNotAllowed"},
		{name: "patch", method: "PATCH", target: "/b1/k", wantCode: "MethodNotAllowed"},
		{name: "options is cors", method: "OPTIONS", target: "/b1/k", wantCode: "NotImplemented"},

		// Keys keep every character, decoded once.
		{name: "double slash key", method: "GET", target: "/b1//a//b", wantOp: opGetObject, wantB: "b1", wantK: "/a//b"},
		{name: "trailing slash key", method: "PUT", target: "/b1/dir/", wantOp: opPutObject, wantB: "b1", wantK: "dir/"},
		{name: "encoded key", method: "GET", target: "/b1/a%20b%2Bc%3F%25", wantOp: opGetObject, wantB: "b1", wantK: "a b+c?%"},
		{name: "plus stays plus", method: "GET", target: "/b1/a+b", wantOp: opGetObject, wantB: "b1", wantK: "a+b"},
		{name: "unicode key", method: "GET", target: "/b1/%E2%82%AC", wantOp: opGetObject, wantB: "b1", wantK: "€"},

		// Virtual-host style.
		{name: "vhost bucket", method: "GET", target: "/", host: "b1.localhost:9000", wantOp: opListObjects, wantB: "b1"},
		{name: "vhost object", method: "GET", target: "/k/x", host: "b1.localhost", wantOp: opGetObject, wantB: "b1", wantK: "k/x"},
		{name: "vhost dotted bucket", method: "PUT", target: "/", host: "my.dotted.bucket.localhost:80", wantOp: opCreateBucket, wantB: "my.dotted.bucket"},
		{name: "vhost upper-case host", method: "GET", target: "/k", host: "B1.LocalHost", wantOp: opGetObject, wantB: "b1", wantK: "k"},
		{name: "base domain itself is path style", method: "GET", target: "/b1/k", host: "localhost:9000", wantOp: opGetObject, wantB: "b1", wantK: "k"},
		{name: "ip is path style", method: "GET", target: "/b1/k", host: "127.0.0.1:9000", wantOp: opGetObject, wantB: "b1", wantK: "k"},
		{name: "ipv6 is path style", method: "GET", target: "/b1/k", host: "[::1]:9000", wantOp: opGetObject, wantB: "b1", wantK: "k"},
		{name: "other domain is path style", method: "GET", target: "/b1/k", host: "s3.example.com", wantOp: opGetObject, wantB: "b1", wantK: "k"},
		{name: "vhost double slash key", method: "GET", target: "//k", host: "b1.localhost", wantOp: opGetObject, wantB: "b1", wantK: "/k"},

		{name: "key too long", method: "GET", target: "/b1/" + longKey(1025), wantCode: "KeyTooLongError"},
		{name: "key at limit", method: "GET", target: "/b1/" + longKey(1024), wantOp: opGetObject, wantB: "b1", wantK: longKey(1024)},
	}
	unsupported := []string{"cors", "lifecycle", "website", "logging", "notification", "encryption", "object-lock",
		"retention", "legal-hold", "restore", "select", "torrent", "accelerate", "analytics", "inventory", "metrics",
		"intelligent-tiering", "ownershipControls", "requestPayment", "policyStatus", "attributes"}
	for _, sub := range unsupported {
		for _, m := range []string{"GET", "PUT", "DELETE", "POST"} {
			cases = append(cases, routeCase{name: m + " ?" + sub, method: m, target: "/b1?" + sub, wantCode: "NotImplemented"})
		}
		if sub != "attributes" { // GET of an object's ?attributes is GetObjectAttributes
			cases = append(cases, routeCase{name: "object ?" + sub, method: "GET", target: "/b1/k?" + sub, wantCode: "NotImplemented"})
		}
		cases = append(cases, routeCase{name: "PUT object ?" + sub, method: "PUT", target: "/b1/k?" + sub, wantCode: "NotImplemented"})
	}
	cases = append(cases, routeCase{name: "GetObjectAttributes", method: "GET", target: "/b1/k?attributes", wantOp: opGetObjectAttributes, wantB: "b1", wantK: "k"})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.host != "" {
				r.Host = tc.host
			} else {
				r.Host = "127.0.0.1:9000"
			}
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			rt, err := route(r, base)
			if tc.wantCode != "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != tc.wantCode {
					t.Fatalf("route error = %v, want code %s", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("route error: %v", err)
			}
			if rt.op != tc.wantOp || rt.bucket != tc.wantB || rt.key != tc.wantK {
				t.Fatalf("route = (%s, %q, %q), want (%s, %q, %q)", rt.op.name(), rt.bucket, rt.key, tc.wantOp.name(), tc.wantB, tc.wantK)
			}
		})
	}
}

func longKey(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'k'
	}
	return string(b)
}

func TestRoute_EveryOpHasAName(t *testing.T) {
	for o := op(0); o < numOps; o++ {
		if opNames[o] == "" {
			t.Errorf("op %d has no name", o)
		}
	}
	if op(200).name() != "Unknown" {
		t.Errorf("out-of-range op name = %q", op(200).name())
	}
}

func TestVhostBucket(t *testing.T) {
	cases := []struct {
		host, base string
		want       string
		ok         bool
	}{
		{"b.localhost", ".localhost", "b", true},
		{"b.localhost.", ".localhost", "b", true},
		{"localhost", ".localhost", "", false},
		{".localhost", ".localhost", "", false},
		{"b.s3.lab.example", ".s3.lab.example", "b", true},
		{"b.other.example", ".s3.lab.example", "", false},
		{"[::1]:80", ".localhost", "", false},
		{"", ".localhost", "", false},
	}
	for _, c := range cases {
		got, ok := vhostBucket(c.host, c.base)
		if got != c.want || ok != c.ok {
			t.Errorf("vhostBucket(%q, %q) = (%q, %v), want (%q, %v)", c.host, c.base, got, ok, c.want, c.ok)
		}
	}
}

func TestRoute_MethodNotAllowedStatus(t *testing.T) {
	r := httptest.NewRequest(http.MethodPut, "/b1?location", nil)
	_, err := route(r, ".localhost")
	e, _ := translate(err)
	if e.Status != http.StatusMethodNotAllowed {
		t.Fatalf("status = %d, want 405", e.Status)
	}
}

// TestAWSVhostBucket: the virtual-hosted AWS S3 host names unmodified clients
// send through proxy mode name their bucket; the path-style, S3 Control and
// MRAP hosts do not.
func TestAWSVhostBucket(t *testing.T) {
	for host, want := range map[string]string{
		"bucket-a.s3.us-west-2.amazonaws.com":                    "bucket-a",
		"my.dotted.bucket.s3.eu-west-1.amazonaws.com":            "my.dotted.bucket",
		"b.s3.amazonaws.com":                                     "b",
		"legacy.s3-us-west-2.amazonaws.com":                      "legacy",
		"Upper.S3.US-EAST-1.AMAZONAWS.COM":                       "upper",
		"s3.amazonaws.com":                                       "",
		"s3.us-east-1.amazonaws.com":                             "",
		"123456789012.s3-control.us-west-2.amazonaws.com":        "",
		"mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com": "",
		"ec2.us-east-1.amazonaws.com":                            "",
		"bucket.s3.us-east-1.example.com":                        "",
	} {
		got, ok := awsVhostBucket(host)
		if got != want || ok != (want != "") {
			t.Errorf("awsVhostBucket(%q) = %q, %v; want %q", host, got, ok, want)
		}
	}
}

package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const sharedPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "OtherReads", "Effect": "Allow", "Principal": {"AWS": "other"},
     "Action": ["s3:GetObject", "s3:ListBucket"],
     "Resource": ["arn:aws:s3:::shared", "arn:aws:s3:::shared/*"]},
    {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
     "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/public/*"},
    {"Sid": "NoSecrets", "Effect": "Deny", "Principal": "*",
     "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/private/secret*"}
  ]
}`

func TestBucketPolicy(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	b := e.mkBucket(t, "shared")
	for _, k := range []string{"public/a.txt", "private/b.txt", "private/secret.txt"} {
		e.put(t, b, k, []byte("content of "+k))
	}
	anon := func(key string) rawResponse {
		t.Helper()
		return e.do(t, rawRequest{Method: http.MethodGet, Path: "/" + b + "/" + key, Access: "-"})
	}
	otherGet := func(key string) error {
		_, err := e.other.GetObject(c, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(key)})
		return err
	}

	t.Run("no policy: owner only", func(t *testing.T) {
		wantAPIError(t, otherGet("public/a.txt"), "AccessDenied", http.StatusForbidden)
		anon("public/a.txt").wantCode(t, "AccessDenied", http.StatusForbidden)
		_, err := e.other.ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: aws.String(b)})
		wantAPIError(t, err, "AccessDenied", http.StatusForbidden)
		_, err = e.s3.GetBucketPolicy(c, &s3.GetBucketPolicyInput{Bucket: aws.String(b)})
		wantAPIError(t, err, "NoSuchBucketPolicy", http.StatusNotFound)
		e.mustServe(t)
	})

	if _, err := e.s3.PutBucketPolicy(c, &s3.PutBucketPolicyInput{Bucket: aws.String(b), Policy: aws.String(sharedPolicy)}); err != nil {
		t.Fatalf("PutBucketPolicy: %v", err)
	}

	t.Run("grants and denies", func(t *testing.T) {
		if err := otherGet("private/b.txt"); err != nil {
			t.Errorf("other GET private/b.txt with a policy granting it: %v", err)
		}
		if _, err := e.other.ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: aws.String(b)}); err != nil {
			t.Errorf("other ListObjectsV2 with s3:ListBucket granted: %v", err)
		}
		wantAPIError(t, otherGet("private/secret.txt"), "AccessDenied", http.StatusForbidden)
		// An explicit Deny applies to the owner too.
		_, err := e.s3.GetObject(c, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("private/secret.txt")})
		wantAPIError(t, err, "AccessDenied", http.StatusForbidden)

		_, err = e.other.PutObject(c, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("public/new"), Body: strings.NewReader("x")})
		wantAPIError(t, err, "AccessDenied", http.StatusForbidden)
		_, err = e.other.DeleteObject(c, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String("public/a.txt")})
		wantAPIError(t, err, "AccessDenied", http.StatusForbidden)
		_, err = e.other.GetBucketPolicy(c, &s3.GetBucketPolicyInput{Bucket: aws.String(b)})
		wantAPIError(t, err, "AccessDenied", http.StatusForbidden)

		if r := anon("public/a.txt"); r.Status != http.StatusOK || string(r.Body) != "content of public/a.txt" {
			t.Errorf("anonymous GET of a public object: %d %q", r.Status, r.Body)
		}
		anon("private/b.txt").wantCode(t, "AccessDenied", http.StatusForbidden)
		anon("private/secret.txt").wantCode(t, "AccessDenied", http.StatusForbidden)
		e.mustServe(t)
	})

	t.Run("get policy", func(t *testing.T) {
		out, err := e.s3.GetBucketPolicy(c, &s3.GetBucketPolicyInput{Bucket: aws.String(b)})
		if err != nil {
			t.Fatalf("GetBucketPolicy: %v", err)
		}
		var doc struct{ Statement []struct{ Sid string } }
		if err := json.Unmarshal([]byte(aws.ToString(out.Policy)), &doc); err != nil || len(doc.Statement) != 3 || doc.Statement[0].Sid != "OtherReads" {
			t.Errorf("GetBucketPolicy returned %q (%v)", aws.ToString(out.Policy), err)
		}
	})

	t.Run("public access block", func(t *testing.T) {
		_, err := e.s3.GetPublicAccessBlock(c, &s3.GetPublicAccessBlockInput{Bucket: aws.String(b)})
		wantAPIError(t, err, "NoSuchPublicAccessBlockConfiguration", http.StatusNotFound)

		putPAB := func(cfg types.PublicAccessBlockConfiguration) {
			t.Helper()
			if _, err := e.s3.PutPublicAccessBlock(c, &s3.PutPublicAccessBlockInput{Bucket: aws.String(b), PublicAccessBlockConfiguration: &cfg}); err != nil {
				t.Fatalf("PutPublicAccessBlock: %v", err)
			}
		}
		putPAB(types.PublicAccessBlockConfiguration{RestrictPublicBuckets: aws.Bool(true)})
		got, err := e.s3.GetPublicAccessBlock(c, &s3.GetPublicAccessBlockInput{Bucket: aws.String(b)})
		if err != nil {
			t.Fatalf("GetPublicAccessBlock: %v", err)
		}
		if p := got.PublicAccessBlockConfiguration; p == nil || !aws.ToBool(p.RestrictPublicBuckets) || aws.ToBool(p.BlockPublicPolicy) {
			t.Errorf("GetPublicAccessBlock = %+v", p)
		}
		anon("public/a.txt").wantCode(t, "AccessDenied", http.StatusForbidden)
		if err := otherGet("private/b.txt"); err != nil {
			t.Errorf("RestrictPublicBuckets must not stop a named principal: %v", err)
		}

		putPAB(types.PublicAccessBlockConfiguration{BlockPublicPolicy: aws.Bool(true)})
		_, err = e.s3.PutBucketPolicy(c, &s3.PutBucketPolicyInput{Bucket: aws.String(b), Policy: aws.String(sharedPolicy)})
		wantAPIError(t, err, "AccessDenied", http.StatusForbidden)
		// A non-public policy is still accepted.
		private := strings.Replace(sharedPolicy, `"Principal": "*",
     "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/public/*"`, `"Principal": {"AWS": "other"},
     "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/public/*"`, 1)
		if private == sharedPolicy {
			t.Fatal("test bug: the public statement was not rewritten")
		}
		if _, err := e.s3.PutBucketPolicy(c, &s3.PutBucketPolicyInput{Bucket: aws.String(b), Policy: aws.String(private)}); err != nil {
			t.Errorf("PutBucketPolicy of a non-public policy under BlockPublicPolicy: %v", err)
		}

		if _, err := e.s3.DeletePublicAccessBlock(c, &s3.DeletePublicAccessBlockInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("DeletePublicAccessBlock: %v", err)
		}
		if _, err := e.s3.PutBucketPolicy(c, &s3.PutBucketPolicyInput{Bucket: aws.String(b), Policy: aws.String(sharedPolicy)}); err != nil {
			t.Fatalf("PutBucketPolicy after removing the block: %v", err)
		}
		if r := anon("public/a.txt"); r.Status != http.StatusOK {
			t.Errorf("anonymous GET after removing the block: %d %s", r.Status, r.Body)
		}

		r := e.do(t, rawRequest{Method: http.MethodPut, Path: "/" + b, Query: "publicAccessBlock", Body: []byte("<PublicAccessBlockConfiguration><BlockPublicAcls>maybe")})
		r.wantCode(t, "MalformedXML", http.StatusBadRequest)
		e.mustServe(t)
	})

	t.Run("malformed policy", func(t *testing.T) {
		for _, doc := range []string{
			`{not json`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other-bucket/*"}]}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}]}`,
		} {
			_, err := e.s3.PutBucketPolicy(c, &s3.PutBucketPolicyInput{Bucket: aws.String(b), Policy: aws.String(doc)})
			wantAPIError(t, err, "MalformedPolicy", http.StatusBadRequest)
		}
		e.mustServe(t)
	})

	t.Run("delete policy", func(t *testing.T) {
		if _, err := e.s3.DeleteBucketPolicy(c, &s3.DeleteBucketPolicyInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("DeleteBucketPolicy: %v", err)
		}
		wantAPIError(t, otherGet("private/b.txt"), "AccessDenied", http.StatusForbidden)
		anon("public/a.txt").wantCode(t, "AccessDenied", http.StatusForbidden)
	})
}

// TestAnonymousPlainHTTP reads a public object with nothing but net/http, as a browser
// or curl would.
func TestAnonymousPlainHTTP(t *testing.T) {
	e := newEnv(t)
	b := e.mkBucket(t, "www")
	e.put(t, b, "index.html", []byte("<h1>hi</h1>"))
	pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::www/*"}]}`
	if _, err := e.s3.PutBucketPolicy(ctx(t), &s3.PutBucketPolicyInput{Bucket: aws.String(b), Policy: aws.String(pol)}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(e.plain.URL + "/www/index.html")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "<h1>hi</h1>" {
		t.Errorf("anonymous GET: %d %q", resp.StatusCode, body)
	}
	// Listing was not granted.
	resp, err = http.Get(e.plain.URL + "/www")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous list: %d, want 403", resp.StatusCode)
	}
}

package s3api

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// setPolicy puts a bucket policy as the owner.
func setPolicy(t *testing.T, e *testEnv, bucket, doc string) {
	t.Helper()
	_, err := e.owner().PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)})
	must(t, "put policy", err)
}

func TestServer_Policy(t *testing.T) {
	e := newEnv(t)
	e.createBucket("pol")
	e.put("pol", "public/a", "pub")
	e.put("pol", "private/b", "priv")
	other, anon := e.client(otherAK, otherSK), e.client("", "")

	_, err := other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("public/a")})
	wantCode(t, "other without policy", err, "AccessDenied")
	_, err = other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("missing")})
	wantCode(t, "other cannot learn existence", err, "AccessDenied")
	_, err = e.owner().GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("pol")})
	wantCode(t, "no policy yet", err, "NoSuchBucketPolicy")
	_, err = e.owner().PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("pol"), Policy: aws.String("{not json")})
	wantCode(t, "malformed policy", err, "MalformedPolicy")

	setPolicy(t, e, "pol", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/other"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::pol","arn:aws:s3:::pol/*"]},
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/public/*"}]}`)
	gp, err := e.owner().GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("pol")})
	must(t, "get policy", err)
	if !strings.Contains(aws.ToString(gp.Policy), "arn:aws:s3:::pol/public/*") {
		t.Errorf("policy %s", aws.ToString(gp.Policy))
	}

	g, err := other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("private/b")})
	must(t, "other allowed", err)
	readAll(t, g.Body)
	_, err = other.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pol"), Key: aws.String("x"), Body: strings.NewReader("x")})
	wantCode(t, "other put not allowed", err, "AccessDenied")
	_, err = other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("missing")})
	wantCode(t, "other with ListBucket sees 404", err, "NoSuchKey")
	_, err = other.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("pol")})
	wantCode(t, "other deletes policy", err, "AccessDenied")

	g, err = anon.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("public/a")})
	must(t, "anonymous public read", err)
	if readAll(t, g.Body) != "pub" {
		t.Errorf("anonymous body")
	}
	_, err = anon.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("private/b")})
	wantCode(t, "anonymous private read", err, "AccessDenied")
	_, err = anon.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("pol")})
	wantCode(t, "anonymous list", err, "AccessDenied")
	r := e.do("GET", "/pol/public/a?response-content-type=text%2Fhtml", nil, nil, "", "")
	if r.status != 400 || r.code() != "InvalidRequest" {
		t.Errorf("anonymous response override: %d %s", r.status, r.body)
	}

	// RestrictPublicBuckets: the public statement stops working for anonymous callers,
	// account principals keep their access.
	_, err = e.owner().PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("pol"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{RestrictPublicBuckets: aws.Bool(true)}})
	must(t, "put pab", err)
	pab, err := e.owner().GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("pol")})
	must(t, "get pab", err)
	if !aws.ToBool(pab.PublicAccessBlockConfiguration.RestrictPublicBuckets) || aws.ToBool(pab.PublicAccessBlockConfiguration.BlockPublicPolicy) {
		t.Errorf("pab %+v", pab.PublicAccessBlockConfiguration)
	}
	_, err = anon.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("public/a")})
	wantCode(t, "anonymous under RestrictPublicBuckets", err, "AccessDenied")
	g, err = other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pol"), Key: aws.String("public/a")})
	must(t, "account principal under RestrictPublicBuckets", err)
	readAll(t, g.Body)

	// BlockPublicPolicy refuses public policies but not private ones.
	_, err = e.owner().PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("pol"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicPolicy: aws.Bool(true)}})
	must(t, "put pab 2", err)
	_, err = e.owner().PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("pol"), Policy: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}`)})
	wantCode(t, "public policy blocked", err, "AccessDenied")
	setPolicy(t, e, "pol", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}`)

	_, err = e.owner().DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("pol")})
	must(t, "delete pab", err)
	_, err = e.owner().GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("pol")})
	wantCode(t, "pab deleted", err, "NoSuchPublicAccessBlockConfiguration")

	// An explicit Deny binds the owner too, except for managing the policy itself.
	setPolicy(t, e, "pol", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::pol/*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:*Policy","Resource":"arn:aws:s3:::pol"}]}`)
	_, err = e.owner().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("pol"), Key: aws.String("public/a")})
	wantCode(t, "owner denied", err, "AccessDenied")
	_, err = e.owner().GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("pol")})
	must(t, "owner can still read the policy", err)
	_, err = e.owner().DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("pol")})
	must(t, "owner can still delete the policy", err)
	_, err = e.owner().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("pol"), Key: aws.String("public/a")})
	must(t, "owner allowed again", err)

	// Policies naming resources outside the bucket are refused.
	_, err = e.owner().PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("pol"), Policy: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::elsewhere/*"}]}`)})
	wantCode(t, "foreign resource", err, "MalformedPolicy")
}

func TestServer_PolicyConditions(t *testing.T) {
	e := newEnv(t)
	e.createBucket("cond")
	e.put("cond", "docs/a", "x")
	e.put("cond", "other/b", "x")
	setPolicy(t, e, "cond", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:ListBucket",
		"Resource":"arn:aws:s3:::cond","Condition":{"StringLike":{"s3:prefix":"docs/*"},"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}]}`)
	other := e.client(otherAK, otherSK)
	out, err := other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cond"), Prefix: aws.String("docs/")})
	must(t, "list allowed prefix", err)
	if len(out.Contents) != 1 {
		t.Errorf("contents %d", len(out.Contents))
	}
	_, err = other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cond"), Prefix: aws.String("other/")})
	wantCode(t, "list other prefix", err, "AccessDenied")
	setPolicy(t, e, "cond", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:ListBucket",
		"Resource":"arn:aws:s3:::cond","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`)
	_, err = other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cond")})
	wantCode(t, "list from wrong network", err, "AccessDenied")
}

func TestServer_ExpectedBucketOwner(t *testing.T) {
	e := newEnv(t)
	e.createBucket("owned")
	for _, c := range []struct {
		owner  string
		status int
	}{{"000000000000", 200}, {ownerAK, 200}, {"111111111111", 403}} {
		r := e.ownerDo("GET", "/owned?list-type=2", nil, map[string]string{"X-Amz-Expected-Bucket-Owner": c.owner})
		if r.status != c.status {
			t.Errorf("expected owner %s: status %d, want %d", c.owner, r.status, c.status)
		}
	}
}

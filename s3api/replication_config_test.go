package s3api

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestServer_Replication(t *testing.T) {
	e := newEnv(t)
	e.createBucket("rep")
	c := e.owner()
	cfg := &types.ReplicationConfiguration{
		Role: aws.String("arn:aws:iam::000000000000:role/replication"),
		Rules: []types.ReplicationRule{{
			ID: aws.String("r1"), Status: types.ReplicationRuleStatusEnabled, Priority: aws.Int32(1),
			Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("")},
			DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
			Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::rep-copy")},
		}},
	}
	_, err := c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("rep"), ReplicationConfiguration: cfg})
	wantCode(t, "replication on unversioned bucket", err, "InvalidRequest")
	_, err = c.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("rep")})
	wantCode(t, "no replication", err, "ReplicationConfigurationNotFoundError")

	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("rep"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	must(t, "enable versioning", err)
	// A single region has no other region to replicate to: a missing
	// destination, the bucket itself, and a bucket of this region are refused.
	// (Stored configurations, their effect on versioning and their deletion are
	// tested across regions: cmd/pangea/replication_test.go.)
	_, err = c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("rep"), ReplicationConfiguration: cfg})
	wantMessage(t, "missing destination", err, "InvalidRequest", "Destination bucket must exist.")
	e.createBucket("rep-copy")
	_, err = c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("rep"), ReplicationConfiguration: cfg})
	wantMessage(t, "destination in the same region", err, "InvalidRequest", "replicates between regions")
	self := *cfg
	self.Rules = []types.ReplicationRule{cfg.Rules[0]}
	self.Rules[0].Destination = &types.Destination{Bucket: aws.String("arn:aws:s3:::rep")}
	_, err = c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("rep"), ReplicationConfiguration: &self})
	wantMessage(t, "destination is the source", err, "InvalidRequest", "cannot be the same as the source")
	bad := *cfg
	bad.Rules = []types.ReplicationRule{cfg.Rules[0]}
	bad.Rules[0].DeleteMarkerReplication = nil
	_, err = c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("rep"), ReplicationConfiguration: &bad})
	if err == nil || httpStatus(err) != 400 {
		t.Errorf("invalid replication rule accepted: %v", err)
	}
	_, err = c.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("rep")})
	wantCode(t, "still no replication", err, "ReplicationConfigurationNotFoundError")
}

// wantMessage checks err is the S3 error code whose message contains part.
func wantMessage(t *testing.T, what string, err error, code, part string) {
	t.Helper()
	wantCode(t, what, err, code)
	if err != nil && !strings.Contains(err.Error(), part) {
		t.Errorf("%s: %v, want a message with %q", what, err, part)
	}
}

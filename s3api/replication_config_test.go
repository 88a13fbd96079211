package s3api

import (
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
	_, err = c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("rep"), ReplicationConfiguration: cfg})
	must(t, "put replication", err)
	got, err := c.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("rep")})
	must(t, "get replication", err)
	if len(got.ReplicationConfiguration.Rules) != 1 || aws.ToString(got.ReplicationConfiguration.Rules[0].ID) != "r1" ||
		aws.ToString(got.ReplicationConfiguration.Rules[0].Destination.Bucket) != "arn:aws:s3:::rep-copy" {
		t.Errorf("replication config %+v", got.ReplicationConfiguration)
	}
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("rep"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	wantCode(t, "suspend with replication", err, "InvalidBucketState")
	if httpStatus(err) != 409 {
		t.Errorf("suspend status %d", httpStatus(err))
	}
	bad := *cfg
	bad.Rules = []types.ReplicationRule{cfg.Rules[0]}
	bad.Rules[0].DeleteMarkerReplication = nil
	_, err = c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("rep"), ReplicationConfiguration: &bad})
	if err == nil || httpStatus(err) != 400 {
		t.Errorf("invalid replication rule accepted: %v", err)
	}
	_, err = c.DeleteBucketReplication(ctx, &s3.DeleteBucketReplicationInput{Bucket: aws.String("rep")})
	must(t, "delete replication", err)
	_, err = c.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("rep")})
	wantCode(t, "replication deleted", err, "ReplicationConfigurationNotFoundError")
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("rep"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	must(t, "suspend without replication", err)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	ctltypes "github.com/aws/aws-sdk-go-v2/service/s3control/types"
	"github.com/aws/smithy-go"

	"github.com/pangea-s3/pangea/cmd/pangea/internal/labfile"
	"github.com/pangea-s3/pangea/s3api"
	"github.com/pangea-s3/pangea/s3api/awsclient"
)

// labMRAPWait bounds the lab's MRAP set-up: a region may still be electing
// its leader when the lab starts.
const labMRAPWait = 60 * time.Second

// setupLabMRAP gives the lab an MRAP named name over a bucket in every region
// ("<name>-<region>", versioned), each replicating to all the others (two-way,
// delete markers and replica tag changes too), and waits until it is READY.
// It is idempotent across restarts of a lab on the same data: what exists is
// kept. progress gets a line per step.
func setupLabMRAP(ctx context.Context, pl *planet, cfg Config, lf labfile.File, name string, progress io.Writer) (labfile.MRAP, error) {
	ctx, cancel := context.WithTimeout(ctx, labMRAPWait)
	defer cancel()
	creds := credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")
	plain := &http.Client{Transport: &http.Transport{Proxy: nil}}
	out := labfile.MRAP{Name: name, Buckets: map[string]string{}}
	retry := func(what string, op func() error) error {
		for {
			err := op()
			if err == nil {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("lab MRAP %s: %s: %w", name, what, err)
			case <-time.After(200 * time.Millisecond): // the region is electing: try again
			}
		}
	}
	clients := map[string]*s3.Client{}
	for _, r := range pl.regions {
		bucket := name + "-" + r.Name
		out.Buckets[r.Name] = bucket
		c := s3.NewFromConfig(aws.Config{Region: r.Name, Credentials: creds, HTTPClient: plain, RetryMaxAttempts: 1},
			func(o *s3.Options) { o.UsePathStyle, o.BaseEndpoint = true, aws.String(r.members[0].url) })
		clients[r.Name] = c
		err := retry("create bucket "+bucket, func() error {
			in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
			if r.Name != "us-east-1" {
				in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r.Name)}
			}
			_, err := c.CreateBucket(ctx, in)
			var ae smithy.APIError
			if errors.As(err, &ae) && ae.ErrorCode() == "BucketAlreadyOwnedByYou" {
				return nil
			}
			return err
		})
		if err == nil {
			err = retry("enable versioning on "+bucket, func() error {
				_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
					VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
				return err
			})
		}
		if err != nil {
			return out, err
		}
	}
	fmt.Fprintf(progress, "  lab MRAP %s: a versioned bucket in each region\n", name)
	if len(pl.regions) > 1 {
		for _, r := range pl.regions {
			var rules []types.ReplicationRule
			for _, o := range pl.regions {
				if o == r {
					continue
				}
				rules = append(rules, types.ReplicationRule{
					ID: aws.String("to-" + o.Name), Priority: aws.Int32(int32(len(rules) + 1)), Status: types.ReplicationRuleStatusEnabled,
					Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("")},
					DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusEnabled},
					SourceSelectionCriteria: &types.SourceSelectionCriteria{ReplicaModifications: &types.ReplicaModifications{Status: types.ReplicaModificationsStatusEnabled}},
					Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::" + out.Buckets[o.Name])},
				})
			}
			err := retry("replication of "+out.Buckets[r.Name], func() error {
				_, err := clients[r.Name].PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String(out.Buckets[r.Name]),
					ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String("arn:aws:iam::" + s3api.AccountID + ":role/pangea-lab"), Rules: rules}})
				return err
			})
			if err != nil {
				return out, err
			}
		}
		fmt.Fprintf(progress, "  lab MRAP %s: the buckets replicate to each other (two-way)\n", name)
	}

	// S3 Control as the SDK addresses it ({account}.s3-control...), sent to the
	// lab's global endpoint.
	hc, err := awsclient.HTTPClient(lf.Endpoints.Global, plain)
	if err != nil {
		return out, fmt.Errorf("lab MRAP %s: %w", name, err)
	}
	ctl := s3control.NewFromConfig(aws.Config{Region: "us-west-2", Credentials: creds, RetryMaxAttempts: 1, HTTPClient: hc})
	account := aws.String(s3api.AccountID)
	var mrap *s3control.GetMultiRegionAccessPointOutput
	err = retry("create the MRAP", func() error {
		got, err := ctl.GetMultiRegionAccessPoint(ctx, &s3control.GetMultiRegionAccessPointInput{AccountId: account, Name: aws.String(name)})
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchMultiRegionAccessPoint" {
			var regions []ctltypes.Region
			for _, r := range pl.regions {
				regions = append(regions, ctltypes.Region{Bucket: aws.String(out.Buckets[r.Name])})
			}
			_, err = ctl.CreateMultiRegionAccessPoint(ctx, &s3control.CreateMultiRegionAccessPointInput{AccountId: account,
				ClientToken: aws.String("pangea-lab-" + name),
				Details:     &ctltypes.CreateMultiRegionAccessPointInput{Name: aws.String(name), Regions: regions}})
			if err == nil {
				err = errors.New("created, not READY yet")
			}
			return err
		}
		if err != nil {
			return err
		}
		if got.AccessPoint.Status != ctltypes.MultiRegionAccessPointStatusReady {
			return fmt.Errorf("status %s", got.AccessPoint.Status)
		}
		mrap = got
		return nil
	})
	if err != nil {
		return out, err
	}
	out.Alias = aws.ToString(mrap.AccessPoint.Alias)
	out.ARN = "arn:aws:s3::" + s3api.AccountID + ":accesspoint/" + out.Alias
	fmt.Fprintf(progress, "  lab MRAP %s: READY, %s\n", name, out.ARN)
	return out, nil
}

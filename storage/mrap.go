package storage

import (
	"errors"
	"time"
)

// Multi-Region Access Points (MRAPs) as the global catalog keeps them: like the
// bucket catalog, only the control region's store holds them, and every process
// caches them. This file holds the types shared by the catalog, the S3 Control
// API (s3api) and the data plane's routing; the operations that change them are
// op_*mrap*.go.

// MRAP statuses (S3 Control's MultiRegionAccessPointStatus).
const (
	MRAPCreating = "CREATING"
	MRAPReady    = "READY"
	MRAPDeleting = "DELETING"
)

// MRAP asynchronous operations (AsyncOperation.Operation) and their statuses.
const (
	MRAPOpCreate    = "CreateMultiRegionAccessPoint"
	MRAPOpDelete    = "DeleteMultiRegionAccessPoint"
	MRAPOpPutPolicy = "PutMultiRegionAccessPointPolicy"

	MRAPRequestNew        = "NEW"
	MRAPRequestInProgress = "IN_PROGRESS"
	MRAPRequestSucceeded  = "SUCCEEDED"
	MRAPRequestFailed     = "FAILED"
)

// Errors of the MRAP catalog (the S3 Control API answers them with
// NoSuchMultiRegionAccessPoint 404, NoSuchAsyncRequest 404,
// MultiRegionAccessPointAlreadyExists 409, ConflictingRouteUpdate 409,
// InvalidRequest 400).
var (
	ErrNoSuchMRAP         = errors.New("storage: no such multi-region access point")
	ErrNoSuchAsyncRequest = errors.New("storage: no such asynchronous request")
	ErrMRAPAlreadyExists  = errors.New("storage: multi-region access point already exists")
	ErrMRAPRouteConflict  = errors.New("storage: conflicting route update")
	ErrInvalidMRAP        = errors.New("storage: invalid multi-region access point request")
)

// MRAP is one Multi-Region Access Point of an account.
type MRAP struct {
	Account string // the owning account, 12 digits
	Name    string // unique per account, 3 to 50 characters
	Alias   string // "m" + 12 of [a-z0-9] + ".mrap": generated, never reused
	Created time.Time
	Status  string // MRAPCreating, MRAPReady or MRAPDeleting
	// PublicAccessBlock is fixed at creation (all true unless the request
	// turned some off).
	PublicAccessBlock MRAPPublicAccessBlock
	// Regions has one bucket per region, sorted by region.
	Regions []MRAPRegion
	// Policy is the established policy (JSON, "" for none); ProposedPolicy a
	// newer one not yet established everywhere ("" when none is pending).
	Policy, ProposedPolicy string
}

// MRAPPublicAccessBlock is an MRAP's public access block.
type MRAPPublicAccessBlock struct {
	BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets bool
}

// MRAPRegion is an MRAP's bucket in one region and its route.
type MRAPRegion struct {
	Region          string
	Bucket          string
	BucketAccountID string // "" for the MRAP's own account
	// TrafficDial is the route: 100 active, 0 passive (S3 accepts only these
	// two in practice; any 0..100 is stored, non-zero counts as active).
	TrafficDial int
}

// ARN returns the MRAP's ARN: arn:aws:s3::{account}:accesspoint/{alias}.
func (m MRAP) ARN() string { return "arn:aws:s3::" + m.Account + ":accesspoint/" + m.Alias }

// Active reports whether region r receives new requests.
func (r MRAPRegion) Active() bool { return r.TrafficDial > 0 }

// MRAPRoute is one route update (SubmitMultiRegionAccessPointRoutes): Bucket or
// Region (or both, which must agree) and the new dial.
type MRAPRoute struct {
	Bucket, Region string
	TrafficDial    int
}

// MRAPOperation is one asynchronous MRAP request
// (DescribeMultiRegionAccessPointOperation).
type MRAPOperation struct {
	// TokenARN is
	// arn:aws:s3:{control-region}:{account}:async-request/mrap/{create|delete|put-policy}/{token}.
	TokenARN    string
	Operation   string // MRAPOpCreate, MRAPOpDelete or MRAPOpPutPolicy
	Account     string
	ClientToken string
	Created     time.Time
	Status      string // MRAPRequestNew, ...InProgress, ...Succeeded, ...Failed
	// The request's parameters: Name always; for a create the whole MRAP as
	// requested (Regions with Bucket, BucketAccountID and, once resolved,
	// Region); for a put-policy the Policy.
	Name   string
	Create *MRAP
	Policy string
	// ErrorCode and ErrorMessage say why a FAILED operation failed.
	ErrorCode, ErrorMessage string
}

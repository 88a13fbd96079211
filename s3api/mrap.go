package s3api

import (
	"context"

	"github.com/pangea-s3/pangea/storage"
)

// Multi-Region Access Points: the interfaces the S3 front end consumes. The S3
// Control API (control.go) manages MRAPs through an MRAPControl; the data plane
// (mrapdata.go) serves requests addressed to an MRAP through an MRAPRouter. Both
// are implemented over the global catalog and the gossip pool by cmd/pangea;
// Config.MRAPControl and Config.MRAPRouter nil: the control API answers
// NotImplemented and MRAP addresses are unknown buckets.

// MRAPControl is the MRAP catalog as the S3 Control API needs it. account is
// the caller's account (x-amz-account-id, checked against the principal's).
// Errors: storage.ErrNoSuchMRAP, ErrNoSuchAsyncRequest, ErrMRAPAlreadyExists,
// ErrMRAPRouteConflict, ErrInvalidMRAP (wrapped, with a message a client may
// read), or a retryable unavailability of the control region.
type MRAPControl interface {
	// CreateMRAP starts creating m (Name, PublicAccessBlock, Regions with
	// Bucket and BucketAccountID; the rest is filled in): the returned
	// operation is NEW or IN_PROGRESS, the MRAP CREATING, READY once every
	// process caches it. The same clientToken again returns the same
	// operation.
	CreateMRAP(ctx context.Context, account, clientToken string, m storage.MRAP) (storage.MRAPOperation, error)
	// DeleteMRAP starts deleting the MRAP name (DELETING, then gone).
	DeleteMRAP(ctx context.Context, account, clientToken, name string) (storage.MRAPOperation, error)
	// PutMRAPPolicy starts replacing name's policy (proposed, then
	// established).
	PutMRAPPolicy(ctx context.Context, account, clientToken, name, policy string) (storage.MRAPOperation, error)
	// MRAPOperation describes an asynchronous request by its token ARN.
	MRAPOperation(ctx context.Context, account, tokenARN string) (storage.MRAPOperation, error)
	// MRAP returns the MRAP name.
	MRAP(ctx context.Context, account, name string) (storage.MRAP, error)
	// MRAPs lists the account's MRAPs, by name.
	MRAPs(ctx context.Context, account string) ([]storage.MRAP, error)
	// SubmitMRAPRoutes changes the routes of the MRAP an ARN (or alias) names:
	// regions not named keep theirs; at least one region must stay active.
	SubmitMRAPRoutes(ctx context.Context, account, mrap string, routes []storage.MRAPRoute) error
}

// MRAPRouter is the MRAP catalog and the planet as the data plane needs them.
type MRAPRouter interface {
	// MRAPByAlias returns the MRAP whose alias is alias, from the cached
	// catalog; ok false if there is none.
	MRAPByAlias(ctx context.Context, alias string) (m storage.MRAP, ok bool, err error)
	// Route orders m's regions for a request arriving here: the active regions
	// that are healthy, lowest measured RTT from this process first (passive
	// or unreachable ones are left out). Empty: no region can serve.
	Route(ctx context.Context, m storage.MRAP) ([]MRAPHop, error)
}

// MRAPHop is one region an MRAP request may go to: its bucket there, and
// where that region is served from here.
type MRAPHop struct {
	Region, Bucket string
	Target         Target
}

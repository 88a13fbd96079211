package node

import (
	"context"
	"fmt"

	"github.com/pangea-s3/pangea/storage"
)

// The MRAP catalog, as a member of the control region serves it: like the bucket
// catalog (catalog.go), writes go through the member's write path and are read
// back behind the read barrier, since a forwarded write answers only whether it
// succeeded. The MRAPs themselves travel with the catalog (Catalog,
// WatchCatalog: storage.CatalogSnapshot.MRAPs); the asynchronous operations are
// read here only. Errors are the storage sentinels (storage.ErrNoSuchMRAP,
// ErrMRAPAlreadyExists, ErrMRAPAliasTaken, ErrInvalidMRAP, ...), wrapped once,
// or those of any write (ErrFormatNotReady before the region runs Format6,
// RetryableErrors: a retry of the same call is safe, the commands are
// idempotent for one client token).

// CreateMRAP records m (Account, Name, Alias, Regions with their regions, Created
// or zero for the leader's clock) as CREATING with its operation tokenARN, and
// returns the operation the account's clientToken names: this one, or the one
// an earlier call with the same token and request started.
func (m *Member) CreateMRAP(ctx context.Context, tokenARN, clientToken string, mrap storage.MRAP) (storage.MRAPOperation, error) {
	cmd := storage.PutMRAPCmd{MRAP: mrap, TokenARN: tokenARN, ClientToken: clientToken}
	o, err := m.commitMRAPOp(ctx, cmd, mrap.Account, clientToken)
	if err != nil {
		return storage.MRAPOperation{}, fmt.Errorf("create mrap %q: %w", mrap.Name, err)
	}
	return o, nil
}

// DeleteMRAP starts deleting account's MRAP name (DELETING until its operation
// completes) and returns the operation clientToken names.
func (m *Member) DeleteMRAP(ctx context.Context, account, name, tokenARN, clientToken string) (storage.MRAPOperation, error) {
	cmd := storage.DeleteMRAPCmd{Account: account, Name: name, TokenARN: tokenARN, ClientToken: clientToken}
	o, err := m.commitMRAPOp(ctx, cmd, account, clientToken)
	if err != nil {
		return storage.MRAPOperation{}, fmt.Errorf("delete mrap %q: %w", name, err)
	}
	return o, nil
}

// PutMRAPPolicy proposes policy for account's MRAP name (established when its
// operation completes) and returns the operation clientToken names.
func (m *Member) PutMRAPPolicy(ctx context.Context, account, name, policy, tokenARN, clientToken string) (storage.MRAPOperation, error) {
	cmd := storage.PutMRAPPolicyCmd{Account: account, Name: name, Policy: policy, TokenARN: tokenARN, ClientToken: clientToken}
	o, err := m.commitMRAPOp(ctx, cmd, account, clientToken)
	if err != nil {
		return storage.MRAPOperation{}, fmt.Errorf("put mrap policy %q: %w", name, err)
	}
	return o, nil
}

// commitMRAPOp commits cmd and reads back the operation of account's
// clientToken.
func (m *Member) commitMRAPOp(ctx context.Context, cmd storage.Command, account, clientToken string) (storage.MRAPOperation, error) {
	if _, err := m.commitOne(ctx, cmd); err != nil {
		return storage.MRAPOperation{}, err
	}
	if err := m.readBarrier(ctx); err != nil {
		return storage.MRAPOperation{}, fmt.Errorf("read back: %w", err)
	}
	o, ok, err := m.store.MRAPOperationByToken(account, clientToken)
	if err != nil {
		return storage.MRAPOperation{}, err
	}
	if !ok {
		// Committed, then gone: nothing deletes operations, so only a restore
		// of an older snapshot gets here.
		return storage.MRAPOperation{}, fmt.Errorf("read back: %w: client token %q", storage.ErrNoSuchAsyncRequest, clientToken)
	}
	return o, nil
}

// CompleteMRAPOperation finishes the operation tokenARN: SUCCEEDED, or FAILED
// when errorCode is set (storage.CompleteMRAPOperationCmd says what it does to
// the MRAP). An operation already finished is left as it is.
func (m *Member) CompleteMRAPOperation(ctx context.Context, tokenARN, errorCode, errorMessage string) error {
	cmd := storage.CompleteMRAPOperationCmd{TokenARN: tokenARN, ErrorCode: errorCode, ErrorMessage: errorMessage}
	if _, err := m.commitOne(ctx, cmd); err != nil {
		return fmt.Errorf("complete mrap operation %s: %w", tokenARN, err)
	}
	return nil
}

// SubmitMRAPRoutes sets the traffic dials of the regions routes name, in the MRAP
// of account whose alias is alias.
func (m *Member) SubmitMRAPRoutes(ctx context.Context, account, alias string, routes []storage.MRAPRoute) error {
	cmd := storage.SubmitMRAPRoutesCmd{Account: account, Alias: alias, Routes: routes}
	if _, err := m.commitOne(ctx, cmd); err != nil {
		return fmt.Errorf("submit mrap routes %s: %w", alias, err)
	}
	return nil
}

// MRAPOperation returns the operation tokenARN names, linearizable;
// storage.ErrNoSuchAsyncRequest if there is none.
func (m *Member) MRAPOperation(ctx context.Context, tokenARN string) (storage.MRAPOperation, error) {
	if err := m.readBarrier(ctx); err != nil {
		return storage.MRAPOperation{}, fmt.Errorf("read mrap operation: %w", err)
	}
	o, ok, err := m.store.MRAPOperation(tokenARN)
	if err == nil && !ok {
		err = fmt.Errorf("%w: %s", storage.ErrNoSuchAsyncRequest, tokenARN)
	}
	if err != nil {
		return storage.MRAPOperation{}, fmt.Errorf("read mrap operation: %w", err)
	}
	return o, nil
}

// MRAPOperations returns every MRAP operation recorded, finished ones included,
// linearizable.
func (m *Member) MRAPOperations(ctx context.Context) ([]storage.MRAPOperation, error) {
	if err := m.readBarrier(ctx); err != nil {
		return nil, fmt.Errorf("read mrap operations: %w", err)
	}
	ops, err := m.store.MRAPOperations()
	if err != nil {
		return nil, fmt.Errorf("read mrap operations: %w", err)
	}
	return ops, nil
}

package storage

import (
	"fmt"
)

// OpCompleteMRAPOperation is CompleteMRAPOperationCmd's code.
const OpCompleteMRAPOperation Op = 25

// CompleteMRAPOperationCmd finishes the asynchronous MRAP operation TokenARN
// (applied in the control region, once the change has propagated): SUCCEEDED,
// or FAILED with ErrorCode and ErrorMessage when ErrorCode is set.
//
// On success a create makes its MRAP READY, a delete removes the MRAP (its alias
// stays used forever), a put-policy establishes the operation's policy (and
// clears the proposed one if it is that policy). On failure a create removes the
// MRAP it made, a delete puts the MRAP back to READY, a put-policy drops its
// proposal. An MRAP that is gone, or no longer in the state the operation left
// it in, is left alone. An operation already finished: success, no change. An
// unknown one: ErrNoSuchAsyncRequest.
type CompleteMRAPOperationCmd struct {
	TokenARN, ErrorCode, ErrorMessage string
}

func (CompleteMRAPOperationCmd) Op() Op { return OpCompleteMRAPOperation }

func (CompleteMRAPOperationCmd) PayloadSize() int { return 0 }

func (CompleteMRAPOperationCmd) catalogOp() {}

func (CompleteMRAPOperationCmd) idempotent() {}

func (c CompleteMRAPOperationCmd) validate() error {
	if c.TokenARN == "" {
		return fmt.Errorf("%w: no request token", ErrInvalidMRAP)
	}
	return nil
}

func (c CompleteMRAPOperationCmd) encode(e *encoder) {
	e.str(c.TokenARN)
	e.str(c.ErrorCode)
	e.str(c.ErrorMessage)
}

func (c *CompleteMRAPOperationCmd) decode(d *decoder) {
	*c = CompleteMRAPOperationCmd{TokenARN: d.str(), ErrorCode: d.str(), ErrorMessage: d.str()}
}

func (c CompleteMRAPOperationCmd) apply(a *applier) (Result, error) {
	o, ok, err := getMRAPOp(a.tx, c.TokenARN)
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrNoSuchAsyncRequest, c.TokenARN)
		}
		return rejectBusiness(err)
	}
	if o.Status == MRAPRequestSucceeded || o.Status == MRAPRequestFailed {
		return Result{}, nil
	}
	failed := c.ErrorCode != ""
	if failed {
		o.Status, o.ErrorCode, o.ErrorMessage = MRAPRequestFailed, c.ErrorCode, c.ErrorMessage
	} else {
		o.Status = MRAPRequestSucceeded
	}
	m, exists, err := getMRAP(a.tx, o.Account, o.Name)
	if err != nil {
		return Result{}, err
	}
	// An MRAP of the same name made by another creation is not this one's.
	if exists && o.Operation == MRAPOpCreate && o.Create != nil && m.Alias != o.Create.Alias {
		exists = false
	}
	if exists {
		var drop bool
		switch o.Operation {
		case MRAPOpCreate:
			if m.Status == MRAPCreating {
				m.Status, drop = MRAPReady, failed
			}
		case MRAPOpDelete:
			if m.Status == MRAPDeleting {
				m.Status, drop = MRAPReady, !failed
			}
		case MRAPOpPutPolicy:
			if !failed {
				m.Policy = o.Policy
			}
			if m.ProposedPolicy == o.Policy {
				m.ProposedPolicy = ""
			}
		}
		if drop {
			err = deleteMRAP(a.tx, m)
		} else {
			err = putMRAP(a.tx, m)
		}
		if err != nil {
			return Result{}, err
		}
	}
	if err := putMRAPOp(a.tx, o); err != nil {
		return Result{}, err
	}
	return Result{}, bumpCatalogVersion(a.tx)
}

package storage

import (
	"fmt"
	"time"
)

// OpDeleteMRAP is DeleteMRAPCmd's code.
const OpDeleteMRAP Op = 23

// DeleteMRAPCmd starts deleting account's MRAP Name (applied in the control
// region): the MRAP becomes DELETING and the operation TokenARN is recorded
// IN_PROGRESS under ClientToken, created At (zero: the leader's clock). The MRAP
// goes when the operation completes (CompleteMRAPOperationCmd). The same
// ClientToken again for the same name succeeds without a change; for another
// request: ErrInvalidMRAP. An unknown name: ErrNoSuchMRAP.
type DeleteMRAPCmd struct {
	Account, Name, TokenARN, ClientToken string
	At                                   time.Time
}

func (DeleteMRAPCmd) Op() Op { return OpDeleteMRAP }

func (DeleteMRAPCmd) PayloadSize() int { return 0 }

func (DeleteMRAPCmd) catalogOp() {}

func (DeleteMRAPCmd) idempotent() {}

func (c DeleteMRAPCmd) validate() error {
	return checkMRAPRequest(c.Account, c.Name, c.TokenARN, c.ClientToken)
}

func (c DeleteMRAPCmd) encode(e *encoder) {
	e.str(c.Account)
	e.str(c.Name)
	e.str(c.TokenARN)
	e.str(c.ClientToken)
	e.time(c.At)
}

func (c *DeleteMRAPCmd) decode(d *decoder) {
	*c = DeleteMRAPCmd{Account: d.str(), Name: d.str(), TokenARN: d.str(), ClientToken: d.str(), At: d.time()}
}

func (c DeleteMRAPCmd) stamp(clk Clock) Command {
	stampTime(&c.At, clk)
	return c
}

func (c DeleteMRAPCmd) apply(a *applier) (Result, error) {
	found, err := checkMRAPToken(a.tx, c.Account, c.ClientToken, c.TokenARN, func(o MRAPOperation) bool {
		return o.Operation == MRAPOpDelete && o.Name == c.Name
	})
	if err != nil || found {
		return rejectBusiness(err)
	}
	m, ok, err := getMRAP(a.tx, c.Account, c.Name)
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: %q", ErrNoSuchMRAP, c.Name)
		}
		return rejectBusiness(err)
	}
	m.Status = MRAPDeleting
	o := MRAPOperation{
		TokenARN: c.TokenARN, Operation: MRAPOpDelete, Account: c.Account, ClientToken: c.ClientToken,
		Created: c.At, Status: MRAPRequestInProgress, Name: c.Name,
	}
	if err := putMRAP(a.tx, m); err != nil {
		return Result{}, err
	}
	if err := putMRAPOp(a.tx, o); err != nil {
		return Result{}, err
	}
	return Result{}, bumpCatalogVersion(a.tx)
}

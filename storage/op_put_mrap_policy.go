package storage

import (
	"fmt"
	"time"
)

// OpPutMRAPPolicy is PutMRAPPolicyCmd's code.
const OpPutMRAPPolicy Op = 24

// PutMRAPPolicyCmd starts replacing the policy of account's MRAP Name (applied
// in the control region): Policy becomes the MRAP's ProposedPolicy and the
// operation TokenARN is recorded IN_PROGRESS under ClientToken, created At (zero:
// the leader's clock); completing the operation establishes the policy. The same
// ClientToken again for the same request succeeds without a change; for another:
// ErrInvalidMRAP. An unknown name: ErrNoSuchMRAP.
type PutMRAPPolicyCmd struct {
	Account, Name, Policy, TokenARN, ClientToken string
	At                                           time.Time
}

func (PutMRAPPolicyCmd) Op() Op { return OpPutMRAPPolicy }

func (c PutMRAPPolicyCmd) PayloadSize() int { return len(c.Policy) }

func (PutMRAPPolicyCmd) catalogOp() {}

func (PutMRAPPolicyCmd) idempotent() {}

func (c PutMRAPPolicyCmd) validate() error {
	return checkMRAPRequest(c.Account, c.Name, c.TokenARN, c.ClientToken)
}

func (c PutMRAPPolicyCmd) encode(e *encoder) {
	e.str(c.Account)
	e.str(c.Name)
	e.str(c.Policy)
	e.str(c.TokenARN)
	e.str(c.ClientToken)
	e.time(c.At)
}

func (c *PutMRAPPolicyCmd) decode(d *decoder) {
	*c = PutMRAPPolicyCmd{Account: d.str(), Name: d.str(), Policy: d.str(), TokenARN: d.str(), ClientToken: d.str(), At: d.time()}
}

func (c PutMRAPPolicyCmd) stamp(clk Clock) Command {
	stampTime(&c.At, clk)
	return c
}

func (c PutMRAPPolicyCmd) apply(a *applier) (Result, error) {
	found, err := checkMRAPToken(a.tx, c.Account, c.ClientToken, c.TokenARN, func(o MRAPOperation) bool {
		return o.Operation == MRAPOpPutPolicy && o.Name == c.Name && o.Policy == c.Policy
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
	m.ProposedPolicy = c.Policy
	o := MRAPOperation{
		TokenARN: c.TokenARN, Operation: MRAPOpPutPolicy, Account: c.Account, ClientToken: c.ClientToken,
		Created: c.At, Status: MRAPRequestInProgress, Name: c.Name, Policy: c.Policy,
	}
	if err := putMRAP(a.tx, m); err != nil {
		return Result{}, err
	}
	if err := putMRAPOp(a.tx, o); err != nil {
		return Result{}, err
	}
	return Result{}, bumpCatalogVersion(a.tx)
}

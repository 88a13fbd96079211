package storage

import (
	"fmt"
	"slices"
	"strings"
)

// OpPutMRAP is PutMRAPCmd's code.
const OpPutMRAP Op = 22

// PutMRAPCmd starts creating a Multi-Region Access Point (applied in the control
// region): MRAP is recorded as CREATING together with its asynchronous operation
// (TokenARN, IN_PROGRESS) under the account's ClientToken. The caller decides
// everything the apply needs: the alias, the regions of the buckets, the time
// (zero: the leader's clock). The same ClientToken again for the same request
// succeeds without changing anything (the caller reads the operation back by its
// token); for another request it fails with ErrInvalidMRAP. A name the account
// uses already: ErrMRAPAlreadyExists; an alias ever used before:
// ErrMRAPAliasTaken (the caller retries with another). An account that has
// MaxMRAPsPerAccount already: ErrInvalidMRAP.
type PutMRAPCmd struct {
	MRAP                  MRAP
	TokenARN, ClientToken string
}

func (PutMRAPCmd) Op() Op { return OpPutMRAP }

func (c PutMRAPCmd) PayloadSize() int { return len(c.MRAP.Policy) + 64*len(c.MRAP.Regions) }

func (PutMRAPCmd) catalogOp() {}

func (PutMRAPCmd) idempotent() {}

func (c PutMRAPCmd) validate() error {
	if err := checkMRAPRequest(c.MRAP.Account, c.MRAP.Name, c.TokenARN, c.ClientToken); err != nil {
		return err
	}
	if c.MRAP.Alias == "" {
		return fmt.Errorf("%w: no alias", ErrInvalidMRAP)
	}
	if len(c.MRAP.Regions) == 0 {
		return fmt.Errorf("%w: no region", ErrInvalidMRAP)
	}
	return nil
}

func (c PutMRAPCmd) encode(e *encoder) {
	e.mrap(c.MRAP)
	e.str(c.TokenARN)
	e.str(c.ClientToken)
}

func (c *PutMRAPCmd) decode(d *decoder) {
	*c = PutMRAPCmd{MRAP: d.mrap(), TokenARN: d.str(), ClientToken: d.str()}
}

func (c PutMRAPCmd) stamp(clk Clock) Command {
	stampTime(&c.MRAP.Created, clk)
	return c
}

// sameMRAPRequest reports whether two creations ask for the same MRAP: the same
// name, public access block and buckets (the alias and time are the caller's).
func sameMRAPRequest(a, b MRAP) bool {
	if a.Name != b.Name || a.PublicAccessBlock != b.PublicAccessBlock || len(a.Regions) != len(b.Regions) {
		return false
	}
	for i := range a.Regions {
		x, y := a.Regions[i], b.Regions[i]
		if x.Bucket != y.Bucket || x.BucketAccountID != y.BucketAccountID || x.Region != y.Region {
			return false
		}
	}
	return true
}

func (c PutMRAPCmd) apply(a *applier) (Result, error) {
	m := c.MRAP
	m.Status = MRAPCreating
	m.Regions = slices.Clone(m.Regions)
	slices.SortStableFunc(m.Regions, func(x, y MRAPRegion) int { return strings.Compare(x.Region, y.Region) })
	found, err := checkMRAPToken(a.tx, m.Account, c.ClientToken, c.TokenARN, func(o MRAPOperation) bool {
		return o.Operation == MRAPOpCreate && o.Create != nil && sameMRAPRequest(*o.Create, m)
	})
	if err != nil || found {
		return rejectBusiness(err)
	}
	if _, ok, err := getMRAP(a.tx, m.Account, m.Name); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("%w: %q", ErrMRAPAlreadyExists, m.Name)
		}
		return rejectBusiness(err)
	}
	if n := countMRAPs(a.tx, m.Account); n >= MaxMRAPsPerAccount {
		return fail(fmt.Errorf("%w: the account has %d access points already, the most it may have", ErrInvalidMRAP, n))
	}
	if _, _, used, err := aliasOwner(a.tx, m.Alias); err != nil || used {
		if err == nil {
			err = fmt.Errorf("%w: %q", ErrMRAPAliasTaken, m.Alias)
		}
		return rejectBusiness(err)
	}
	req := m
	req.Regions = slices.Clone(m.Regions)
	o := MRAPOperation{
		TokenARN: c.TokenARN, Operation: MRAPOpCreate, Account: m.Account, ClientToken: c.ClientToken,
		Created: m.Created, Status: MRAPRequestInProgress, Name: m.Name, Create: &req,
	}
	if err := putMRAP(a.tx, m); err != nil {
		return Result{}, err
	}
	if err := putAlias(a.tx, m.Alias, m.Account, m.Name); err != nil {
		return Result{}, err
	}
	if err := putMRAPOp(a.tx, o); err != nil {
		return Result{}, err
	}
	return Result{}, bumpCatalogVersion(a.tx)
}

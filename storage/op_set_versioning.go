package storage

import (
	"fmt"
)

// OpSetVersioning is SetVersioningCmd's code.
const OpSetVersioning Op = 3

// SetVersioningCmd sets a bucket's versioning to VersioningEnabled or
// VersioningSuspended (Unversioned: ErrInvalidArgument).
type SetVersioningCmd struct {
	Bucket string
	State  VersioningState
}

func (SetVersioningCmd) Op() Op { return OpSetVersioning }

func (SetVersioningCmd) PayloadSize() int { return 0 }

func (SetVersioningCmd) validate() error { return nil }

func (c SetVersioningCmd) encode(e *encoder) {
	e.str(c.Bucket)
	e.byte1(byte(c.State))
}

func (c *SetVersioningCmd) decode(d *decoder) {
	*c = SetVersioningCmd{Bucket: d.str(), State: VersioningState(d.byte1())}
}

func (c SetVersioningCmd) apply(a *applier) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if c.State != VersioningEnabled && c.State != VersioningSuspended {
		return fail(fmt.Errorf("%w: versioning state %d", ErrInvalidArgument, c.State))
	}
	if t.info.Versioning == c.State {
		return Result{}, nil
	}
	t.info.Versioning = c.State
	return Result{}, a.tx.Bucket(bktBuckets).Put([]byte(c.Bucket), encodeBucket(t.info))
}

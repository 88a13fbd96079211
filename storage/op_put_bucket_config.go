package storage

import (
	"fmt"
)

// OpPutBucketConfig is PutBucketConfigCmd's code.
const OpPutBucketConfig Op = 4

// PutBucketConfigCmd stores a bucket sub-resource; nil Data deletes it.
type PutBucketConfigCmd struct {
	Bucket string
	Kind   ConfigKind
	Data   []byte
}

func (PutBucketConfigCmd) Op() Op { return OpPutBucketConfig }

func (c PutBucketConfigCmd) PayloadSize() int { return len(c.Data) }

func (PutBucketConfigCmd) validate() error { return nil }

func (c PutBucketConfigCmd) encode(e *encoder) {
	e.str(c.Bucket)
	e.str(string(c.Kind))
	e.optBytes(c.Data)
}

func (c *PutBucketConfigCmd) decode(d *decoder) {
	*c = PutBucketConfigCmd{Bucket: d.str(), Kind: ConfigKind(d.str()), Data: d.optBytes()}
}

func (c PutBucketConfigCmd) apply(a *applier) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if c.Kind == "" {
		return fail(fmt.Errorf("%w: empty configuration kind", ErrInvalidArgument))
	}
	if c.Data == nil {
		return Result{}, t.configs().Delete([]byte(c.Kind))
	}
	return Result{}, t.configs().Put([]byte(c.Kind), encodeConfig(c.Data))
}

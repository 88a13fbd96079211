package storage

import (
	"fmt"
	"time"
)

// OpCreateUpload is CreateUploadCmd's code.
const OpCreateUpload Op = 9

// CreateUploadCmd starts a multipart upload.
type CreateUploadCmd struct {
	Bucket, Key, UploadID    string
	Time                     time.Time
	Meta                     ObjectMeta
	ChecksumAlgorithm, Owner string
}

func (CreateUploadCmd) Op() Op { return OpCreateUpload }

func (c CreateUploadCmd) PayloadSize() int { return len(c.Key) }

func (CreateUploadCmd) validate() error { return nil }

func (c CreateUploadCmd) encode(e *encoder) {
	e.str(c.Bucket)
	e.str(c.Key)
	e.str(c.UploadID)
	e.time(c.Time)
	e.meta(c.Meta)
	e.str(c.ChecksumAlgorithm)
	e.str(c.Owner)
}

func (c *CreateUploadCmd) decode(d *decoder) {
	*c = CreateUploadCmd{Bucket: d.str(), Key: d.str(), UploadID: d.str(), Time: d.time(), Meta: d.meta(), ChecksumAlgorithm: d.str(), Owner: d.str()}
}

func (c CreateUploadCmd) stamp(clk Clock) Command {
	stampTime(&c.Time, clk)
	return c
}

func (c CreateUploadCmd) apply(a *applier) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if c.Key == "" || c.UploadID == "" {
		return fail(fmt.Errorf("%w: empty key or upload id", ErrInvalidArgument))
	}
	alg := c.ChecksumAlgorithm
	if alg != "" {
		if alg, err = NormalizeChecksumAlgorithm(alg); err != nil {
			return fail(err)
		}
	}
	k := uploadKey(c.Key, c.UploadID)
	if t.uploads().Get(k) != nil {
		return fail(fmt.Errorf("%w: upload %q exists", ErrInvalidArgument, c.UploadID))
	}
	u := MultipartUpload{Bucket: c.Bucket, Key: c.Key, UploadID: c.UploadID, Initiated: c.Time, Meta: c.Meta, ChecksumAlgorithm: alg, Owner: c.Owner}
	if err := t.uploads().Put(k, encodeUpload(u)); err != nil {
		return Result{}, err
	}
	return Result{Upload: u}, nil
}

package storage

// OpAbortUpload is AbortUploadCmd's code.
const OpAbortUpload Op = 12

// AbortUploadCmd removes an upload and its parts' bodies.
type AbortUploadCmd struct {
	Bucket, Key, UploadID string
}

func (AbortUploadCmd) Op() Op { return OpAbortUpload }

func (c AbortUploadCmd) PayloadSize() int { return len(c.Key) }

func (AbortUploadCmd) validate() error { return nil }

func (c AbortUploadCmd) encode(e *encoder) {
	e.str(c.Bucket)
	e.str(c.Key)
	e.str(c.UploadID)
}

func (c *AbortUploadCmd) decode(d *decoder) {
	*c = AbortUploadCmd{Bucket: d.str(), Key: d.str(), UploadID: d.str()}
}

func (c AbortUploadCmd) apply(a *applier) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if _, err := findUpload(t, c.Bucket, c.Key, c.UploadID); err != nil {
		return Result{}, err
	}
	stored, err := uploadParts(t, c.Key, c.UploadID)
	if err != nil {
		return Result{}, err
	}
	for _, p := range stored {
		if err := t.parts().Delete(partKey(c.Key, c.UploadID, p.Number)); err != nil {
			return Result{}, err
		}
		if err := a.release([]segment{p.body}); err != nil {
			return Result{}, err
		}
	}
	return Result{}, t.uploads().Delete(uploadKey(c.Key, c.UploadID))
}

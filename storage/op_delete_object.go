package storage

import (
	"errors"
	"fmt"
	"time"
)

// OpDeleteObject is DeleteObjectCmd's code.
const OpDeleteObject Op = 7

// DeleteObjectCmd is an S3 DeleteObject. VersionID "" deletes the current version
// according to the bucket's versioning (a marker with MarkerID where one is made);
// "null" or an ID string removes that version for good.
type DeleteObjectCmd struct {
	Bucket, Key, VersionID string
	MarkerID               VersionID
	Time                   time.Time
	Owner                  string
}

func (DeleteObjectCmd) Op() Op { return OpDeleteObject }

func (c DeleteObjectCmd) PayloadSize() int { return len(c.Key) }

func (DeleteObjectCmd) validate() error { return nil }

func (c DeleteObjectCmd) encode(e *encoder) {
	e.str(c.Bucket)
	e.str(c.Key)
	e.str(c.VersionID)
	e.versionID(c.MarkerID)
	e.time(c.Time)
	e.str(c.Owner)
}

func (c *DeleteObjectCmd) decode(d *decoder) {
	*c = DeleteObjectCmd{Bucket: d.str(), Key: d.str(), VersionID: d.str(), MarkerID: d.versionID(), Time: d.time(), Owner: d.str()}
}

func (c DeleteObjectCmd) stamp(clk Clock) Command {
	// Used only if the delete makes a marker; minted always so that the decision
	// stays inside apply.
	stampVersion(&c.MarkerID, &c.Time, clk)
	return c
}

func (c DeleteObjectCmd) versionTime() uint64 { return c.MarkerID.Time }

func (c DeleteObjectCmd) apply(a *applier) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	if c.Key == "" {
		return fail(fmt.Errorf("%w: empty key", ErrInvalidArgument))
	}
	if c.VersionID != "" {
		return a.deleteVersion(t, &c)
	}
	if t.info.Versioning == Unversioned {
		old, ok, err := findNull(t.versions(), c.Bucket, c.Key)
		if err != nil || !ok {
			return Result{}, err
		}
		if err := t.versions().Delete(old.k); err != nil {
			return Result{}, err
		}
		return Result{}, a.release(old.v.body)
	}
	if err := checkNewVersion(t, c.Key, c.MarkerID); err != nil {
		return fail(err)
	}
	m := ObjectVersion{Bucket: c.Bucket, Key: c.Key, ID: c.MarkerID, DeleteMarker: true, ModTime: c.Time, Owner: c.Owner}
	if err := a.putVersion(t, &m); err != nil {
		return Result{}, err
	}
	if err := a.outbox(t, &m, OutboxDeleteMarker); err != nil {
		return Result{}, err
	}
	res := Result{Version: m, Delete: DeleteResult{VersionID: m.ID.String(), DeleteMarker: true}}
	if m.IsNull {
		res.Delete.VersionID = "null"
	}
	return res, nil
}

// deleteVersion permanently removes one version. A missing version is a success, as
// in S3 (204); the result says whether what was removed was a delete marker.
func (a *applier) deleteVersion(t *bucketTables, c *DeleteObjectCmd) (Result, error) {
	ref, err := resolve(t.versions(), c.Bucket, c.Key, c.VersionID)
	switch {
	case errors.Is(err, ErrNoSuchVersion):
		return Result{Delete: DeleteResult{VersionID: c.VersionID}}, nil
	case errors.Is(err, ErrDeleteMarker):
		// Removing a marker by version ID is allowed: it "undeletes" the object.
	case err != nil:
		return Result{}, err
	}
	if err := t.versions().Delete(ref.k); err != nil {
		return Result{}, err
	}
	if err := a.release(ref.v.body); err != nil {
		return Result{}, err
	}
	return Result{Version: ref.v, Delete: DeleteResult{VersionID: c.VersionID, DeleteMarker: ref.v.DeleteMarker}}, nil
}

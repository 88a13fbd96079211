package storage

import (
	"fmt"
	"strings"
	"time"
)

// OpCompleteUpload is CompleteUploadCmd's code.
const OpCompleteUpload Op = 11

// CompleteUploadCmd turns an upload into an object version with ID, re-using the
// parts' blobs as its body. WriteConditions are PutObjectCmd's; when they fail the
// upload and its parts stay as they were.
type CompleteUploadCmd struct {
	Bucket, Key, UploadID string
	Parts                 []CompletedPart
	ID                    VersionID
	Time                  time.Time
	WriteConditions
}

func (CompleteUploadCmd) Op() Op { return OpCompleteUpload }

func (c CompleteUploadCmd) PayloadSize() int { return len(c.Key) + 32*len(c.Parts) }

func (CompleteUploadCmd) validate() error { return nil }

func (c CompleteUploadCmd) encode(e *encoder) {
	e.str(c.Bucket)
	e.str(c.Key)
	e.str(c.UploadID)
	e.uvarint(uint64(len(c.Parts)))
	for _, p := range c.Parts {
		e.varint(int64(p.Number))
		e.str(p.ETag)
		e.str(p.Checksum)
	}
	e.versionID(c.ID)
	e.time(c.Time)
	e.conditions(c.WriteConditions)
}

func (c *CompleteUploadCmd) decode(d *decoder) {
	*c = CompleteUploadCmd{Bucket: d.str(), Key: d.str(), UploadID: d.str()}
	if n := d.count(3); n > 0 {
		c.Parts = make([]CompletedPart, n)
		for i := range c.Parts {
			c.Parts[i] = CompletedPart{Number: d.intVarint(), ETag: d.str(), Checksum: d.str()}
		}
	}
	c.ID = d.versionID()
	c.Time = d.time()
	c.WriteConditions = d.conditions()
}

func (c CompleteUploadCmd) stamp(clk Clock) Command {
	stampVersion(&c.ID, &c.Time, clk)
	return c
}

func (c CompleteUploadCmd) versionTime() uint64 { return c.ID.Time }

func (c CompleteUploadCmd) apply(a *applier) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	u, err := findUpload(t, c.Bucket, c.Key, c.UploadID)
	if err != nil {
		return Result{}, err
	}
	if len(c.Parts) == 0 {
		return fail(fmt.Errorf("%w: no parts", ErrInvalidArgument))
	}
	for i := 1; i < len(c.Parts); i++ {
		if c.Parts[i].Number <= c.Parts[i-1].Number {
			return fail(fmt.Errorf("%w: part %d after part %d", ErrInvalidPartOrder, c.Parts[i].Number, c.Parts[i-1].Number))
		}
	}
	if err := checkNewVersion(t, c.Key, c.ID); err != nil {
		return fail(err)
	}
	stored, err := uploadParts(t, c.Key, c.UploadID)
	if err != nil {
		return Result{}, err
	}
	byNumber := make(map[int]partRecord, len(stored))
	for _, p := range stored {
		byNumber[p.Number] = p
	}
	used := make([]partRecord, len(c.Parts))
	etags := make([]string, len(c.Parts))
	for i, cp := range c.Parts {
		p, ok := byNumber[cp.Number]
		if !ok || !sameETag(p.ETag, cp.ETag) {
			return fail(fmt.Errorf("%w: part %d not uploaded or etag differs", ErrInvalidPart, cp.Number))
		}
		if cp.Checksum != "" && p.Checksum != nil && cp.Checksum != p.Checksum.Value {
			return fail(fmt.Errorf("%w: part %d checksum differs", ErrInvalidPart, cp.Number))
		}
		used[i], etags[i] = p, p.ETag
	}
	for _, p := range used[:len(used)-1] {
		if p.Size < MinPartSize {
			return fail(fmt.Errorf("%w: part %d is %d bytes", ErrEntityTooSmall, p.Number, p.Size))
		}
	}
	etag, err := MultipartETag(etags)
	if err != nil {
		return fail(err)
	}
	var sum *Checksum
	if u.ChecksumAlgorithm != "" {
		values := make([]string, 0, len(used))
		for _, p := range used {
			if p.Checksum != nil && p.Checksum.Algorithm == u.ChecksumAlgorithm {
				values = append(values, p.Checksum.Value)
			}
		}
		// Parts uploaded without the checksum leave the object without one rather
		// than with a wrong one.
		if len(values) == len(used) {
			if sum, err = CompositeChecksum(u.ChecksumAlgorithm, values); err != nil {
				return fail(err)
			}
		}
	}
	// Last of the checks: a failed condition leaves the upload and its parts intact.
	if err := checkConditions(t, c.Key, c.WriteConditions); err != nil {
		return Result{}, err
	}

	v := ObjectVersion{
		Bucket: c.Bucket, Key: c.Key, ID: c.ID, ModTime: c.Time, ETag: etag, Meta: u.Meta,
		Checksum: sum, Owner: u.Owner, PartSizes: make([]int64, len(used)),
	}
	inUse := make(map[int]bool, len(used))
	for i, p := range used {
		v.Size += p.Size
		v.PartSizes[i] = p.Size
		if p.body.Size > 0 {
			v.body = append(v.body, p.body)
		}
		inUse[p.Number] = true
	}
	repl := a.newVersionReplicates(t, &v)
	if err := a.putVersion(t, &v); err != nil {
		return Result{}, err
	}
	for _, p := range stored {
		if err := t.parts().Delete(partKey(c.Key, c.UploadID, p.Number)); err != nil {
			return Result{}, err
		}
		if !inUse[p.Number] {
			if err := a.release([]segment{p.body}); err != nil {
				return Result{}, err
			}
		}
	}
	if err := t.uploads().Delete(uploadKey(c.Key, c.UploadID)); err != nil {
		return Result{}, err
	}
	if repl {
		if err := a.appendOutbox(&v, OutboxPut); err != nil {
			return Result{}, err
		}
	}
	return Result{Version: v}, nil
}

func sameETag(a, b string) bool {
	return strings.EqualFold(strings.Trim(a, `"`), strings.Trim(b, `"`))
}

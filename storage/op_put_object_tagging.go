package storage

// OpPutObjectTagging is PutObjectTaggingCmd's code.
const OpPutObjectTagging Op = 8

// PutObjectTaggingCmd replaces a version's tags; nil Tags removes them.
type PutObjectTaggingCmd struct {
	Bucket, Key, VersionID string
	Tags                   []Tag
}

func (PutObjectTaggingCmd) Op() Op { return OpPutObjectTagging }

func (c PutObjectTaggingCmd) PayloadSize() int { return len(c.Key) }

func (PutObjectTaggingCmd) validate() error { return nil }

func (c PutObjectTaggingCmd) encode(e *encoder) {
	e.str(c.Bucket)
	e.str(c.Key)
	e.str(c.VersionID)
	e.bool(c.Tags != nil)
	e.tags(c.Tags)
}

func (c *PutObjectTaggingCmd) decode(d *decoder) {
	*c = PutObjectTaggingCmd{Bucket: d.str(), Key: d.str(), VersionID: d.str()}
	present := d.bool()
	c.Tags = d.tags()
	if present && c.Tags == nil {
		c.Tags = []Tag{}
	} else if !present && c.Tags != nil {
		d.fail()
	}
}

func (c PutObjectTaggingCmd) apply(a *applier) (Result, error) {
	t, err := tables(a.tx, c.Bucket)
	if err != nil {
		return Result{}, err
	}
	ref, err := resolve(t.versions(), c.Bucket, c.Key, c.VersionID)
	if err != nil {
		return Result{}, err
	}
	ref.v.Meta.Tags = nil
	if len(c.Tags) > 0 {
		ref.v.Meta.Tags = c.Tags
	}
	if err := t.versions().Put(ref.k, encodeVersion(&ref.v)); err != nil {
		return Result{}, err
	}
	if err := a.outbox(t, &ref.v, OutboxMetadata); err != nil {
		return Result{}, err
	}
	id := ref.v.ID.String()
	if ref.v.IsNull {
		id = "null"
	}
	return Result{Version: ref.v, VersionID: id}, nil
}

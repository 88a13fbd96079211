package storage

import (
	"fmt"

	"go.etcd.io/bbolt"
)

// OpSetRegionFormat is SetRegionFormatCmd's code.
const OpSetRegionFormat Op = 14

// keyRegionFormat holds the region's format (recordV1 | u64); absent: Format1.
var keyRegionFormat = []byte("regionformat")

// SetRegionFormatCmd raises the region's format: from the entry on, the leader may
// propose the operations that format introduced. A region's leader proposes it only
// once every voter has said it knows Format. Lowering the format, or naming one this
// binary does not know, is rejected (ErrInvalidArgument): the format only grows.
type SetRegionFormatCmd struct {
	Format Format
}

func (SetRegionFormatCmd) Op() Op { return OpSetRegionFormat }

func (SetRegionFormatCmd) PayloadSize() int { return 0 }

func (c SetRegionFormatCmd) validate() error {
	if c.Format < Format1 || c.Format > LatestFormat {
		return fmt.Errorf("%w: region format %d (this binary knows %d to %d)", ErrInvalidArgument, c.Format, Format1, LatestFormat)
	}
	return nil
}

func (c SetRegionFormatCmd) encode(e *encoder) { e.uvarint(uint64(c.Format)) }

func (c *SetRegionFormatCmd) decode(d *decoder) {
	v := d.uvarint()
	if v > 1<<16-1 {
		d.fail()
	}
	c.Format = Format(v)
}

func (c SetRegionFormatCmd) apply(a *applier) (Result, error) {
	cur := regionFormat(a.tx)
	if c.Format < cur {
		return fail(fmt.Errorf("%w: region format is %d, cannot lower it to %d", ErrInvalidArgument, cur, c.Format))
	}
	if c.Format == cur {
		return Result{}, nil
	}
	return Result{}, writeMetaU64(a.tx, keyRegionFormat, uint64(c.Format))
}

func regionFormat(tx *bbolt.Tx) Format {
	if v := readMetaU64(tx, keyRegionFormat); v > 0 {
		return Format(v)
	}
	return Format1
}

// RegionFormat returns the region format recorded by the last SetRegionFormat
// applied (Format1 if none).
func (s *Store) RegionFormat() (Format, error) {
	var f Format
	err := s.view(func(tx *bbolt.Tx) error {
		f = regionFormat(tx)
		return nil
	})
	return f, err
}

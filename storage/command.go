package storage

import (
	"errors"
	"fmt"
	"time"
)

// Op names an operation. Values are persisted (raft log): each operation's file
// declares its own code, the registry (ops.go) lists them, and codes are never
// renumbered or reused.
type Op uint8

func (o Op) String() string {
	if s, ok := specOf(o); ok {
		return s.name
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Command is one deterministic state change: the payload of one operation. Every
// operation is a value type in a file of its own (op_*.go) that holds its fields,
// its codec, its checks and its apply, and is registered by one line in ops.go.
// Only this package implements Command.
type Command interface {
	// Op is the operation's persisted code.
	Op() Op
	// PayloadSize approximates the variable-length bytes the command carries
	// (bodies, configuration documents), for batch and buffer bounds.
	PayloadSize() int
	// validate checks what the command says on its own, before any state is read;
	// a failure rejects the command alone.
	validate() error
	// encode appends the fields; decode (on the pointer) reads them back.
	encode(e *encoder)
	// apply runs the command in a write transaction (see applier).
	apply(a *applier) (Result, error)
}

// Clock decides the values a leader stamps into commands before they are proposed,
// so that applying them stays deterministic.
type Clock interface {
	// NextVersion mints a version ID and the modification time derived from it.
	NextVersion() (VersionID, time.Time)
	// Now returns a time for commands that need one but mint no version.
	Now() time.Time
}

// stamped is implemented by the commands that carry leader-decided values.
type stamped interface {
	// stamp returns a copy with every zero ID and time filled from clk. Values
	// already set (a command replicated from another region carries its origin's
	// ID) are kept.
	stamp(clk Clock) Command
}

// versioned is implemented by the commands that carry a version ID: the store's
// maxhlc bounds every ID ever applied.
type versioned interface {
	versionTime() uint64
}

// idempotent marks the operations whose repetition changes nothing (a retry after
// an unknown outcome is safe).
type idempotent interface {
	idempotent()
}

// Stamp returns cmds with the leader-decided values filled from clk. cmds is left
// as it was, so a proposal that fails before reaching the log can be stamped again
// by the next leader with its own clock.
func Stamp(cmds []Command, clk Clock) []Command {
	out := make([]Command, len(cmds))
	for i, c := range cmds {
		if s, ok := c.(stamped); ok {
			c = s.stamp(clk)
		}
		out[i] = c
	}
	return out
}

// IsIdempotent reports whether applying c twice has the effect of applying it
// once, whatever happened in between.
func IsIdempotent(c Command) bool {
	_, ok := c.(idempotent)
	return ok
}

// FormatOf is the region format a member must know to apply c (see Format).
func FormatOf(c Command) Format {
	if f, ok := c.(interface{ needsFormat() Format }); ok {
		return f.needsFormat()
	}
	if s, ok := specOf(c.Op()); ok {
		return s.since
	}
	return 0
}

// Result is the outcome of one command. Err is a business error (a sentinel, wrapped)
// or, when the whole batch failed, the I/O error. The other fields are set by the
// commands that produce them: Version (PutObject, CompleteUpload, DeleteObject when it
// made a marker, ApplyReplica when it stored a version: zero when it was a no-op), Delete (DeleteObject), Part (PutPart), Upload (CreateUpload),
// VersionID (PutObjectTagging: "null" or the ID).
type Result struct {
	Err       error
	Version   ObjectVersion
	Delete    DeleteResult
	Part      Part
	Upload    MultipartUpload
	VersionID string
}

// commandFormatV1 is the first byte of every marshalled command.
const commandFormatV1 = 1

// ErrUnknownOp is wrapped by UnmarshalCommand when the op code is not one this
// binary knows: the entry was written by a newer binary. A replica must stop
// rather than skip it (node/DESIGN.md, "Upgrades").
var ErrUnknownOp = errors.New("storage: unknown operation")

// MarshalCommand encodes c compactly: a format byte, the op, then its fields. Chunk
// data is copied as is.
func MarshalCommand(c Command) ([]byte, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil command", ErrInvalidArgument)
	}
	if _, ok := specOf(c.Op()); !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnknownOp, c.Op())
	}
	e := encoder{b: make([]byte, 0, c.PayloadSize()+160)}
	e.byte1(commandFormatV1)
	e.byte1(byte(c.Op()))
	c.encode(&e)
	return e.b, nil
}

// UnmarshalCommand decodes MarshalCommand's output. An op this binary does not know
// yields an error wrapping ErrUnknownOp; other malformed input an error wrapping
// ErrInvalidArgument (ErrUnsupportedFormatVersion for an unknown format byte). It
// never panics. Byte fields are copied: b may be reused afterwards.
func UnmarshalCommand(b []byte) (Command, error) { return unmarshalCommand(b, false) }

// UnmarshalCommandShared is UnmarshalCommand whose byte fields (a chunk's data
// above all) are slices of b rather than copies: the caller must neither modify b
// nor reuse it while the command lives. It saves a copy of every chunk on its way
// from a raft entry or a forwarded submission to the store.
func UnmarshalCommandShared(b []byte) (Command, error) { return unmarshalCommand(b, true) }

func unmarshalCommand(b []byte, shared bool) (Command, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: command too short", ErrInvalidArgument)
	}
	if b[0] != commandFormatV1 {
		return nil, fmt.Errorf("%w: command format %d", ErrUnsupportedFormatVersion, b[0])
	}
	op := Op(b[1])
	s, ok := specOf(op)
	if !ok {
		return nil, fmt.Errorf("%w: op code %d", ErrUnknownOp, b[1])
	}
	d := &decoder{b: b[2:], shared: shared}
	c := s.decode(d)
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("%w: %v command: %v", ErrInvalidArgument, op, err)
	}
	return c, nil
}

// decodeAs is the registry's decoder for an operation type T.
func decodeAs[T Command, P interface {
	*T
	decode(d *decoder)
}](d *decoder) Command {
	var c T
	P(&c).decode(d)
	return c
}

// Flags of the optional conditions block that ends a PutObject or CompleteUpload.
const (
	condIfNoneMatch = 1 << iota
	condIfMatch
	condKnown = condIfNoneMatch | condIfMatch
)

// conditions appends the optional trailing block of a conditional write: nothing
// at all without conditions (so such a command encodes as it did before the block
// existed), else a non-zero flags byte, then the If-Match list when its flag is set.
func (e *encoder) conditions(c WriteConditions) {
	var flags byte
	if c.IfNoneMatch {
		flags |= condIfNoneMatch
	}
	if c.IfMatch != "" {
		flags |= condIfMatch
	}
	if flags == 0 {
		return
	}
	e.byte1(flags)
	if c.IfMatch != "" {
		e.str(c.IfMatch)
	}
}

// conditions reads what encoder.conditions wrote: the block is present exactly when
// input remains. Only the canonical form is accepted (flags non-zero and known, an
// If-Match list not empty), so every accepted command re-encodes to the same bytes.
func (d *decoder) conditions() WriteConditions {
	var c WriteConditions
	if d.err != nil || len(d.b) == 0 {
		return c
	}
	flags := d.byte1()
	if flags == 0 || flags&^condKnown != 0 {
		d.fail()
		return c
	}
	c.IfNoneMatch = flags&condIfNoneMatch != 0
	if flags&condIfMatch != 0 {
		if c.IfMatch = d.str(); c.IfMatch == "" {
			d.fail()
		}
	}
	return c
}

func (d *decoder) u32varint() uint32 {
	v := d.uvarint()
	if v > 1<<32-1 {
		d.fail()
		return 0
	}
	return uint32(v)
}

// intVarint reads an int that must fit 32 bits, so that decoding is the same on every
// platform.
func (d *decoder) intVarint() int {
	v := d.varint()
	if v < -1<<31 || v > 1<<31-1 {
		d.fail()
		return 0
	}
	return int(v)
}

// blobID reads a raw blob ID.
func (d *decoder) blobID() (id BlobID) {
	copy(id[:], d.take(len(id)))
	return id
}

// stampTime fills a zero time from clk.
func stampTime(t *time.Time, clk Clock) {
	if t.IsZero() {
		*t = clk.Now()
	}
}

// stampVersion fills a zero version ID and its time from clk.
func stampVersion(id *VersionID, t *time.Time, clk Clock) {
	if id.IsZero() {
		*id, *t = clk.NextVersion()
	}
}

package storage

// OpNoop is NoopCmd's code.
const OpNoop Op = 15

// NoopCmd changes nothing but the applied index. It is the smallest operation of
// Format2: a region that accepts it has raised its format, which is how the tests
// check the format gate end to end.
type NoopCmd struct{}

func (NoopCmd) Op() Op { return OpNoop }

func (NoopCmd) PayloadSize() int { return 0 }

func (NoopCmd) validate() error { return nil }

func (NoopCmd) encode(*encoder) {}

func (*NoopCmd) decode(*decoder) {}

func (NoopCmd) apply(*applier) (Result, error) { return Result{}, nil }

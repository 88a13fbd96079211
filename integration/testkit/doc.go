// Package testkit holds the helpers Pangea's tests share: waiting for a condition
// by polling it with a deadline (Eventually, Poll), and loopback ports for a
// process under test that must be told its address before it binds (Ports).
//
// Only tests import it: _test.go files and test harness packages such as
// node/nodetest. It is a regular package, not _test files, so that the tests of
// every package can share one implementation. It holds no package-global state:
// everything a helper remembers lives in a value the test owns.
package testkit

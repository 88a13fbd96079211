// Package integration holds Pangea's black-box tests: the S3 front end driven in-process
// by real clients (aws-sdk-go-v2 and minio-go), and multi-process tests of the built
// pangea binary over real sockets, including SIGKILL and restart on the same data.
//
// The package has no non-test code beyond this file; its subpackage testkit holds the
// helpers the tests of every package share. Tests bind to 127.0.0.1 port 0 (or take
// addresses from testkit.Ports where a process must be told its address) and wait by
// polling a condition with a deadline (testkit.Eventually). Set PANGEA_BIN to a built
// binary to skip the build that the process tests otherwise do once per run.
package integration

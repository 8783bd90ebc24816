// Package solochain runs the embedded default chain: an in-process Solo
// chain (the real ISC VM of wasp v1.5.1) with the micropay contract
// deployed, usable outside `go test`.
//
// Solo was written for tests and wants a *testing.T; Context is the small
// adapter that stands in for it in a long-running process: a failed Solo
// assertion becomes an error returned by Do instead of a failed test.
package solochain

// Package chain is the clients' seam to an ISC chain running micropay: post
// a request and wait for its receipt, call getWarrantInfo, read chain time
// and L2 balances. Two implementations exist: the embedded Solo chain
// (package solochain, the default) and a real Wasp node through wasp's own
// API client. Both run the same conformance suite (package chaintest).
//
// calls.go builds the contract's requests on top of the seam, so providers
// and consumers never assemble parameter dicts themselves.
package chain

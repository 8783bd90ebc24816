// Package payment is the micropay off-ledger payment protocol: the signed
// bytes, the 85-byte wire form and the acceptance rules.
//
// It is pure Go with no chain or storage import, so the on-chain contract and
// the provider client run the very same rule code. Each passes its own
// signature check (a Verifier): the contract burns gas through the ISC
// sandbox, the provider calls crypto/ed25519 directly or a KeyVerifier kept
// per warrant (the same acceptance, about 1.45x faster, proven equal on the
// edge vectors in testdata/ed25519 and by a differential fuzz target). They
// all accept exactly the same signatures, because the sandbox verifies with
// crypto/ed25519 too.
//
// A payment is cumulative: "under warrant (payer → provider, epoch e), as of
// ordinal n, I owe total in all". The newest payment therefore settles every
// payment before it, and settlement costs the same for one micro-payment or a
// million. See docs/protocol.md for the byte layouts and the reasons behind
// each rule.
package payment

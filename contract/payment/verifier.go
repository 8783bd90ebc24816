package payment

import (
	"bytes"
	"crypto/ed25519"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// KeyVerifier checks signatures by one public key and accepts exactly what
// crypto/ed25519.Verify accepts — the check the ISC sandbox runs for the
// contract — in about half the time: the key is decompressed and its
// precomputed table built once, not per signature. It verifies with
// curve25519-voi's VerifyOptionsStdLib, never with a cofactored or batch
// check (those accept signatures with a small-order component that the
// contract refuses). TestKeyVerifierMatchesStdlib runs it against
// crypto/ed25519 on the edge vectors that separate ed25519 verifiers, and
// FuzzKeyVerifierMatchesStdlib keeps doing so.
//
// A KeyVerifier is immutable and safe for concurrent use.
type KeyVerifier struct {
	key      []byte                 // the 32-byte public key it was made for
	expanded *voi.ExpandedPublicKey // nil when voi cannot decompress key
}

// verifyOptions are crypto/ed25519's acceptance rules.
var verifyOptions = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// NewKeyVerifier prepares pub for repeated checks. A key voi cannot expand
// (not a valid point encoding) is kept as is and checked with
// crypto/ed25519 itself, which rejects it the same way.
func NewKeyVerifier(pub []byte) *KeyVerifier {
	v := &KeyVerifier{key: bytes.Clone(pub)}
	if len(pub) == ed25519.PublicKeySize {
		if epk, err := voi.NewExpandedPublicKey(voi.PublicKey(pub)); err == nil {
			v.expanded = epk
		}
	}
	return v
}

// Verify is a Verifier: it reports whether sig is pub's ed25519 signature of
// msg. For any key other than the one v was made for it falls back to
// VerifyEd25519, so it is never wrong, only slower.
func (v *KeyVerifier) Verify(msg, pub, sig []byte) bool {
	if v.expanded == nil || !bytes.Equal(pub, v.key) {
		return VerifyEd25519(msg, pub, sig)
	}
	return voi.VerifyExpandedWithOptions(v.expanded, msg, sig, verifyOptions)
}

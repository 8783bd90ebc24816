package payment

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
)

// Tag is the domain-separation prefix of every signed payment.
const Tag = "micropay/v1"

// Version is the wire version byte of a payment.
const Version byte = 1

// WireSize is the length of a payment in wire form:
// version(1) | epoch(4) | ordinal(8) | total(8) | signature(64).
const WireSize = 1 + 4 + 8 + 8 + ed25519.SignatureSize

// ChainIDSize is the length of an ISC chain ID.
const ChainIDSize = 32

// maxAgentIDSize is the longest agent ID the signed bytes can carry: its
// length is a single byte.
const maxAgentIDSize = 255

// Warrant names the warrant a payment is drawn on, with everything the
// signature is bound to besides the epoch: the chain, the contract instance,
// the payer and the provider. Payer and Provider are ISC AgentID.Bytes().
type Warrant struct {
	ChainID  [ChainIDSize]byte
	Contract uint32 // hname of the micropay contract instance
	Payer    []byte
	Provider []byte
}

// Payment is one signed cumulative promise.
type Payment struct {
	Epoch     uint32
	Ordinal   uint64
	Total     uint64
	Signature [ed25519.SignatureSize]byte
}

// Errors returned by Decode. They wrap ErrMalformed.
var (
	ErrMalformed = errors.New("payment: malformed")
	errLength    = fmt.Errorf("%w: wire payment must be %d bytes", ErrMalformed, WireSize)
	errVersion   = fmt.Errorf("%w: unknown version", ErrMalformed)
)

// SignedBytes returns the exact bytes the payer signs:
//
//	"micropay/v1" | chainID(32) | contract hname(u32) | u8 len + payer |
//	u8 len + provider | epoch(u32) | ordinal(u64) | total(u64)
//
// with every integer little-endian. It panics if an agent ID is longer than
// 255 bytes, which no ISC agent ID is.
func (w Warrant) SignedBytes(epoch uint32, ordinal, total uint64) []byte {
	return w.AppendSignedBytes(make([]byte, 0, w.signedSize()), epoch, ordinal, total)
}

// AppendSignedBytes appends the signed bytes to dst and returns the result,
// so a hot loop can reuse one buffer.
func (w Warrant) AppendSignedBytes(dst []byte, epoch uint32, ordinal, total uint64) []byte {
	if len(w.Payer) > maxAgentIDSize || len(w.Provider) > maxAgentIDSize {
		panic("payment: agent ID longer than 255 bytes")
	}
	dst = append(dst, Tag...)
	dst = append(dst, w.ChainID[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, w.Contract)
	dst = append(dst, byte(len(w.Payer)))
	dst = append(dst, w.Payer...)
	dst = append(dst, byte(len(w.Provider)))
	dst = append(dst, w.Provider...)
	dst = binary.LittleEndian.AppendUint32(dst, epoch)
	dst = binary.LittleEndian.AppendUint64(dst, ordinal)
	dst = binary.LittleEndian.AppendUint64(dst, total)
	return dst
}

func (w Warrant) signedSize() int {
	return len(Tag) + ChainIDSize + 4 + 1 + len(w.Payer) + 1 + len(w.Provider) + 4 + 8 + 8
}

// Sign returns the payment (epoch, ordinal, total) on warrant w signed with key.
func Sign(key ed25519.PrivateKey, w Warrant, epoch uint32, ordinal, total uint64) Payment {
	p := Payment{Epoch: epoch, Ordinal: ordinal, Total: total}
	copy(p.Signature[:], ed25519.Sign(key, w.SignedBytes(epoch, ordinal, total)))
	return p
}

// Bytes returns the 85-byte wire form of p.
func (p Payment) Bytes() []byte {
	return p.AppendBytes(make([]byte, 0, WireSize))
}

// AppendBytes appends the wire form of p to dst.
func (p Payment) AppendBytes(dst []byte) []byte {
	dst = append(dst, Version)
	dst = binary.LittleEndian.AppendUint32(dst, p.Epoch)
	dst = binary.LittleEndian.AppendUint64(dst, p.Ordinal)
	dst = binary.LittleEndian.AppendUint64(dst, p.Total)
	return append(dst, p.Signature[:]...)
}

// Decode parses a payment in wire form. It accepts exactly WireSize bytes
// starting with Version; anything else is an error wrapping ErrMalformed.
func Decode(b []byte) (Payment, error) {
	if len(b) != WireSize {
		return Payment{}, fmt.Errorf("%w, got %d", errLength, len(b))
	}
	if b[0] != Version {
		return Payment{}, fmt.Errorf("%w %d (want %d)", errVersion, b[0], Version)
	}
	var p Payment
	p.Epoch = binary.LittleEndian.Uint32(b[1:5])
	p.Ordinal = binary.LittleEndian.Uint64(b[5:13])
	p.Total = binary.LittleEndian.Uint64(b[13:21])
	copy(p.Signature[:], b[21:])
	return p, nil
}

// String formats p for logs, without the signature.
func (p Payment) String() string {
	return fmt.Sprintf("payment{epoch %d, ordinal %d, total %d}", p.Epoch, p.Ordinal, p.Total)
}

// Verifier reports whether sig is a valid ed25519 signature of msg by pub.
// The contract passes one that burns gas in the ISC sandbox; everything else
// passes VerifyEd25519.
type Verifier func(msg, pub, sig []byte) bool

// VerifyEd25519 is crypto/ed25519.Verify behind the Verifier signature. It is
// the check the ISC sandbox performs, so it accepts exactly what the contract
// accepts.
func VerifyEd25519(msg, pub, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, msg, sig)
}

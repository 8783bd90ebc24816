package payment

import (
	"errors"
	"fmt"
)

// Reason names the rule a payment broke, in a form fit for machines (HTTP
// bodies, metrics labels) and stable across releases.
type Reason uint8

// The rules, in the order the checks run (cheapest first). The contract
// applies WrongEpoch, NotIncreasing, BelowPaid and BadSignature; the provider
// applies all of them.
const (
	ReasonWrongEpoch    Reason = iota + 1 // epoch is not the warrant's current one
	ReasonNotIncreasing                   // ordinal does not increase on the previous one
	ReasonBelowPaid                       // total is below what was already paid or accepted
	ReasonUnderpaid                       // increment does not cover the price (provider)
	ReasonOverBalance                     // total - settled exceeds the warrant's balance (provider)
	ReasonRevoked                         // revoked and too close to the deadline (provider)
	ReasonBadSignature                    // signature is not the payer's over these bytes
)

var reasonNames = [...]string{
	ReasonWrongEpoch:    "wrong_epoch",
	ReasonNotIncreasing: "ordinal_not_increasing",
	ReasonBelowPaid:     "total_below_paid",
	ReasonUnderpaid:     "underpaid",
	ReasonOverBalance:   "over_balance",
	ReasonRevoked:       "revoked",
	ReasonBadSignature:  "bad_signature",
}

// String returns the machine-readable name of r, e.g. "bad_signature".
func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", r)
}

// ContractReasons are the rules the contract enforces in settle, each of
// which it registers as a VM error with BatchFormat.
var ContractReasons = []Reason{ReasonWrongEpoch, ReasonNotIncreasing, ReasonBelowPaid, ReasonBadSignature}

// ErrRule is wrapped by every *RuleError, so callers can test
// errors.Is(err, payment.ErrRule).
var ErrRule = errors.New("payment: rule violated")

// RuleError says which payment broke which rule, with the figures involved.
// Got and Want mean, per reason:
//
//	WrongEpoch     the payment's epoch, the warrant's epoch
//	NotIncreasing  the payment's ordinal, the ordinal it must exceed
//	BelowPaid      the payment's total, the amount already paid/accepted
//	Underpaid      the increment offered, the price asked
//	OverBalance    the amount owed (total - settled), the balance backing it
//	Revoked        the chain time (unix s), the revoke deadline (unix s)
//	BadSignature   unused
type RuleError struct {
	Reason  Reason
	Index   int // 1-based position in a settle batch; 0 for a single payment
	Ordinal uint64
	Got     uint64
	Want    uint64
}

// body returns the format and arguments of the message without the batch
// prefix. Every format takes exactly the arguments returned.
func (e *RuleError) body() (string, []any) {
	switch e.Reason {
	case ReasonWrongEpoch:
		return "epoch %d is not the warrant's current epoch %d", []any{e.Got, e.Want}
	case ReasonNotIncreasing:
		return "ordinal %d is not above %d", []any{e.Got, e.Want}
	case ReasonBelowPaid:
		return "total %d is below the %d already paid", []any{e.Got, e.Want}
	case ReasonUnderpaid:
		return "increment %d does not cover the price %d", []any{e.Got, e.Want}
	case ReasonOverBalance:
		return "owes %d but the warrant's balance is only %d", []any{e.Got, e.Want}
	case ReasonRevoked:
		return "warrant is revoked: chain time %d is within the settlement margin of the deadline %d", []any{e.Got, e.Want}
	case ReasonBadSignature:
		return "signature is not the payer's over this payment", nil
	}
	return "rule %d violated", []any{uint64(e.Reason)}
}

// BatchFormat is the VM error format the contract registers for reason r; its
// arguments are BatchArgs.
func BatchFormat(r Reason) string {
	body, _ := (&RuleError{Reason: r}).body()
	return "payment %d (ordinal %d): " + body
}

// BatchArgs returns the arguments of BatchFormat(e.Reason), all of types the
// ISC VM error codec carries.
func (e *RuleError) BatchArgs() []any {
	_, args := e.body()
	return append([]any{uint64(e.Index), e.Ordinal}, args...)
}

// Error implements error.
func (e *RuleError) Error() string {
	if e.Index > 0 {
		return fmt.Sprintf(BatchFormat(e.Reason), e.BatchArgs()...)
	}
	body, args := e.body()
	return fmt.Sprintf("payment (ordinal %d): "+body, append([]any{e.Ordinal}, args...)...)
}

// Unwrap makes errors.Is(err, ErrRule) true.
func (e *RuleError) Unwrap() error { return ErrRule }

// Signed binds a warrant and the payer's registered public key to a
// signature check, so rule code can verify a payment in one call.
type Signed struct {
	Warrant   Warrant
	PublicKey []byte
	Verify    Verifier
}

// Valid reports whether p carries the payer's signature over its signed bytes.
func (s Signed) Valid(p Payment) bool {
	verify := s.Verify
	if verify == nil {
		verify = VerifyEd25519
	}
	return verify(s.Warrant.SignedBytes(p.Epoch, p.Ordinal, p.Total), s.PublicKey, p.Signature[:])
}

func checkEpoch(p Payment, epoch uint32) *RuleError {
	if p.Epoch != epoch {
		return &RuleError{Reason: ReasonWrongEpoch, Ordinal: p.Ordinal, Got: uint64(p.Epoch), Want: uint64(epoch)}
	}
	return nil
}

func checkOrdinal(p Payment, above uint64) *RuleError {
	if p.Ordinal <= above {
		return &RuleError{Reason: ReasonNotIncreasing, Ordinal: p.Ordinal, Got: p.Ordinal, Want: above}
	}
	return nil
}

func checkTotal(p Payment, floor uint64) *RuleError {
	if p.Total < floor {
		return &RuleError{Reason: ReasonBelowPaid, Ordinal: p.Ordinal, Got: p.Total, Want: floor}
	}
	return nil
}

func checkSignature(p Payment, s Signed) *RuleError {
	if !s.Valid(p) {
		return &RuleError{Reason: ReasonBadSignature, Ordinal: p.Ordinal}
	}
	return nil
}

package contract

import (
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/vm/core/errors/coreerrors"
	"github.com/micropay/micropay/contract/payment"
)

// Registered errors. Each message says what was rejected and why; a request
// that fails with one of them moves no funds.
var (
	ErrMissingParam      = coreerrors.Register("micropay: parameter %q is required")
	ErrBadParam          = coreerrors.Register("micropay: parameter %q: %s")
	ErrNotEd25519Caller  = coreerrors.Register("micropay: caller %s is not an Ed25519 L1 address, so it cannot sign payments")
	ErrKeyMismatch       = coreerrors.Register("micropay: public key %s hashes to address %s, not to the caller's %s")
	ErrNoAllowance       = coreerrors.Register("micropay: %s needs base tokens in the allowance; none were sent")
	ErrNotBaseTokens     = coreerrors.Register("micropay: %s accepts base tokens only; the allowance also carries native tokens or NFTs")
	ErrSelfWarrant       = coreerrors.Register("micropay: payer and provider are the same agent %s")
	ErrBelowMinWarrant   = coreerrors.Register("micropay: a new warrant needs at least %d base tokens, got %d")
	ErrCloseTimeout      = coreerrors.Register("micropay: close timeout %d s is outside the allowed %d..%d s")
	ErrCloseTimeoutFixed = coreerrors.Register("micropay: the warrant's close timeout is fixed at %d s; cannot change it to %d s")
	ErrRevoked           = coreerrors.Register("micropay: warrant from %s to %s is revoked (deadline %d); it cannot be topped up or revoked again")
	ErrBalanceOverflow   = coreerrors.Register("micropay: top-up of %d would overflow the balance %d")
	ErrNoWarrant         = coreerrors.Register("micropay: there is no warrant from %s to %s")
	ErrRevokeDeposit     = coreerrors.Register("micropay: revoke needs an allowance of at least %d base tokens for the scheduled close (storage deposit %d, fee reserve %d), got %d")
	ErrPastDeadline      = coreerrors.Register("micropay: settlement closed: chain time %d is at or past the revoke deadline %d")
	ErrNoPublicKey       = coreerrors.Register("micropay: payer %s has not registered a public key")
	ErrEmptyBatch        = coreerrors.Register("micropay: parameter \"m\" holds no payments")
	ErrMalformedPayment  = coreerrors.Register("micropay: payment %d: %s")
	ErrCloseNotAllowed   = coreerrors.Register("micropay: %s may not close the warrant from %s to %s before its deadline: only the provider may")
	ErrCloseWrongEpoch   = coreerrors.Register("micropay: close names epoch %d but the warrant is at epoch %d")
	ErrCorruptState      = coreerrors.Register("micropay: corrupt warrant record for %s to %s")
	ErrTooManyItems      = coreerrors.Register("micropay: parameter %q claims %d items; a request carries at most %d")
	ErrBatchLength       = coreerrors.Register("micropay: parameter %q claims %d items but the request carries only %d parameters")
	ErrMalformedItem     = coreerrors.Register("micropay: settlement %d: %s")
	ErrNoSettlements     = coreerrors.Register("micropay: parameter \"ms\" holds no settlements")
	ErrMissingPayment    = coreerrors.Register("micropay: payment %d of %d is missing from parameter \"m\"")
	ErrNoKeyForWarrant   = coreerrors.Register("micropay: payer %s has no registered public key, so no payment could ever be settled from this warrant: send the key with this call (parameter \"pk\") or register it first with publicKey")
)

// ruleErrors maps each rule the contract enforces to its registered error.
var ruleErrors = func() map[payment.Reason]*isc.VMErrorTemplate {
	m := make(map[payment.Reason]*isc.VMErrorTemplate, len(payment.ContractReasons))
	for _, r := range payment.ContractReasons {
		m[r] = coreerrors.Register("micropay: " + payment.BatchFormat(r))
	}
	return m
}()

// RuleError returns the registered error template of a settle rule, for
// callers that match on it (e.g. testmisc.RequireErrorToBe).
func RuleError(r payment.Reason) *isc.VMErrorTemplate { return ruleErrors[r] }

// Registered after ruleErrors, so the codes registered before keep theirs.
var (
	ErrMalformedPayer = coreerrors.Register("micropay: payer %d of parameter \"pl\": %s")
)

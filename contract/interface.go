package contract

import (
	"time"

	"github.com/iotaledger/wasp/packages/isc/coreutil"
)

// Contract is the micropay contract. Deploy it under Contract.Name: the
// hname of the deployed instance is part of every signed payment.
var Contract = coreutil.NewContract("micropay")

// Entry points.
var (
	// FuncPublicKey registers the caller's ed25519 public key (ParamPublicKey).
	FuncPublicKey = coreutil.Func("publicKey")
	// FuncAddWarrant creates or tops up the caller's warrant for ParamProvider
	// with the base tokens of the allowance.
	FuncAddWarrant = coreutil.Func("addWarrant")
	// FuncRevokeWarrant starts the close timeout of the caller's warrant for
	// ParamProvider and schedules its close at the deadline.
	FuncRevokeWarrant = coreutil.Func("revokeWarrant")
	// FuncSettle pays the caller (the provider) from the warrant of ParamPayer
	// with the payments in ParamPayments.
	FuncSettle = coreutil.Func("settle")
	// FuncSettleMany pays the caller (the provider) from many warrants in one
	// request: ParamSettlements holds, per warrant, the payer and its newest
	// payment. Each warrant settles on its own terms; one that breaks a rule
	// is refused alone (event micropay.settleRefused), never the others.
	FuncSettleMany = coreutil.Func("settleMany")
	// FuncCloseWarrant refunds what is left of a warrant to its payer.
	FuncCloseWarrant = coreutil.Func("closeWarrant")
	// ViewGetWarrantInfo returns the state of the warrant (ParamPayer, ParamProvider).
	ViewGetWarrantInfo = coreutil.ViewFunc("getWarrantInfo")
	// ViewGetTotals returns the sum of all warrant balances (ResultTotalBalance)
	// and the number of open warrants (ResultWarrants): the contract's L2
	// account must always hold at least ResultTotalBalance.
	ViewGetTotals = coreutil.ViewFunc("getTotals")
	// ViewGetPublicKey returns the public key ParamPayer registered, in
	// ParamPublicKey (absent when none), so a provider can check payments
	// exactly as settle will.
	ViewGetPublicKey = coreutil.ViewFunc("getPublicKey")
	// ViewGetRevokeDeposit returns the allowance revokeWarrant needs now for
	// the warrant (ParamPayer, ParamProvider): ResultRevokeDeposit, the larger
	// of ResultStorageDeposit (the L1 storage deposit of the scheduled close,
	// from the L1's rent structure) and ResultCloseFee (the fee of
	// ScheduledCloseGas under the chain's fee policy).
	ViewGetRevokeDeposit = coreutil.ViewFunc("getRevokeDeposit")
)

// Parameter and result keys. The short keys are those of the Wasp micropay
// proof of concept.
const (
	ParamPublicKey    = "pk" // 32 raw bytes of an ed25519 public key
	ParamPayer        = "pa" // codec.EncodeAgentID
	ParamProvider     = "sa" // codec.EncodeAgentID
	ParamPayments     = "m"  // collections.Array of 85-byte wire payments
	ParamCloseTimeout = "ct" // uint64, seconds
	ParamEpoch        = "ep" // uint32
	ParamSettlements  = "ms" // collections.Array of settlement items (EncodeSettlement)

	ResultBalance      = "wa" // uint64; absent when there is no warrant
	ResultDeadline     = "re" // uint64 unix seconds; absent when not revoked
	ResultLastOrdinal  = "lo" // uint64
	ResultPaid         = "st" // uint64: paid to the provider in this epoch
	ResultEpoch        = "ep" // uint32; always present
	ResultCloseTimeout = "ct" // uint64, seconds

	ResultTotalBalance = "tb" // uint64: sum of the balances of all open warrants
	ResultWarrants     = "nw" // uint64: number of open warrants

	ResultRevokeDeposit  = "rd" // uint64: the allowance revokeWarrant needs
	ResultStorageDeposit = "sd" // uint64: the scheduled close's L1 storage deposit
	ResultCloseFee       = "cf" // uint64: the scheduled close's fee reserve
)

// Init parameters (all optional) of the deployed contract.
const (
	InitDefaultCloseTimeout = "ct"   // uint64 seconds, default DefaultCloseTimeout
	InitMinCloseTimeout     = "ctmn" // uint64 seconds, default MinCloseTimeout
	InitMaxCloseTimeout     = "ctmx" // uint64 seconds, default MaxCloseTimeout
	InitMinWarrant          = "mw"   // uint64 base tokens, default MinWarrant
)

// Defaults of the init parameters.
const (
	DefaultCloseTimeout = uint64(time.Hour / time.Second)
	MinCloseTimeout     = uint64(time.Minute / time.Second)
	MaxCloseTimeout     = uint64(30 * 24 * time.Hour / time.Second)
	MinWarrant          = uint64(1_000_000)
)

// Bounds of the parameter "m" (a batch of payments). Decoding is item by item:
// a length above MaxPaymentsPerRequest, or above what the request's
// parameters can hold, is rejected before anything is allocated, and every
// payment decoded burns PaymentDecodeGas, so a large batch costs what it
// weighs. See docs/protocol.md.
const (
	MaxPaymentsPerRequest = 10_000
	PaymentDecodeGas      = uint64(100)
)

// MaxSettlementsPerRequest bounds ParamSettlements of settleMany the same
// way: a larger count is refused before anything is allocated, and each item
// burns PaymentDecodeGas before it is decoded.
const MaxSettlementsPerRequest = 1_000

// ScheduledCloseGas is the gas budget of the time-locked close the contract
// sends itself on revoke, and exactly what that close burns: the handler pads
// its gas to this figure, so its fee is known before the VM charges it. When
// the request arrives its tokens (the revoke allowance) return to the payer
// less that fee, to the token, so the contract keeps nothing of it.
//
// ScheduledCloseUnfundedGas is what the close burns when the chain's fee
// policy has risen since the revoke so that the deposit no longer covers
// ScheduledCloseGas: it then closes nothing, charges its own warrant for the
// part of that smaller fee the deposit does not cover, and leaves the warrant
// to be closed by anyone (closeWarrant). See docs/protocol.md, "The scheduled
// close and the fee policy".
const (
	ScheduledCloseGas         = uint64(50_000)
	ScheduledCloseUnfundedGas = uint64(25_000)
)

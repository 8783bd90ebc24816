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
	// FuncCloseWarrant refunds what is left of a warrant to its payer.
	FuncCloseWarrant = coreutil.Func("closeWarrant")
	// ViewGetWarrantInfo returns the state of the warrant (ParamPayer, ParamProvider).
	ViewGetWarrantInfo = coreutil.ViewFunc("getWarrantInfo")
	// ViewGetPublicKey returns the public key ParamPayer registered, in
	// ParamPublicKey (absent when none), so a provider can check payments
	// exactly as settle will.
	ViewGetPublicKey = coreutil.ViewFunc("getPublicKey")
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

	ResultBalance      = "wa" // uint64; absent when there is no warrant
	ResultDeadline     = "re" // uint64 unix seconds; absent when not revoked
	ResultLastOrdinal  = "lo" // uint64
	ResultPaid         = "st" // uint64: paid to the provider in this epoch
	ResultEpoch        = "ep" // uint32; always present
	ResultCloseTimeout = "ct" // uint64, seconds
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

// ScheduledCloseGas is the gas budget of the time-locked close the contract
// sends itself on revoke. When that request arrives, its tokens (the revoke
// allowance) return to the payer less the fee of this budget, which pays the
// request's own gas; see docs/protocol.md.
const ScheduledCloseGas = uint64(50_000)

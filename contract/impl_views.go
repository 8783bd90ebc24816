package contract

import (
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/iotaledger/wasp/packages/transaction"
)

// getWarrantInfo handles the view getWarrantInfo(pa, sa). With no warrant it
// succeeds with only ResultEpoch: the epoch the next warrant gets.
func getWarrantInfo(ctx isc.SandboxView) dict.Dict {
	w := warrantState(ctx, requiredAgentID(ctx, ParamPayer), requiredAgentID(ctx, ParamProvider))
	ret := dict.Dict{ResultEpoch: codec.EncodeUint32(w.Epoch)}
	if !w.Exists {
		return ret
	}
	ret[ResultBalance] = codec.EncodeUint64(w.Balance)
	ret[ResultLastOrdinal] = codec.EncodeUint64(w.LastOrdinal)
	ret[ResultPaid] = codec.EncodeUint64(w.Paid)
	ret[ResultCloseTimeout] = codec.EncodeUint64(w.CloseTimeout)
	if w.Deadline != 0 {
		ret[ResultDeadline] = codec.EncodeUint64(w.Deadline)
	}
	return ret
}

// getPublicKeyView handles the view getPublicKey(pa): ParamPublicKey holds the
// payer's registered key, absent when it registered none.
func getPublicKeyView(ctx isc.SandboxView) dict.Dict {
	payer := requiredAgentID(ctx, ParamPayer)
	ret := dict.Dict{}
	if pk := getPublicKey(ctx.StateR(), payer); pk != nil {
		ret[ParamPublicKey] = pk
	}
	return ret
}

// getTotalsView handles the view getTotals: the sum of all warrant balances and
// the number of open warrants.
func getTotalsView(ctx isc.SandboxView) dict.Dict {
	t := getTotals(ctx.StateR())
	return dict.Dict{
		ResultTotalBalance: codec.EncodeUint64(t.Balance),
		ResultWarrants:     codec.EncodeUint64(t.Warrants),
	}
}

// getRevokeDepositView handles the view getRevokeDeposit(pa, sa): the
// allowance revokeWarrant needs if called now, computed exactly as
// revokeWarrant computes it. A view's sandbox has no
// EstimateRequiredStorageDeposit, so the storage deposit is the L1 rent
// structure's minimum for the scheduled close's output, which is what that
// estimate returns (wasp's vmimpl.estimateRequiredStorageDeposit).
func getRevokeDepositView(ctx isc.SandboxView) dict.Dict {
	payer := requiredAgentID(ctx, ParamPayer)
	provider := requiredAgentID(ctx, ParamProvider)
	w := revocable(ctx, payer, provider)
	scheduled := scheduledCloseRequest(ctx, payer, provider, w, 0)
	out := transaction.BasicOutputFromPostData(ctx.ChainID().AsAddress(), isc.ContractIdentityFromHname(ctx.Contract()), scheduled)
	storageDeposit := parameters.L1().Protocol.RentStructure.MinRent(out)
	fee := scheduledCloseFee(ctx)
	return dict.Dict{
		ResultRevokeDeposit:  codec.EncodeUint64(max(storageDeposit, fee)),
		ResultStorageDeposit: codec.EncodeUint64(storageDeposit),
		ResultCloseFee:       codec.EncodeUint64(fee),
	}
}

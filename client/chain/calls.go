package chain

import (
	"context"
	"fmt"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// AgentOf returns the L2 agent ID of an ed25519 key's address.
func AgentOf(key *cryptolib.KeyPair) isc.AgentID { return isc.NewAgentID(key.Address()) }

// PaymentWarrant returns what a payer signs payments over for provider on c.
func PaymentWarrant(c Chain, payer, provider isc.AgentID) payment.Warrant {
	return payment.Warrant{
		ChainID:  c.ID(),
		Contract: uint32(contract.Contract.Hname()),
		Payer:    payer.Bytes(),
		Provider: provider.Bytes(),
	}
}

// RegisterKey registers key's public key as its address's payment key.
func RegisterKey(ctx context.Context, c Chain, key *cryptolib.KeyPair) (*Receipt, error) {
	return post(ctx, c, key, contract.FuncPublicKey.Name, 0, dict.Dict{
		contract.ParamPublicKey: key.GetPublicKey().AsBytes(),
	})
}

// AddWarrantRequest creates or tops up a warrant.
type AddWarrantRequest struct {
	Provider     isc.AgentID
	Amount       uint64 // base tokens to lock
	CloseTimeout uint64 // seconds; 0 = the contract's default (new warrants only)
	RegisterKey  bool   // also register the payer's key in the same request
}

// AddWarrant locks r.Amount from payer's L2 account in the warrant for
// r.Provider, creating it or topping it up.
func AddWarrant(ctx context.Context, c Chain, payer *cryptolib.KeyPair, r AddWarrantRequest) (*Receipt, error) {
	params := dict.Dict{contract.ParamProvider: codec.EncodeAgentID(r.Provider)}
	if r.CloseTimeout != 0 {
		params[contract.ParamCloseTimeout] = codec.EncodeUint64(r.CloseTimeout)
	}
	if r.RegisterKey {
		params[contract.ParamPublicKey] = payer.GetPublicKey().AsBytes()
	}
	return post(ctx, c, payer, contract.FuncAddWarrant.Name, r.Amount, params)
}

// DefaultRevokeDeposit is enough for the scheduled close's storage deposit
// and fee reserve on a chain with default parameters; the payer gets all but
// the reserve back when the close runs.
const DefaultRevokeDeposit = 10_000

// Revoke revokes payer's warrant for provider; deposit pays for the
// contract's scheduled close (see docs/protocol.md).
func Revoke(ctx context.Context, c Chain, payer *cryptolib.KeyPair, provider isc.AgentID, deposit uint64) (*Receipt, error) {
	return post(ctx, c, payer, contract.FuncRevokeWarrant.Name, deposit, dict.Dict{
		contract.ParamProvider: codec.EncodeAgentID(provider),
	})
}

// Settle settles payments (oldest first) from payer's warrant to the
// signer, the provider.
func Settle(ctx context.Context, c Chain, provider *cryptolib.KeyPair, payer isc.AgentID, payments ...payment.Payment) (*Receipt, error) {
	params := paymentsParam(payments)
	params[contract.ParamPayer] = codec.EncodeAgentID(payer)
	return post(ctx, c, provider, contract.FuncSettle.Name, 0, params)
}

// Close closes the warrant (payer → provider): by the provider at any time,
// after settling final payments if given; by anyone once its deadline has
// passed.
func Close(ctx context.Context, c Chain, signer *cryptolib.KeyPair, payer, provider isc.AgentID, final ...payment.Payment) (*Receipt, error) {
	params := paymentsParam(final)
	params[contract.ParamPayer] = codec.EncodeAgentID(payer)
	params[contract.ParamProvider] = codec.EncodeAgentID(provider)
	return post(ctx, c, signer, contract.FuncCloseWarrant.Name, 0, params)
}

func paymentsParam(payments []payment.Payment) dict.Dict {
	params := dict.Dict{}
	arr := collections.NewArray(params, contract.ParamPayments)
	for _, p := range payments {
		arr.Push(p.Bytes())
	}
	return params
}

func post(ctx context.Context, c Chain, key *cryptolib.KeyPair, entry string, allowance uint64, params dict.Dict) (*Receipt, error) {
	rec, err := c.Post(ctx, key, Request{Entry: entry, Params: params, Allowance: allowance})
	if err != nil {
		return rec, fmt.Errorf("%s: %w", entry, err)
	}
	return rec, nil
}

// DecodeWarrantInfo decodes the results of getWarrantInfo.
func DecodeWarrantInfo(ret dict.Dict) (WarrantInfo, error) {
	var w WarrantInfo
	var err error
	if w.Epoch, err = codec.DecodeUint32(ret[contract.ResultEpoch]); err != nil {
		return w, fmt.Errorf("getWarrantInfo: %s: %w", contract.ResultEpoch, err)
	}
	if ret[contract.ResultBalance] == nil {
		return w, nil
	}
	w.Exists = true
	for key, dst := range map[kv.Key]*uint64{
		contract.ResultBalance:      &w.Balance,
		contract.ResultLastOrdinal:  &w.LastOrdinal,
		contract.ResultPaid:         &w.Paid,
		contract.ResultCloseTimeout: &w.CloseTimeout,
	} {
		if *dst, err = codec.DecodeUint64(ret[key]); err != nil {
			return w, fmt.Errorf("getWarrantInfo: %s: %w", key, err)
		}
	}
	if b := ret[contract.ResultDeadline]; b != nil {
		if w.Deadline, err = codec.DecodeUint64(b); err != nil {
			return w, fmt.Errorf("getWarrantInfo: %s: %w", contract.ResultDeadline, err)
		}
	}
	return w, nil
}

// WarrantInfoParams are the parameters of getWarrantInfo.
func WarrantInfoParams(payer, provider isc.AgentID) dict.Dict {
	return dict.Dict{
		contract.ParamPayer:    codec.EncodeAgentID(payer),
		contract.ParamProvider: codec.EncodeAgentID(provider),
	}
}

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

// DefaultRevokeDeposit covers the scheduled close on Solo's test L1 (its
// storage deposit there is about 2,600 base tokens). A real L1's rent is
// higher: ask the chain with AskRevokeDeposit, as Revoke does when given 0.
const DefaultRevokeDeposit = 10_000

// RevokeDeposit is the allowance revokeWarrant needs, as the contract's
// getRevokeDeposit view computes it.
type RevokeDeposit struct {
	Need           uint64 // the allowance: the larger of the two below
	StorageDeposit uint64 // the scheduled close's L1 storage deposit; comes back when it runs
	CloseFee       uint64 // the scheduled close's fee reserve
}

// ViewCaller calls a view of the micropay contract. waspchain.Chain and
// solochain.Embedded are ViewCallers.
type ViewCaller interface {
	CallView(ctx context.Context, view string, params dict.Dict) (dict.Dict, error)
}

// MaxAskedRevokeDeposit bounds what AskRevokeDeposit accepts from a node:
// the allowance stays locked until the scheduled close, so a node's word
// alone must not lock more. A real L1 needs about 342,000 (rent 600 per
// virtual byte); to send more, give the deposit explicitly.
const MaxAskedRevokeDeposit = 10_000_000

// AskRevokeDeposit asks the contract what revoking payer's warrant for
// provider needs as allowance now. c must be a ViewCaller. An answer above
// MaxAskedRevokeDeposit is an error.
func AskRevokeDeposit(ctx context.Context, c Chain, payer, provider isc.AgentID) (RevokeDeposit, error) {
	vc, ok := c.(ViewCaller)
	if !ok {
		return RevokeDeposit{}, fmt.Errorf("%s: a %T cannot call views: give the deposit", contract.ViewGetRevokeDeposit.Name, c)
	}
	ret, err := vc.CallView(ctx, contract.ViewGetRevokeDeposit.Name, WarrantInfoParams(payer, provider))
	if err != nil {
		return RevokeDeposit{}, err
	}
	d, err := DecodeRevokeDeposit(ret)
	if err == nil && d.Need > MaxAskedRevokeDeposit {
		err = fmt.Errorf("%s: the node asks %d base tokens, above the %d micropay sends on a node's word: give the deposit if that is right",
			contract.ViewGetRevokeDeposit.Name, d.Need, MaxAskedRevokeDeposit)
	}
	return d, err
}

// DecodeRevokeDeposit decodes the results of getRevokeDeposit.
func DecodeRevokeDeposit(ret dict.Dict) (RevokeDeposit, error) {
	var d RevokeDeposit
	for key, dst := range map[kv.Key]*uint64{
		contract.ResultRevokeDeposit:  &d.Need,
		contract.ResultStorageDeposit: &d.StorageDeposit,
		contract.ResultCloseFee:       &d.CloseFee,
	} {
		v, err := codec.DecodeUint64(ret[key])
		if err != nil {
			return RevokeDeposit{}, fmt.Errorf("%s: %s: %w", contract.ViewGetRevokeDeposit.Name, key, err)
		}
		*dst = v
	}
	if d.Need < max(d.StorageDeposit, d.CloseFee) {
		return RevokeDeposit{}, fmt.Errorf("%s: need %d is less than its parts (%d, %d)", contract.ViewGetRevokeDeposit.Name, d.Need, d.StorageDeposit, d.CloseFee)
	}
	return d, nil
}

// Revoke revokes payer's warrant for provider; deposit pays for the
// contract's scheduled close (see docs/protocol.md). With deposit 0 it
// first asks the contract what the close needs (AskRevokeDeposit).
func Revoke(ctx context.Context, c Chain, payer *cryptolib.KeyPair, provider isc.AgentID, deposit uint64) (*Receipt, error) {
	if deposit == 0 {
		d, err := AskRevokeDeposit(ctx, c, AgentOf(payer), provider)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", contract.FuncRevokeWarrant.Name, err)
		}
		deposit = d.Need
	}
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

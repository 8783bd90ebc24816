package chain

import (
	"context"
	"fmt"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/micropay/micropay/contract"
)

// ReadWarrants reads provider's warrants from payers, in their order. On a
// ViewCaller it calls getWarrants once per contract.MaxWarrantsPerView
// payers; on any other Chain, WarrantInfo once per payer.
func ReadWarrants(ctx context.Context, c Chain, provider isc.AgentID, payers []isc.AgentID) ([]WarrantInfo, error) {
	out := make([]WarrantInfo, 0, len(payers))
	vc, many := c.(ViewCaller)
	for len(payers) > 0 {
		if !many {
			w, err := c.WarrantInfo(ctx, payers[0], provider)
			if err != nil {
				return nil, err
			}
			out, payers = append(out, w), payers[1:]
			continue
		}
		n := min(len(payers), contract.MaxWarrantsPerView)
		ws, err := getWarrants(ctx, vc, provider, payers[:n])
		if err != nil {
			return nil, err
		}
		out, payers = append(out, ws...), payers[n:]
	}
	return out, nil
}

// getWarrants calls the view for at most contract.MaxWarrantsPerView payers.
func getWarrants(ctx context.Context, vc ViewCaller, provider isc.AgentID, payers []isc.AgentID) ([]WarrantInfo, error) {
	params := dict.Dict{contract.ParamProvider: codec.EncodeAgentID(provider)}
	arr := collections.NewArray(params, contract.ParamPayers)
	for _, p := range payers {
		arr.Push(codec.EncodeAgentID(p))
	}
	ret, err := vc.CallView(ctx, contract.ViewGetWarrants.Name, params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.ViewGetWarrants.Name, err)
	}
	ws, err := contract.DecodeWarrantList(ret[contract.ResultWarrantList], len(payers))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.ViewGetWarrants.Name, err)
	}
	out := make([]WarrantInfo, len(ws))
	for i, w := range ws {
		out[i] = WarrantInfo{
			Exists: w.Exists, Epoch: w.Epoch, Balance: w.Balance, LastOrdinal: w.LastOrdinal,
			Paid: w.Paid, Deadline: w.Deadline, CloseTimeout: w.CloseTimeout,
		}
	}
	return out, nil
}

package chain

import (
	"context"
	"errors"
	"fmt"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/micropay/micropay/contract"
)

// SettleMany settles, in one settleMany request signed by provider, each
// item's warrant (the item's payer with the provider) with the item's
// payment, at most contract.MaxSettlementsPerRequest items. The contract
// refuses a bad item alone and settles the others: ItemOutcomes tells which.
// A *Rejected error rejects the whole request (nothing settled); any other
// error leaves every item's outcome unknown.
func SettleMany(ctx context.Context, c Chain, provider *cryptolib.KeyPair, items []contract.Settlement) (*Receipt, error) {
	switch {
	case len(items) == 0:
		return nil, fmt.Errorf("%s: no settlements", contract.FuncSettleMany.Name)
	case len(items) > contract.MaxSettlementsPerRequest:
		return nil, fmt.Errorf("%s: %d settlements, above the %d of one request",
			contract.FuncSettleMany.Name, len(items), contract.MaxSettlementsPerRequest)
	}
	params := dict.Dict{}
	arr := collections.NewArray(params, contract.ParamSettlements)
	for _, it := range items {
		arr.Push(contract.EncodeSettlement(it))
	}
	return post(ctx, c, provider, contract.FuncSettleMany.Name, 0, params)
}

// ItemOutcome is what a settleMany request did with one of its items:
// Settled when the contract settled it (Settled.Paid may be 0 when the
// payment's ordinal was already settled), else Refused holds the contract's
// reason and nothing of that warrant changed.
type ItemOutcome struct {
	Settled *contract.SettledItem
	Refused string
}

// ErrOutcomeMismatch is the error ItemOutcomes returns when a receipt's
// events do not account for the request's items one to one: treat every
// item's outcome as unknown and read the warrants.
var ErrOutcomeMismatch = errors.New("chain: settleMany events do not match its items")

// ItemOutcomes returns, in the order of items, each item's outcome as the
// receipt of SettleMany(items) reports it: the contract emits one
// settleRefused event per refused item (by its 1-based position) and one
// settledMany event listing the settled ones in request order.
func ItemOutcomes(r *Receipt, items []contract.Settlement) ([]ItemOutcome, error) {
	out := make([]ItemOutcome, len(items))
	var settled []contract.SettledItem
	refused := 0
	for _, ev := range r.Events {
		switch ev.Topic {
		case contract.TopicSettleRefused:
			e, err := contract.DecodeSettleRefused(ev.Payload)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrOutcomeMismatch, err)
			}
			i := int(e.Item) - 1
			if i < 0 || i >= len(items) || out[i].Refused != "" || !e.Payer.Equals(items[i].Payer) {
				return nil, fmt.Errorf("%w: refusal of item %d (payer %s)", ErrOutcomeMismatch, e.Item, e.Payer)
			}
			out[i].Refused = e.Reason
			if out[i].Refused == "" {
				out[i].Refused = "refused"
			}
			refused++
		case contract.TopicSettledMany:
			if settled != nil {
				return nil, fmt.Errorf("%w: more than one settledMany event", ErrOutcomeMismatch)
			}
			m, err := contract.DecodeSettledMany(ev.Payload)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrOutcomeMismatch, err)
			}
			if m.Items == nil {
				m.Items = []contract.SettledItem{}
			}
			settled = m.Items
		}
	}
	if refused+len(settled) != len(items) {
		return nil, fmt.Errorf("%w: %d settled and %d refused of %d items", ErrOutcomeMismatch, len(settled), refused, len(items))
	}
	for i := range out {
		if out[i].Refused != "" {
			continue
		}
		it := &settled[0]
		if !it.Payer.Equals(items[i].Payer) {
			return nil, fmt.Errorf("%w: item %d settled payer %s, sent %s", ErrOutcomeMismatch, i+1, it.Payer, items[i].Payer)
		}
		out[i].Settled, settled = it, settled[1:]
	}
	return out, nil
}

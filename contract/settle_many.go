package contract

import (
	"fmt"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/util/rwutil"
	"github.com/iotaledger/wasp/packages/vm/gas"
	"github.com/micropay/micropay/contract/payment"
)

// Settlement is one item of settleMany: a payer's warrant with the calling
// provider, and the payment to settle it with (normally the newest).
type Settlement struct {
	Payer   isc.AgentID
	Payment payment.Payment
}

// EncodeSettlement is the wire form of an item of ParamSettlements: payer
// AgentID.Bytes() (rwutil size-prefixed) | the 85-byte wire payment.
func EncodeSettlement(s Settlement) []byte {
	return rwutil.NewBytesWriter().WriteBytes(s.Payer.Bytes()).WriteN(s.Payment.Bytes()).Bytes()
}

// DecodeSettlement decodes an item of ParamSettlements.
func DecodeSettlement(b []byte) (Settlement, error) {
	rr := rwutil.NewBytesReader(b)
	payer := rr.ReadBytes()
	wire := make([]byte, payment.WireSize)
	rr.ReadN(wire)
	rr.Close()
	if rr.Err != nil {
		return Settlement{}, fmt.Errorf("want payer | %d-byte payment: %w", payment.WireSize, rr.Err)
	}
	a, err := AgentIDFromBytes(payer)
	if err != nil {
		return Settlement{}, fmt.Errorf("payer: %w", err)
	}
	p, err := payment.Decode(wire)
	if err != nil {
		return Settlement{}, err
	}
	return Settlement{Payer: a, Payment: p}, nil
}

// settleMany handles settleMany(ms), called by the provider: it settles each
// item's warrant on its own terms, exactly as settle would with a batch of
// that one payment, and pays the provider the sum with one transfer. An item
// whose warrant is missing, past its deadline, or whose payment breaks a rule
// is refused alone with a micropay.settleRefused event; only a request that
// cannot be decoded is rejected as a whole.
func settleMany(ctx isc.Sandbox) dict.Dict {
	provider := ctx.Caller()
	items := decodeSettlements(ctx.Params().Dict, func() { ctx.Gas().Burn(gas.BurnCodeReadFromState1P, PaymentDecodeGas) })
	if len(items) == 0 {
		panic(ErrNoSettlements.Create())
	}
	now := chainTime(ctx)
	ev := &SettledMany{Provider: provider, Items: make([]SettledItem, 0, len(items))}
	var paid uint64
	for i, it := range items {
		item, refused := settleItem(ctx, provider, now, it)
		if refused != nil {
			emit(ctx, TopicSettleRefused, &SettleRefused{Payer: it.Payer, Provider: provider, Item: uint32(i + 1), Reason: refused.Error()})
			continue
		}
		ev.Items = append(ev.Items, item)
		paid += item.Paid
	}
	if len(ev.Items) > 0 {
		emit(ctx, TopicSettledMany, ev)
	}
	pay(ctx, provider, paid)
	subTotals(ctx.State(), paid, false)
	return nil
}

// settleItem settles one warrant of settleMany and stores it; it returns
// the warrant's outcome, or why the item was refused (nothing changed).
func settleItem(ctx isc.Sandbox, provider isc.AgentID, now uint64, it Settlement) (SettledItem, *isc.VMError) {
	w, err := getWarrant(ctx.StateR(), it.Payer, provider)
	switch {
	case err != nil:
		return SettledItem{}, ErrCorruptState.Create(it.Payer.String(), provider.String())
	case w == nil:
		return SettledItem{}, ErrNoWarrant.Create(it.Payer.String(), provider.String())
	case w.pastDeadline(now):
		return SettledItem{}, ErrPastDeadline.Create(now, w.Deadline)
	}
	out, refused := settleWarrant(ctx, it.Payer, provider, w, []payment.Payment{it.Payment})
	if refused != nil {
		return SettledItem{}, refused
	}
	setLedger(ctx.State(), w)
	return SettledItem{
		Payer: it.Payer, Epoch: w.Epoch, LastOrdinal: w.LastOrdinal, Paid: out.Paid,
		Shortfall: out.Shortfall, PaidInEpoch: w.Paid, Balance: w.Balance, Skipped: out.Items[0].Skipped,
	}, nil
}

// decodeSettlements decodes ParamSettlements item by item, bounded like
// decodeBatch; a malformed item rejects the request.
func decodeSettlements(params dict.Dict, burn func()) []Settlement {
	n := batchLength(params, ParamSettlements, MaxSettlementsPerRequest)
	out := make([]Settlement, 0, min(n, 64))
	for i := uint32(0); i < n; i++ {
		burn()
		b := params.Get(collections.ArrayElemKey(ParamSettlements, i))
		if b == nil {
			panic(ErrMalformedItem.Create(uint64(i)+1, "missing"))
		}
		s, err := DecodeSettlement(b)
		if err != nil {
			panic(ErrMalformedItem.Create(uint64(i)+1, err.Error()))
		}
		out = append(out, s)
	}
	return out
}

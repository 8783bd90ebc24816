package contract_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

func (e *env) settleMany(provider user, items ...contract.Settlement) (uint64, error) {
	d := dict.Dict{}
	arr := collections.NewArray(d, contract.ParamSettlements)
	for _, it := range items {
		arr.Push(contract.EncodeSettlement(it))
	}
	return e.call(provider, contract.FuncSettleMany.Name, 0, d)
}

// warrants opens a warrant of amount for provider from each of n new payers.
func (e *env) warrants(provider user, n int, amount uint64) []user {
	payers := make([]user, n)
	for i := range payers {
		payers[i] = e.newUser()
		e.registerKey(payers[i])
		_, err := e.addWarrant(payers[i], provider, amount)
		require.NoError(e.t, err)
	}
	return payers
}

// TestSettleManyEachOnItsOwnTerms settles five warrants of one provider in one
// request: a fresh payment pays, a stale one is skipped, one over the balance
// is capped with its shortfall reported, and a forged one and one for a
// warrant that does not exist are refused alone, each with its own event,
// while the others settle.
func TestSettleManyEachOnItsOwnTerms(t *testing.T) {
	e := newEnv(t)
	provider, stranger := e.newUser(), e.newUser()
	e.registerKey(stranger)
	ps := e.warrants(provider, 4, 1_000_000)
	_, err := e.settle(provider, ps[1], e.pay(ps[1], provider, 1, 3, 300_000))
	require.NoError(t, err)

	forged := payment.Sign(stranger.key.GetPrivateKey().AsStdKey(), e.warrantFor(ps[3], provider), 1, 1, 50_000)
	items := []contract.Settlement{
		{Payer: ps[0].agent, Payment: e.pay(ps[0], provider, 1, 7, 400_000)},
		{Payer: ps[1].agent, Payment: e.pay(ps[1], provider, 1, 2, 200_000)},   // stale: skipped
		{Payer: ps[2].agent, Payment: e.pay(ps[2], provider, 1, 1, 1_500_000)}, // capped at 1,000,000
		{Payer: ps[3].agent, Payment: forged},
		{Payer: stranger.agent, Payment: e.pay(stranger, provider, 1, 1, 10)},
	}
	sb := e.l2(provider.agent)
	before := e.snapshot(ps...)
	fee, err := e.settleMany(provider, items...)
	require.NoError(t, err)
	require.Equal(t, sb+400_000+1_000_000-fee, e.l2(provider.agent), "one transfer of what the settled warrants owed")
	require.Equal(t, before.contract-1_400_000, e.l2(e.agent))

	require.EqualValues(t, 600_000, e.info(ps[0], provider).Balance)
	in := e.info(ps[1], provider)
	require.EqualValues(t, 3, in.LastOrdinal, "a stale payment changes nothing")
	require.EqualValues(t, 700_000, in.Balance)
	require.Zero(t, e.info(ps[2], provider).Balance)
	in = e.info(ps[3], provider)
	require.Zero(t, in.LastOrdinal, "the forged payment moved nothing")
	require.EqualValues(t, 1_000_000, in.Balance)

	var settled []contract.SettledItem
	refused := map[uint32]string{}
	for _, ev := range e.lastEvents() {
		switch ev.Topic {
		case contract.TopicSettled:
			t.Fatal("settleMany reports its warrants in one settledMany event")
		case contract.TopicSettledMany:
			s, err := contract.DecodeSettledMany(ev.Payload)
			require.NoError(t, err)
			require.True(t, s.Provider.Equals(provider.agent))
			settled = append(settled, s.Items...)
		case contract.TopicSettleRefused:
			r, err := contract.DecodeSettleRefused(ev.Payload)
			require.NoError(t, err)
			refused[r.Item] = r.Reason
		}
	}
	require.Len(t, settled, 3)
	require.True(t, settled[0].Payer.Equals(ps[0].agent))
	require.Equal(t, contract.SettledItem{Payer: ps[0].agent, Epoch: 1, LastOrdinal: 7, Paid: 400_000, PaidInEpoch: 400_000, Balance: 600_000}, settled[0])
	require.True(t, settled[1].Skipped)
	require.Zero(t, settled[1].Paid)
	require.Equal(t, contract.SettledItem{Payer: ps[2].agent, Epoch: 1, LastOrdinal: 1, Paid: 1_000_000, Shortfall: 500_000, PaidInEpoch: 1_000_000}, settled[2])
	require.Len(t, refused, 2)
	require.Contains(t, refused[4], "signature is not the payer's over this payment")
	require.Contains(t, refused[5], "there is no warrant from")
	e.checkLedgers()
}

// TestSettleManyRejectsMalformedRequests: a request that cannot be decoded is
// rejected whole, bounded like settle's batch, and moves nothing.
func TestSettleManyRejectsMalformedRequests(t *testing.T) {
	e := newEnv(t)
	provider := e.newUser()
	ps := e.warrants(provider, 1, 1_000_000)
	good := contract.EncodeSettlement(contract.Settlement{Payer: ps[0].agent, Payment: e.pay(ps[0], provider, 1, 1, 10)})
	for _, c := range []struct {
		name   string
		params dict.Dict
		want   string
	}{
		{"empty", dict.Dict{}, `parameter "ms" holds no settlements`},
		{"huge count", dict.Dict{contract.ParamSettlements: claimedLength(1<<31 - 1)}, `parameter "ms" claims 2147483647 items; a request carries at most 1000`},
		{"count above the request", dict.Dict{contract.ParamSettlements: claimedLength(3), collections.ArrayElemKey(contract.ParamSettlements, 0): good}, `claims 3 items but the request carries only 2 parameters`},
		{"truncated item", dict.Dict{contract.ParamSettlements: claimedLength(1), collections.ArrayElemKey(contract.ParamSettlements, 0): good[:len(good)-1]}, `settlement 1: want payer`},
		{"bad payer", dict.Dict{contract.ParamSettlements: claimedLength(1), collections.ArrayElemKey(contract.ParamSettlements, 0): append([]byte{1, 0xee}, good[len(good)-payment.WireSize:]...)}, `settlement 1: payer`},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(provider, ps[0])
			fee, err := e.call(provider, contract.FuncSettleMany.Name, 0, c.params)
			rejected(t, e, err, c.want, fee, provider, before, provider, ps[0])
		})
	}
	e.checkLedgers()
}

// FuzzDecodeSettlement feeds the settleMany item decoder outside bytes: it
// must not panic, and what it accepts must encode back to the same bytes.
func FuzzDecodeSettlement(f *testing.F) {
	e := newEnv(f)
	payer, provider := e.newUser(), e.newUser()
	good := contract.EncodeSettlement(contract.Settlement{Payer: payer.agent, Payment: e.pay(payer, provider, 1, 1, 10)})
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x07})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := contract.DecodeSettlement(b)
		if err != nil {
			return
		}
		again, err := contract.DecodeSettlement(contract.EncodeSettlement(s))
		if err != nil || !again.Payer.Equals(s.Payer) || again.Payment != s.Payment {
			t.Fatalf("%x decodes to %+v, which does not round-trip: %+v, %v", b, s, again, err)
		}
	})
}

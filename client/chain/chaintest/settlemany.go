package chaintest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// testSettleMany posts one settleMany of four items: two good payments, one
// signed by the wrong key, and a stale repeat of the first. The bad one is
// refused alone, the stale one settles nothing, and ItemOutcomes matches the
// receipt's events to the items.
func testSettleMany(t *testing.T, h Harness) {
	ctx := context.Background()
	provider := newParty(t, h)
	a, b, c := newParty(t, h), newParty(t, h), newParty(t, h)
	for _, payer := range []party{a, b, c} {
		_, err := chain.AddWarrant(ctx, h, payer.key, chain.AddWarrantRequest{Provider: provider.agent, Amount: 2_000_000, RegisterKey: true})
		require.NoError(t, err)
	}
	sign := func(signer, payer party, ordinal, total uint64) contract.Settlement {
		w := chain.PaymentWarrant(h, payer.agent, provider.agent)
		return contract.Settlement{Payer: payer.agent, Payment: payment.Sign(signer.key.GetPrivateKey().AsStdKey(), w, 1, ordinal, total)}
	}
	items := []contract.Settlement{
		sign(a, a, 3, 500_000),
		sign(provider, b, 1, 700_000), // not the payer's signature
		sign(c, c, 2, 250_000),
		sign(a, a, 2, 400_000), // stale: ordinal 3 is settled by then
	}
	before := balance(t, h, provider.agent)
	rec, err := chain.SettleMany(ctx, h, provider.key, items)
	require.NoError(t, err)
	require.Equal(t, before+750_000-rec.GasFee, balance(t, h, provider.agent))
	require.EqualValues(t, 750_000, rec.Paid())

	out, err := chain.ItemOutcomes(rec, items)
	require.NoError(t, err)
	require.Len(t, out, 4)
	require.NotNil(t, out[0].Settled)
	require.EqualValues(t, 500_000, out[0].Settled.Paid)
	require.EqualValues(t, 3, out[0].Settled.LastOrdinal)
	require.Nil(t, out[1].Settled)
	require.Contains(t, out[1].Refused, "signature is not the payer's")
	require.NotNil(t, out[2].Settled)
	require.EqualValues(t, 250_000, out[2].Settled.Paid)
	require.NotNil(t, out[3].Settled)
	require.True(t, out[3].Settled.Skipped)
	require.Zero(t, out[3].Settled.Paid)

	info, err := h.WarrantInfo(ctx, b.agent, provider.agent)
	require.NoError(t, err)
	require.Zero(t, info.Paid, "the refused item's warrant is untouched")
	require.Zero(t, info.LastOrdinal)

	_, err = chain.ItemOutcomes(rec, items[:3])
	require.ErrorIs(t, err, chain.ErrOutcomeMismatch, "events that do not match the items are not guessed at")
	_, err = chain.SettleMany(ctx, h, provider.key, nil)
	require.Error(t, err)
}

package provider_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/contract/payment"
)

func TestAcceptStoresBeforeAcknowledging(t *testing.T) {
	h := newHarness(t)
	acc, err := h.accept(h.next(1_000), 1_000)
	require.NoError(t, err)
	require.EqualValues(t, 1_000, acc.Receipt.Price)
	require.EqualValues(t, 1_000, acc.Unsettled)
	require.EqualValues(t, warrantFunds-1_000, acc.Backed)
	r, ok := h.newest()
	require.True(t, ok, "stored by the time Accept returned")
	require.Equal(t, acc.Receipt.Payment, r.Payment)

	acc, err = h.accept(h.next(2_500), 1_000)
	require.NoError(t, err, "paying more than the price is fine")
	require.EqualValues(t, 2_500, acc.Receipt.Price)
	require.EqualValues(t, 3_500, acc.Unsettled)
}

func TestAcceptRejections(t *testing.T) {
	h := newHarness(t, func(c *provider.Config) { c.ExposureCap = 5_000_000 })
	_, err := h.accept(h.next(100), 100)
	require.NoError(t, err)
	stranger := cryptolib.NewKeyPair()

	cases := []struct {
		name   string
		pay    func() provider.Payment
		reason string
	}{
		{"wrong epoch", func() provider.Payment { return h.payment(h.sign(2, 2, 200), 100) }, "wrong_epoch"},
		{"ordinal not increasing", func() provider.Payment { return h.payment(h.sign(1, 1, 200), 100) }, "ordinal_not_increasing"},
		{"total below accepted", func() provider.Payment { return h.payment(h.sign(1, 2, 50), 100) }, "total_below_paid"},
		{"underpaid", func() provider.Payment { return h.payment(h.sign(1, 2, 150), 100) }, "underpaid"},
		{"over balance", func() provider.Payment { return h.payment(h.sign(1, 2, warrantFunds+1), 100) }, "over_balance"},
		{"exposure cap", func() provider.Payment { return h.payment(h.sign(1, 2, 5_000_001), 100) }, "exposure_cap"},
		{"bad signature", func() provider.Payment {
			p := h.sign(1, 2, 200)
			p.Signature[0] ^= 1
			return h.payment(p, 100)
		}, "bad_signature"},
		{"signed by someone else", func() provider.Payment {
			return h.payment(payment.Sign(stranger.GetPrivateKey().AsStdKey(), chain.PaymentWarrant(h.chain, h.payer, h.prov), 1, 2, 200), 100)
		}, "bad_signature"},
		{"no warrant", func() provider.Payment {
			return provider.Payment{Payer: chain.AgentOf(stranger), Payment: h.sign(1, 2, 200), Price: 100}
		}, provider.ReasonNoWarrant},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := h.newest()
			_, err := h.p.Accept(h.ctx, c.pay())
			rej, ok := provider.IsRejection(err)
			require.True(t, ok, "want a rejection, got %v", err)
			require.Equal(t, c.reason, rej.Reason, rej.Error())
			after, _ := h.newest()
			require.Equal(t, before, after, "nothing stored")
		})
	}

	t.Run("close timeout shorter than the margin", func(t *testing.T) {
		other := cryptolib.NewKeyPair()
		require.NoError(t, h.chain.Fund(h.ctx, chain.AgentOf(other), 5_000_000))
		_, err := chain.AddWarrant(h.ctx, h.chain, other, chain.AddWarrantRequest{Provider: h.prov, Amount: 2_000_000, CloseTimeout: 300, RegisterKey: true})
		require.NoError(t, err)
		p := payment.Sign(other.GetPrivateKey().AsStdKey(), chain.PaymentWarrant(h.chain, chain.AgentOf(other), h.prov), 1, 1, 100)
		_, err = h.p.Accept(h.ctx, provider.Payment{Payer: chain.AgentOf(other), Payment: p, Price: 100})
		rej, ok := provider.IsRejection(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, provider.ReasonShortTimeout, rej.Reason)
	})

	t.Run("payer without key or warrant", func(t *testing.T) {
		other := cryptolib.NewKeyPair()
		require.NoError(t, h.chain.Fund(h.ctx, chain.AgentOf(other), 5_000_000))
		p := payment.Sign(other.GetPrivateKey().AsStdKey(), chain.PaymentWarrant(h.chain, chain.AgentOf(other), h.prov), 1, 1, 100)
		states := provider.WarrantStates(h.p)
		_, err := h.p.Accept(h.ctx, provider.Payment{Payer: chain.AgentOf(other), Payment: p, Price: 100})
		rej, ok := provider.IsRejection(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, provider.ReasonNoWarrant, rej.Reason)
		require.Equal(t, states, provider.WarrantStates(h.p), "no state for the stranger")
	})
}

func (h *harness) payment(p payment.Payment, price uint64) provider.Payment {
	return provider.Payment{Payer: h.payer, Payment: p, Price: price, Resource: "/piece"}
}

func TestRevokedWarrantServedOnlyOutsideTheMargin(t *testing.T) {
	h := newHarness(t)
	_, err := chain.Revoke(h.ctx, h.chain, h.payerKey, h.prov, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	// Default close timeout 1 h, margin 10 min: still served.
	h.clock.Add(time.Minute) // the cached warrant state ages out
	_, err = h.accept(h.next(100), 100)
	require.NoError(t, err)
	// 50 min later on chain, the deadline is within the margin.
	require.NoError(t, h.chain.AdvanceClock(50*time.Minute))
	h.clock.Add(time.Minute)
	_, err = h.accept(h.next(100), 100)
	rej, ok := provider.IsRejection(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, "revoked", rej.Reason)
}

// TestConcurrentPaymentsOfOneWarrantAreSerialized: two payments of one
// warrant offered at once, each covering the price on its own but not one
// on top of the other, are never both accepted: the intake checks and
// stores a warrant's payments one at a time.
func TestConcurrentPaymentsOfOneWarrantAreSerialized(t *testing.T) {
	h := newHarness(t)
	const price, rounds = 100, 50
	var total, ordinal uint64
	for round := 0; round < rounds; round++ {
		a := h.sign(1, ordinal+1, total+price)     // covers the price
		b := h.sign(1, ordinal+2, total+price*3/2) // covers it alone, not after a
		errs := make(chan error, 2)
		for _, p := range []payment.Payment{a, b} {
			go func(p payment.Payment) {
				_, err := h.accept(p, price)
				errs <- err
			}(p)
		}
		accepted := 0
		for i := 0; i < 2; i++ {
			if err := <-errs; err == nil {
				accepted++
			} else {
				_, ok := provider.IsRejection(err)
				require.True(t, ok, "round %d: %v", round, err)
			}
		}
		require.Equal(t, 1, accepted, "round %d: exactly one of the two", round)
		r, ok := h.newest()
		require.True(t, ok)
		total, ordinal = r.Payment.Total, r.Payment.Ordinal
	}
}

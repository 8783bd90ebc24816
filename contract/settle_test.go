package contract_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// funded returns an env with a payer whose key is registered and who holds a
// warrant of amount for provider.
func funded(t *testing.T, amount uint64) (*env, user, user) {
	e := newEnv(t)
	payer, provider := e.newUser(), e.newUser()
	e.registerKey(payer)
	_, err := e.addWarrant(payer, provider, amount)
	require.NoError(t, err)
	return e, payer, provider
}

func TestCooperativeCloseNewEpoch(t *testing.T) {
	e, payer, provider := funded(t, 5_000_000)
	stale := e.pay(payer, provider, 1, 3, 1_000_000)
	// The payer revokes, so a scheduled close for epoch 1 is pending.
	_, err := e.revoke(payer, provider, 1_000_000)
	require.NoError(t, err)
	deadline := e.info(payer, provider).Deadline

	// The provider closes at once with a final payment.
	pb, sb := e.l2(payer.agent), e.l2(provider.agent)
	fee, err := e.closeBy(provider, payer, provider, e.pay(payer, provider, 1, 7, 2_000_000))
	require.NoError(t, err)
	require.Equal(t, sb+2_000_000-fee, e.l2(provider.agent))
	require.Equal(t, pb+3_000_000, e.l2(payer.agent))
	closed, err := contract.DecodeWarrantClosed(e.lastEvent(contract.TopicWarrantClosed))
	require.NoError(t, err)
	require.Equal(t, contract.ClosedByProvider, closed.How)
	require.Equal(t, info{Epoch: 2}, e.info(payer, provider))

	// A new warrant is epoch 2.
	_, err = e.addWarrant(payer, provider, 4_000_000)
	require.NoError(t, err)
	require.EqualValues(t, 2, e.info(payer, provider).Epoch)

	// Epoch-1 payments can no longer touch it.
	before := e.snapshot(payer)
	_, err = e.settle(provider, payer, stale)
	require.ErrorContains(t, err, "epoch 1 is not the warrant's current epoch 2")
	require.Equal(t, before.contract, e.l2(e.agent))

	// The epoch-1 scheduled close arrives after its deadline and only returns
	// the deposit less its fee, keeping nothing; the epoch-2 warrant is untouched.
	pb = e.l2(payer.agent)
	e.advancePast(deadline)
	require.True(t, e.ch.WaitForRequestsThrough(1))
	rec := e.ch.GetRequestReceiptsForBlock()[0]
	require.Nil(t, rec.Error)
	require.Equal(t, pb+1_000_000-scheduledCloseReserve(), e.l2(payer.agent))
	require.Equal(t, scheduledCloseReserve(), rec.GasFeeCharged)
	require.EqualValues(t, 4_000_000, e.l2(e.agent), "no dust of the deposit stays in the contract")
	in := e.info(payer, provider)
	require.True(t, in.HasWarrant)
	require.False(t, in.Revoked)
	require.EqualValues(t, 4_000_000, in.Balance)
	require.EqualValues(t, 2, in.Epoch)
	for _, ev := range e.lastEvents() {
		require.NotEqual(t, contract.TopicWarrantClosed, ev.Topic, "stale scheduled close must not close")
	}

	// Epoch-2 payments work, ordinals start again at 1.
	_, err = e.settle(provider, payer, e.pay(payer, provider, 2, 1, 10))
	require.NoError(t, err)
	require.EqualValues(t, 3_999_990, e.info(payer, provider).Balance)
	e.checkLedgers()
}

func TestSettleTwicePaysOnce(t *testing.T) {
	e, payer, provider := funded(t, 5_000_000)
	p := e.pay(payer, provider, 1, 4, 700_000)
	_, err := e.settle(provider, payer, p)
	require.NoError(t, err)
	sb := e.l2(provider.agent)
	contractBefore := e.l2(e.agent)
	fee, err := e.settle(provider, payer, p)
	require.NoError(t, err, "a retried settle succeeds")
	require.Equal(t, sb-fee, e.l2(provider.agent), "and pays nothing")
	require.Equal(t, contractBefore, e.l2(e.agent))
	ev, err := contract.DecodeSettled(e.lastEvent(contract.TopicSettled))
	require.NoError(t, err)
	require.Zero(t, ev.Paid)
	require.EqualValues(t, 1, ev.Skipped)
	e.checkLedgers()
}

func TestShortfallCappedAndClaimableAfterTopUp(t *testing.T) {
	e, payer, provider := funded(t, 1_000_000)
	sb := e.l2(provider.agent)
	fee, err := e.settle(provider, payer, e.pay(payer, provider, 1, 1, 1_600_000))
	require.NoError(t, err)
	sb += 1_000_000 - fee
	require.Equal(t, sb, e.l2(provider.agent))
	ev, err := contract.DecodeSettled(e.lastEvent(contract.TopicSettled))
	require.NoError(t, err)
	require.EqualValues(t, 1_000_000, ev.Paid)
	require.EqualValues(t, 600_000, ev.Shortfall)
	in := e.info(payer, provider)
	require.Zero(t, in.Balance)
	require.EqualValues(t, 1_000_000, in.Paid, "st counts what was actually paid")

	_, err = e.addWarrant(payer, provider, 2_000_000)
	require.NoError(t, err)
	fee, err = e.settle(provider, payer, e.pay(payer, provider, 1, 2, 1_600_000))
	require.NoError(t, err)
	sb += 600_000 - fee
	require.Equal(t, sb, e.l2(provider.agent))
	require.EqualValues(t, 1_400_000, e.info(payer, provider).Balance)
	e.checkLedgers()
}

func TestItemizedBatchEqualsNewest(t *testing.T) {
	const n = 100
	run := func(itemized bool) (info, uint64) {
		e, payer, provider := funded(t, 50_000_000)
		var batch []payment.Payment
		for i := uint64(1); i <= n; i++ {
			if itemized || i == n {
				batch = append(batch, e.pay(payer, provider, 1, i, i*12_345))
			}
		}
		sb := e.l2(provider.agent)
		fee, err := e.settle(provider, payer, batch...)
		require.NoError(t, err)
		return e.info(payer, provider), e.l2(provider.agent) + fee - sb
	}
	itemized, paidItemized := run(true)
	newest, paidNewest := run(false)
	require.Equal(t, newest, itemized)
	require.Equal(t, paidNewest, paidItemized)
	require.EqualValues(t, n*12_345, paidItemized)
}

// rejected asserts that err carries want and that no L2 balance moved except
// the caller's gas fee.
func rejected(t *testing.T, e *env, err error, want string, fee uint64, caller user, before balances, us ...user) {
	t.Helper()
	require.ErrorContains(t, err, want)
	after := e.snapshot(us...)
	require.Equal(t, before.contract, after.contract, "contract balance moved")
	for i, u := range us {
		expect := before.users[i]
		if u.agent.Equals(caller.agent) {
			expect -= fee
		}
		require.Equal(t, expect, after.users[i], "balance of user %d moved", i)
	}
}

func TestSettleRejections(t *testing.T) {
	e, payer, provider := funded(t, 5_000_000)
	stranger := e.newUser()
	_, err := e.settle(provider, payer, e.pay(payer, provider, 1, 2, 500_000))
	require.NoError(t, err)

	other := e.warrantFor(payer, provider)
	key := payer.key.GetPrivateKey().AsStdKey()
	signedFor := func(mutate func(w *payment.Warrant)) payment.Payment {
		w := other
		w.Payer, w.Provider = append([]byte(nil), w.Payer...), append([]byte(nil), w.Provider...)
		mutate(&w)
		return payment.Sign(key, w, 1, 3, 600_000)
	}
	good := e.pay(payer, provider, 1, 3, 600_000)
	flipped := good
	flipped.Signature[10] ^= 1

	cases := []struct {
		name  string
		batch []payment.Payment
		want  string
	}{
		{"bad signature", []payment.Payment{flipped}, "payment 1 (ordinal 3): signature is not the payer's"},
		{"signed by another key", []payment.Payment{payment.Sign(stranger.key.GetPrivateKey().AsStdKey(), other, 1, 3, 600_000)}, "signature is not the payer's"},
		{"other chain", []payment.Payment{signedFor(func(w *payment.Warrant) { w.ChainID[0] ^= 1 })}, "signature is not the payer's"},
		{"other contract", []payment.Payment{signedFor(func(w *payment.Warrant) { w.Contract++ })}, "signature is not the payer's"},
		{"other provider", []payment.Payment{signedFor(func(w *payment.Warrant) { w.Provider = stranger.agent.Bytes() })}, "signature is not the payer's"},
		{"other payer", []payment.Payment{signedFor(func(w *payment.Warrant) { w.Payer = stranger.agent.Bytes() })}, "signature is not the payer's"},
		{"other epoch", []payment.Payment{e.pay(payer, provider, 2, 3, 600_000)}, "payment 1 (ordinal 3): epoch 2 is not the warrant's current epoch 1"},
		{"ordinals not increasing", []payment.Payment{e.pay(payer, provider, 1, 5, 600_000), e.pay(payer, provider, 1, 4, 700_000)}, "payment 2 (ordinal 4): ordinal 4 is not above 5"},
		{"ordinals repeated", []payment.Payment{e.pay(payer, provider, 1, 5, 600_000), e.pay(payer, provider, 1, 5, 600_000)}, "payment 2 (ordinal 5): ordinal 5 is not above 5"},
		{"total below paid", []payment.Payment{e.pay(payer, provider, 1, 3, 400_000)}, "payment 1 (ordinal 3): total 400000 is below the 500000 already paid"},
		{"bad item after good", []payment.Payment{good, flipped}, "payment 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(payer, provider)
			fee, err := e.settle(provider, payer, c.batch...)
			rejected(t, e, err, c.want, fee, provider, before, payer, provider)
			require.EqualValues(t, 2, e.info(payer, provider).LastOrdinal)
		})
	}

	t.Run("settle by anyone but the provider", func(t *testing.T) {
		before := e.snapshot(payer, provider, stranger)
		fee, err := e.settle(stranger, payer, good)
		rejected(t, e, err, "there is no warrant from", fee, stranger, before, payer, provider, stranger)
	})
	t.Run("unregistered key", func(t *testing.T) {
		// A payer without a key cannot open a warrant (TestAddWarrantRejections),
		// so settle finds no warrant to pay from.
		p2 := e.newUser()
		before := e.snapshot(p2, provider)
		fee, err := e.addWarrant(p2, provider, 2_000_000)
		rejected(t, e, err, "has no registered public key", fee, p2, before, p2, provider)
		before = e.snapshot(p2, provider)
		fee, err = e.settle(provider, p2, e.pay(p2, provider, 1, 1, 10))
		rejected(t, e, err, "there is no warrant from", fee, provider, before, p2, provider)
	})
	t.Run("empty batch", func(t *testing.T) {
		before := e.snapshot(provider)
		fee, err := e.settle(provider, payer)
		rejected(t, e, err, `parameter "m" holds no payments`, fee, provider, before, provider)
	})
	for _, m := range []struct {
		name string
		item []byte
		want string
	}{
		{"short item", good.Bytes()[:84], "payment 1: payment: malformed: wire payment must be 85 bytes, got 84"},
		{"long item", append(good.Bytes(), 0), "got 86"},
		{"wrong version", append([]byte{2}, good.Bytes()[1:]...), "unknown version 2"},
	} {
		t.Run(m.name, func(t *testing.T) {
			d := batchParams([]payment.Payment{good})
			d[collections.ArrayElemKey(contract.ParamPayments, 0)] = m.item
			d[contract.ParamPayer] = codec.EncodeAgentID(payer.agent)
			before := e.snapshot(provider)
			fee, err := e.call(provider, contract.FuncSettle.Name, 0, d)
			rejected(t, e, err, m.want, fee, provider, before, provider)
		})
	}
	t.Run("totals near 2^64", func(t *testing.T) {
		const max = ^uint64(0)
		before := e.snapshot(provider)
		fee, err := e.settle(provider, payer, e.pay(payer, provider, 1, 10, max-1), e.pay(payer, provider, 1, 11, max))
		require.NoError(t, err)
		in := e.info(payer, provider)
		require.Zero(t, in.Balance, "capped by the balance")
		require.Equal(t, before.users[0]+4_500_000-fee, e.l2(provider.agent))
		ev, err := contract.DecodeSettled(e.lastEvent(contract.TopicSettled))
		require.NoError(t, err)
		require.Equal(t, max-5_000_000, ev.Shortfall)
	})
	e.checkLedgers()
}

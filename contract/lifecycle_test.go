package contract_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/vm/gas"
	"github.com/micropay/micropay/contract"
)

// scheduledCloseReserve is what the scheduled close costs at Solo's default
// fee policy: the fee of ScheduledCloseGas, which it burns exactly.
func scheduledCloseReserve() uint64 {
	return gas.DefaultFeePolicy().FeeFromGas(contract.ScheduledCloseGas, nil, 6)
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	payer, provider := e.newUser(), e.newUser()
	pb, sb := e.l2(payer.agent), e.l2(provider.agent)
	check := func(step string, wantPayer, wantProvider, wantContract uint64) {
		t.Helper()
		require.Equal(t, wantPayer, e.l2(payer.agent), "%s: payer", step)
		require.Equal(t, wantProvider, e.l2(provider.agent), "%s: provider", step)
		require.Equal(t, wantContract, e.l2(e.agent), "%s: contract", step)
	}

	pb -= e.registerKey(payer)
	check("register key", pb, sb, 0)

	fee, err := e.addWarrant(payer, provider, 10_000_000)
	require.NoError(t, err)
	pb -= 10_000_000 + fee
	check("add", pb, sb, 10_000_000)
	in := e.info(payer, provider)
	require.Equal(t, info{Balance: 10_000_000, Epoch: 1, CloseTimeout: contract.DefaultCloseTimeout, HasWarrant: true}, in)
	added, err := contract.DecodeWarrantAdded(e.lastEvent(contract.TopicWarrantAdded))
	require.NoError(t, err)
	require.True(t, added.New)
	require.EqualValues(t, 10_000_000, added.Added)

	fee, err = e.addWarrant(payer, provider, 5_000_000)
	require.NoError(t, err)
	pb -= 5_000_000 + fee
	check("top-up", pb, sb, 15_000_000)
	require.EqualValues(t, 15_000_000, e.info(payer, provider).Balance)

	// Five off-ledger payments of 100,000 each; the provider settles the newest.
	var last uint64
	for ord := uint64(1); ord <= 5; ord++ {
		last = ord * 100_000
	}
	fee, err = e.settle(provider, payer, e.pay(payer, provider, 1, 5, last))
	require.NoError(t, err)
	sb += 500_000 - fee
	check("settle newest", pb, sb, 14_500_000)
	in = e.info(payer, provider)
	require.EqualValues(t, 5, in.LastOrdinal)
	require.EqualValues(t, 500_000, in.Paid)
	ev, err := contract.DecodeSettled(e.lastEvent(contract.TopicSettled))
	require.NoError(t, err)
	require.EqualValues(t, 500_000, ev.Paid)
	require.Zero(t, ev.Shortfall)

	fee, err = e.settle(provider, payer, e.pay(payer, provider, 1, 9, 900_000))
	require.NoError(t, err)
	sb += 400_000 - fee
	check("settle newer", pb, sb, 14_100_000)

	const deposit = 1_000_000
	fee, err = e.revoke(payer, provider, deposit)
	require.NoError(t, err)
	pb -= deposit + fee
	check("revoke", pb, sb, 14_100_000)
	in = e.info(payer, provider)
	require.True(t, in.Revoked)
	now := uint64(e.solo.GlobalTime().Unix())
	require.InDelta(t, now+contract.DefaultCloseTimeout, in.Deadline, 2)
	rev, err := contract.DecodeWarrantRevoked(e.lastEvent(contract.TopicWarrantRevoked))
	require.NoError(t, err)
	require.Equal(t, in.Deadline, rev.Deadline)

	fee, err = e.settle(provider, payer, e.pay(payer, provider, 1, 10, 1_200_000))
	require.NoError(t, err)
	sb += 300_000 - fee
	check("settle before deadline", pb, sb, 13_800_000)

	e.advancePast(in.Deadline)
	require.True(t, e.ch.WaitForRequestsThrough(1))
	receipts := e.ch.GetRequestReceiptsForBlock()
	require.Len(t, receipts, 1)
	require.Nil(t, receipts[0].Error)
	scheduledFee := receipts[0].GasFeeCharged
	reserve := scheduledCloseReserve()
	require.Equal(t, reserve, scheduledFee, "the close costs exactly its reserve")
	require.Equal(t, contract.ScheduledCloseGas, receipts[0].GasBurned)
	pb += 13_800_000 + deposit - reserve
	check("scheduled close: the whole deposit less the fee returns, no dust stays", pb, sb, 0)
	closed, err := contract.DecodeWarrantClosed(e.lastEvent(contract.TopicWarrantClosed))
	require.NoError(t, err)
	require.Equal(t, contract.ClosedByScheduler, closed.How)
	require.EqualValues(t, 13_800_000, closed.Refund)
	require.EqualValues(t, 1_200_000, closed.PaidInEpoch)
	require.Equal(t, info{Epoch: 2}, e.info(payer, provider))
	e.checkLedgers()
}

package provider_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/store"
)

func (h *harness) lastSettlement() (store.Settlement, bool) {
	s, ok, err := h.store.LastSettlement(h.ctx, h.p.WarrantID(h.payer))
	require.NoError(h.t, err)
	return s, ok
}

func TestThresholdSettlement(t *testing.T) {
	h := newHarness(t, func(c *provider.Config) { c.Threshold = 10_000 })
	h.run()
	start := h.balance(h.prov)
	for i := 0; i < 9; i++ {
		_, err := h.accept(h.next(1_000), 1_000)
		require.NoError(t, err)
	}
	require.Zero(t, h.info().Paid, "below the threshold nothing is settled")
	_, err := h.accept(h.next(1_000), 1_000) // reaches 10,000
	require.NoError(t, err)
	waitFor(t, "threshold settlement", func() bool { s, _ := h.lastSettlement(); return s.State == store.Landed })
	require.EqualValues(t, 10_000, h.info().Paid)
	s, ok := h.lastSettlement()
	require.True(t, ok)
	require.Equal(t, store.Landed, s.State)
	require.EqualValues(t, 10_000, s.Paid)
	require.EqualValues(t, 10, s.Ordinal)
	waitFor(t, "provider paid", func() bool { return h.balance(h.prov) > start })
}

func TestScheduledSettlement(t *testing.T) {
	h := newHarness(t, func(c *provider.Config) { c.Schedule = provider.Every(time.Hour) })
	h.run()
	for i := 0; i < 3; i++ {
		_, err := h.accept(h.next(700), 700)
		require.NoError(t, err)
	}
	waitFor(t, "the schedule to settle", func() bool {
		h.clock.Add(10 * time.Minute) // the billing system's hour comes round
		return h.info().Paid == 2_100
	})
}

func TestCronSchedule(t *testing.T) {
	s, err := provider.Cron("0 2 * * *")
	require.NoError(t, err)
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	require.Equal(t, time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC), s.Next(at))
	_, err = provider.Cron("not a schedule")
	require.ErrorContains(t, err, `settlement schedule "not a schedule"`)
}

func TestSettleNowIsIdempotent(t *testing.T) {
	h := newHarness(t)
	_, err := h.accept(h.next(4_000), 4_000)
	require.NoError(t, err)
	got, err := h.p.SettleNow(h.ctx, nil)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.EqualValues(t, 4_000, got[0].Paid)
	got, err = h.p.SettleNow(h.ctx, nil)
	require.NoError(t, err)
	require.Empty(t, got, "nothing left to settle")
	require.EqualValues(t, 4_000, h.info().Paid)
}

// TestDeadlineSettlementDespiteFaults: the consumer revokes; the provider's
// first two settle attempts fail at the chain seam; it still settles before
// deadline - margin, exactly once.
func TestDeadlineSettlementDespiteFaults(t *testing.T) {
	faulty := &faultyChain{failSettles: 2}
	var h *harness
	h = newHarness(t, func(c *provider.Config) {
		faulty.Chain = c.Chain
		c.Chain = faulty
		c.RetryMin, c.RetryMax = time.Second, 8*time.Second
	})
	h.run()
	for i := 0; i < 5; i++ {
		_, err := h.accept(h.next(3_000), 3_000)
		require.NoError(t, err)
	}
	start := h.balance(h.prov)
	_, err := chain.Revoke(h.ctx, h.chain, h.payerKey, h.prov, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	deadline := h.info().Deadline

	waitFor(t, "settlement after two failures", func() bool {
		h.clock.Add(time.Second) // polling and backoff run on the injected clock
		s, _ := h.lastSettlement()
		return s.State == store.Landed
	})
	require.EqualValues(t, 15_000, h.info().Paid)
	now, err := h.chain.Now(h.ctx)
	require.NoError(t, err)
	require.Less(t, now.Unix(), int64(deadline)-int64((10*time.Minute).Seconds()), "settled before deadline - margin")
	s, ok := h.lastSettlement()
	require.True(t, ok)
	require.Equal(t, store.Landed, s.State)
	require.Equal(t, 3, s.Attempt)
	require.Equal(t, 1, faulty.settles, "only the successful attempt reached the chain")
	require.EqualValues(t, 15_000, h.balance(h.prov)+faulty.fees-start, "paid exactly once")
}

// TestUnknownOutcomeReconciled: the settle lands but its reply is lost; the
// provider reads the warrant, sees it settled and does not pay twice.
func TestUnknownOutcomeReconciled(t *testing.T) {
	faulty := &faultyChain{failSettles: 1, landThenLose: true}
	h := newHarness(t, func(c *provider.Config) {
		faulty.Chain = c.Chain
		c.Chain = faulty
	})
	_, err := h.accept(h.next(6_000), 6_000)
	require.NoError(t, err)
	got, err := h.p.SettleNow(h.ctx, nil)
	require.NoError(t, err, "reconciled, not an error")
	require.Len(t, got, 1)
	require.Equal(t, store.Landed, got[0].State)
	require.EqualValues(t, 6_000, got[0].Paid)
	require.Equal(t, 1, faulty.settles)
	require.EqualValues(t, 6_000, h.info().Paid)
	got, err = h.p.SettleNow(h.ctx, nil)
	require.NoError(t, err)
	require.Empty(t, got)
	require.Equal(t, 1, faulty.settles, "no second settle request")
}

// TestResumeAfterRestart: a run recorded a settlement as submitted and died
// before learning its outcome; the next run reconciles it from the chain.
func TestResumeAfterRestart(t *testing.T) {
	h := newHarness(t)
	_, err := h.accept(h.next(2_000), 2_000)
	require.NoError(t, err)
	rec, _ := h.newest()
	// What the dead run left: the request landed, the record says submitted.
	_, err = chain.Settle(h.ctx, h.chain, h.provKey, h.payer, rec.Payment)
	require.NoError(t, err)
	require.NoError(t, h.store.SaveSettlement(h.ctx, store.Settlement{
		Warrant: h.p.WarrantID(h.payer), Epoch: 1, Ordinal: rec.Payment.Ordinal, Total: rec.Payment.Total,
		State: store.Submitted, Attempt: 1,
	}))
	_, err = h.accept(h.next(500), 500) // one more payment arrived before the crash
	require.NoError(t, err)

	h.start() // restart on the same store
	h.run()
	waitFor(t, "resume", func() bool { s, _ := h.lastSettlement(); return s.State == store.Landed && s.Ordinal == 2 })
	require.EqualValues(t, 2_500, h.info().Paid)
	s, ok := h.lastSettlement()
	require.True(t, ok)
	require.Equal(t, store.Landed, s.State)
	require.EqualValues(t, 2, s.Ordinal)
}

func TestMissedDeadlineIsRecorded(t *testing.T) {
	h := newHarness(t)
	_, err := h.accept(h.next(1_000), 1_000)
	require.NoError(t, err)
	_, err = chain.Revoke(h.ctx, h.chain, h.payerKey, h.prov, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	// The provider is down past the deadline; the scheduled close refunds the payer.
	require.NoError(t, h.chain.AdvanceClock(61*time.Minute))
	got, err := h.p.SettleNow(h.ctx, nil)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, store.Failed, got[0].State)
	require.Contains(t, got[0].Error, "missed: epoch 1 closed before ordinal 1 was settled")
}

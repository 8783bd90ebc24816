package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
)

const (
	pieces    = 1_000
	price     = 1_000
	threshold = 100_000
	funds     = 20_000_000
	warrant   = 5_000_000
)

// TestConsumerBuysPiecesOverHTTP: a consumer buys 1,000 pieces from a
// paywalled service; the provider settles by threshold while they stream
// and at once when the consumer revokes; the scheduled close refunds the
// rest. Every balance is checked to the token.
func TestConsumerBuysPiecesOverHTTP(t *testing.T) {
	ctx := context.Background()
	e, err := solochain.New(solochain.Options{Name: t.Name()})
	require.NoError(t, err)
	defer e.Close()

	provKey, payKey := cryptolib.NewKeyPair(), cryptolib.NewKeyPair()
	prov, payer := chain.AgentOf(provKey), chain.AgentOf(payKey)
	require.NoError(t, e.Fund(ctx, prov, funds))
	require.NoError(t, e.Fund(ctx, payer, funds))

	// Provider: durable store, threshold settlement, settler running.
	provSeam := &chain.Metered{Chain: e}
	st, err := store.Open(filepath.Join(t.TempDir(), "provider"))
	require.NoError(t, err)
	defer st.Close()
	mock := clock.NewMock()
	p, err := provider.New(ctx, provider.Config{
		Chain: provSeam, Key: provKey, Store: st, Threshold: threshold, Clock: mock,
		PollInterval: 30 * time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(runCtx) }()
	defer func() { stop(); <-done }()

	served := 0
	mux := http.NewServeMux()
	mux.Handle("/minute/", p.Paywall(provider.FixedPrice(price, "one call minute"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		_, _ = io.WriteString(w, "minute "+r.URL.Path)
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// Consumer: durable payer state, a warrant, a paying HTTP client.
	paySeam := &chain.Metered{Chain: e}
	states, err := consumer.OpenPayerState(filepath.Join(t.TempDir(), "payer"))
	require.NoError(t, err)
	defer states.Close()
	payerObj := consumer.NewPayer(paySeam, payKey, states)
	c := &consumer.Consumer{Chain: paySeam, Key: payKey, Payer: payerObj}
	_, err = c.AddWarrant(ctx, prov, warrant, 0)
	require.NoError(t, err)
	tr, err := consumer.NewTransport(payerObj, consumer.TransportOptions{MaxPrice: price, MaxTotal: pieces * price})
	require.NoError(t, err)
	client := &http.Client{Transport: tr}

	for i := 1; i <= pieces; i++ {
		resp, err := client.Get(srv.URL + "/minute/" + strconv.Itoa(i))
		require.NoError(t, err, "piece %d", i)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "piece %d: %s", i, body)
	}
	require.Equal(t, pieces, served)
	require.EqualValues(t, pieces*price, tr.Spent())

	// Threshold settlements ran while the pieces streamed: whenever the
	// unsettled amount reached 100,000, so less than that is left over.
	waitFor(t, "threshold settlements", func() bool {
		info, err := e.WarrantInfo(ctx, payer, prov)
		require.NoError(t, err)
		return pieces*price-info.Paid < threshold
	})
	info, err := e.WarrantInfo(ctx, payer, prov)
	require.NoError(t, err)
	require.GreaterOrEqual(t, info.Paid, uint64(pieces*price-threshold+1))
	require.Equal(t, uint64(warrant)-info.Paid, info.Balance)
	t.Logf("after %d pieces: %d settled by threshold, %d unsettled", pieces, info.Paid, pieces*price-info.Paid)

	// The cap stops the consumer before it signs anything.
	_, err = client.Get(srv.URL + "/minute/over-cap")
	require.ErrorIs(t, err, consumer.ErrCapExceeded)

	// 50 more pieces on a second client, then the consumer revokes: the
	// provider settles at once (its next poll) without waiting for the threshold.
	tr2, err := consumer.NewTransport(payerObj, consumer.TransportOptions{MaxPrice: price, MaxTotal: 50 * price})
	require.NoError(t, err)
	client2 := &http.Client{Transport: tr2}
	for i := 0; i < 50; i++ {
		resp, err := client2.Get(srv.URL + "/minute/extra")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	_, err = c.Revoke(ctx, prov)
	require.NoError(t, err)
	waitFor(t, "settlement on revocation", func() bool {
		mock.Add(30 * time.Second) // the provider's poll interval
		s, ok, err := st.LastSettlement(ctx, p.WarrantID(payer))
		require.NoError(t, err)
		return ok && s.State == store.Landed && s.Total == 1_050*price
	})
	info, err = e.WarrantInfo(ctx, payer, prov)
	require.NoError(t, err)
	require.EqualValues(t, 1_050*price, info.Paid)
	deadline := info.Deadline
	now, err := e.Now(ctx)
	require.NoError(t, err)
	require.Less(t, now.Unix(), int64(deadline), "settled before the deadline")

	// The deadline passes; the contract's scheduled close refunds the payer.
	payerBefore, err := e.L2Balance(ctx, payer)
	require.NoError(t, err)
	require.NoError(t, e.AdvanceClock(time.Duration(int64(deadline)-now.Unix()+1)*time.Second))
	info, err = e.WarrantInfo(ctx, payer, prov)
	require.NoError(t, err)
	require.Equal(t, chain.WarrantInfo{Epoch: 2}, info)
	payerAfter, err := e.L2Balance(ctx, payer)
	require.NoError(t, err)
	reserve := payerAfter - payerBefore - (warrant - 1_050*price) // what came back of the revoke deposit
	require.Equal(t, uint64(chain.DefaultRevokeDeposit)-reserve, scheduledCloseReserve(e), "the deposit came back less the fee reserve")

	// Every balance to the token.
	provBal, err := e.L2Balance(ctx, prov)
	require.NoError(t, err)
	require.Equal(t, uint64(funds+1_050*price)-provSeam.Fees(), provBal, "provider: funds + every accepted piece - its gas")
	require.Equal(t, uint64(funds-1_050*price)-paySeam.Fees()-scheduledCloseReserve(e), payerAfter,
		"payer: funds - every piece - its gas - the scheduled close's fee reserve")
	require.NoError(t, solochain.Do(func() { e.Chain.CheckAccountLedger() }))
}

func scheduledCloseReserve(e *solochain.Embedded) uint64 {
	return e.Chain.GetGasFeePolicy().FeeFromGas(50_000, nil, 6)
}

// waitFor waits for the provider's settler goroutine to make cond true; it
// never waits for time to pass on a clock.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

package provider_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/devnet"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/client/waspchain"
	"github.com/micropay/micropay/contract/payment"
)

// submittedStore tells when a settlement is recorded as submitted: the
// moment before the settle request goes to the chain.
type submittedStore struct {
	store.Store
	submitted chan submitted
}

type submitted struct {
	store.Settlement
	at time.Time // wall clock
}

func (s *submittedStore) SaveSettlement(ctx context.Context, st store.Settlement) error {
	err := s.Store.SaveSettlement(ctx, st)
	if err == nil && st.State == store.Submitted && st.Error == "" {
		select {
		case s.submitted <- submitted{st, time.Now()}:
		default:
		}
	}
	return err
}

// onDevnet is a provider talking to a devnet over loopback through
// waspchain (devnet.Connect), the way `micropay provider serve` does,
// following its websocket event feed unless told not to. Its clock is a
// mock that the tests never move: no poll, retry or cache expiry happens,
// so whatever the provider learns, it learns from the feed.
type onDevnet struct {
	t        *testing.T
	ctx      context.Context
	node     devnet.Client
	chain    *devnet.Chain
	store    *submittedStore
	p        *provider.Provider
	payerKey *cryptolib.KeyPair
	provKey  *cryptolib.KeyPair
	payer    isc.AgentID
	prov     isc.AgentID

	mu      sync.Mutex
	ordinal uint64
	total   uint64
}

func newOnDevnet(t *testing.T, follow bool) *onDevnet {
	ctx := context.Background()
	d, err := devnet.New(devnet.Config{})
	require.NoError(t, err)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, d.Shutdown(sctx))
		srv.Close()
	})
	c, err := devnet.Connect(ctx, waspchain.Config{URL: srv.URL, HTTPClient: srv.Client(), ReceiptTimeout: 20 * time.Second})
	require.NoError(t, err)
	h := &onDevnet{
		t: t, ctx: ctx, node: devnet.Client{URL: srv.URL, HTTPClient: srv.Client()}, chain: c,
		store:    &submittedStore{Store: store.NewMemory(), submitted: make(chan submitted, 16)},
		payerKey: cryptolib.NewKeyPair(), provKey: cryptolib.NewKeyPair(),
	}
	h.payer, h.prov = chain.AgentOf(h.payerKey), chain.AgentOf(h.provKey)
	require.NoError(t, h.node.Fund(ctx, h.payer, 50_000_000))
	require.NoError(t, h.node.Fund(ctx, h.prov, 1_000_000))
	cfg := provider.Config{
		Chain: c, Key: h.provKey, Store: h.store, Clock: clock.NewMock(),
		Margin: 10 * time.Minute, PollInterval: 30 * time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if follow {
		cfg.Feed = c
	}
	h.p, err = provider.New(ctx, cfg)
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.p.Run(rctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	if follow {
		require.Eventually(t, h.p.Following, 10*time.Second, time.Millisecond, "the provider subscribes to the devnet's feed")
	}
	return h
}

func (h *onDevnet) openWarrant(closeTimeout uint64) {
	_, err := chain.AddWarrant(h.ctx, h.chain, h.payerKey, chain.AddWarrantRequest{Provider: h.prov, Amount: 5_000_000, CloseTimeout: closeTimeout, RegisterKey: true})
	require.NoError(h.t, err)
}

// pay offers the payer's next payment of price; the counters move only
// when it is accepted.
func (h *onDevnet) pay(price uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := payment.Sign(h.payerKey.GetPrivateKey().AsStdKey(), chain.PaymentWarrant(h.chain, h.payer, h.prov), 1, h.ordinal+1, h.total+price)
	_, err := h.p.Accept(h.ctx, provider.Payment{Payer: h.payer, Payment: p, Price: price, Resource: "/piece"})
	if err == nil {
		h.ordinal, h.total = h.ordinal+1, h.total+price
	}
	return err
}

// The provider settles at once when a warrant is revoked: on the devnet,
// over its websocket feed, the settlement is submitted within 2 s of the
// revocation's block, with the provider's clock standing still (no poll).
func TestRevocationSettledWithinTwoSecondsOnTheDevnet(t *testing.T) {
	h := newOnDevnet(t, true)
	h.openWarrant(3600)
	for i := 0; i < 3; i++ {
		require.NoError(t, h.pay(1_000))
	}
	start := time.Now()
	_, err := chain.Revoke(h.ctx, h.chain, h.payerKey, h.prov, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	revoked := time.Now() // Revoke has its receipt and events
	select {
	case s := <-h.store.submitted:
		took := s.at.Sub(start)
		t.Logf("revoke sent → settlement submitted: %s (revoke's own round trip: %s)", took, revoked.Sub(start))
		require.Less(t, took, 2*time.Second)
		require.EqualValues(t, 3, s.Ordinal)
	case <-time.After(10 * time.Second):
		t.Fatal("no settlement submitted within 10 s of the revocation")
	}
	require.Eventually(t, func() bool {
		info, err := h.chain.WarrantInfo(h.ctx, h.payer, h.prov)
		return err == nil && info.Paid == 3_000
	}, 10*time.Second, 10*time.Millisecond, "the settlement lands")
}

// A payer refused for having no warrant is accepted as soon as its
// addWarrant is in a block, although the refusal is remembered for
// MissTTL (2 s) on a provider clock that never moves.
func TestNewWarrantAcceptedOnceItsBlockIsMade(t *testing.T) {
	h := newOnDevnet(t, true)
	_, err := chain.RegisterKey(h.ctx, h.chain, h.payerKey)
	require.NoError(t, err)
	err = h.pay(1_000)
	r, ok := provider.IsRejection(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, provider.ReasonNoWarrant, r.Reason)
	h.openWarrant(3600)
	opened := time.Now()
	require.Eventually(t, func() bool { return h.pay(1_000) == nil }, 2*time.Second, 5*time.Millisecond,
		"the new warrant is accepted once the feed has brought its block")
	t.Logf("warrant opened → first payment accepted: %s", time.Since(opened))
}

// Chain time is the time of the next block. On an idle devnet whose clock
// was moved to 8 minutes before a revoked warrant's deadline (inside the
// 10-minute margin) no block has been made since the revocation: the
// latest block's time is far from the deadline, the devnet's clock, which
// the settlement would run at, is not. The payment is refused.
func TestIdleDevnetInsideTheMarginRefusesPayment(t *testing.T) {
	h := newOnDevnet(t, true)
	h.openWarrant(900) // 15 minutes
	require.NoError(t, h.pay(1_000))
	_, err := chain.Revoke(h.ctx, h.chain, h.payerKey, h.prov, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return h.p.Warrants()[0].Deadline != 0 }, 10*time.Second, time.Millisecond, "the revocation reaches the provider")
	info, err := h.chain.WarrantInfo(h.ctx, h.payer, h.prov)
	require.NoError(t, err)
	// The revocation started a settlement; with it landed, the chain is idle.
	require.Eventually(t, func() bool {
		i, err := h.chain.WarrantInfo(h.ctx, h.payer, h.prov)
		return err == nil && i.Paid == 1_000
	}, 10*time.Second, 10*time.Millisecond)
	now, err := h.chain.Now(h.ctx)
	require.NoError(t, err)
	_, err = h.node.AdvanceClock(h.ctx, time.Unix(int64(info.Deadline), 0).Add(-8*time.Minute).Sub(now))
	require.NoError(t, err)
	err = h.pay(1_000)
	r, ok := provider.IsRejection(err)
	require.True(t, ok, "a payment 8 minutes before the deadline must be refused: %v", err)
	require.Equal(t, payment.ReasonRevoked.String(), r.Reason)
}

package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
)

// shop is the real provider (paywall, acceptance, pebble store) and a
// consumer with a durable payer state and a warrant, on an embedded chain.
type shop struct {
	provider *provider.Provider
	agent    isc.AgentID
	payer    *consumer.Payer
}

// newShop starts a shop whose paywall prices every piece at price.
func newShop(tb testing.TB, price uint64) (*shop, http.Handler) {
	tb.Helper()
	ctx := context.Background()
	e, err := solochain.New(solochain.Options{Name: tb.Name()})
	require.NoError(tb, err)
	tb.Cleanup(e.Close)
	provKey, payKey := cryptolib.NewKeyPair(), cryptolib.NewKeyPair()
	prov := chain.AgentOf(provKey)
	require.NoError(tb, e.Fund(ctx, prov, funds))
	require.NoError(tb, e.Fund(ctx, chain.AgentOf(payKey), 1_000_000_000))
	st, err := store.Open(filepath.Join(tb.TempDir(), "provider"))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = st.Close() })
	p, err := provider.New(ctx, provider.Config{Chain: e, Key: provKey, Store: st, PollInterval: 30 * time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(tb, err)
	states, err := consumer.OpenPayerState(filepath.Join(tb.TempDir(), "payer"))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = states.Close() })
	c := &consumer.Consumer{Chain: e, Key: payKey, Payer: consumer.NewPayer(e, payKey, states)}
	_, err = c.AddWarrant(ctx, prov, 900_000_000, 0)
	require.NoError(tb, err)
	paywall := p.Paywall(provider.FixedPrice(price, "one piece"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "piece "+r.URL.Path)
	}))
	return &shop{provider: p, agent: prov, payer: c.Payer}, paywall
}

package provider_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract"
)

// On a devnet, through waspchain as `micropay provider serve` talks to a
// node, three settleMany requests of one provider go out together, each
// under its own nonce, and every warrant is paid exactly.
func TestSettleBatchesInFlightOnTheDevnet(t *testing.T) {
	dn := newOnDevnet(t, false) // its chain and faucet; its own provider stays idle
	ctx, c, node := dn.ctx, dn.chain, dn.node
	provKey := cryptolib.NewKeyPair()
	require.NoError(t, node.Fund(ctx, chain.AgentOf(provKey), 1_000_000))

	b := newBarrier(3)
	rc := &recordingChain{Chain: c, tamper: b.wait}
	st := store.NewMemory()
	p, err := provider.New(ctx, provider.Config{
		Chain: rc, Key: provKey, Store: st, Clock: clock.NewMock(), SettleBatch: 10, SettleInFlight: 3,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	f := &fleet{ctx: ctx, c: c, prov: chain.AgentOf(provKey), p: p, st: st}
	f.open(t, node, 30)

	got, err := p.SettleNow(ctx, nil)
	require.NoError(t, err)
	require.Len(t, got, 30)
	require.Zero(t, b.timedOut(), "requests waited in vain for the others to be in flight")
	require.Equal(t, []string{contract.FuncSettleMany.Name, contract.FuncSettleMany.Name, contract.FuncSettleMany.Name}, entries(rc.sent()))
	f.requireSettledExactly(t)
}

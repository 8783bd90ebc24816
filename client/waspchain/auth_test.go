//go:build !race

package waspchain_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/waspchain"
)

// TestTokenGuardedNode: on a node with JWT authentication the admin route
// New would list chains with answers 401, reported as such; with the chain
// ID given, everything else is a public route and works without a token;
// with the token, the admin route works too.
func TestTokenGuardedNode(t *testing.T) {
	ctx := context.Background()
	n := newTestNet(t, 1, "s3cret")
	cfg := n.config()
	cfg.ChainID = ""
	_, err := waspchain.New(ctx, cfg)
	require.ErrorIs(t, err, waspchain.ErrUnauthorized)
	require.ErrorContains(t, err, "401 Unauthorized: missing or malformed jwt")

	cfg.Token = "wrong"
	_, err = waspchain.New(ctx, cfg)
	require.ErrorIs(t, err, waspchain.ErrUnauthorized)

	cfg.Token = "s3cret"
	c, err := waspchain.New(ctx, cfg)
	require.NoError(t, err)
	require.Equal(t, n.d.ChainID(), c.ID())

	public, err := waspchain.New(ctx, n.config())
	require.NoError(t, err, "no token, chain ID given")
	payer, provider := n.parties(t)
	_, err = chain.AddWarrant(ctx, public, payer, chain.AddWarrantRequest{Provider: provider, Amount: 1_000_000, RegisterKey: true})
	require.NoError(t, err)
	_, err = public.WarrantInfo(ctx, chain.AgentOf(payer), provider)
	require.NoError(t, err)
}

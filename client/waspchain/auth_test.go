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

// TestTokenGoesToTheFirstNodesAdminRoutesOnly: the token is the first
// node's credential. It goes with that node's admin routes and nothing
// else: not with the public calls (a request, a view, the event feed), and
// never to the further nodes, which may be other operators'.
func TestTokenGoesToTheFirstNodesAdminRoutesOnly(t *testing.T) {
	ctx := context.Background()
	n := newTestNet(t, 2, "s3cret")
	cfg := n.config()
	cfg.ChainID, cfg.Token = "", "s3cret"
	c, err := waspchain.New(ctx, cfg)
	require.NoError(t, err)

	payer, provider := n.parties(t)
	_, err = chain.AddWarrant(ctx, c, payer, chain.AddWarrantRequest{Provider: provider, Amount: 1_000_000, RegisterKey: true})
	require.NoError(t, err)
	_, err = c.WarrantInfo(ctx, chain.AgentOf(payer), provider)
	require.NoError(t, err)
	fctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- c.Follow(fctx, func() { close(ready) }, func(chain.Block) {}) }()
	<-ready
	cancel()
	<-done
	n.srvs[0].Close() // the next calls fail over to the second node
	_, err = c.WarrantInfo(ctx, chain.AgentOf(payer), provider)
	require.NoError(t, err)

	n.gates[0].mu.Lock()
	defer n.gates[0].mu.Unlock()
	require.Equal(t, "Bearer s3cret", n.gates[0].auth["/v1/chains"], "the first node's admin route gets the token")
	for path := range n.gates[0].auth {
		// /v1/node/info is read once per process (the L1 parameters)
		require.Contains(t, []string{"/v1/chains", "/v1/node/info"}, path, "the token went with a public route")
	}
	n.gates[1].mu.Lock()
	defer n.gates[1].mu.Unlock()
	require.Empty(t, n.gates[1].auth, "a further node never sees it")
}

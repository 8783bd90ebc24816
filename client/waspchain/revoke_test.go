//go:build !race

package waspchain_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/chain"
)

// TestRevokeAsksTheChainForItsDeposit: over a node's web API, the contract
// says what a revoke needs; Revoke with no deposit given sends exactly that,
// and one token less is rejected.
func TestRevokeAsksTheChainForItsDeposit(t *testing.T) {
	ctx := context.Background()
	n := newTestNet(t, 1, "")
	c := n.connect(t)
	payerKey, provider := n.parties(t)
	payer := chain.AgentOf(payerKey)
	_, err := chain.AddWarrant(ctx, c, payerKey, chain.AddWarrantRequest{Provider: provider, Amount: 1_000_000, RegisterKey: true})
	require.NoError(t, err)

	d, err := chain.AskRevokeDeposit(ctx, c, payer, provider)
	require.NoError(t, err)
	require.Equal(t, max(d.StorageDeposit, d.CloseFee), d.Need)
	require.NotZero(t, d.StorageDeposit)

	_, err = chain.Revoke(ctx, c, payerKey, provider, d.Need-1)
	require.True(t, chain.IsRejected(err), "%v", err)

	before, err := c.L2Balance(ctx, payer)
	require.NoError(t, err)
	rec, err := chain.Revoke(ctx, c, payerKey, provider, 0)
	require.NoError(t, err)
	after, err := c.L2Balance(ctx, payer)
	require.NoError(t, err)
	require.Equal(t, before-d.Need-rec.GasFee, after, "the deposit the contract asked for, and the fee")

	_, err = chain.AskRevokeDeposit(ctx, c, payer, provider)
	require.ErrorContains(t, err, "is revoked", "the view refuses what revoke would")
}

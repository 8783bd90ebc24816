//go:build !race

package waspchain_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/chain"
)

// TestWithdrawMovesL2FundsToL1: over a node's web API, Withdraw takes the
// amount and the fee from the L2 account (the chain sends the amount to the
// key's own L1 address); more than the account holds is refused or
// rejected, moving nothing but a fee.
func TestWithdrawMovesL2FundsToL1(t *testing.T) {
	ctx := context.Background()
	n := newTestNet(t, 1, "")
	c := n.connect(t)
	key := n.funded(t, 10_000_000)
	agent := chain.AgentOf(key)

	before, err := c.L2Balance(ctx, agent)
	require.NoError(t, err)
	rec, err := c.Withdraw(ctx, key, 4_000_000)
	require.NoError(t, err)
	after, err := c.L2Balance(ctx, agent)
	require.NoError(t, err)
	require.Equal(t, before-4_000_000-rec.GasFee, after)

	_, err = c.Withdraw(ctx, key, after+1)
	require.Error(t, err)
	left, err := c.L2Balance(ctx, agent)
	require.NoError(t, err)
	require.LessOrEqual(t, left, after, "nothing came in")
	require.Greater(t, left, after/2, "nothing but a fee went out")

	_, err = c.Withdraw(ctx, key, 0)
	require.ErrorContains(t, err, "positive")
}

// TestDepositWithoutL1NodeIsAnError: wasp's L1 client panics when it cannot
// read the L1 node; Deposit reports that as an error naming the node.
func TestDepositWithoutL1NodeIsAnError(t *testing.T) {
	n := newTestNet(t, 1, "")
	c := n.connect(t)
	dead := closedURL(t)
	_, err := c.Deposit(context.Background(), dead, n.funded(t, 1), 1_000_000)
	require.ErrorContains(t, err, "L1 node "+dead)
}

//go:build !race

package waspchain_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/waspchain"
)

// TestUnreachableNodeSaysSo: a node nobody listens on is reported as
// unreachable, with its URL, not as anything the node could have said.
func TestUnreachableNodeSaysSo(t *testing.T) {
	dead := closedURL(t)
	_, err := waspchain.New(context.Background(), waspchain.Config{URL: dead, ChainID: isc.RandomChainID().String()})
	require.ErrorIs(t, err, waspchain.ErrUnreachable)
	require.ErrorContains(t, err, dead)
	var apiErr *waspchain.APIError
	require.False(t, errors.As(err, &apiErr), "no node answered: %v", err)
}

// TestFailoverToTheNextNode: with the first node dead, New, the views and
// Post go to the next one.
func TestFailoverToTheNextNode(t *testing.T) {
	ctx := context.Background()
	n := newTestNet(t, 2, "")
	payer, provider := n.parties(t)
	c := n.connect(t)
	n.srvs[0].Close() // the first node dies after the connect

	_, err := chain.AddWarrant(ctx, c, payer, chain.AddWarrantRequest{Provider: provider, Amount: 1_000_000, RegisterKey: true})
	require.NoError(t, err)
	info, err := c.WarrantInfo(ctx, chain.AgentOf(payer), provider)
	require.NoError(t, err)
	require.EqualValues(t, 1_000_000, info.Balance)
	_, err = c.Now(ctx)
	require.NoError(t, err)

	cfg := n.config()
	cfg.URL, cfg.Nodes = closedURL(t), []string{n.srvs[1].URL}
	c, err = waspchain.New(ctx, cfg)
	require.NoError(t, err, "a dead first node is skipped at connect")
	_, err = c.L2Balance(ctx, chain.AgentOf(payer))
	require.NoError(t, err)
}

// TestSubmitDroppedIsReconciledByRequestID: the first node takes the
// request and dies before answering; the same signed request (one ID, one
// nonce) goes to the next node, which says it has it, and Post returns its
// receipt. The chain ran it once.
func TestSubmitDroppedIsReconciledByRequestID(t *testing.T) {
	ctx := context.Background()
	n := newTestNet(t, 2, "")
	payer, provider := n.parties(t)
	c := n.connect(t)
	n.gates[0].dropSubmit.Store(true)

	rec, err := chain.AddWarrant(ctx, c, payer, chain.AddWarrantRequest{Provider: provider, Amount: 1_000_000, RegisterKey: true})
	require.NoError(t, err)
	first, second := n.gates[0].ids(), n.gates[1].ids()
	require.Len(t, first, 1)
	require.Len(t, second, 1)
	require.Equal(t, first[0], second[0], "the very same request went to the second node")
	require.Equal(t, first[0], rec.RequestID)

	info, err := c.WarrantInfo(ctx, chain.AgentOf(payer), provider)
	require.NoError(t, err)
	require.EqualValues(t, 1_000_000, info.Balance, "locked once")

	// The next request takes the next nonce and is accepted.
	n.gates[0].dropSubmit.Store(false)
	_, err = chain.AddWarrant(ctx, c, payer, chain.AddWarrantRequest{Provider: provider, Amount: 1_000})
	require.NoError(t, err)
}

// TestReceiptFromTheNextNode: the node that took the request drops every
// wait for its receipt; Post waits on the next node for the same request
// ID and returns the receipt there.
func TestReceiptFromTheNextNode(t *testing.T) {
	ctx := context.Background()
	n := newTestNet(t, 2, "")
	payer, provider := n.parties(t)
	c := n.connect(t)
	n.gates[0].dropWaits.Store(true)

	rec, err := chain.AddWarrant(ctx, c, payer, chain.AddWarrantRequest{Provider: provider, Amount: 1_000_000, RegisterKey: true})
	require.NoError(t, err)
	require.Equal(t, []isc.RequestID{rec.RequestID}, n.gates[0].ids(), "submitted to the first node")
	require.Empty(t, n.gates[1].ids(), "never re-submitted")
}

// TestAllNodesDeadIsUnreachable: when no node answers a submit, Post says
// the outcome is unknown and that the nodes are unreachable.
func TestAllNodesDeadIsUnreachable(t *testing.T) {
	ctx := context.Background()
	n := newTestNet(t, 2, "")
	payer := n.funded(t, 10_000_000)
	c := n.connect(t)
	for _, s := range n.srvs {
		s.Close()
	}
	_, err := chain.RegisterKey(ctx, c, payer)
	require.ErrorIs(t, err, waspchain.ErrUnreachable)
}

package devnet_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/chain/chaintest"
	"github.com/micropay/micropay/client/devnet"
	"github.com/micropay/micropay/client/waspchain"
)

// node is a devnet served on loopback.
type node struct {
	d      *devnet.Devnet
	srv    *httptest.Server
	client devnet.Client
}

func startNode(t *testing.T, data string) *node {
	t.Helper()
	d, err := devnet.New(devnet.Config{Data: data})
	require.NoError(t, err)
	srv := httptest.NewServer(d.Handler())
	n := &node{d: d, srv: srv, client: devnet.Client{URL: srv.URL, HTTPClient: srv.Client()}}
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop shuts the devnet down, then the server; a second call does nothing.
func (n *node) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, n.d.Shutdown(ctx))
	n.srv.Close()
}

func (n *node) connect(t *testing.T) *waspchain.Chain {
	t.Helper()
	c, err := waspchain.New(context.Background(), waspchain.Config{
		URL:            n.srv.URL,
		HTTPClient:     n.srv.Client(),
		ReceiptTimeout: 20 * time.Second,
	})
	require.NoError(t, err)
	require.Equal(t, n.d.ChainID(), c.ID(), "the node's only chain")
	return c
}

// harness is waspchain on a devnet, funded and clocked through the devnet
// routes.
type harness struct {
	*waspchain.Chain
	client devnet.Client
}

func (h harness) Fund(ctx context.Context, agent isc.AgentID, amount uint64) error {
	return h.client.Fund(ctx, agent, amount)
}

func (h harness) AdvanceClock(d time.Duration) error {
	_, err := h.client.AdvanceClock(context.Background(), d)
	return err
}

var _ chaintest.Clock = harness{}

func TestConformance(t *testing.T) {
	chaintest.Run(t, func(t *testing.T) chaintest.Harness {
		n := startNode(t, "")
		return harness{Chain: n.connect(t), client: n.client}
	})
}

func TestRestartKeepsChain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n := startNode(t, dir)
	c := n.connect(t)
	payer, provider := cryptolib.NewKeyPair(), cryptolib.NewKeyPair()
	pa, sa := chain.AgentOf(payer), chain.AgentOf(provider)
	require.NoError(t, n.client.Fund(ctx, pa, 10_000_000))
	_, err := chain.AddWarrant(ctx, c, payer, chain.AddWarrantRequest{Provider: sa, Amount: 2_000_000, CloseTimeout: 300, RegisterKey: true})
	require.NoError(t, err)
	_, err = chain.Revoke(ctx, c, payer, sa, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	info, err := c.WarrantInfo(ctx, pa, sa)
	require.NoError(t, err)
	balance, err := c.L2Balance(ctx, pa)
	require.NoError(t, err)
	id := c.ID()

	_, err = devnet.New(devnet.Config{Data: dir})
	require.ErrorContains(t, err, "in use by another devnet")
	n.stop(t)

	n = startNode(t, dir)
	c = n.connect(t)
	require.Equal(t, id, c.ID())
	got, err := c.WarrantInfo(ctx, pa, sa)
	require.NoError(t, err)
	require.Equal(t, info, got)
	require.True(t, got.Revoked())
	gotBalance, err := c.L2Balance(ctx, pa)
	require.NoError(t, err)
	require.Equal(t, balance, gotBalance)
	pk, err := c.PublicKey(ctx, pa)
	require.NoError(t, err)
	require.Equal(t, payer.GetPublicKey().AsBytes(), pk)

	// The nonce survived: the payer posts again, and the scheduled close
	// survived: it runs once the deadline passes.
	_, err = chain.AddWarrant(ctx, c, payer, chain.AddWarrantRequest{Provider: sa, Amount: 1_000})
	require.Error(t, err, "a revoked warrant takes no top-up")
	require.True(t, chain.IsRejected(err), "%v", err)
	_, err = n.client.AdvanceClock(ctx, 301*time.Second)
	require.NoError(t, err)
	got, err = c.WarrantInfo(ctx, pa, sa)
	require.NoError(t, err)
	require.Equal(t, chain.WarrantInfo{Epoch: 2}, got, "the scheduled close ran after the restart")
}

//go:build !race

package devnet

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/waspchain"
)

// TestRequestsArePooledWhileABlockRuns: while a block is being made (the
// worker holds the devnet's lock), a client's nonce read is answered and its
// submitted requests are checked and pooled, as a node serves them during
// consensus, and the next block runs them together. Before, both waited for
// the block in progress, so requests in flight at once took a block each.
func TestRequestsArePooledWhileABlockRuns(t *testing.T) {
	ctx := context.Background()
	d, err := New(Config{})
	require.NoError(t, err)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(func() {
		require.NoError(t, d.Shutdown(ctx))
		srv.Close()
	})
	c, err := waspchain.New(ctx, waspchain.Config{URL: srv.URL, ChainID: d.ChainID().String(), ReceiptTimeout: 20 * time.Second})
	require.NoError(t, err)
	const n = 5
	provider := chain.AgentOf(cryptolib.NewKeyPair())
	payers := make([]*cryptolib.KeyPair, n)
	for i := range payers {
		payers[i] = cryptolib.NewKeyPair()
		require.NoError(t, Client{URL: srv.URL}.Fund(ctx, chain.AgentOf(payers[i]), 5_000_000))
	}
	before := latestBlock(t, d)

	d.mu.Lock() // a block in progress
	done := make(chan error, n)
	for _, payer := range payers {
		go func() {
			_, err := chain.AddWarrant(ctx, c, payer, chain.AddWarrantRequest{Provider: provider, Amount: 1_000_000, RegisterKey: true})
			done <- err
		}()
	}
	pooled := func() int {
		d.poolMu.Lock()
		defer d.poolMu.Unlock()
		return d.pool.len()
	}
	deadline := time.After(20 * time.Second)
	for pooled() < n {
		select {
		case <-deadline:
			d.mu.Unlock()
			t.Fatalf("%d of %d requests pooled while the block ran", pooled(), n)
		case <-time.After(time.Millisecond):
		}
	}
	d.mu.Unlock()
	for range payers {
		require.NoError(t, <-done)
	}
	require.Equal(t, before+1, latestBlock(t, d), "the requests pooled meanwhile share the next block")
}

func latestBlock(t *testing.T, d *Devnet) uint32 {
	t.Helper()
	var i uint32
	require.NoError(t, solochain.Do(func() { i = d.e.Chain.LatestBlockIndex() }))
	return i
}

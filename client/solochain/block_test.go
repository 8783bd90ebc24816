package solochain_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/chain"
	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/solo"
	mpchain "github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/chain/chaintest"
	"github.com/micropay/micropay/client/solochain"
)

func TestConformanceWithoutLedgerCheck(t *testing.T) {
	chaintest.Run(t, func(t *testing.T) chaintest.Harness {
		e, err := solochain.New(solochain.Options{Name: t.Name(), NoLedgerCheck: true})
		require.NoError(t, err)
		t.Cleanup(e.Close)
		return e
	})
}

// TestNodeBlocksKeepTheLedger runs the same warrants on a chain with Solo's
// ledger check and on one making blocks as a node (NoLedgerCheck), with the
// scheduled closes Solo runs by itself coming due while other requests are
// posted, and checks that both end with the same balances and that the
// node-made chain's account ledger adds up (Solo's own check, run once).
func TestNodeBlocksKeepTheLedger(t *testing.T) {
	ctx := context.Background()
	const payers = 6
	provider := cryptolib.NewKeyPair()
	keys := make([]*cryptolib.KeyPair, payers)
	for i := range keys {
		keys[i] = cryptolib.NewKeyPair()
	}
	balances := func(noCheck bool) []uint64 {
		e, err := solochain.New(solochain.Options{Name: t.Name(), NoLedgerCheck: noCheck})
		require.NoError(t, err)
		defer e.Close()
		sa := mpchain.AgentOf(provider)
		for i, k := range keys {
			require.NoError(t, e.Fund(ctx, mpchain.AgentOf(k), 10_000_000))
			_, err := mpchain.AddWarrant(ctx, e, k, mpchain.AddWarrantRequest{Provider: sa, Amount: 2_000_000, CloseTimeout: 60 + uint64(i), RegisterKey: true})
			require.NoError(t, err)
			_, err = mpchain.Revoke(ctx, e, k, sa, mpchain.DefaultRevokeDeposit)
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // blocks of ours while Solo runs the closes coming due
			defer wg.Done()
			for _, k := range keys {
				_, err := mpchain.AddWarrant(ctx, e, k, mpchain.AddWarrantRequest{Provider: mpchain.AgentOf(cryptolib.NewKeyPair()), Amount: 1_000_000, CloseTimeout: 600})
				require.NoError(t, err)
			}
		}()
		for range payers {
			require.NoError(t, e.AdvanceClock(time.Second))
		}
		require.NoError(t, e.AdvanceClock(60*time.Second))
		wg.Wait()
		out := make([]uint64, 0, payers+1)
		for _, k := range append(keys, provider) {
			b, err := e.L2Balance(ctx, mpchain.AgentOf(k))
			require.NoError(t, err)
			out = append(out, b)
		}
		for _, k := range keys {
			info, err := e.WarrantInfo(ctx, mpchain.AgentOf(k), sa)
			require.NoError(t, err)
			require.Equal(t, mpchain.WarrantInfo{Epoch: 2}, info, "the scheduled close ran")
		}
		st, err := e.Chain.LatestState(chain.ActiveOrCommittedState)
		require.NoError(t, err)
		require.NotPanics(t, func() { solo.CheckLedger(st.SchemaVersion(), st, "test") })
		return out
	}
	require.Equal(t, balances(false), balances(true))
}

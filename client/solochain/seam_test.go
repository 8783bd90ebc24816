package solochain_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/chain/chaintest"
	"github.com/micropay/micropay/client/solochain"
)

func TestConformance(t *testing.T) {
	chaintest.Run(t, func(t *testing.T) chaintest.Harness {
		e, err := solochain.New(solochain.Options{Name: t.Name()})
		require.NoError(t, err)
		t.Cleanup(e.Close)
		return e
	})
}

func TestDoTurnsSoloFailureIntoError(t *testing.T) {
	ctx := solochain.NewContext("x", nil)
	err := solochain.Do(func() { ctx.Fatalf("boom %d", 7) })
	require.EqualError(t, err, "solo: boom 7")
	require.NoError(t, solochain.Do(func() {}))
	require.Panics(t, func() { _ = solochain.Do(func() { panic("other") }) }, "other panics pass through")
	var cleaned []int
	ctx.Cleanup(func() { cleaned = append(cleaned, 1) })
	ctx.Cleanup(func() { cleaned = append(cleaned, 2) })
	ctx.Close()
	require.Equal(t, []int{2, 1}, cleaned)
}

func TestSnapshotRestoresChainAndPendingCloses(t *testing.T) {
	ctx := context.Background()
	e, err := solochain.New(solochain.Options{})
	require.NoError(t, err)
	payer, provider := cryptolib.NewKeyPair(), cryptolib.NewKeyPair()
	pa, sa := chain.AgentOf(payer), chain.AgentOf(provider)
	require.NoError(t, e.Fund(ctx, pa, 10_000_000))
	_, err = chain.AddWarrant(ctx, e, payer, chain.AddWarrantRequest{Provider: sa, Amount: 2_000_000, CloseTimeout: 300, RegisterKey: true})
	require.NoError(t, err)
	_, err = chain.Revoke(ctx, e, payer, sa, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "chain.json")
	require.NoError(t, e.Save(path))
	id := e.ID()
	e.Close()

	r, err := solochain.New(solochain.Options{Snapshot: path})
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, id, r.ID())
	info, err := r.WarrantInfo(ctx, pa, sa)
	require.NoError(t, err)
	require.True(t, info.Revoked())
	before, err := r.L2Balance(ctx, pa)
	require.NoError(t, err)
	require.NoError(t, r.AdvanceClock(301*time.Second))
	info, err = r.WarrantInfo(ctx, pa, sa)
	require.NoError(t, err)
	require.Equal(t, chain.WarrantInfo{Epoch: 2}, info, "the scheduled close survived the restart")
	after, err := r.L2Balance(ctx, pa)
	require.NoError(t, err)
	require.Greater(t, after, before+2_000_000)
}

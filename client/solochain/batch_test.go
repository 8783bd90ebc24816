package solochain_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/contract"
)

// requests is a chain seam that sends nothing: it keeps the requests the
// chain package builds, for PostBatch.
type requests struct {
	chain.Chain
	batch []solochain.BatchRequest
}

func (r *requests) Post(_ context.Context, signer *cryptolib.KeyPair, req chain.Request) (*chain.Receipt, error) {
	r.batch = append(r.batch, solochain.BatchRequest{Signer: signer, Request: req})
	return &chain.Receipt{}, nil
}

func TestPostBatchRunsManyRequestsInOneBlockEachWithItsOutcome(t *testing.T) {
	ctx := context.Background()
	e, err := solochain.New(solochain.Options{Name: t.Name()})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	payer, stranger := cryptolib.NewKeyPair(), cryptolib.NewKeyPair()
	provider := chain.AgentOf(cryptolib.NewKeyPair())
	require.NoError(t, e.Fund(ctx, chain.AgentOf(payer), 10_000_000))
	require.NoError(t, e.Fund(ctx, chain.AgentOf(stranger), 10_000_000))

	r := &requests{Chain: e}
	// Two requests of one signer (consecutive nonces: the second tops up the
	// warrant the first opened), then one the contract rejects: the
	// stranger revokes a warrant it does not have.
	_, _ = chain.AddWarrant(ctx, r, payer, chain.AddWarrantRequest{Provider: provider, Amount: 1_000_000, CloseTimeout: 3600, RegisterKey: true})
	_, _ = chain.AddWarrant(ctx, r, payer, chain.AddWarrantRequest{Provider: provider, Amount: 500_000})
	_, _ = chain.Revoke(ctx, r, stranger, provider, chain.DefaultRevokeDeposit)
	r.batch[1].NoEvents = true

	var before uint32
	require.NoError(t, solochain.Do(func() { before = e.Chain.LatestBlockIndex() }))
	out := e.PostBatch(ctx, r.batch)
	var after uint32
	require.NoError(t, solochain.Do(func() { after = e.Chain.LatestBlockIndex() }))
	require.Equal(t, before+1, after, "one block for the whole batch")
	require.Len(t, out, 3)

	require.NoError(t, out[0].Err)
	require.Positive(t, out[0].Receipt.GasFee)
	require.Len(t, out[0].Receipt.Events, 1)
	require.Equal(t, contract.TopicWarrantAdded, out[0].Receipt.Events[0].Topic)
	require.NoError(t, out[1].Err, "the signer's second request took its next nonce")
	require.Empty(t, out[1].Receipt.Events, "NoEvents")
	require.True(t, chain.IsRejected(out[2].Err), "%v", out[2].Err)
	require.Positive(t, out[2].Receipt.GasFee, "a rejected request still pays its gas")
	require.NotEqual(t, out[0].Receipt.RequestID, out[1].Receipt.RequestID)

	info, err := e.WarrantInfo(ctx, chain.AgentOf(payer), provider)
	require.NoError(t, err)
	require.EqualValues(t, 1_500_000, info.Balance)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, o := range e.PostBatch(canceled, r.batch[:1]) {
		require.ErrorIs(t, o.Err, context.Canceled)
	}
}

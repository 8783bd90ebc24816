package chain_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
)

// hostileViews is a chain whose node answers getRevokeDeposit with need;
// it has nothing else (calling anything else panics on the nil Chain).
type hostileViews struct {
	chain.Chain
	need uint64
}

func (h hostileViews) CallView(context.Context, string, dict.Dict) (dict.Dict, error) {
	return dict.Dict{
		contract.ResultRevokeDeposit:  codec.EncodeUint64(h.need),
		contract.ResultStorageDeposit: codec.EncodeUint64(h.need),
		contract.ResultCloseFee:       codec.EncodeUint64(500),
	}, nil
}

// TestAskRevokeDepositIsBounded: a node's answer cannot make a revoke lock
// more than MaxAskedRevokeDeposit; Revoke with deposit 0 then posts
// nothing.
func TestAskRevokeDepositIsBounded(t *testing.T) {
	ctx := context.Background()
	payer, provider := isc.NewRandomAgentID(), isc.NewRandomAgentID()
	d, err := chain.AskRevokeDeposit(ctx, hostileViews{need: chain.MaxAskedRevokeDeposit}, payer, provider)
	require.NoError(t, err)
	require.EqualValues(t, chain.MaxAskedRevokeDeposit, d.Need)

	hostile := hostileViews{need: chain.MaxAskedRevokeDeposit + 1}
	_, err = chain.AskRevokeDeposit(ctx, hostile, payer, provider)
	require.ErrorContains(t, err, "give the deposit")
	_, err = chain.Revoke(ctx, hostile, cryptolib.NewKeyPair(), provider, 0)
	require.ErrorContains(t, err, "give the deposit", "refused before anything is posted (Post would panic here)")
}

package consumer_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/isc"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
)

// lyingChain is a double of a malicious or intercepted node (no real node
// can be made to lie): it reports the real embedded chain's warrants with
// the paid amount and the last settled ordinal replaced when set.
type lyingChain struct {
	consumer.PayerChain

	mu      sync.Mutex
	paid    uint64 // reported paid amount, when non-zero
	ordinal uint64 // reported last settled ordinal, when non-zero
}

func (c *lyingChain) lie(paid, ordinal uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paid, c.ordinal = paid, ordinal
}

func (c *lyingChain) WarrantInfo(ctx context.Context, payer, provider isc.AgentID) (chain.WarrantInfo, error) {
	info, err := c.PayerChain.WarrantInfo(ctx, payer, provider)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paid != 0 {
		info.Paid = c.paid
	}
	if c.ordinal != 0 {
		info.LastOrdinal = c.ordinal
	}
	return info, err
}

func TestPayerRefusesChainFiguresItNeverSigned(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.addWarrant(t, 1_000_000)
	node := &lyingChain{PayerChain: e.chain}
	payer := consumer.NewPayer(node, e.payerKey, e.states)
	for i := 0; i < 2; i++ {
		_, err := payer.Pay(ctx, e.provider, 1, 100)
		require.NoError(t, err)
	}
	signed := consumer.Position{Epoch: 1, Ordinal: 2, Total: 200, Signed: 200}
	stored := func() consumer.Position {
		p, _, err := e.states.Load(ctx, payer.Warrant(e.provider))
		require.NoError(t, err)
		return p
	}

	for name, lie := range map[string]struct{ paid, ordinal uint64 }{
		"paid above the highest total signed": {paid: 1_000_000},
		"paid just above it":                  {paid: 201},
		"ordinal above the newest signed":     {ordinal: 3},
	} {
		t.Run(name, func(t *testing.T) {
			node.lie(lie.paid, lie.ordinal)
			_, err := payer.RefreshEpoch(ctx, e.provider) // the payer reads the chain again
			require.NoError(t, err)
			approved := false
			p, charge, err := payer.Sign(ctx, consumer.PayRequest{Provider: e.provider, Epoch: 1, Amount: 100,
				Approve: func(uint64) error { approved = true; return nil }})
			var mismatch *consumer.StateMismatchError
			require.ErrorAs(t, err, &mismatch)
			require.ErrorIs(t, err, consumer.ErrStateMismatch)
			require.ErrorContains(t, err, "payer state does not match the chain")
			require.ErrorContains(t, err, "nothing was signed")
			require.Equal(t, signed, mismatch.Position)
			require.Zero(t, p)
			require.Zero(t, charge)
			require.False(t, approved, "refused before the caps are asked")
			require.Equal(t, signed, stored(), "nothing saved")
		})
	}

	// A refused payment leaves the highest signed total above the total;
	// a chain figure up to it is what this payer signed (the provider said
	// it refused the payment but settled it). The next payment builds on
	// it, and its charge — what the caps see — counts the jump.
	node.lie(0, 0)
	_, err := payer.RefreshEpoch(ctx, e.provider)
	require.NoError(t, err)
	refused, err := payer.Pay(ctx, e.provider, 1, 500)
	require.NoError(t, err)
	require.NoError(t, payer.Refused(ctx, e.provider, refused, 500))
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 3, Total: 200, Signed: 700}, stored())

	node.lie(700, 3)
	_, err = payer.RefreshEpoch(ctx, e.provider)
	require.NoError(t, err)
	errCap := errors.New("over the cap")
	var asked uint64
	_, _, err = payer.Sign(ctx, consumer.PayRequest{Provider: e.provider, Epoch: 1, Amount: 100,
		Approve: func(charge uint64) error { asked = charge; return errCap }})
	require.ErrorIs(t, err, errCap)
	require.EqualValues(t, 600, asked, "the price and the 500 the chain shows settled above the total")
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 3, Total: 200, Signed: 700}, stored(), "not approved: nothing saved")

	p, charge, err := payer.Sign(ctx, consumer.PayRequest{Provider: e.provider, Epoch: 1, Amount: 100})
	require.NoError(t, err)
	require.EqualValues(t, 600, charge)
	require.EqualValues(t, 800, p.Total, "never above what this payer signed plus the price")
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 4, Total: 800, Signed: 800}, stored())
}

func TestResyncRefusesToGoBackAnEpoch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.addWarrant(t, 1_000_000)
	w := e.consumer.Payer.Warrant(e.provider)
	ahead := consumer.Position{Epoch: 2, Ordinal: 4, Total: 40, Signed: 40}
	require.NoError(t, e.states.Save(ctx, w, ahead))
	payer := consumer.NewPayer(e.chain, e.payerKey, e.states)
	_, err := payer.Resync(ctx, e.provider, func(consumer.ResyncPlan) error {
		t.Error("no plan to confirm")
		return nil
	})
	require.ErrorIs(t, err, consumer.ErrWrongEpoch)
	require.ErrorContains(t, err, "the chain's epoch 1 is below the payer's 2")
	require.Equal(t, ahead, e.position(t))

	other := chain.AgentOf(keyFor("no warrant"))
	_, err = payer.Resync(ctx, other, func(consumer.ResyncPlan) error { return nil })
	require.ErrorIs(t, err, consumer.ErrNoWarrant)
}

package consumer_test

import (
	"context"
	"errors"
	"math"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/contract/payment"
)

func TestPayerSignsIncreasingCumulativePayments(t *testing.T) {
	e := newEnv(t)
	e.addWarrant(t, 2_000_000)
	ctx := context.Background()
	payer := e.consumer.Payer

	require.Equal(t, chain.PaymentWarrant(e.chain, payer.Agent(), e.provider), payer.Warrant(e.provider))
	sig := payment.Signed{Warrant: chain.PaymentWarrant(e.chain, payer.Agent(), e.provider), PublicKey: e.payerKey.GetPublicKey().AsBytes()}
	var last payment.Payment
	for i, amount := range []uint64{100, 250, 0, 1} {
		p, err := payer.Pay(ctx, e.provider, 1, amount)
		require.NoError(t, err)
		require.EqualValues(t, 1, p.Epoch)
		require.EqualValues(t, i+1, p.Ordinal)
		require.Equal(t, last.Total+amount, p.Total)
		require.True(t, sig.Valid(p), "signed by the payer's key over the warrant's bytes")
		require.Equal(t, consumer.Position{Epoch: 1, Ordinal: p.Ordinal, Total: p.Total, Signed: p.Total}, e.position(t))
		last = p
	}

	// The chain settles the newest payment: what the payer signs is what
	// the contract pays.
	before, err := e.chain.L2Balance(ctx, e.provider)
	require.NoError(t, err)
	rec, err := chain.Settle(ctx, e.chain, e.providerKey, payer.Agent(), last)
	require.NoError(t, err)
	after, err := e.chain.L2Balance(ctx, e.provider)
	require.NoError(t, err)
	require.Equal(t, before+351-rec.GasFee, after)
}

func TestPayerEpochs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	payer := e.consumer.Payer

	epoch, err := payer.Epoch(ctx, e.provider)
	require.ErrorIs(t, err, consumer.ErrNoWarrant)
	require.EqualValues(t, 1, epoch, "with no warrant: the epoch the next one gets")

	e.addWarrant(t, 1_000_000)
	epoch, err = payer.Epoch(ctx, e.provider)
	require.NoError(t, err, "a cached 'no warrant' is read again")
	require.EqualValues(t, 1, epoch)
	p, err := payer.Pay(ctx, e.provider, 1, 500)
	require.NoError(t, err)

	// A provider announcing an epoch the chain does not have is not
	// believed, and nothing changes.
	for _, bogus := range []uint32{0, 2, 1000} {
		_, err = payer.Pay(ctx, e.provider, bogus, 500)
		require.ErrorIs(t, err, consumer.ErrWrongEpoch, "epoch %d", bogus)
	}
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 1, Total: 500, Signed: 500}, e.position(t))

	// The provider closes the warrant, the payer opens a new one: epoch 2
	// starts at ordinal 0, total 0.
	_, err = chain.Close(ctx, e.chain, e.providerKey, payer.Agent(), e.provider, p)
	require.NoError(t, err)
	e.addWarrant(t, 1_000_000)
	epoch, err = payer.Epoch(ctx, e.provider)
	require.NoError(t, err)
	require.EqualValues(t, 1, epoch, "Epoch is cached while the warrant exists")
	epoch, err = payer.RefreshEpoch(ctx, e.provider)
	require.NoError(t, err)
	require.EqualValues(t, 2, epoch)
	p, err = payer.Pay(ctx, e.provider, 2, 70)
	require.NoError(t, err)
	require.Equal(t, payment.Payment{Epoch: 2, Ordinal: 1, Total: 70, Signature: p.Signature}, p)

	_, err = payer.Pay(ctx, e.provider, 1, 70)
	require.ErrorIs(t, err, consumer.ErrWrongEpoch, "an old epoch is refused")
	require.Equal(t, consumer.Position{Epoch: 2, Ordinal: 1, Total: 70, Signed: 70}, e.position(t))
}

func TestPayerPaysNewEpochWithoutRefreshingFirst(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	payer := e.consumer.Payer
	e.addWarrant(t, 1_000_000)
	p, err := payer.Pay(ctx, e.provider, 1, 10)
	require.NoError(t, err)
	_, err = chain.Close(ctx, e.chain, e.providerKey, payer.Agent(), e.provider, p)
	require.NoError(t, err)
	// The cached epoch is 1; an epoch above it is checked with the chain.
	p, err = payer.Pay(ctx, e.provider, 2, 10)
	require.NoError(t, err)
	require.EqualValues(t, 2, p.Epoch)
}

func TestPayerRefusesOverflowWithoutChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	w := e.consumer.Payer.Warrant(e.provider)
	for _, pos := range []consumer.Position{
		{Epoch: 1, Ordinal: math.MaxUint64, Total: 5, Signed: 5},
		{Epoch: 1, Ordinal: 5, Total: math.MaxUint64 - 9, Signed: math.MaxUint64 - 9},
	} {
		require.NoError(t, e.states.Save(ctx, w, pos))
		payer := consumer.NewPayer(e.chain, e.payerKey, e.states) // reloads the position
		_, err := payer.Pay(ctx, e.provider, 1, 10)
		require.ErrorIs(t, err, consumer.ErrExhausted)
		got, err := payer.State(ctx, e.provider)
		require.NoError(t, err)
		require.Equal(t, pos, got)
	}
	payer := consumer.NewPayer(e.chain, e.payerKey, e.states)
	p, err := payer.Pay(ctx, e.provider, 1, 9)
	require.NoError(t, err)
	require.Equal(t, uint64(math.MaxUint64), p.Total, "the last total is reachable")
}

func TestPayerWithLostStateRefusesUntilResynced(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.addWarrant(t, 1_000_000)
	// Payments signed by an earlier installation whose state is lost.
	lost := payment.Sign(e.payerKey.GetPrivateKey().AsStdKey(), chain.PaymentWarrant(e.chain, e.consumer.Agent(), e.provider), 1, 10, 5_000)
	_, err := chain.Settle(ctx, e.chain, e.providerKey, e.consumer.Agent(), lost)
	require.NoError(t, err)

	fresh := consumer.NewPayer(e.chain, e.payerKey, consumer.NewMemState())
	p, err := fresh.Pay(ctx, e.provider, 1, 300)
	var mismatch *consumer.StateMismatchError
	require.ErrorAs(t, err, &mismatch)
	require.ErrorIs(t, err, consumer.ErrStateMismatch)
	require.Zero(t, p, "nothing signed on the chain's word alone")
	require.Equal(t, consumer.Position{Epoch: 1}, mismatch.Position)
	require.EqualValues(t, 5_000, mismatch.Chain.Paid)
	require.ErrorContains(t, err, "the chain reports ordinal 10 and 5000 paid, above anything this payer signed (ordinal 0, highest total 0)")
	require.ErrorContains(t, err, "micropay warrant resync "+e.provider.String())

	// Resync shows its plan and adopts it only once confirmed.
	errNo := errors.New("not confirmed")
	var shown consumer.ResyncPlan
	_, err = fresh.Resync(ctx, e.provider, func(plan consumer.ResyncPlan) error { shown = plan; return errNo })
	require.ErrorIs(t, err, errNo)
	want := consumer.ResyncPlan{Provider: e.provider.String(), Was: consumer.Position{}, Chain: e.info(t),
		Adopt: consumer.Position{Epoch: 1, Ordinal: 10, Total: 5_000, Signed: 5_000}}
	require.Equal(t, want, shown)
	require.Contains(t, shown.String(), "Adopting: epoch 1, ordinal 10, total 5000. The next payment takes ordinal 11")
	pos, err := fresh.State(ctx, e.provider)
	require.NoError(t, err)
	require.Zero(t, pos, "refused: nothing adopted")

	plan, err := fresh.Resync(ctx, e.provider, func(consumer.ResyncPlan) error { return nil })
	require.NoError(t, err)
	require.Equal(t, want, plan)
	p, err = fresh.Pay(ctx, e.provider, 1, 300)
	require.NoError(t, err)
	require.EqualValues(t, 11, p.Ordinal, "above the settled ordinal")
	require.EqualValues(t, 5_300, p.Total, "on top of what was settled")
	_, err = chain.Settle(ctx, e.chain, e.providerKey, e.consumer.Agent(), p)
	require.NoError(t, err, "the chain accepts it")
	require.EqualValues(t, 5_300, e.info(t).Paid)

	plan, err = fresh.Resync(ctx, e.provider, func(consumer.ResyncPlan) error {
		t.Error("nothing to adopt, nothing to confirm")
		return nil
	})
	require.NoError(t, err)
	require.False(t, plan.Changes())
	require.Contains(t, plan.String(), "nothing to adopt")
}

func TestPayerRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	payer := e.consumer.Payer
	e.addWarrant(t, 1_000_000)
	p1, err := payer.Pay(ctx, e.provider, 1, 100)
	require.NoError(t, err)
	p2, err := payer.Pay(ctx, e.provider, 1, 40)
	require.NoError(t, err)

	require.ErrorIs(t, payer.Refused(ctx, e.provider, p1, 100), consumer.ErrNotNewest)
	require.Error(t, payer.Refused(ctx, e.provider, p2, 141), "more than the total")
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 2, Total: 140, Signed: 140}, e.position(t), "refusals that fail change nothing")

	require.NoError(t, payer.Refused(ctx, e.provider, p2, 40))
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 2, Total: 100, Signed: 140}, e.position(t), "ordinal stays used, total rolls back, the highest signed total stays")
	p3, err := payer.Pay(ctx, e.provider, 1, 40)
	require.NoError(t, err)
	require.EqualValues(t, 3, p3.Ordinal)
	require.EqualValues(t, 140, p3.Total, "the refused amount is not paid twice")
	require.ErrorIs(t, payer.Refused(ctx, e.provider, p2, 40), consumer.ErrNotNewest, "only once, and only the newest")
}

func TestPayerDoubtAndRebase(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	payer := e.consumer.Payer
	e.addWarrant(t, 1_000_000)
	_, err := payer.Pay(ctx, e.provider, 1, 100)
	require.NoError(t, err)
	p2, err := payer.Pay(ctx, e.provider, 1, 100)
	require.NoError(t, err)

	changed, err := payer.Rebase(ctx, e.provider, 1, 1, 100)
	require.NoError(t, err)
	require.False(t, changed, "no doubt: the provider's word changes nothing")
	require.NoError(t, payer.NoteDoubt(ctx, e.provider, p2, true))
	require.True(t, e.position(t).Doubt)
	for _, c := range []struct {
		epoch          uint32
		ordinal, total uint64
		why            string
	}{{2, 1, 100, "another epoch"}, {1, 2, 100, "it holds the newest ordinal"}, {1, 1, 200, "it holds the total"}} {
		changed, err := payer.Rebase(ctx, e.provider, c.epoch, c.ordinal, c.total)
		require.NoError(t, err)
		require.False(t, changed, c.why)
	}
	changed, err = payer.Rebase(ctx, e.provider, 1, 1, 100)
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 2, Total: 100, Signed: 200, Doubt: true}, e.position(t),
		"the payment that never arrived is not paid by the next; its ordinal stays used")
	p3, err := payer.Pay(ctx, e.provider, 1, 100)
	require.NoError(t, err)
	require.Equal(t, [2]uint64{3, 200}, [2]uint64{p3.Ordinal, p3.Total})
	require.NoError(t, payer.NoteDoubt(ctx, e.provider, p3, false))
	require.False(t, e.position(t).Doubt, "a clean answer clears it")
}

// failingStore fails every Save after the first n.
type failingStore struct {
	consumer.StateStore
	mu sync.Mutex
	n  int
}

var errDiskFull = errors.New("disk full")

func (s *failingStore) Save(ctx context.Context, w payment.Warrant, p consumer.Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return errDiskFull
	}
	s.n--
	return s.StateStore.Save(ctx, w, p)
}

func TestPayerSignsNothingItCouldNotSave(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	states := &failingStore{StateStore: consumer.NewMemState(), n: 1}
	payer := consumer.NewPayer(e.chain, e.payerKey, states)
	_, err := payer.Pay(ctx, e.provider, 1, 5)
	require.NoError(t, err)
	p, err := payer.Pay(ctx, e.provider, 1, 5)
	require.ErrorIs(t, err, errDiskFull)
	require.Zero(t, p, "no signature without a saved position")
	pos, err := payer.State(ctx, e.provider)
	require.NoError(t, err)
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 1, Total: 5, Signed: 5}, pos)
}

func TestPayerConcurrentPaymentsNeverShareAnOrdinal(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	states, err := consumer.OpenPayerState(dir)
	require.NoError(t, err)
	defer states.Close()
	payer := consumer.NewPayer(e.chain, e.payerKey, states)
	other := chain.AgentOf(cryptolib.NewKeyPair())

	const workers, each = 8, 10
	var mu sync.Mutex
	got := map[string][]payment.Payment{}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			provider := e.provider
			if i%2 == 1 {
				provider = other
			}
			for n := 0; n < each; n++ {
				p, err := payer.Pay(ctx, provider, 1, 3)
				require.NoError(t, err)
				mu.Lock()
				got[provider.String()] = append(got[provider.String()], p)
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	for _, provider := range []isc.AgentID{e.provider, other} {
		ps := got[provider.String()]
		sort.Slice(ps, func(i, j int) bool { return ps[i].Ordinal < ps[j].Ordinal })
		for i, p := range ps {
			require.EqualValues(t, i+1, p.Ordinal, "ordinals 1..n, none twice")
			require.EqualValues(t, 3*(i+1), p.Total, "each total matches its ordinal")
		}
	}
}

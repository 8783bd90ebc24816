package consumer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/contract/payment"
)

// stateHarness opens a StateStore; reopen, if set, closes it and opens the
// same store again (durable stores only).
type stateHarness struct {
	open   func(t *testing.T) consumer.StateStore
	reopen func(t *testing.T, s consumer.StateStore) consumer.StateStore
}

// TestStateStoreConformance runs the same suite on every StateStore.
func TestStateStoreConformance(t *testing.T) {
	for name, h := range map[string]stateHarness{
		"MemState": {open: func(*testing.T) consumer.StateStore { return consumer.NewMemState() }},
		"PebbleState": {
			open: func(t *testing.T) consumer.StateStore {
				dir := t.TempDir()
				s, err := consumer.OpenPayerState(dir)
				require.NoError(t, err)
				t.Cleanup(func() { _ = s.Close() })
				ps := &reopenable{PebbleState: s, dir: dir}
				return ps
			},
			reopen: func(t *testing.T, s consumer.StateStore) consumer.StateStore {
				rs := s.(*reopenable)
				require.NoError(t, rs.Close())
				again, err := consumer.OpenPayerState(rs.dir)
				require.NoError(t, err)
				t.Cleanup(func() { _ = again.Close() })
				return again
			},
		},
	} {
		t.Run(name, func(t *testing.T) { runStateSuite(t, h) })
	}
}

type reopenable struct {
	*consumer.PebbleState
	dir string
}

func warrantN(i int) payment.Warrant {
	w := payment.Warrant{Contract: 0xcafe, Payer: []byte("payer"), Provider: []byte(fmt.Sprintf("provider %d", i))}
	w.ChainID[0] = 1
	return w
}

func runStateSuite(t *testing.T, h stateHarness) {
	ctx := context.Background()
	t.Run("MissingIsNotAnError", func(t *testing.T) {
		s := h.open(t)
		p, ok, err := s.Load(ctx, warrantN(1))
		require.NoError(t, err)
		require.False(t, ok)
		require.Zero(t, p)
	})
	t.Run("SaveLoadOverwrite", func(t *testing.T) {
		s := h.open(t)
		w := warrantN(1)
		require.NoError(t, s.Save(ctx, w, consumer.Position{Epoch: 1, Ordinal: 2, Total: 300, Signed: 300}))
		require.NoError(t, s.Save(ctx, w, consumer.Position{Epoch: 1, Ordinal: 3, Total: 400, Signed: 450}))
		p, ok, err := s.Load(ctx, w)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 3, Total: 400, Signed: 450}, p)
		max := consumer.Position{Epoch: ^uint32(0), Ordinal: ^uint64(0), Total: ^uint64(0), Signed: ^uint64(0)}
		require.NoError(t, s.Save(ctx, w, max))
		p, _, err = s.Load(ctx, w)
		require.NoError(t, err)
		require.Equal(t, max, p)
	})
	t.Run("WarrantsAreSeparate", func(t *testing.T) {
		s := h.open(t)
		base := warrantN(1)
		otherChain, otherContract, otherPayer := base, base, base
		otherChain.ChainID[0] = 2
		otherContract.Contract++
		otherPayer.Payer = []byte("payer2")
		require.NoError(t, s.Save(ctx, base, consumer.Position{Epoch: 1, Ordinal: 1, Total: 1, Signed: 1}))
		for _, w := range []payment.Warrant{otherChain, otherContract, otherPayer, warrantN(2)} {
			_, ok, err := s.Load(ctx, w)
			require.NoError(t, err)
			require.False(t, ok, "%+v", w)
		}
	})
	t.Run("ConcurrentSaves", func(t *testing.T) {
		s := h.open(t)
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for n := uint64(1); n <= 5; n++ {
					require.NoError(t, s.Save(ctx, warrantN(i), consumer.Position{Epoch: 1, Ordinal: n, Total: n * uint64(i), Signed: n * uint64(i)}))
				}
			}(i)
		}
		wg.Wait()
		for i := 0; i < 16; i++ {
			p, _, err := s.Load(ctx, warrantN(i))
			require.NoError(t, err)
			require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 5, Total: 5 * uint64(i), Signed: 5 * uint64(i)}, p)
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		s := h.open(t)
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		require.ErrorIs(t, s.Save(cancelled, warrantN(1), consumer.Position{Epoch: 1}), context.Canceled)
		_, ok, err := s.Load(ctx, warrantN(1))
		require.NoError(t, err)
		require.False(t, ok, "a cancelled save writes nothing")
	})
	t.Run("Closed", func(t *testing.T) {
		s := h.open(t)
		require.NoError(t, s.Close())
		require.ErrorIs(t, s.Save(ctx, warrantN(1), consumer.Position{}), consumer.ErrStateClosed)
		_, _, err := s.Load(ctx, warrantN(1))
		require.ErrorIs(t, err, consumer.ErrStateClosed)
		require.ErrorIs(t, s.Close(), consumer.ErrStateClosed)
	})
	t.Run("WriteCloseReopen", func(t *testing.T) {
		if h.reopen == nil {
			t.Skip("not durable")
		}
		s := h.open(t)
		require.NoError(t, s.Save(ctx, warrantN(1), consumer.Position{Epoch: 3, Ordinal: 9, Total: 900, Signed: 900}))
		s = h.reopen(t, s)
		p, ok, err := s.Load(ctx, warrantN(1))
		require.NoError(t, err)
		require.True(t, ok, "still there")
		require.Equal(t, consumer.Position{Epoch: 3, Ordinal: 9, Total: 900, Signed: 900}, p)
	})
}

func TestOpenPayerStateIsExclusive(t *testing.T) {
	dir := t.TempDir()
	s, err := consumer.OpenPayerState(dir)
	require.NoError(t, err)
	defer s.Close()
	_, err = consumer.OpenPayerState(dir)
	require.Error(t, err, "a second payer on the same directory could reuse ordinals")
	require.ErrorContains(t, err, dir)
}

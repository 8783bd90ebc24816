package provider_test

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/store"
)

// copyStore copies a closed Pebble store (its directory and sentinel) to
// dst: an operator's backup.
func copyStore(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dst, 0o700))
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600))
	}
	b, err := os.ReadFile(store.SentinelPath(src))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(store.SentinelPath(dst), b, 0o600))
}

func openStore(t *testing.T, dir string) *store.Pebble {
	t.Helper()
	st, err := store.Open(dir)
	require.NoError(t, err)
	return st
}

// TestNewRefusesStoreBehindChain: a provider restarted on an old backup of
// its store, while the chain has settled payments the backup never saw (or
// a second instance with the same key settled them), refuses to start,
// naming the warrant, both ordinals and how to acknowledge; started once
// with AcceptStoreMismatch it records the finding and serves; later starts
// pass without the flag until the chain shows something new.
func TestNewRefusesStoreBehindChain(t *testing.T) {
	h := newHarness(t)
	live, backup := filepath.Join(t.TempDir(), "live"), filepath.Join(t.TempDir(), "backup")
	liveStore := openStore(t, live)
	h.store = liveStore
	h.start()
	for i := 0; i < 3; i++ {
		_, err := h.accept(h.next(1_000), 1_000)
		require.NoError(t, err)
	}
	require.NoError(t, liveStore.Close())
	copyStore(t, live, backup) // the backup holds ordinals 1..3

	liveStore = openStore(t, live)
	h.store = liveStore
	h.start()
	for i := 0; i < 2; i++ {
		_, err := h.accept(h.next(1_000), 1_000)
		require.NoError(t, err)
	}
	_, err := h.p.SettleNow(h.ctx, nil)
	require.NoError(t, err)
	require.EqualValues(t, 5, h.info().LastOrdinal)

	old := openStore(t, backup)
	t.Cleanup(func() { old.Close() })
	cfg := provider.Config{Chain: h.seam, Key: h.provKey, Store: old, Clock: h.clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	_, err = provider.New(h.ctx, cfg)
	require.ErrorIs(t, err, provider.ErrStoreMismatch)
	var me *provider.StoreMismatchError
	require.True(t, errors.As(err, &me))
	require.Equal(t, []provider.StoreFinding{{Payer: h.payer, ChainEpoch: 1, ChainOrdinal: 5, StoreEpoch: 1, StoreOrdinal: 3}}, me.Findings)
	for _, says := range []string{h.payer.String(), "ordinal 5", "ordinal 3", "AcceptStoreMismatch"} {
		require.ErrorContains(t, err, says)
	}

	acked := cfg
	acked.AcceptStoreMismatch = true
	p, err := provider.New(h.ctx, acked)
	require.NoError(t, err, "acknowledged")
	_, err = provider.New(h.ctx, cfg)
	require.NoError(t, err, "an acknowledged finding is asked once")
	acc, err := p.Accept(h.ctx, provider.Payment{Payer: h.payer, Payment: h.next(1_000), Price: 1_000, Resource: "/piece"})
	require.NoError(t, err, "serves after the acknowledgement")
	require.EqualValues(t, 6, acc.Receipt.Payment.Ordinal)
	require.NoError(t, old.Close())

	// The chain moves on again without this store: a new finding.
	h.store = liveStore
	h.start()
	_, err = h.accept(h.next(1_000), 1_000)
	require.NoError(t, err)
	_, err = h.p.SettleNow(h.ctx, nil)
	require.NoError(t, err)
	require.NoError(t, liveStore.Close())
	old = openStore(t, backup)
	cfg.Store = old
	_, err = provider.New(h.ctx, cfg)
	require.ErrorIs(t, err, provider.ErrStoreMismatch)
	require.ErrorContains(t, err, "ordinal 7")
}

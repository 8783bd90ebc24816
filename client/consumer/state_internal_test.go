package consumer

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/contract/payment"
)

func TestPositionRecord(t *testing.T) {
	p := Position{Epoch: 3, Ordinal: 4, Total: 5, Signed: 7}
	got, err := decodePosition(encodePosition(p))
	require.NoError(t, err)
	require.Equal(t, p, got)
	_, err = decodePosition([]byte{1, 2})
	require.ErrorIs(t, err, ErrStateCorrupt)
}

func TestStateKeysAreDistinct(t *testing.T) {
	base := payment.Warrant{Contract: 7, Payer: []byte("ab"), Provider: []byte("c")}
	// Same concatenated agent bytes, different split: the length prefixes
	// keep them apart.
	shifted := payment.Warrant{Contract: 7, Payer: []byte("a"), Provider: []byte("bc")}
	otherChain := base
	otherChain.ChainID[31] = 1
	otherContract := base
	otherContract.Contract = 8
	keys := [][]byte{positionKey(base), positionKey(shifted), positionKey(otherChain), positionKey(otherContract)}
	for i := range keys {
		require.Equal(t, byte(prefixPosition), keys[i][0])
		require.False(t, bytes.Equal(keys[i], keyFormat))
		for j := range keys {
			if i != j {
				require.NotEqual(t, keys[i], keys[j], "keys %d and %d", i, j)
			}
		}
	}
}

func TestPebbleStateRefusesOtherFormat(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	require.NoError(t, err)
	require.NoError(t, db.Set(keyFormat, []byte{formatVersion + 1}, pebble.Sync))
	require.NoError(t, db.Close())
	_, err = OpenPayerState(dir)
	require.ErrorIs(t, err, ErrStateCorrupt)
	require.ErrorContains(t, err, "format version")
}

func TestPebbleStateCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenPayerState(dir)
	require.NoError(t, err)
	w := payment.Warrant{Payer: []byte("p"), Provider: []byte("s")}
	require.NoError(t, s.db.Set(positionKey(w), []byte{1, 2, 3}, pebble.Sync))
	_, _, err = s.Load(context.Background(), w)
	require.ErrorIs(t, err, ErrStateCorrupt)
	require.NoError(t, s.Close())
}

// TestPebbleStatePowerLoss runs the state on Pebble's strict in-memory file
// system, which keeps only what was synced: every position whose Save
// returned is there after a power loss.
func TestPebbleStatePowerLoss(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewStrictMem()
	const dir = "/payer/state"
	s, err := openPayerState(dir, fs)
	require.NoError(t, err)
	warrant := func(g int) payment.Warrant {
		return payment.Warrant{Payer: []byte("payer"), Provider: []byte{byte(g)}}
	}
	const writers, saves = 8, 25
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range saves {
				if err := s.Save(ctx, warrant(g), Position{Epoch: 1, Ordinal: uint64(i + 1), Total: uint64(g), Signed: uint64(g)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	// From here on nothing reaches the disk; then the disk keeps only what
	// was synced.
	fs.SetIgnoreSyncs(true)
	require.NoError(t, s.Close())
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)

	s, err = openPayerState(dir, fs)
	require.NoError(t, err, "open after power loss")
	defer s.Close()
	for g := range writers {
		p, ok, err := s.Load(ctx, warrant(g))
		require.NoError(t, err)
		require.True(t, ok, "writer %d", g)
		require.Equal(t, Position{Epoch: 1, Ordinal: saves, Total: uint64(g), Signed: uint64(g)}, p, "writer %d", g)
	}
}

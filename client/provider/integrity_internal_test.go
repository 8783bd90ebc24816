package provider

import (
	"testing"

	"github.com/micropay/micropay/client/chain"
)

// TestStoreBehind: which chain states a store whose newest receipt is
// ordinal 5 of epoch 2 cannot explain.
func TestStoreBehind(t *testing.T) {
	for _, c := range []struct {
		name   string
		info   chain.WarrantInfo
		behind bool
	}{
		{"settled what the store holds", chain.WarrantInfo{Exists: true, Epoch: 2, LastOrdinal: 5}, false},
		{"settled less", chain.WarrantInfo{Exists: true, Epoch: 2, LastOrdinal: 1}, false},
		{"nothing settled yet", chain.WarrantInfo{Exists: true, Epoch: 2}, false},
		{"settled past the store", chain.WarrantInfo{Exists: true, Epoch: 2, LastOrdinal: 6}, true},
		{"closed since, nothing settled in the new epoch", chain.WarrantInfo{Epoch: 3}, false},
		{"settled in an epoch the store never saw", chain.WarrantInfo{Exists: true, Epoch: 3, LastOrdinal: 1}, true},
		{"chain behind the store (another chain)", chain.WarrantInfo{Exists: true, Epoch: 1, LastOrdinal: 9}, true},
	} {
		if got := storeBehind(2, 5, c.info); got != c.behind {
			t.Errorf("%s: storeBehind = %v, want %v", c.name, got, c.behind)
		}
	}
}

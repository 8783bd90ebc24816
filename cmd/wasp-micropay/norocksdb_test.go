//go:build !rocksdb

package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	hivedb "github.com/iotaledger/hive.go/kvstore/database"
	"github.com/iotaledger/wasp/packages/database"
)

// TestNodeWithoutRocksDBCannotOpenItsDatabase shows why `make node` builds
// with -tags rocksdb: without it the node's default database engine panics,
// which a real node answers to chain activation with 500.
func TestNodeWithoutRocksDBCannotOpenItsDatabase(t *testing.T) {
	require.PanicsWithValue(t, "For RocksDB support please compile with '-tags rocksdb'", func() {
		_, _ = database.NewDatabase(hivedb.EngineRocksDB, t.TempDir(), true, false, 0)
	})
}

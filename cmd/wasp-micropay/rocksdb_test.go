//go:build rocksdb

package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	hivedb "github.com/iotaledger/hive.go/kvstore/database"
	"github.com/iotaledger/wasp/packages/database"
)

// TestNodeDatabaseIsRocksDB opens, writes, closes and reopens a database
// the way the node's database component does with its default engine,
// RocksDB: what chain activation needs, and what a build without
// -tags rocksdb refuses ("For RocksDB support please compile with
// '-tags rocksdb'"). `make test-node` runs it.
func TestNodeDatabaseIsRocksDB(t *testing.T) {
	dir := t.TempDir()
	db, err := database.NewDatabase(hivedb.EngineRocksDB, dir, true, false, 0)
	require.NoError(t, err)
	require.Equal(t, hivedb.EngineRocksDB, db.Engine())
	require.NoError(t, db.KVStore().Set([]byte("micropay"), []byte("warrant")))
	require.NoError(t, db.KVStore().Flush())
	require.NoError(t, db.KVStore().Close())

	db, err = database.NewDatabase(hivedb.EngineRocksDB, dir, false, false, 0)
	require.NoError(t, err)
	got, err := db.KVStore().Get([]byte("micropay"))
	require.NoError(t, err)
	require.Equal(t, []byte("warrant"), got)
	require.NoError(t, db.KVStore().Close())
}

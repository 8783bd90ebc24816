package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/dig"

	"github.com/iotaledger/wasp/packages/vm/processors"
	"github.com/micropay/micropay/contract"
)

// TestNodeRegistersMicropay checks the node's processor config knows the
// micropay program hash, which is what deploy-contract looks up.
func TestNodeRegistersMicropay(t *testing.T) {
	c := dig.New()
	require.NoError(t, provideProcessors(c))
	require.NoError(t, c.Invoke(func(cfg *processors.Config) {
		proc, ok := cfg.GetNativeProcessor(contract.Contract.ProgramHash)
		require.True(t, ok, "micropay is a native contract of this node")
		_, ok = proc.GetEntryPoint(contract.FuncSettle.Hname())
		require.True(t, ok, "settle is an entry point")
	}))
}

// TestNodeReportsWaspsVersion: the node reports the version of the wasp
// module it is built with (what wasp-cli of that release accepts, e.g.
// "v1.5.1"), as wasp-cli's version check wants it, not a micropay suffix
// it refuses; micropay's own
// version is in --micropay-version.
func TestNodeReportsWaspsVersion(t *testing.T) {
	v := waspVersion()
	require.Regexp(t, `^v\d+\.\d+\.\d+$`, v, "a wasp release version")
	require.NotContains(t, v, "micropay")
	// GET /v1/node/version answers the app's version; wasp-cli v1.5.1
	// accepts a node when its own version == "v" + that.
	require.Equal(t, v, "v"+newApp().Info().Version, "wasp-cli's check")
	line := versionLine()
	require.Contains(t, line, "wasp "+v)
	require.Contains(t, line, contract.Contract.ProgramHash.String())
}

// TestMakeNodeBuildsWithRocksDB: `make node` (and `make build`, which
// includes it) builds the node with -tags rocksdb, and `make test` runs the
// node's tests with that tag too (TestNodeDatabaseIsRocksDB).
func TestMakeNodeBuildsWithRocksDB(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on PATH")
	}
	for target, want := range map[string]string{
		"node":  "build -tags rocksdb -o bin/wasp-micropay ./cmd/wasp-micropay",
		"build": "build -tags rocksdb -o bin/wasp-micropay ./cmd/wasp-micropay",
		"test":  "test -count=1 -tags rocksdb ./cmd/wasp-micropay/",
	} {
		out, err := exec.Command("make", "-n", "-C", "../..", target).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), want, "make %s", target)
	}
}

// TestMicropayFlags: the flags the deployment guide runs print the program
// hash wasp-cli deploys and the versions; anything else goes to wasp.
func TestMicropayFlags(t *testing.T) {
	var out strings.Builder
	require.True(t, micropayFlag(&out, []string{"--micropay-hash"}))
	require.Equal(t, contract.Contract.ProgramHash.String()+"\n", out.String())
	out.Reset()
	require.True(t, micropayFlag(&out, []string{"--micropay-version"}))
	require.Contains(t, out.String(), "wasp v1.5.1")
	require.False(t, micropayFlag(&out, []string{"-c", "config.json"}))
	require.False(t, micropayFlag(&out, nil))
}

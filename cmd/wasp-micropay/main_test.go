package main

import (
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

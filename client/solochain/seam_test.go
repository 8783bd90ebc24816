package solochain_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/chain/chaintest"
	"github.com/micropay/micropay/client/solochain"
)

func TestConformance(t *testing.T) {
	chaintest.Run(t, func(t *testing.T) chaintest.Harness {
		e, err := solochain.New(solochain.Options{Name: t.Name()})
		require.NoError(t, err)
		t.Cleanup(e.Close)
		return e
	})
}

func TestDoTurnsSoloFailureIntoError(t *testing.T) {
	ctx := solochain.NewContext("x", nil)
	err := solochain.Do(func() { ctx.Fatalf("boom %d", 7) })
	require.EqualError(t, err, "solo: boom 7")
	require.NoError(t, solochain.Do(func() {}))
	require.Panics(t, func() { _ = solochain.Do(func() { panic("other") }) }, "other panics pass through")
	var cleaned []int
	ctx.Cleanup(func() { cleaned = append(cleaned, 1) })
	ctx.Cleanup(func() { cleaned = append(cleaned, 2) })
	ctx.Close()
	require.Equal(t, []int{2, 1}, cleaned)
}

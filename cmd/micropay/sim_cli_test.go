package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/sim"
)

// TestCLISimWritesItsReportAndProfile: micropay sim runs a built-in
// scenario, prints its report with every invariant holding, and with
// --cpuprofile leaves a pprof file (gzip-compressed protobuf) behind.
func TestCLISimWritesItsReportAndProfile(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	r := ok(t, mp(t, t.TempDir(), "", "--json", "sim", "small", "--cpuprofile", prof))
	var rep sim.Report
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.NotEmpty(t, rep.Invariants)
	for _, inv := range rep.Invariants {
		require.True(t, inv.OK, "%s: %v", inv.Name, inv.Violations)
	}
	b, err := os.ReadFile(prof)
	require.NoError(t, err)
	require.Greater(t, len(b), 2)
	require.Equal(t, []byte{0x1f, 0x8b}, b[:2], "a gzip-compressed profile")

	bad := mp(t, t.TempDir(), "", "sim", "small", "--cpuprofile", filepath.Join(t.TempDir(), "no", "such", "dir", "cpu.pprof"))
	require.NotEqual(t, 0, bad.code, "a profile that cannot be written fails the command")
	require.Contains(t, bad.stderr, "cpu profile")
}

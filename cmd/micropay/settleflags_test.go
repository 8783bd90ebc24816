package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// serve's and the facilitator's --settle-batch and --settle-in-flight are
// refused outside their bounds (the contract's MaxSettlementsPerRequest,
// maxSettleInFlight) with a usage error naming the bounds, before the node
// is contacted, and accepted inside them: the command then goes on to the
// node (here a dead one).
func TestSettleFlagsAreBounded(t *testing.T) {
	dir := t.TempDir()
	dead := "http://" + freeAddr(t)
	for _, cmd := range [][]string{{"provider", "serve"}, {"facilitator"}} {
		for _, c := range []struct {
			flags []string
			want  string
		}{
			{[]string{"--settle-batch", "0"}, `invalid argument "0" for "--settle-batch" flag: 1 to 1000 warrants per request`},
			{[]string{"--settle-batch", "1001"}, `invalid argument "1001" for "--settle-batch" flag: 1 to 1000 warrants per request`},
			{[]string{"--settle-batch", "many"}, `invalid argument "many" for "--settle-batch" flag: not a whole number`},
			{[]string{"--settle-in-flight", "0"}, `invalid argument "0" for "--settle-in-flight" flag: 1 to 64 requests at once`},
			{[]string{"--settle-in-flight", "65"}, `invalid argument "65" for "--settle-in-flight" flag: 1 to 64 requests at once`},
		} {
			r := mp(t, dir, dead, append(append([]string(nil), cmd...), c.flags...)...)
			require.Equal(t, exitUsage, r.code, "%v %v: %s", cmd, c.flags, r.stderr)
			require.Contains(t, r.stderr, c.want)
		}
		r := mp(t, dir, dead, append(append([]string(nil), cmd...), "--settle-batch", "1000", "--settle-in-flight", "64")...)
		require.Equal(t, exitUnreachable, r.code, "within bounds it goes on to the node: %s", r.stderr)
		require.Contains(t, r.stderr, "node unreachable")
	}
}

// A config file's values, which no flag parsing checks, are bounded too.
func TestParseSettleFlags(t *testing.T) {
	b, n, err := parseSettleFlags(1000, 64)
	require.NoError(t, err)
	require.Equal(t, []int{1000, 64}, []int{b, n})
	_, _, err = parseSettleFlags(5000, 1)
	require.ErrorContains(t, err, "--settle-batch 5000: 1 to 1000 warrants per request")
	_, _, err = parseSettleFlags(100, 0)
	require.ErrorContains(t, err, "--settle-in-flight 0: 1 to 64 requests at once")
}

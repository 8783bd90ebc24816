package consumer_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/consumer"
)

// crashChildEnv names the state directory of the child process of
// TestPayerNeverReusesAnOrdinalAfterACrash; set, it makes TestPayerCrashChild
// pay in a loop.
const crashChildEnv = "MICROPAY_CONSUMER_CRASH_CHILD_DIR"

// crashAmount is what each of the child's payments adds to the total.
const crashAmount = 7

// TestPayerCrashChild is the child process of the crash test, not a test
// of its own. It pays forever on a durable state and writes "paid ORDINAL
// TOTAL" for each payment as soon as Pay returned it — after the position
// was saved, before the payment would be sent — until it is killed.
func TestPayerCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("the child of TestPayerNeverReusesAnOrdinalAfterACrash")
	}
	states, err := consumer.OpenPayerState(dir)
	if err != nil {
		fmt.Fprintln(os.Stdout, "error", err)
		os.Exit(3)
	}
	// The embedded chain's ID is deterministic, so parent and child sign
	// for the same warrant.
	e, err := newEnvWith("crash", states)
	if err != nil {
		fmt.Fprintln(os.Stdout, "error", err)
		os.Exit(3)
	}
	ctx := context.Background()
	for {
		p, err := e.consumer.Payer.Pay(ctx, e.provider, 1, crashAmount)
		if err != nil {
			fmt.Fprintln(os.Stdout, "error", err)
			os.Exit(3)
		}
		// os.Stdout is unbuffered: once Write returns the line is in the
		// pipe, where SIGKILL cannot lose it.
		if _, err := fmt.Fprintf(os.Stdout, "paid %d %d\n", p.Ordinal, p.Total); err != nil {
			os.Exit(3)
		}
	}
}

// TestPayerNeverReusesAnOrdinalAfterACrash runs a payer in a child process
// that pays in a loop, SIGKILLs it at a seeded random point (mid-save,
// mid-sign or mid-print, wherever it happens to be), restarts it on the same
// state directory, a few times over; then restarts the payer in this
// process. No ordinal is ever signed twice, every total matches its
// ordinal, and the next ordinal is above everything the children printed
// and everything they persisted.
func TestPayerNeverReusesAnOrdinalAfterACrash(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MICROPAY_CRASH_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (rerun with MICROPAY_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed>>32))
	dir := t.TempDir()
	ctx := context.Background()

	signed := map[uint64]uint64{} // ordinal → total, over every child
	var highest uint64
	for round := 1; round <= 3; round++ {
		killAfter := 1 + rng.IntN(150)
		printed := runCrashChild(t, dir, killAfter)
		require.GreaterOrEqual(t, len(printed), killAfter, "round %d", round)
		for _, pt := range printed {
			ordinal, total := pt[0], pt[1]
			_, reused := signed[ordinal]
			require.False(t, reused, "round %d: ordinal %d signed twice", round, ordinal)
			require.Equal(t, ordinal*crashAmount, total, "round %d: ordinal %d", round, ordinal)
			signed[ordinal] = total
			highest = max(highest, ordinal)
		}

		states, err := consumer.OpenPayerState(dir)
		require.NoError(t, err)
		e, err := newEnvWith("crash", states)
		require.NoError(t, err)
		pos, err := e.consumer.Payer.State(ctx, e.provider)
		require.NoError(t, err)
		e.chain.Close()
		require.NoError(t, states.Close())
		require.GreaterOrEqual(t, pos.Ordinal, highest, "round %d: persisted %v, printed up to %d", round, pos, highest)
		require.LessOrEqual(t, pos.Ordinal, highest+1, "round %d: at most the one being printed when killed is unprinted", round)
		require.Equal(t, pos.Ordinal*crashAmount, pos.Total)
		t.Logf("round %d: killed after %d lines; %d printed, persisted %v", round, killAfter, len(printed), pos)
		highest = pos.Ordinal
	}

	states, err := consumer.OpenPayerState(dir)
	require.NoError(t, err)
	defer states.Close()
	e, err := newEnvWith("crash", states)
	require.NoError(t, err)
	defer e.chain.Close()
	p, err := e.consumer.Payer.Pay(ctx, e.provider, 1, crashAmount)
	require.NoError(t, err)
	require.Equal(t, highest+1, p.Ordinal, "the next ordinal is above every one signed or persisted")
	require.Equal(t, p.Ordinal*crashAmount, p.Total)
}

// runCrashChild starts the child on dir, SIGKILLs it once it has printed
// killAfter payments, and returns every (ordinal, total) it printed.
func runCrashChild(t *testing.T, dir string, killAfter int) [][2]uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPayerCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	var printed [][2]uint64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "error") {
			t.Errorf("child: %s", line)
			continue
		}
		var ordinal, total uint64
		if n, _ := fmt.Sscanf(line, "paid %d %d", &ordinal, &total); n != 2 {
			continue // the test framework's own output
		}
		printed = append(printed, [2]uint64{ordinal, total})
		if len(printed) == killAfter && !killed {
			require.NoError(t, cmd.Process.Kill()) // SIGKILL on Unix
			killed = true
		}
	}
	require.NoError(t, sc.Err())
	err = cmd.Wait()
	require.True(t, killed, "the child stopped by itself: %v", err)
	require.Error(t, err, "killed")
	return printed
}

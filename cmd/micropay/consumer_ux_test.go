package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCLIMistypedSubcommandExits2(t *testing.T) {
	home := t.TempDir()
	dead := "http://" + freeAddr(t)
	for _, args := range [][]string{{"warrant", "shwo"}, {"key", "nwe"}, {"provider", "stauts"}, {"devnet", "advanc", "1h"}} {
		r := mp(t, home, dead, args...)
		require.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
		require.Contains(t, r.stderr, args[1], "the message names what was mistyped")
	}
	r := mp(t, home, dead, "warrant", "shwo")
	require.Contains(t, r.stderr, `unknown command "shwo" for "micropay warrant"; its commands: add,`)
	r = ok(t, mp(t, home, dead, "warrant"))
	require.Contains(t, r.stdout, "Available Commands", "a group alone prints its help")
}

// daemon is a long-running subcommand that a test can stop and restart.
type daemon struct{ cmd *exec.Cmd }

func runDaemon(t *testing.T, home, node string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--home", home}, args...)...)
	cmd.Env = append(os.Environ(), "MICROPAY_NODE="+node)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	d := &daemon{cmd: cmd}
	t.Cleanup(d.stop)
	_, err = bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "%v did not start: %s", args, stderr.String())
	return d
}

func (d *daemon) stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
}

func agentOf(t *testing.T, home, node string) string {
	t.Helper()
	var key struct {
		AgentID string `json:"agentId"`
	}
	require.NoError(t, json.Unmarshal([]byte(ok(t, mp(t, home, node, "--json", "key", "show")).stdout), &key))
	return key.AgentID
}

func TestCLIConsumerAcrossRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the devnet and the provider as processes")
	}
	dir := t.TempDir()
	nodeAddr := freeAddr(t)
	node := "http://" + nodeAddr
	startDaemon(t, filepath.Join(dir, "dev"), node, "devnet", "--listen", nodeAddr)
	prov, cons, other := filepath.Join(dir, "prov"), filepath.Join(dir, "cons"), filepath.Join(dir, "other")
	for _, h := range []string{prov, cons, other} {
		ok(t, mp(t, h, node, "key", "new"))
		ok(t, mp(t, h, node, "faucet", "--amount", "50_000_000"))
	}
	provAgent, otherAgent := agentOf(t, prov, node), agentOf(t, other, node)

	r := ok(t, mp(t, cons, node, "warrant", "add", provAgent, "2_000_000"))
	require.Contains(t, r.stdout, "locked 2,000,000 base tokens")
	r = ok(t, mp(t, cons, node, "warrant", "add", provAgent, "1_000"))
	require.Contains(t, r.stdout, "topped up the warrant for "+provAgent+" by 1,000 base tokens (balance now 2,001,000 base tokens)")
	r = ok(t, mp(t, cons, node, "warrant", "add", otherAgent, "1_000_000", "--close-timeout", "5m"))
	require.Contains(t, r.stderr, "warning: a close timeout of 5m0s is shorter than the 10m0s settlement margin")

	// The price pin holds across get runs and provider restarts.
	svc, admin := freeAddr(t), freeAddr(t)
	serve := func(price string) *daemon {
		return runDaemon(t, prov, node, "provider", "serve", "--listen", svc, "--admin", admin, "--price", price, "--threshold", "0")
	}
	p := serve("700")
	r = ok(t, mp(t, cons, node, "get", "http://"+svc+"/piece/1"))
	require.Contains(t, r.stderr, "paid 700 base tokens")
	p.stop()
	p = serve("900")
	r = mp(t, cons, node, "get", "http://"+svc+"/piece/2")
	require.Equal(t, exitRefused, r.code, r.stderr)
	require.Contains(t, r.stderr, "changed its price from 700 to 900")
	require.Contains(t, r.stderr, "--allow-price-change")
	r = ok(t, mp(t, cons, node, "get", "--allow-price-change", "http://"+svc+"/piece/2"))
	require.Contains(t, r.stderr, "paid 900 base tokens")
	r = ok(t, mp(t, cons, node, "get", "http://"+svc+"/piece/3"))
	require.Contains(t, r.stderr, "paid 900 base tokens", "the accepted price is pinned")

	// One flag name for the operator API; the old one still works.
	r = ok(t, mp(t, prov, node, "--json", "provider", "status", "--admin", admin))
	require.Contains(t, r.stdout, `"unsettled": 2500`)
	r = ok(t, mp(t, prov, node, "provider", "status", "--admin-url", "http://"+admin))
	require.Contains(t, r.stderr, "use --admin")
	p.stop()

	// The provider is down: the hint names the provider, not the node,
	// and the payment that could not be sent is taken back.
	r = mp(t, cons, node, "get", "http://"+svc+"/piece/4")
	require.Equal(t, exitUnreachable, r.code, r.stderr)
	require.Contains(t, r.stderr, "the provider at http://"+svc+"/piece/4 did not answer")
	require.NotContains(t, r.stderr, "is the node running")
	require.Contains(t, r.stderr, "sent again with the same payment", "get reports the retry")

	// --deposit overrides what the contract asks for: too little is the
	// contract's refusal with its figure, and nothing moves.
	r = mp(t, cons, node, "warrant", "revoke", provAgent, "--deposit", "1")
	require.Equal(t, exitRejected, r.code, r.stderr)
	require.Contains(t, r.stderr, "revoke needs an allowance of at least")
	r = ok(t, mp(t, cons, node, "warrant", "revoke", provAgent, "--deposit", "5000"))
	require.Contains(t, r.stdout, "the scheduled close's deposit of 5,000 base tokens")
	require.Contains(t, r.stdout, "(1h0m0s from now by the chain's clock)")
	require.Contains(t, r.stdout, time.Now().Format("MST"), "the deadline in local time")
	require.Contains(t, r.stdout, "the scheduled close's deposit of")
	require.Contains(t, r.stdout, "gas under the chain's fee policy")

	r = mp(t, cons, node, "devnet", "advance", "soon")
	require.Equal(t, exitUsage, r.code, r.stderr)
	before := ok(t, mp(t, cons, node, "--json", "key", "show")).stdout
	r = ok(t, mp(t, cons, node, "devnet", "advance", "61m"))
	require.Contains(t, r.stdout, "devnet clock advanced by 1h1m0s; chain time now")
	r = ok(t, mp(t, cons, node, "warrant", "info", provAgent))
	require.Contains(t, r.stdout, "no warrant from", "the scheduled close ran at the deadline")
	after := ok(t, mp(t, cons, node, "--json", "key", "show")).stdout
	require.NotEqual(t, before, after, "the refund came back to the consumer's L2 account")
	require.True(t, strings.Contains(after, `"balance"`))
}

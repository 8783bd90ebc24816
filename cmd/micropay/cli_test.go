package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The CLI is tested by running the built binary, as a user would.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "micropay-cli-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "micropay")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build micropay: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code   int
	stdout string
	stderr string
}

// mp runs the binary with a home directory and node URL.
func mp(t *testing.T, home, node string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--home", home}, args...)...)
	cmd.Env = append(os.Environ(), "MICROPAY_NODE="+node)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

func ok(t *testing.T, r result) result {
	t.Helper()
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	return r
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// startDaemon starts a long-running subcommand and waits for its first line.
func startDaemon(t *testing.T, home, node string, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--home", home}, args...)...)
	cmd.Env = append(os.Environ(), "MICROPAY_NODE="+node)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "%v did not start: %s", args, stderr.String())
	t.Logf("%s", strings.TrimSpace(line))
}

func TestCLIEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the devnet and the provider as processes")
	}
	dir := t.TempDir()
	nodeAddr := freeAddr(t)
	node := "http://" + nodeAddr
	startDaemon(t, filepath.Join(dir, "dev"), node, "devnet", "--listen", nodeAddr)

	prov, cons := filepath.Join(dir, "prov"), filepath.Join(dir, "cons")
	ok(t, mp(t, prov, node, "key", "new"))
	ok(t, mp(t, cons, node, "key", "new"))
	ok(t, mp(t, prov, node, "faucet"))
	ok(t, mp(t, cons, node, "faucet", "--amount", "50_000_000"))

	var key struct {
		AgentID    string `json:"agentId"`
		Balance    uint64 `json:"balance"`
		Registered bool   `json:"registered"`
	}
	require.NoError(t, json.Unmarshal([]byte(ok(t, mp(t, cons, node, "--json", "key", "show")).stdout), &key))
	require.EqualValues(t, 50_000_000, key.Balance)
	require.False(t, key.Registered)
	consAgent := key.AgentID
	require.NoError(t, json.Unmarshal([]byte(ok(t, mp(t, prov, node, "--json", "key", "show")).stdout), &key))
	provAgent := key.AgentID

	ok(t, mp(t, cons, node, "warrant", "add", provAgent, "2_000_000"))
	r := ok(t, mp(t, cons, node, "warrant", "info", provAgent))
	require.Contains(t, r.stdout, "balance        2,000,000 base tokens")
	ok(t, mp(t, cons, node, "warrant", "topup", provAgent, "500_000"))

	svc, admin := freeAddr(t), freeAddr(t)
	startDaemon(t, prov, node, "provider", "serve", "--listen", svc, "--admin", admin, "--price", "700", "--threshold", "0")
	adminURL := "--admin-url=http://" + admin
	for i := 0; i < 3; i++ {
		r = ok(t, mp(t, cons, node, "get", fmt.Sprintf("http://%s/piece/%d", svc, i)))
		require.Contains(t, r.stdout, "piece /piece/")
		require.Contains(t, r.stderr, "paid 700 base tokens")
	}

	// Error paths: message and exit code.
	r = mp(t, cons, node, "get", "--max-price", "500", "http://"+svc+"/piece/x")
	require.Equal(t, exitRefused, r.code, r.stderr)
	require.Contains(t, r.stderr, "raise --max-price")

	requireOperatorAPIPrivate(t, prov, admin)
	requireMeterTokenNeeded(t, prov, svc)
	r = mp(t, cons, node, "provider", "status", adminURL)
	require.Equal(t, exitNotFound, r.code, "another home has no token: %s", r.stderr)
	require.Contains(t, r.stderr, "operator-token")
	r = mp(t, prov, node, "provider", "status", adminURL, "--admin-token", strings.Repeat("0", 64))
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "401 Unauthorized")
	tok, err := os.ReadFile(filepath.Join(prov, "operator-token"))
	require.NoError(t, err)
	ok(t, mp(t, cons, node, "provider", "status", adminURL, "--admin-token", strings.TrimSpace(string(tok))))
	t.Setenv("MICROPAY_ADMIN_TOKEN", strings.TrimSpace(string(tok))) // the environment overrides the file too
	ok(t, mp(t, cons, node, "provider", "status", adminURL))

	r = ok(t, mp(t, prov, node, "--json", "provider", "status", adminURL))
	require.Contains(t, r.stdout, `"unsettled": 2100`)
	r = ok(t, mp(t, prov, node, "provider", "settle", adminURL))
	require.Contains(t, r.stdout, "landed  paid 2,100 base tokens")
	r = ok(t, mp(t, prov, node, "provider", "export", adminURL, "--format", "jsonl"))
	require.Len(t, strings.Split(strings.TrimSpace(r.stdout), "\n"), 3)

	var info warrantView
	require.NoError(t, json.Unmarshal([]byte(ok(t, mp(t, cons, node, "--json", "warrant", "info", provAgent)).stdout), &info))
	require.EqualValues(t, 2_100, info.Paid)
	require.EqualValues(t, 2_500_000-2_100, info.Balance)
	requireConsumerHardening(t, cons, node, svc, provAgent)

	ok(t, mp(t, cons, node, "warrant", "revoke", provAgent))
	r = mp(t, cons, node, "warrant", "revoke", provAgent)
	require.Equal(t, exitRejected, r.code, r.stderr)
	require.Contains(t, r.stderr, "is revoked")

	r = mp(t, cons, node, "warrant", "close", provAgent)
	require.Equal(t, exitRejected, r.code, "the payer may not close before the deadline: %s", r.stderr)
	ok(t, mp(t, prov, node, "warrant", "close", "--payer", consAgent))
	r = ok(t, mp(t, cons, node, "warrant", "info", provAgent))
	require.Contains(t, r.stdout, "no warrant from")

	r = mp(t, cons, node, "warrant", "topup", provAgent, "1000")
	require.Equal(t, exitNotFound, r.code, r.stderr)
}

// requireOperatorAPIPrivate checks, over HTTP, that the provider serving
// at admin made its operator token 0600 in home and answers only a request
// that carries it under an allowed Host.
func requireOperatorAPIPrivate(t *testing.T, home, admin string) {
	t.Helper()
	path := filepath.Join(home, "operator-token")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	tok, err := os.ReadFile(path)
	require.NoError(t, err)
	status := func(host, token string) int {
		req, err := http.NewRequest(http.MethodGet, "http://"+admin+"/warrants", nil)
		require.NoError(t, err)
		if host != "" {
			req.Host = host
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	good := strings.TrimSpace(string(tok))
	require.Equal(t, http.StatusUnauthorized, status("", ""))
	require.Equal(t, http.StatusMisdirectedRequest, status("rebound.example", good))
	require.Equal(t, http.StatusOK, status("", good))
	require.Equal(t, http.StatusOK, status("localhost", good))
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	dead := "http://" + freeAddr(t) // nothing listens there

	r := mp(t, dir, dead, "key", "show")
	require.Equal(t, exitNotFound, r.code)
	require.Contains(t, r.stderr, "no key file at")
	require.Contains(t, r.stderr, "micropay key new")

	r = mp(t, dir, dead, "warrant", "add")
	require.Equal(t, exitUsage, r.code, r.stderr)
	r = mp(t, dir, dead, "--no-such-flag")
	require.Equal(t, exitUsage, r.code, r.stderr)

	ok(t, mp(t, dir, dead, "key", "new"))
	r = mp(t, dir, dead, "key", "new")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "already exists")

	r = mp(t, dir, dead, "key", "show")
	require.Equal(t, exitUnreachable, r.code, r.stderr)
	require.Contains(t, r.stderr, "micropay devnet")

	// Without the node's L1 parameters no address can be read: a command
	// that needs the node says it is unreachable (TestCLIDeadNodeIsUnreachable).
	r = mp(t, dir, dead, "warrant", "add", "not-an-agent", "1000")
	require.Equal(t, exitUnreachable, r.code, r.stderr)

	r = mp(t, dir, dead, "provider", "status", "--admin-url", dead)
	require.Equal(t, exitNotFound, r.code, r.stderr)
	require.Contains(t, r.stderr, "operator-token")
	r = mp(t, dir, dead, "provider", "status", "--admin-url", dead, "--admin-token", strings.Repeat("0", 64))
	require.Equal(t, exitUnreachable, r.code, r.stderr)
	require.Contains(t, r.stderr, "provider serve")

	require.NoError(t, os.Chmod(filepath.Join(dir, "key"), 0o644))
	r = mp(t, dir, dead, "key", "show")
	require.Equal(t, exitKey, r.code, r.stderr)
	require.Contains(t, r.stderr, "chmod 600")

	r = mp(t, dir, dead, "--json", "key", "show")
	var body struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exitCode"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stderr), &body), r.stderr)
	require.Equal(t, exitKey, body.ExitCode)
}

func TestDemo(t *testing.T) {
	r := ok(t, mp(t, t.TempDir(), "", "--json", "demo", "--pieces", "60"))
	var sum demoSummary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
	require.Equal(t, 60, sum.Pieces)
	require.Equal(t, sum.Provider.Start+60*1_000-sum.Provider.GasFees, sum.Provider.End, "provider: every piece, less its gas")
	require.Equal(t, sum.Consumer.Start-60*1_000-sum.Consumer.GasFees-sum.CloseFee, sum.Consumer.End, "consumer: every piece, its gas, the scheduled close's fee")
	require.Zero(t, sum.ContractKept, "the contract keeps nothing once the warrant is closed")
}

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCLIGetPaysAStockExpressSellerThroughTheFacilitator: separate
// processes — a devnet, `micropay facilitator` for the provider, the
// stock Express seller of docs/examples pointed at it, and `micropay get`
// for the consumer: the consumer pays pieces, `provider settle` settles
// them on the devnet, and the warrant shows every piece paid to the token.
// It needs node and client/js's packages; outside CI it skips without them.
func TestCLIGetPaysAStockExpressSellerThroughTheFacilitator(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the devnet, the facilitator and node as processes")
	}
	node := nodeForExample(t)
	dir := t.TempDir()
	nodeAddr := freeAddr(t)
	chainURL := "http://" + nodeAddr
	startDaemon(t, filepath.Join(dir, "dev"), chainURL, "devnet", "--listen", nodeAddr)
	prov, cons := filepath.Join(dir, "prov"), filepath.Join(dir, "cons")
	ok(t, mp(t, prov, chainURL, "key", "new"))
	ok(t, mp(t, cons, chainURL, "key", "new"))
	ok(t, mp(t, prov, chainURL, "faucet"))
	ok(t, mp(t, cons, chainURL, "faucet", "--amount", "50_000_000"))
	var key struct {
		AgentID string `json:"agentId"`
	}
	require.NoError(t, json.Unmarshal([]byte(ok(t, mp(t, prov, chainURL, "--json", "key", "show")).stdout), &key))
	provAgent := key.AgentID
	ok(t, mp(t, cons, chainURL, "warrant", "add", provAgent, "2_000_000"))

	fac, admin := freeAddr(t), freeAddr(t)
	startDaemon(t, prov, chainURL, "facilitator", "--listen", fac, "--admin", admin, "--threshold", "0")
	tok, err := os.ReadFile(filepath.Join(prov, facilitatorTokenFile))
	require.NoError(t, err)
	network := supportedNetwork(t, "http://"+fac, strings.TrimSpace(string(tok)))

	seller := startExampleSeller(t, node, map[string]string{
		"NETWORK": network, "PAY_TO": provAgent, "FACILITATOR_URL": "http://" + fac,
		"FACILITATOR_TOKEN": strings.TrimSpace(string(tok)), "PRICE": "700", "PORT": "0",
	})
	for i := 1; i <= 3; i++ {
		r := ok(t, mp(t, cons, chainURL, "get", fmt.Sprintf("%s/piece/%d", seller, i)))
		require.Equal(t, fmt.Sprintf("piece %d", i), strings.TrimSpace(r.stdout))
		require.Contains(t, r.stderr, "paid 700 base tokens")
	}
	r := ok(t, mp(t, prov, chainURL, "provider", "settle", "--admin", admin))
	require.Contains(t, r.stdout, "landed  paid 2,100 base tokens")
	var info warrantView
	require.NoError(t, json.Unmarshal([]byte(ok(t, mp(t, cons, chainURL, "--json", "warrant", "info", provAgent)).stdout), &info))
	require.EqualValues(t, 2_100, info.Paid)
	require.EqualValues(t, 2_000_000-2_100, info.Balance)
}

// nodeForExample returns the node command, or skips (outside CI) when it
// or client/js's packages are missing.
func nodeForExample(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat("../../client/js/node_modules/@x402/express")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node or client/js's packages missing (%v); in CI the x402 tests must run (.ci/run installs node and npm, make test their packages)", err)
		}
		t.Skipf("skipping: node or client/js's packages are missing (%v): install nodejs and run `make js`", err)
	}
	return node
}

// supportedNetwork asks the facilitator's GET /supported for its network.
func supportedNetwork(t *testing.T, url, token string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/supported", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var sup struct {
		Kinds []struct {
			Network string `json:"network"`
		} `json:"kinds"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&sup))
	require.Len(t, sup.Kinds, 1)
	return sup.Kinds[0].Network
}

// startExampleSeller builds client/js and starts docs/examples/express-seller.mjs
// with env; it returns the seller's URL and stops it with the test.
func startExampleSeller(t *testing.T, node string, env map[string]string) string {
	t.Helper()
	build := exec.Command("npm", "run", "--silent", "build")
	build.Dir = "../../client/js"
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build client/js: %s", out)
	cmd := exec.Command(node, "express-seller.mjs")
	cmd.Dir = "../../docs/examples"
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		url, found := strings.CutPrefix(strings.TrimSpace(line), "selling at ")
		require.True(t, found, "the example's first line: %q", line)
		return url
	case <-time.After(30 * time.Second):
		t.Fatal("the example seller did not start within 30 s")
		return ""
	}
}

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/iota.go/v3/nodeclient"
	"github.com/iotaledger/wasp/packages/parameters"
)

// TestCLIDeadNodeIsUnreachable: with nothing listening at --node, a command
// that needs the node says the node is unreachable, with its URL, and exits
// 3: not a usage error about an address it could not read for want of the
// node's L1 parameters.
func TestCLIDeadNodeIsUnreachable(t *testing.T) {
	dir := t.TempDir()
	dead := "http://" + freeAddr(t)
	ok(t, mp(t, dir, dead, "key", "new"))
	r := mp(t, dir, dead, "warrant", "add", "atoi1qqn885wfcll4d4ayamawzugg0eatjgvhp74xu87n3t89dy6tyew0spgjut7", "1000")
	require.Equal(t, exitUnreachable, r.code, r.stderr)
	require.Contains(t, r.stderr, "node unreachable")
	require.Contains(t, r.stderr, dead)
	require.NotContains(t, r.stderr, "is not an agent ID")
}

// guardedNode is a reverse proxy in front of a devnet that answers its
// admin routes (GET /v1/node/info, GET /v1/chains) 401 without the bearer
// token, as a Wasp node with JWT authentication does.
func guardedNode(t *testing.T, devnetURL, token string) string {
	t.Helper()
	target, err := url.Parse(devnetURL)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		admin := r.Method == http.MethodGet && (r.URL.Path == "/v1/node/info" || r.URL.Path == "/v1/chains")
		if admin && r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"message":"missing or malformed jwt"}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// l1Node serves an L1 node's public info route with the devnet's L1
// parameters (wasp's test parameters).
func l1Node(t *testing.T) string {
	t.Helper()
	info := nodeclient.InfoResponse{Name: "HORNET", Version: "2.0.2"}
	info.Protocol = *parameters.L1ForTesting.Protocol
	info.BaseToken = (*nodeclient.InfoResBaseToken)(parameters.L1ForTesting.BaseToken)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != nodeclient.RouteInfo {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&info)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestCLITokenAndSeveralNodes: against a node with JWT authentication the
// CLI says a token is wanted (exit 2) and works with --token
// (MICROPAY_TOKEN), or with no token given --chain-id and --l1; a dead node
// first in --node is passed over with --chain-id and --l1, and not with a
// token, which is the first node's only (exit 2, saying so); funds
// withdraw moves L2 funds to L1; the config file can hold the nodes (a YAML
// list) and the token.
func TestCLITokenAndSeveralNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the devnet as a process")
	}
	dir := t.TempDir()
	devAddr := freeAddr(t)
	startDaemon(t, filepath.Join(dir, "dev"), "http://"+devAddr, "devnet", "--listen", devAddr)
	guarded := guardedNode(t, "http://"+devAddr, "s3cret")
	dead := "http://" + freeAddr(t)
	nodes := dead + "," + guarded      // the first is dead
	tokenFirst := guarded + "," + dead // the token's node first
	home := filepath.Join(dir, "cons")
	ok(t, mp(t, home, nodes, "--token", "s3cret", "key", "new"))

	r := mp(t, home, nodes, "key", "register")
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "401 Unauthorized")
	require.Contains(t, r.stderr, "--token")
	r = mp(t, home, nodes, "--token", "s3cret", "key", "show")
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "--token is the first --node's and goes to no other node")

	r = ok(t, mp(t, home, tokenFirst, "--token", "s3cret", "--json", "key", "show"))
	var shown struct {
		AgentID string `json:"agentId"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &shown))

	var info struct {
		ChainID string `json:"chainId"`
	}
	resp, err := http.Get("http://" + devAddr + "/devnet/info")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
	resp.Body.Close()
	r = ok(t, mp(t, home, nodes, "--chain-id", info.ChainID, "--l1", l1Node(t), "--json", "key", "show"))
	require.True(t, strings.Contains(r.stdout, shown.AgentID), "no token: the same account, read over public routes: %s", r.stdout)

	// funds: withdraw to the key's L1 address; deposit needs the L1 node.
	ok(t, mp(t, home, "http://"+devAddr, "faucet", "--amount", "5_000_000"))
	r = ok(t, mp(t, home, tokenFirst, "--token", "s3cret", "funds", "withdraw", "1_000_000"))
	require.Contains(t, r.stdout, "withdrew 1,000,000 base tokens")
	r = mp(t, home, tokenFirst, "--token", "s3cret", "funds", "deposit", "1_000_000")
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "--l1")

	// The config-file form: a YAML list of nodes, the token.
	cfg := "node: [" + strings.ReplaceAll(tokenFirst, ",", ", ") + "]\ntoken: s3cret\n"
	require.NoError(t, os.WriteFile(filepath.Join(home, "config.yaml"), []byte(cfg), 0o600))
	r = ok(t, mp(t, home, "", "--json", "key", "show"))
	require.Contains(t, r.stdout, shown.AgentID)
}

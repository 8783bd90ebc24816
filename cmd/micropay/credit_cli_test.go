package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCLIGetSaysAFailedPieceWasCredited: the provider's upstream fails a
// paid piece; get says it was credited, and the next piece is paid by the
// credit, so the provider holds one price per piece received.
func TestCLIGetSaysAFailedPieceWasCredited(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the devnet and the provider as processes")
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/fail") {
			http.Error(w, "upstream down", http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte("ok " + r.URL.Path))
	}))
	defer upstream.Close()
	dir := t.TempDir()
	nodeAddr := freeAddr(t)
	node := "http://" + nodeAddr
	startDaemon(t, filepath.Join(dir, "dev"), node, "devnet", "--listen", nodeAddr)
	prov, cons := filepath.Join(dir, "prov"), filepath.Join(dir, "cons")
	for _, h := range []string{prov, cons} {
		ok(t, mp(t, h, node, "key", "new"))
		ok(t, mp(t, h, node, "faucet", "--amount", "50_000_000"))
	}
	ok(t, mp(t, cons, node, "warrant", "add", agentOf(t, prov, node), "2_000_000"))
	svc, admin := freeAddr(t), freeAddr(t)
	runDaemon(t, prov, node, "provider", "serve", "--listen", svc, "--admin", admin, "--price", "700", "--threshold", "0", "--upstream", upstream.URL)

	r := ok(t, mp(t, cons, node, "get", "http://"+svc+"/ok/1"))
	require.Contains(t, r.stderr, "paid 700 base tokens")
	r = mp(t, cons, node, "get", "http://"+svc+"/fail/2")
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "502 Bad Gateway")
	require.Contains(t, r.stderr, "the piece was credited, not charged")
	r = ok(t, mp(t, cons, node, "get", "http://"+svc+"/ok/3"))
	require.Contains(t, r.stderr, "paid 700 base tokens", "the piece costs its price, paid by the credit")
	r = ok(t, mp(t, prov, node, "--json", "provider", "status", "--admin", admin))
	require.Contains(t, r.stdout, `"lastTotal": 1400`, "two pieces received, two prices")
}

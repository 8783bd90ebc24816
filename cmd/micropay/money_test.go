package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/x402"
)

// moneyUpstream is the service behind the provider: every third request it
// fails with 502; the first request for /hang blocks until released, after
// the test has killed the provider, and keeps the payment header it came
// with (the reverse proxy forwards it) so the test can retry it.
type moneyUpstream struct {
	mu        sync.Mutex
	requests  int
	hungOnce  sync.Once
	hung      chan struct{} // closed when /hang is entered
	release   chan struct{}
	hungPayee string // PAYMENT-SIGNATURE of the hung request
}

func (u *moneyUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/hang" {
		first := false
		u.hungOnce.Do(func() { first = true })
		if first {
			u.mu.Lock()
			u.hungPayee = r.Header.Get(x402.HeaderSignature)
			u.mu.Unlock()
			close(u.hung)
			<-u.release
			return
		}
		_, _ = io.WriteString(w, "ok /hang")
		return
	}
	u.mu.Lock()
	u.requests++
	fail := u.requests%3 == 0
	u.mu.Unlock()
	if fail {
		http.Error(w, "upstream down", http.StatusBadGateway)
		return
	}
	_, _ = io.WriteString(w, "ok "+r.URL.Path)
}

// TestMoneyPiecesReceivedTimesPriceIsWhatTheChainPays runs the devnet,
// the provider and the consumer's get as separate processes. The upstream
// fails every third request and the provider is killed (SIGKILL) while it
// serves a paid request; the consumer retries that request's payment after
// the restart. At the end the chain pays the provider exactly pieces
// received × price.
func TestMoneyPiecesReceivedTimesPriceIsWhatTheChainPays(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the devnet, the provider and get as processes")
	}
	const price = 700
	u := &moneyUpstream{hung: make(chan struct{}), release: make(chan struct{})}
	upstream := httptest.NewServer(u)
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(u.release) }) }
	t.Cleanup(upstream.Close)
	t.Cleanup(release) // before Close, which waits for the hung handler

	dir := t.TempDir()
	nodeAddr := freeAddr(t)
	node := "http://" + nodeAddr
	startDaemon(t, filepath.Join(dir, "dev"), node, "devnet", "--listen", nodeAddr)
	prov, cons := filepath.Join(dir, "prov"), filepath.Join(dir, "cons")
	for _, h := range []string{prov, cons} {
		ok(t, mp(t, h, node, "key", "new"))
		ok(t, mp(t, h, node, "faucet", "--amount", "50_000_000"))
	}
	provAgent := agentOf(t, prov, node)
	ok(t, mp(t, cons, node, "warrant", "add", provAgent, "2_000_000"))
	svc, admin := freeAddr(t), freeAddr(t)
	serve := []string{"provider", "serve", "--listen", svc, "--admin", admin, "--price", fmt.Sprint(price), "--threshold", "0", "--upstream", upstream.URL}
	provider := runDaemon(t, prov, node, serve...)

	received := 0
	get := func(path string) {
		t.Helper()
		r := mp(t, cons, node, "get", "http://"+svc+path)
		if r.code == 0 {
			require.Contains(t, r.stdout, "ok "+path)
			received++
			return
		}
		require.Contains(t, r.stderr, "502", "only the upstream's failures fail a get: %s", r.stderr)
	}
	for i := 1; i <= 4; i++ { // upstream requests 1-4: the third fails
		get(fmt.Sprintf("/piece/%d", i))
	}

	// A paid request is in the provider when it is killed.
	hanging := exec.Command(binary, "--home", cons, "get", "http://"+svc+"/hang")
	hanging.Env = append(hanging.Environ(), "MICROPAY_NODE="+node)
	var hangErr strings.Builder
	hanging.Stderr = &hangErr
	require.NoError(t, hanging.Start())
	<-u.hung
	require.NoError(t, provider.cmd.Process.Signal(syscall.SIGKILL))
	_ = provider.cmd.Wait()
	release()
	waitExit(t, hanging) // get's own retry of the same payment meets no provider
	require.Equal(t, exitUnreachable, hanging.ProcessState.ExitCode(), "the consumer received nothing: %s", hangErr.String())
	require.Contains(t, hangErr.String(), "A retry is free")

	// Started again, the provider credits the piece it never finished; the
	// consumer's retry of that payment (sent here as get sent it, since
	// get's own retry came while no provider ran) is served and charged
	// nothing.
	provider = runDaemon(t, prov, node, serve...)
	u.mu.Lock()
	header := u.hungPayee
	u.mu.Unlock()
	require.NotEmpty(t, header)
	req, err := http.NewRequest(http.MethodGet, "http://"+svc+"/hang", nil)
	require.NoError(t, err)
	req.Header.Set(x402.HeaderSignature, header)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Equal(t, "ok /hang", string(body))
	var pr x402.PaymentResponse
	require.NoError(t, x402.Decode(resp.Header.Get(x402.HeaderResponse), &pr))
	require.Equal(t, x402.OutcomeReplayed, pr.Extra.Outcome)
	require.EqualValues(t, 0, pr.Extra.Price)
	received++

	for i := 5; i <= 8; i++ { // upstream requests 5-8: the sixth fails, the last is served
		get(fmt.Sprintf("/piece/%d", i))
	}
	require.Equal(t, 7, received, "3 of 4, the retried piece, 3 of 4")

	r := ok(t, mp(t, prov, node, "provider", "settle", "--admin", admin))
	require.Contains(t, r.stdout, "landed")
	var info warrantView
	require.NoError(t, json.Unmarshal([]byte(ok(t, mp(t, cons, node, "--json", "warrant", "info", provAgent)).stdout), &info))
	require.EqualValues(t, received*price, info.Paid, "pieces received × price = what the chain paid the provider")
	export := ok(t, mp(t, prov, node, "provider", "export", "--admin", admin, "--format", "csv")).stdout
	require.Equal(t, 2, strings.Count(export, ",credited,0"), "the two failed pieces, credited:\n%s", export)
}

// waitExit waits for cmd to end, killing it after a minute.
func waitExit(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not end", cmd.Args)
	}
}

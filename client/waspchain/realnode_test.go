//go:build !race

package waspchain_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/webapi/models"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/devnet"
	"github.com/micropay/micropay/client/waspchain"
)

// The tests on a devnet build without -race: the devnet moves Solo's
// logical clock, and wasp's utxodb writes it under a read lock (a race in
// wasp itself; see the Makefile's test-race).

// gate serves a devnet the way a real Wasp node's web API differs from it:
// with a token, the admin routes the package may call (GET /v1/node/info,
// GET /v1/chains) answer 401 without "Authorization: Bearer <token>", as
// wasp's JWT middleware does; with dropSubmit, it passes an off-ledger
// request on to the devnet and then drops the connection unanswered, as a
// node that dies right after accepting one; with dropWaits, its wait route
// drops every connection. It records the ID of every off-ledger request it
// receives.
type gate struct {
	h          http.Handler
	token      string
	dropSubmit atomic.Bool
	dropWaits  atomic.Bool // the wait route drops the connection unanswered

	mu        sync.Mutex
	submitted []isc.RequestID
	auth      map[string]string // path → the Authorization header it came with, when one did
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a := r.Header.Get("Authorization"); a != "" {
		g.mu.Lock()
		if g.auth == nil {
			g.auth = map[string]string{}
		}
		g.auth[r.URL.Path] = a
		g.mu.Unlock()
	}
	admin := r.Method == http.MethodGet && (r.URL.Path == "/v1/node/info" || r.URL.Path == "/v1/chains")
	if g.token != "" && admin && r.Header.Get("Authorization") != "Bearer "+g.token {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"message":"missing or malformed jwt"}`)
		return
	}
	if g.dropWaits.Load() && strings.HasSuffix(r.URL.Path, "/wait") {
		hangUp(w)
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == "/v1/requests/offledger" {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		g.record(body)
		if g.dropSubmit.Load() {
			g.h.ServeHTTP(httptest.NewRecorder(), r)
			hangUp(w)
			return
		}
	}
	g.h.ServeHTTP(w, r)
}

// hangUp closes the connection of w without an answer.
func hangUp(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
	}
}

func (g *gate) record(body []byte) {
	var m models.OffLedgerRequest
	if json.Unmarshal(body, &m) != nil {
		return
	}
	raw, err := iotago.DecodeHex(m.Request)
	if err != nil {
		return
	}
	req, err := isc.RequestFromBytes(raw)
	if err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.submitted = append(g.submitted, req.ID())
}

func (g *gate) ids() []isc.RequestID {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]isc.RequestID(nil), g.submitted...)
}

// testNet is one devnet chain served by several gated nodes.
type testNet struct {
	d     *devnet.Devnet
	fund  devnet.Client
	gates []*gate
	srvs  []*httptest.Server
}

func newTestNet(t *testing.T, nodes int, token string) *testNet {
	t.Helper()
	d, err := devnet.New(devnet.Config{})
	require.NoError(t, err)
	n := &testNet{d: d}
	for i := 0; i < nodes; i++ {
		g := &gate{h: d.Handler(), token: token}
		srv := httptest.NewServer(g)
		n.gates, n.srvs = append(n.gates, g), append(n.srvs, srv)
	}
	n.fund = devnet.Client{URL: n.srvs[0].URL}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, d.Shutdown(ctx))
		for _, s := range n.srvs {
			s.Close()
		}
	})
	return n
}

func (n *testNet) config() waspchain.Config {
	cfg := waspchain.Config{URL: n.srvs[0].URL, ChainID: n.d.ChainID().String(), ReceiptTimeout: 20 * time.Second}
	for _, s := range n.srvs[1:] {
		cfg.Nodes = append(cfg.Nodes, s.URL)
	}
	return cfg
}

// funded returns a key with amount base tokens on the chain.
func (n *testNet) funded(t *testing.T, amount uint64) *cryptolib.KeyPair {
	t.Helper()
	key := cryptolib.NewKeyPair()
	require.NoError(t, n.fund.Fund(context.Background(), chain.AgentOf(key), amount))
	return key
}

// closedURL is the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	return u
}

// parties returns a payer key with 10 M base tokens on the chain and a
// provider's agent ID with 1 M.
func (n *testNet) parties(t *testing.T) (*cryptolib.KeyPair, isc.AgentID) {
	t.Helper()
	return n.funded(t, 10_000_000), chain.AgentOf(n.funded(t, 1_000_000))
}

// connect connects to the net's nodes, the first one first.
func (n *testNet) connect(t *testing.T) *waspchain.Chain {
	t.Helper()
	c, err := waspchain.New(context.Background(), n.config())
	require.NoError(t, err)
	return c
}

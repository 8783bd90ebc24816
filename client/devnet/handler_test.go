package devnet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/wasp/clients/apiclient"
	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/devnet"
	"github.com/micropay/micropay/contract"
)

// answer is an HTTP answer of the devnet.
type answer struct {
	status int
	body   string
}

// errorBody decodes the body as a Wasp error.
func (a answer) errorBody(t *testing.T) devnet.ErrorBody {
	var e devnet.ErrorBody
	require.NoError(t, json.Unmarshal([]byte(a.body), &e), "not a Wasp error body: %s", a.body)
	return e
}

// requireError checks a Wasp error answer: its status, Message and a part
// of its Error.
func (a answer) requireError(t *testing.T, status int, message, detail string) {
	t.Helper()
	require.Equal(t, status, a.status, a.body)
	e := a.errorBody(t)
	require.Equal(t, message, e.Message, a.body)
	require.Contains(t, e.Error, detail, a.body)
}

func (n *node) do(t *testing.T, method, path, contentType, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, n.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := n.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, string(b)}
}

func (n *node) postJSON(t *testing.T, path string, v any) answer {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return n.do(t, http.MethodPost, path, "application/json", string(b))
}

// offLedger builds a signed request to publicKey as waspchain does.
func offLedger(chainID isc.ChainID, key *cryptolib.KeyPair, nonce uint64) isc.OffLedgerRequest {
	return isc.NewOffLedgerRequest(chainID, contract.Contract.Hname(), contract.FuncPublicKey.Hname(),
		dict.Dict{contract.ParamPublicKey: key.GetPublicKey().AsBytes()}, nonce, math.MaxUint64).Sign(key)
}

func (n *node) submit(t *testing.T, chainID isc.ChainID, raw []byte) answer {
	t.Helper()
	return n.postJSON(t, "/v1/requests/offledger", map[string]string{"chainId": chainID.String(), "request": iotago.EncodeHex(raw)})
}

func (n *node) wait(t *testing.T, id isc.RequestID, seconds int) answer {
	t.Helper()
	return n.do(t, http.MethodGet, fmt.Sprintf("/v1/chains/%s/requests/%s/wait?timeoutSeconds=%d", n.d.ChainID(), id, seconds), "", "")
}

func TestOffLedgerRefusesWhatANodeRefuses(t *testing.T) {
	n := startNode(t, "")
	id := n.d.ChainID()
	key := cryptolib.NewKeyPair()
	require.NoError(t, n.client.Fund(context.Background(), chain.AgentOf(key), 1_000_000))

	const invalid, failed = "Supplied offledger request is invalid", "Failed to execute contract request"
	n.do(t, "POST", "/v1/requests/offledger", "application/json", "{").requireError(t, 400, invalid, "unexpected EOF")
	n.do(t, "POST", "/v1/requests/offledger", "application/json", `{"chainId":7}`).requireError(t, 400, invalid, "cannot unmarshal")
	n.do(t, "POST", "/v1/requests/offledger", "text/plain", `{}`).requireError(t, 415, "Unsupported Media Type", "")
	n.do(t, "POST", "/v1/requests/offledger", "", "").requireError(t, 400, "Invalid property: ChainID", "")
	n.postJSON(t, "/v1/requests/offledger", map[string]string{"chainId": "atoi1xyz"}).requireError(t, 400, "Invalid property: ChainID", "")
	n.submit(t, isc.RandomChainID(), []byte{1}).requireError(t, 404, "Chain ID not found", "")
	n.postJSON(t, "/v1/requests/offledger", map[string]string{"chainId": id.String(), "request": "0xzz"}).requireError(t, 400, "Invalid property: Request", "")
	n.submit(t, id, nil).requireError(t, 400, failed, "off-ledger request expected")
	n.submit(t, id, []byte{0xff, 1, 2}).requireError(t, 400, failed, "off-ledger request expected")
	good := offLedger(id, key, 0).Bytes()
	n.submit(t, id, good[:len(good)/2]).requireError(t, 400, failed, "error parsing request")

	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-1] ^= 1
	n.submit(t, id, tampered).requireError(t, 400, failed, "could not verify")
	n.submit(t, id, offLedger(isc.RandomChainID(), key, 0).Bytes()).requireError(t, 400, failed, "request is for a different chain")
	n.submit(t, id, offLedger(id, cryptolib.NewKeyPair(), 0).Bytes()).requireError(t, 400, failed, "no funds on chain")

	req := offLedger(id, key, 0)
	require.Equal(t, answer{http.StatusAccepted, ""}, n.submit(t, id, req.Bytes()))
	require.Equal(t, http.StatusOK, n.wait(t, req.ID(), 10).status)
	n.submit(t, id, req.Bytes()).requireError(t, 400, failed, "request already processed")
	other := isc.NewOffLedgerRequest(id, contract.Contract.Hname(), contract.FuncPublicKey.Hname(), dict.Dict{}, 0, math.MaxUint64).Sign(key)
	n.submit(t, id, other.Bytes()).requireError(t, 400, failed, "bad nonce, expected: 1")
}

func TestRequestAheadOfItsNonceWaitsForTheGap(t *testing.T) {
	n := startNode(t, "")
	id := n.d.ChainID()
	key := cryptolib.NewKeyPair()
	require.NoError(t, n.client.Fund(context.Background(), chain.AgentOf(key), 1_000_000))
	second, first := offLedger(id, key, 1), offLedger(id, key, 0)
	require.Equal(t, http.StatusAccepted, n.submit(t, id, second.Bytes()).status)
	n.wait(t, second.ID(), 1).requireError(t, 408, "timeout while waiting for request to be processed", "")
	require.Equal(t, http.StatusAccepted, n.submit(t, id, first.Bytes()).status)
	for _, r := range []isc.OffLedgerRequest{first, second} {
		a := n.wait(t, r.ID(), 10)
		require.Equal(t, http.StatusOK, a.status, a.body)
		var receipt struct {
			Request struct {
				RequestID string `json:"requestId"`
			} `json:"request"`
			ErrorMessage string `json:"errorMessage"`
		}
		require.NoError(t, json.Unmarshal([]byte(a.body), &receipt))
		require.Equal(t, r.ID().String(), receipt.Request.RequestID)
		require.Empty(t, receipt.ErrorMessage)
	}
}

func TestReadRoutesRefuseMalformedInput(t *testing.T) {
	n := startNode(t, "")
	id := n.d.ChainID().String()
	agent := chain.AgentOf(cryptolib.NewKeyPair()).String()
	reqID := isc.NewRequestID(iotago.TransactionID{1}, 0).String()

	n.do(t, "GET", "/v1/chains/nope", "", "").requireError(t, 400, "Invalid property: chainID", "")
	n.do(t, "GET", "/v1/chains/"+isc.RandomChainID().String(), "", "").requireError(t, 404, "Chain ID not found", "")
	n.do(t, "GET", "/v1/chains/"+id+"/core/accounts/account/nope/balance", "", "").requireError(t, 400, "Invalid property: agentID", "")
	n.do(t, "GET", "/v1/chains/"+id+"/core/accounts/account/nope/nonce", "", "").requireError(t, 400, "Invalid property: agentID", "")
	n.do(t, "GET", "/v1/chains/"+id+"/core/accounts/account/"+agent+"/balance?block=x", "", "").requireError(t, 400, "Failed to execute contract request", "invalid block number")
	n.do(t, "GET", "/v1/chains/"+id+"/core/blocklog/events/request/nope", "", "").requireError(t, 400, "Invalid property: requestID", "")
	n.do(t, "GET", "/v1/chains/"+id+"/requests/nope/wait", "", "").requireError(t, 400, "Invalid property: requestID", "")
	n.wait(t, isc.NewRequestID(iotago.TransactionID{1}, 0), 1).requireError(t, 408, "timeout while waiting for request to be processed", "")

	view := "/v1/chains/" + id + "/callview"
	n.do(t, "POST", view, "application/json", "[").requireError(t, 400, "Invalid property: body", "")
	n.postJSON(t, view, map[string]any{"contractHName": "xyz"}).requireError(t, 400, "Invalid property: contractHName", "")
	n.postJSON(t, view, map[string]any{"contractName": "micropay", "functionHName": "xyz"}).requireError(t, 400, "Invalid property: functionHName", "")
	n.postJSON(t, view, map[string]any{"contractName": "micropay", "functionName": "getPublicKey",
		"arguments": map[string]any{"Items": []map[string]string{{"key": "zz", "value": "0x"}}}}).requireError(t, 400, "Invalid property: arguments", "")
	n.postJSON(t, view, map[string]any{"contractName": "micropay", "functionName": "nope"}).requireError(t, 400, "Failed to execute contract request", "")
	n.postJSON(t, view, map[string]any{"contractName": "micropay", "functionName": "getPublicKey"}).requireError(t, 400, "Failed to execute contract request", "")

	a := n.postJSON(t, view, map[string]any{"contractHName": contract.Contract.Hname().String(), "functionHName": contract.ViewGetWarrantInfo.Hname().String(),
		"arguments": chain.WarrantInfoParams(chain.AgentOf(cryptolib.NewKeyPair()), chain.AgentOf(cryptolib.NewKeyPair())).JSONDict()})
	require.Equal(t, http.StatusOK, a.status, a.body)
	var ret dict.Dict
	require.NoError(t, json.Unmarshal([]byte(a.body), &ret))
	require.Equal(t, dict.Dict{contract.ResultEpoch: codec.EncodeUint32(1)}, ret)

	require.Equal(t, answer{200, `{"events":[]}`}, n.do(t, "GET", "/v1/chains/"+id+"/core/blocklog/events/request/"+reqID, "", ""))
	a = n.do(t, "GET", "/v1/node/info", "", "")
	require.Equal(t, http.StatusOK, a.status, a.body)
	var node apiclient.InfoResponse
	require.NoError(t, json.Unmarshal([]byte(a.body), &node))
	require.Equal(t, string(parameters.L1().Protocol.Bech32HRP), node.L1Params.Protocol.Bech32Hrp, "clients take the L1 parameters from here")
	a = n.do(t, "GET", "/v1/chains/"+id, "", "")
	require.Equal(t, http.StatusOK, a.status, a.body)
	var chainInfo apiclient.ChainInfoResponse
	require.NoError(t, json.Unmarshal([]byte(a.body), &chainInfo))
	require.Equal(t, id, chainInfo.ChainID)
	require.True(t, chainInfo.IsActive)

	n.do(t, "GET", "/v1/nothing", "", "").requireError(t, 404, "Not Found", "")
	n.do(t, "DELETE", "/v1/chains/"+id, "", "").requireError(t, 404, "Not Found", "")
	n.do(t, "GET", "/v1/chains/"+id+"/core/blocklog/blocks/7/receipts", "", "").requireError(t, 404, "Not Found", "")
	n.do(t, "GET", "/v1/chains/"+id+"/core/blocklog/blocks/7", "", "").requireError(t, 400, "Failed to execute contract request", "out of range")
	n.do(t, "GET", "/v1/chains/"+id+"/core/blocklog/events/block/7", "", "").requireError(t, 400, "Failed to execute contract request", "")
	n.do(t, "GET", "/v1/chains/"+id+"/core/blocklog/blocks/-1", "", "").requireError(t, 400, "Invalid property: blockIndex", "")
	n.do(t, "GET", "/v1/chains/"+id+"/core/blocklog/events/block/4294967296", "", "").requireError(t, 400, "Invalid property: blockIndex", "")
}

func TestDevnetRoutesRefuseMalformedInput(t *testing.T) {
	n := startNode(t, "")
	agent := chain.AgentOf(cryptolib.NewKeyPair()).String()

	n.do(t, "POST", "/devnet/faucet", "application/json", "{").requireError(t, 400, "Invalid property: body", "")
	n.do(t, "POST", "/devnet/faucet", "text/html", "{}").requireError(t, 415, "Unsupported Media Type", "")
	n.postJSON(t, "/devnet/faucet", map[string]any{"agentId": "nope", "amount": 1}).requireError(t, 400, "Invalid property: agentId", "")
	n.postJSON(t, "/devnet/faucet", map[string]any{"agentId": agent}).requireError(t, 400, "Invalid property: amount", "")
	n.postJSON(t, "/devnet/faucet", map[string]any{"agentId": agent, "amount": devnet.MaxFaucetAmount + 1}).requireError(t, 400, "Invalid property: amount", "")
	for _, bad := range []string{`-1`, `"-1"`, `1.5`, `"1e3"`, `"18446744073709551616"`, `true`, `null`} {
		n.do(t, "POST", "/devnet/faucet", "application/json", `{"agentId":"`+agent+`","amount":`+bad+`}`).requireError(t, 400, "Invalid property: body", "")
	}

	a := n.postJSON(t, "/devnet/faucet", map[string]any{"agentId": agent, "amount": 1000})
	require.Equal(t, answer{200, `{"agentId":"` + agent + `","balance":"1000"}`}, a)
	a = n.postJSON(t, "/devnet/faucet", map[string]any{"agentId": agent, "amount": "500"})
	require.Equal(t, answer{200, `{"agentId":"` + agent + `","balance":"1500"}`}, a)

	n.postJSON(t, "/devnet/clock/advance", map[string]any{}).requireError(t, 400, "Invalid property: seconds", "")
	n.postJSON(t, "/devnet/clock/advance", map[string]any{"seconds": devnet.MaxClockAdvance + 1}).requireError(t, 400, "Invalid property: seconds", "")
	before, err := n.client.Info(context.Background())
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), before.Now, time.Hour, "a new chain's clock starts at the wall clock")
	now, err := n.client.AdvanceClock(context.Background(), 1500*time.Millisecond)
	require.NoError(t, err)
	require.True(t, before.Now.Add(2*time.Second).Equal(now), "rounded up to whole seconds: %s, then %s", before.Now, now)
	info, err := n.d.Info()
	require.NoError(t, err)
	require.True(t, info.Now.Equal(now))
	info.Now = time.Time{}
	require.Equal(t, devnet.Info{ChainID: n.d.ChainID().String(), ContractName: "micropay",
		ContractHname: contract.Contract.Hname().String(), BlockIndex: before.BlockIndex}, info)
}

func TestShutdownEndsWaitsAndRoutes(t *testing.T) {
	d, err := devnet.New(devnet.Config{})
	require.NoError(t, err)
	waiting := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/wait") {
			close(waiting)
		}
		d.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	n := &node{d: d, srv: srv}

	type result struct {
		status int
		err    error
	}
	waited := make(chan result, 1)
	go func() {
		resp, err := srv.Client().Get(fmt.Sprintf("%s/v1/chains/%s/requests/%s/wait?timeoutSeconds=60",
			srv.URL, d.ChainID(), isc.NewRequestID(iotago.TransactionID{1}, 0)))
		if err != nil {
			waited <- result{err: err}
			return
		}
		resp.Body.Close()
		waited <- result{status: resp.StatusCode}
	}()
	<-waiting
	require.NoError(t, d.Shutdown(context.Background()))
	select {
	case r := <-waited:
		require.NoError(t, r.err)
		require.Equal(t, http.StatusServiceUnavailable, r.status)
	case <-time.After(10 * time.Second):
		t.Fatal("a wait outlived Shutdown")
	}
	n.do(t, "GET", "/devnet/info", "", "").requireError(t, 503, "Service Unavailable", "shutting down")
	n.do(t, "GET", "/v1/chains", "", "").requireError(t, 503, "Service Unavailable", "")
	n.postJSON(t, "/devnet/faucet", map[string]any{"agentId": chain.AgentOf(cryptolib.NewKeyPair()).String(), "amount": 1}).requireError(t, 503, "Service Unavailable", "")
	n.submit(t, d.ChainID(), offLedger(d.ChainID(), cryptolib.NewKeyPair(), 0).Bytes()).requireError(t, 503, "Service Unavailable", "")
	_, err = d.Info()
	require.Error(t, err)
	require.NoError(t, d.Shutdown(context.Background()), "a second Shutdown does nothing")
}

// TestDevnetRoutesRequireJSON: the faucet and the clock change state, so a
// browser must not be able to call them with a "simple" cross-origin POST
// (no Content-Type, or text/plain, needs no CORS preflight): each needs
// application/json, or answers 415 and changes nothing.
func TestDevnetRoutesRequireJSON(t *testing.T) {
	n := startNode(t, "")
	agent := chain.AgentOf(cryptolib.NewKeyPair())
	before, err := n.client.Info(context.Background())
	require.NoError(t, err)
	faucet := `{"agentId":"` + agent.String() + `","amount":1000}`
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		n.do(t, "POST", "/devnet/faucet", ct, faucet).requireError(t, 415, "Unsupported Media Type", "application/json")
		n.do(t, "POST", "/devnet/clock/advance", ct, `{"seconds":3600}`).requireError(t, 415, "Unsupported Media Type", "application/json")
	}
	after, err := n.client.Info(context.Background())
	require.NoError(t, err)
	require.Equal(t, before.Now, after.Now, "a refused advance moved the clock")
	require.Equal(t, before.BlockIndex, after.BlockIndex, "a refused faucet call made a block")

	a := n.do(t, "POST", "/devnet/faucet", "application/json; charset=utf-8", faucet)
	require.Equal(t, 200, a.status, a.body)
}

package devnet

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/wasp/packages/chain"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/iotaledger/wasp/packages/vm/core/accounts"
	"github.com/iotaledger/wasp/packages/vm/core/evm"
	"github.com/iotaledger/wasp/packages/webapi/common"
	"github.com/iotaledger/wasp/packages/webapi/corecontracts"
	"github.com/iotaledger/wasp/packages/webapi/dto"
	"github.com/iotaledger/wasp/packages/webapi/models"
)

// Version is what GET /v1/node/info reports as the node's version.
const Version = "micropay-devnet (wasp v1.5.1)"

// Handler returns the devnet's HTTP handler: the Wasp routes and the devnet
// routes listed in the package documentation. Any other path answers 404
// with a Wasp error body.
func (d *Devnet) Handler() http.Handler { return d.handler }

func (d *Devnet) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/node/info", d.read(d.nodeInfo))
	mux.HandleFunc("GET /v1/chains", d.read(d.chainList))
	mux.HandleFunc("GET /v1/chains/{chainID}", d.read(d.onChain(d.chainInfo)))
	mux.HandleFunc("POST /v1/chains/{chainID}/callview", d.read(d.onChain(d.callView)))
	mux.HandleFunc("GET /v1/chains/{chainID}/requests/{requestID}/wait", d.onChain(d.waitForRequest))
	mux.HandleFunc("GET /v1/chains/{chainID}/core/accounts/account/{agentID}/balance", d.read(d.onChain(d.accountBalance)))
	mux.HandleFunc("GET /v1/chains/{chainID}/core/accounts/account/{agentID}/nonce", d.onChain(d.accountNonce))
	mux.HandleFunc("GET /v1/chains/{chainID}/core/blocklog/blocks/latest", d.read(d.onChain(d.latestBlock)))
	mux.HandleFunc("GET /v1/chains/{chainID}/core/blocklog/blocks/{blockIndex}", d.read(d.onChain(d.blockInfo)))
	mux.HandleFunc("GET /v1/chains/{chainID}/core/blocklog/events/request/{requestID}", d.read(d.onChain(d.requestEvents)))
	mux.HandleFunc("GET /v1/chains/{chainID}/core/blocklog/events/block/{blockIndex}", d.read(d.onChain(d.blockEvents)))
	mux.HandleFunc("POST /v1/requests/offledger", d.offLedger)
	mux.Handle("GET /v1/ws", d.feed)
	mux.HandleFunc("POST /devnet/faucet", d.faucet)
	mux.HandleFunc("POST /devnet/clock/advance", d.advanceClock)
	mux.HandleFunc("GET /devnet/info", d.read(d.info))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found", nil)
	})
	return d.recoverPanics(mux)
}

// recoverPanics answers 500 for a handler that panicked (a failed Solo
// assertion, say) instead of dropping the connection, as echo's Recover
// middleware does on a Wasp node.
func (d *Devnet) recoverPanics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				d.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p)
				writeError(w, http.StatusInternalServerError, "Internal Server Error", fmt.Errorf("%v", p))
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// read runs h holding the state lock for reading; 503 once shut down.
func (d *Devnet) read(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d.mu.RLock()
		defer d.mu.RUnlock()
		if d.closed {
			shuttingDown(w)
			return
		}
		h(w, r)
	}
}

// onChain checks the {chainID} of the path as a Wasp node does: 400 if it
// does not parse, 404 if it is not the devnet's chain.
func (d *Devnet) onChain(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.checkChain(w, r) {
			h(w, r)
		}
	}
}

func (d *Devnet) checkChain(w http.ResponseWriter, r *http.Request) bool {
	id, err := isc.ChainIDFromString(r.PathValue("chainID"))
	if err != nil {
		invalidProperty(w, "chainID", err)
		return false
	}
	if !id.Equals(d.id) {
		chainNotFound(w)
		return false
	}
	return true
}

func requestIDParam(w http.ResponseWriter, r *http.Request) (isc.RequestID, bool) {
	id, err := isc.RequestIDFromString(r.PathValue("requestID"))
	if err != nil {
		invalidProperty(w, "requestID", err)
		return isc.RequestID{}, false
	}
	return id, true
}

func agentIDParam(w http.ResponseWriter, r *http.Request) (isc.AgentID, bool) {
	a, err := isc.AgentIDFromString(r.PathValue("agentID"))
	if err != nil {
		invalidProperty(w, "agentID", err)
		return nil, false
	}
	return a, true
}

// blockIndexParam is the path's block index, a uint32 as a Wasp node
// parses it.
func blockIndexParam(w http.ResponseWriter, r *http.Request) (uint32, bool) {
	i, err := strconv.ParseUint(r.PathValue("blockIndex"), 10, 32)
	if err != nil {
		invalidProperty(w, "blockIndex", err)
		return 0, false
	}
	return uint32(i), true
}

// block is the optional block index or trie root a Wasp node reads state at.
func block(r *http.Request) string { return r.URL.Query().Get("block") }

func (d *Devnet) nodeInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, &models.InfoResponse{
		Version:   Version,
		PublicKey: d.e.Chain.StateControllerKeyPair.GetPublicKey().String(),
		L1Params:  models.MapL1Params(parameters.L1()),
	})
}

func (d *Devnet) chainInfoResponse(blockIndexOrTrieRoot string) (models.ChainInfoResponse, error) {
	info, err := corecontracts.GetChainInfo(d.e.Chain, blockIndexOrTrieRoot)
	if err != nil {
		return models.ChainInfoResponse{}, err
	}
	ret, err := common.CallView(d.e.Chain, evm.Contract.Hname(), evm.FuncGetChainID.Hname(), nil, blockIndexOrTrieRoot)
	if err != nil {
		return models.ChainInfoResponse{}, err
	}
	evmChainID, err := codec.DecodeUint16(ret.Get(evm.FieldResult))
	if err != nil {
		return models.ChainInfoResponse{}, err
	}
	return models.MapChainInfoResponse(dto.MapChainInfo(info, true), evmChainID), nil
}

func (d *Devnet) chainList(w http.ResponseWriter, r *http.Request) {
	info, err := d.chainInfoResponse("")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Internal Server Error", err)
		return
	}
	writeJSON(w, http.StatusOK, []models.ChainInfoResponse{info})
}

func (d *Devnet) chainInfo(w http.ResponseWriter, r *http.Request) {
	info, err := d.chainInfoResponse(block(r))
	if err != nil {
		contractExecutionError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (d *Devnet) callView(w http.ResponseWriter, r *http.Request) {
	var req models.ContractCallViewRequest
	if err := decodeJSON(w, r, &req); err != nil {
		bindError(w, err, func(w http.ResponseWriter, err error) { invalidProperty(w, "body", err) })
		return
	}
	contractHname, ok := hname(w, req.ContractName, req.ContractHName, "contractHName")
	if !ok {
		return
	}
	functionHname, ok := hname(w, req.FunctionName, req.FunctionHName, "functionHName")
	if !ok {
		return
	}
	args, err := dict.FromJSONDict(req.Arguments)
	if err != nil {
		invalidProperty(w, "arguments", err)
		return
	}
	ret, err := common.CallView(d.e.Chain, contractHname, functionHname, args, req.Block)
	if err != nil {
		contractExecutionError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ret)
}

// hname resolves a contract or function given by hname (preferred, hex) or
// by name, as a Wasp node does.
func hname(w http.ResponseWriter, name, hex, property string) (isc.Hname, bool) {
	if hex == "" {
		return isc.Hn(name), true
	}
	h, err := isc.HnameFromString(hex)
	if err != nil {
		invalidProperty(w, property, err)
		return 0, false
	}
	return h, true
}

func (d *Devnet) accountBalance(w http.ResponseWriter, r *http.Request) {
	agent, ok := agentIDParam(w, r)
	if !ok {
		return
	}
	assets, err := corecontracts.GetAccountBalance(d.e.Chain, agent, block(r))
	if err != nil {
		contractExecutionError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, &models.AssetsResponse{
		BaseTokens:   iotago.EncodeUint64(assets.BaseTokens),
		NativeTokens: isc.NativeTokensToJSONObject(assets.NativeTokens),
	})
}

// accountNonce answers without waiting for a block in progress, as a
// node serves it during consensus: a client submitting one request after
// another reads the nonce before each, and its next request should reach
// the pool for the next block, not wait for this one. The latest committed
// state is read directly (Solo's views would wait for the block); with
// ?block= the answer is read as the other routes read.
func (d *Devnet) accountNonce(w http.ResponseWriter, r *http.Request) {
	if d.quitting.Load() {
		shuttingDown(w)
		return
	}
	agent, ok := agentIDParam(w, r)
	if !ok {
		return
	}
	if b := block(r); b != "" {
		d.read(func(w http.ResponseWriter, r *http.Request) {
			n, err := corecontracts.GetAccountNonce(d.e.Chain, agent, b)
			if err != nil {
				contractExecutionError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, &models.AccountNonceResponse{Nonce: iotago.EncodeUint64(n)})
		})(w, r)
		return
	}
	st, err := d.e.Chain.LatestState(chain.ActiveOrCommittedState)
	if err != nil {
		contractExecutionError(w, err)
		return
	}
	nonce := accounts.NewStateAccess(st).Nonce(agent, d.id)
	writeJSON(w, http.StatusOK, &models.AccountNonceResponse{Nonce: iotago.EncodeUint64(nonce)})
}

func (d *Devnet) latestBlock(w http.ResponseWriter, r *http.Request) {
	info, err := corecontracts.GetLatestBlockInfo(d.e.Chain, block(r))
	if err != nil {
		contractExecutionError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, models.MapBlockInfoResponse(info))
}

func (d *Devnet) blockInfo(w http.ResponseWriter, r *http.Request) {
	index, ok := blockIndexParam(w, r)
	if !ok {
		return
	}
	info, err := corecontracts.GetBlockInfo(d.e.Chain, index, block(r))
	if err != nil {
		contractExecutionError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, models.MapBlockInfoResponse(info))
}

func (d *Devnet) requestEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := requestIDParam(w, r)
	if !ok {
		return
	}
	events, err := corecontracts.GetEventsForRequest(d.e.Chain, id, block(r))
	writeEvents(w, events, err)
}

func (d *Devnet) blockEvents(w http.ResponseWriter, r *http.Request) {
	index, ok := blockIndexParam(w, r)
	if !ok {
		return
	}
	events, err := corecontracts.GetEventsForBlock(d.e.Chain, index, block(r))
	writeEvents(w, events, err)
}

// writeEvents answers with events as a node's blocklog events routes do.
func writeEvents(w http.ResponseWriter, events []*isc.Event, err error) {
	if err != nil {
		contractExecutionError(w, err)
		return
	}
	out := make([]*isc.EventJSON, len(events))
	for i, ev := range events {
		out[i] = ev.ToJSONStruct()
	}
	writeJSON(w, http.StatusOK, models.EventsResponse{Events: out})
}

// Waits on the wait route: a Wasp node's default and maximum.
const (
	defaultWait = 30 * time.Second
	maxWait     = 60 * time.Second
	// pollWait is how often a wait rechecks the chain besides being woken
	// by the worker: requests Solo runs by itself (the contract's scheduled
	// closes) do not wake it.
	pollWait = 250 * time.Millisecond
)

func (d *Devnet) waitForRequest(w http.ResponseWriter, r *http.Request) {
	id, ok := requestIDParam(w, r)
	if !ok {
		return
	}
	wait := defaultWait
	if s, err := strconv.Atoi(r.URL.Query().Get("timeoutSeconds")); err == nil && s > 0 {
		wait = min(time.Duration(s)*time.Second, maxWait)
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(pollWait)
	defer poll.Stop()
	for {
		receipt, blocks, err := d.receipt(id)
		switch {
		case errors.Is(err, errClosed):
			shuttingDown(w)
			return
		case err != nil:
			writeError(w, http.StatusInternalServerError, "Internal Server Error", err)
			return
		case receipt != nil:
			writeJSON(w, http.StatusOK, receipt)
			return
		}
		select {
		case <-blocks:
		case <-poll.C:
		case <-deadline.C:
			requestTimeout(w, "timeout while waiting for request to be processed")
			return
		case <-r.Context().Done():
			return
		}
	}
}

// receipt returns the receipt of request id, nil if it has not been
// processed, and the channel closed after the next block.
func (d *Devnet) receipt(id isc.RequestID) (*models.ReceiptResponse, <-chan struct{}, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, nil, errClosed
	}
	done, err := corecontracts.IsRequestProcessed(d.e.Chain, id, "")
	if err != nil || !done {
		return nil, d.blocks, err
	}
	rec, err := corecontracts.GetRequestReceipt(d.e.Chain, id, "")
	if err != nil {
		return nil, nil, err
	}
	parsed, err := common.ParseReceipt(d.e.Chain, rec)
	if err != nil {
		return nil, nil, err
	}
	return models.MapReceiptResponse(parsed), nil, nil
}

func (d *Devnet) offLedger(w http.ResponseWriter, r *http.Request) {
	var body models.OffLedgerRequest
	if err := decodeJSON(w, r, &body); err != nil {
		bindError(w, err, invalidOffLedgerRequest)
		return
	}
	chainID, err := isc.ChainIDFromString(body.ChainID)
	if err != nil {
		invalidProperty(w, "ChainID", err)
		return
	}
	if !chainID.Equals(d.id) {
		chainNotFound(w)
		return
	}
	raw, err := iotago.DecodeHex(body.Request)
	if err != nil {
		invalidProperty(w, "Request", err)
		return
	}
	req, err := parseOffLedger(raw)
	if err == nil {
		err = d.enqueue(req)
	}
	switch {
	case errors.Is(err, errClosed):
		shuttingDown(w)
	case err != nil:
		contractExecutionError(w, err)
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

// parseOffLedger decodes an off-ledger request as a Wasp node's web API
// does, without trusting the bytes: a decoder panic becomes an error.
func parseOffLedger(b []byte) (req isc.OffLedgerRequest, err error) {
	if len(b) == 0 || !isc.IsOffledgerKind(b[0]) {
		return nil, errors.New("error parsing request: off-ledger request expected")
	}
	defer func() {
		if recover() != nil {
			req, err = nil, errors.New("error parsing request from payload")
		}
	}()
	r, err := isc.RequestFromBytes(b)
	if err != nil {
		return nil, errors.New("error parsing request from payload")
	}
	req, ok := r.(isc.OffLedgerRequest)
	if !ok {
		return nil, errors.New("error parsing request: off-ledger request expected")
	}
	return req, nil
}

package waspchain_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/wasp/clients/apiclient"
	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/webapi/models"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/waspchain"
	"github.com/micropay/micropay/contract"
)

// fakeNode answers the routes waspchain uses with canned behaviour, to
// test how Post maps what a node does onto outcomes. Its account nonce is
// fixed, as on a node whose requests are never processed.
type fakeNode struct {
	t     *testing.T
	id    isc.ChainID
	nonce uint64

	mu        sync.Mutex
	submitted []isc.OffLedgerRequest
	// submit answers POST /v1/requests/offledger after the request was
	// read and recorded; nil accepts it.
	submit func(w http.ResponseWriter)
	// wait answers the wait route; nil sends a successful receipt.
	wait func(w http.ResponseWriter, id isc.RequestID)
	// events answers the events route; nil sends one event.
	events func(w http.ResponseWriter)
}

const fakeNonce = 5

func newFakeNode(t *testing.T) (*fakeNode, *waspchain.Chain) {
	f := &fakeNode{t: t, id: isc.RandomChainID(), nonce: fakeNonce}
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	c, err := waspchain.New(context.Background(), waspchain.Config{
		URL:            srv.URL,
		ChainID:        f.id.String(),
		HTTPClient:     srv.Client(),
		ReceiptTimeout: 500 * time.Millisecond,
	})
	require.NoError(t, err)
	return f, c
}

func (f *fakeNode) handler() http.Handler {
	mux := http.NewServeMux()
	chainPath := "/v1/chains/" + f.id.String()
	mux.HandleFunc("GET "+chainPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, models.ChainInfoResponse{ChainID: f.id.String(), IsActive: true})
	})
	mux.HandleFunc("GET "+chainPath+"/core/accounts/account/{agentID}/nonce", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, models.AccountNonceResponse{Nonce: iotago.EncodeUint64(f.nonce)})
	})
	mux.HandleFunc("POST /v1/requests/offledger", func(w http.ResponseWriter, r *http.Request) {
		var body models.OffLedgerRequest
		require.NoError(f.t, json.NewDecoder(r.Body).Decode(&body))
		raw, err := iotago.DecodeHex(body.Request)
		require.NoError(f.t, err)
		req, err := isc.RequestFromBytes(raw)
		require.NoError(f.t, err)
		f.mu.Lock()
		f.submitted = append(f.submitted, req.(isc.OffLedgerRequest))
		submit := f.submit
		f.mu.Unlock()
		if submit == nil {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		submit(w)
	})
	mux.HandleFunc("GET "+chainPath+"/requests/{requestID}/wait", func(w http.ResponseWriter, r *http.Request) {
		id, err := isc.RequestIDFromString(r.PathValue("requestID"))
		require.NoError(f.t, err)
		f.mu.Lock()
		wait := f.wait
		f.mu.Unlock()
		if wait == nil {
			writeJSON(w, receipt(id, ""))
			return
		}
		wait(w, id)
	})
	mux.HandleFunc("GET "+chainPath+"/core/blocklog/events/request/{requestID}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		events := f.events
		f.mu.Unlock()
		if events != nil {
			events(w)
			return
		}
		writeJSON(w, models.EventsResponse{Events: []*isc.EventJSON{{
			ContractID: contract.Contract.Hname(), Topic: contract.TopicSettled, Timestamp: 7, Payload: "0x0102",
		}}})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// receipt is what a node answers for a processed request; vmErr is the
// resolved error message of a rejected one.
func receipt(id isc.RequestID, vmErr string) apiclient.ReceiptResponse {
	code := ""
	r := apiclient.ReceiptResponse{
		Request:       apiclient.RequestJSON{RequestId: id.String()},
		RawError:      &apiclient.UnresolvedVMErrorJSON{Code: &code},
		GasBudget:     "18446744073709551615",
		GasBurned:     "1234",
		GasFeeCharged: "1300",
		BlockIndex:    3,
	}
	if vmErr != "" {
		code = "0x1234:1"
		r.ErrorMessage = &vmErr
	}
	return r
}

// drop closes the connection without answering.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// set changes the fake's behaviour while its handlers may run.
func (f *fakeNode) set(change func(f *fakeNode)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func (f *fakeNode) requests() []isc.OffLedgerRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]isc.OffLedgerRequest(nil), f.submitted...)
}

func (f *fakeNode) nonces() []uint64 {
	var out []uint64
	for _, r := range f.requests() {
		out = append(out, r.Nonce())
	}
	return out
}

func post(c *waspchain.Chain, key *cryptolib.KeyPair) (*chain.Receipt, error) {
	return c.Post(context.Background(), key, chain.Request{Entry: contract.FuncAddWarrant.Name, Allowance: 10})
}

func TestPostSuccess(t *testing.T) {
	f, c := newFakeNode(t)
	key := cryptolib.NewKeyPair()
	rec, err := post(c, key)
	require.NoError(t, err)
	require.EqualValues(t, 1234, rec.GasBurned)
	require.EqualValues(t, 1300, rec.GasFee)
	require.Equal(t, []*isc.Event{{ContractID: contract.Contract.Hname(), Topic: contract.TopicSettled, Timestamp: 7, Payload: []byte{1, 2}}}, rec.Events)

	reqs := f.requests()
	require.Len(t, reqs, 1)
	req := reqs[0]
	require.Equal(t, rec.RequestID, req.ID())
	require.NoError(t, req.VerifySignature())
	require.True(t, req.SenderAccount().Equals(chain.AgentOf(key)))
	require.Equal(t, contract.Contract.Hname(), req.CallTarget().Contract)
	require.Equal(t, contract.FuncAddWarrant.Hname(), req.CallTarget().EntryPoint)
	require.EqualValues(t, 10, req.Allowance().BaseTokens)
	require.EqualValues(t, fakeNonce, req.Nonce())
	require.True(t, req.ChainID().Equals(f.id))
}

func TestPostRejectedIsDefinite(t *testing.T) {
	f, c := newFakeNode(t)
	f.set(func(f *fakeNode) {
		f.wait = func(w http.ResponseWriter, id isc.RequestID) {
			writeJSON(w, receipt(id, "signature is not the payer's"))
		}
	})
	rec, err := post(c, cryptolib.NewKeyPair())
	var rej *chain.Rejected
	require.ErrorAs(t, err, &rej)
	require.Equal(t, "signature is not the payer's", rej.Message)
	require.NotErrorIs(t, err, chain.ErrUnknownOutcome)
	require.Same(t, rec, rej.Receipt)
	require.EqualValues(t, 1300, rec.GasFee)
	require.Len(t, rec.Events, 1)
}

func TestPostRefusedIsNeitherRejectedNorUnknown(t *testing.T) {
	f, c := newFakeNode(t)
	key := cryptolib.NewKeyPair()
	f.set(func(f *fakeNode) {
		f.submit = func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"Message":"Failed to execute contract request","Error":"tx not added to the mempool: no funds on chain"}`)
		}
	})
	_, err := post(c, key)
	require.Error(t, err)
	require.False(t, chain.IsRejected(err))
	require.NotErrorIs(t, err, chain.ErrUnknownOutcome)
	var apiErr *waspchain.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
	require.Equal(t, "tx not added to the mempool: no funds on chain", apiErr.Detail)

	f.set(func(f *fakeNode) { f.submit = nil })
	_, err = post(c, key)
	require.NoError(t, err)
	require.Equal(t, []uint64{fakeNonce, fakeNonce}, f.nonces(), "a refused request's nonce is taken again")
}

func TestPostDroppedAfterAcceptIsUnknown(t *testing.T) {
	f, c := newFakeNode(t)
	key := cryptolib.NewKeyPair()
	_, err := post(c, key)
	require.NoError(t, err)
	f.set(func(f *fakeNode) { f.submit = drop })
	_, err = post(c, key)
	require.ErrorIs(t, err, chain.ErrUnknownOutcome)
	require.False(t, chain.IsRejected(err))
	require.Len(t, f.requests(), 2, "the node received the request")

	f.set(func(f *fakeNode) { f.submit = nil })
	_, err = post(c, key)
	require.NoError(t, err)
	require.Equal(t, []uint64{fakeNonce, fakeNonce + 1, fakeNonce}, f.nonces(),
		"after an unknown outcome the node's nonce is used again")
}

func TestPostNoReceiptIsUnknown(t *testing.T) {
	for name, wait := range map[string]func(http.ResponseWriter, isc.RequestID){
		"timeout": func(w http.ResponseWriter, _ isc.RequestID) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestTimeout)
			_, _ = io.WriteString(w, `{"Message":"timeout while waiting for request to be processed","Error":""}`)
		},
		"dropped":       func(w http.ResponseWriter, _ isc.RequestID) { drop(w) },
		"empty receipt": func(w http.ResponseWriter, _ isc.RequestID) { writeJSON(w, models.ReceiptResponse{}) },
		"chain gone":    func(w http.ResponseWriter, _ isc.RequestID) { w.WriteHeader(http.StatusNotFound) },
		"garbage": func(w http.ResponseWriter, _ isc.RequestID) {
			writeJSON(w, map[string]any{"gasBudget": "1", "gasBurned": "x"})
		},
	} {
		t.Run(name, func(t *testing.T) {
			f, c := newFakeNode(t)
			f.set(func(f *fakeNode) { f.wait = wait })
			start := time.Now()
			rec, err := post(c, cryptolib.NewKeyPair())
			require.ErrorIs(t, err, chain.ErrUnknownOutcome)
			require.False(t, chain.IsRejected(err))
			require.Nil(t, rec)
			require.Less(t, time.Since(start), 5*time.Second, "bounded by the receipt timeout")
		})
	}
}

func TestPostCancelledWhileWaitingIsUnknown(t *testing.T) {
	f, c := newFakeNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	f.set(func(f *fakeNode) {
		f.wait = func(w http.ResponseWriter, _ isc.RequestID) {
			cancel()
			w.WriteHeader(http.StatusRequestTimeout)
		}
	})
	_, err := c.Post(ctx, cryptolib.NewKeyPair(), chain.Request{Entry: contract.FuncSettle.Name})
	require.ErrorIs(t, err, chain.ErrUnknownOutcome)
	require.ErrorIs(t, err, context.Canceled)

	_, err = c.Post(ctx, cryptolib.NewKeyPair(), chain.Request{Entry: contract.FuncSettle.Name})
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, chain.ErrUnknownOutcome, "nothing was sent")
}

func TestPostEventsUnreadable(t *testing.T) {
	f, c := newFakeNode(t)
	f.set(func(f *fakeNode) {
		f.events = func(w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) }
	})
	rec, err := post(c, cryptolib.NewKeyPair())
	require.ErrorIs(t, err, chain.ErrUnknownOutcome, "the caller must read state to learn what it did")
	require.NotNil(t, rec, "the receipt is known")
	require.EqualValues(t, 1300, rec.GasFee)
}

func TestConcurrentPostsTakeConsecutiveNonces(t *testing.T) {
	f, c := newFakeNode(t)
	key, other := cryptolib.NewKeyPair(), cryptolib.NewKeyPair()
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		for _, k := range []*cryptolib.KeyPair{key, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := post(c, k)
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	byKey := map[string][]uint64{}
	for _, r := range f.requests() {
		k := r.SenderAccount().String()
		byKey[k] = append(byKey[k], r.Nonce())
	}
	require.Len(t, byKey, 2)
	for _, got := range byKey {
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		want := make([]uint64, n)
		for i := range want {
			want[i] = fakeNonce + uint64(i)
		}
		require.Equal(t, want, got)
	}
}

func TestNewChecksTheChain(t *testing.T) {
	f := &fakeNode{t: t, id: isc.RandomChainID()}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	ctx := context.Background()

	_, err := waspchain.New(ctx, waspchain.Config{URL: srv.URL, ChainID: isc.RandomChainID().String()})
	var apiErr *waspchain.APIError
	require.ErrorAs(t, err, &apiErr, "another chain: the node answers 404")
	require.Equal(t, http.StatusNotFound, apiErr.StatusCode)

	_, err = waspchain.New(ctx, waspchain.Config{URL: srv.URL, ChainID: "not a chain"})
	require.Error(t, err)
	_, err = waspchain.New(ctx, waspchain.Config{URL: "localhost:1"})
	require.Error(t, err, "not an absolute URL")

	_, err = waspchain.New(ctx, waspchain.Config{URL: srv.URL})
	require.ErrorAs(t, err, &apiErr, "the fake node has no GET /v1/chains")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = waspchain.New(cancelled, waspchain.Config{URL: srv.URL, ChainID: f.id.String()})
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
}

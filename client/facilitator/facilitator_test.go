package facilitator_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/facilitator"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/client/x402"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

const (
	price   = 700
	funds   = 1_000_000_000
	warrant = 900_000_000
	token   = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// rig is a real provider (pebble store, embedded chain) behind its
// facilitator on loopback HTTP, and a payer with a warrant.
type rig struct {
	e        *solochain.Embedded
	provider *provider.Provider
	provSeam *chain.Metered
	store    *store.Pebble
	prov     isc.AgentID
	payer    isc.AgentID
	payKey   *cryptolib.KeyPair
	payerObj *consumer.Payer
	consumer *consumer.Consumer
	clock    *clock.Mock // the provider's timers and cache ages
	url      string
}

func newRig(t testing.TB) *rig {
	t.Helper()
	ctx := context.Background()
	e, err := solochain.New(solochain.Options{Name: t.Name()})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	provKey, payKey := cryptolib.NewKeyPair(), cryptolib.NewKeyPair()
	prov, payer := chain.AgentOf(provKey), chain.AgentOf(payKey)
	require.NoError(t, e.Fund(ctx, prov, funds))
	require.NoError(t, e.Fund(ctx, payer, funds))
	st, err := store.Open(filepath.Join(t.TempDir(), "provider"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	provSeam := &chain.Metered{Chain: e}
	mock := clock.NewMock()
	p, err := provider.New(ctx, provider.Config{Chain: provSeam, Key: provKey, Store: st, PollInterval: 30 * time.Second, Clock: mock,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	states, err := consumer.OpenPayerState(filepath.Join(t.TempDir(), "payer"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = states.Close() })
	c := &consumer.Consumer{Chain: e, Key: payKey, Payer: consumer.NewPayer(e, payKey, states)}
	_, err = c.AddWarrant(ctx, prov, warrant, 0)
	require.NoError(t, err)
	f, err := facilitator.New(facilitator.Config{Provider: p, Token: token, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return &rig{e: e, provider: p, provSeam: provSeam, store: st, prov: prov, payer: payer, payKey: payKey, payerObj: c.Payer, consumer: c, clock: mock, url: srv.URL}
}

// requirements are what a resource server selling at price asks.
func (r *rig) requirements() x402.Requirements {
	return x402.Requirements{
		Scheme: x402.Scheme, Network: x402.Network(r.e.ID().String()), Amount: price, Asset: x402.Asset,
		PayTo: r.prov.String(), MaxTimeoutSeconds: 60, Extra: x402.Terms{Contract: contract.Contract.Hname().String()},
	}
}

// request wraps pay as the resource server would send it for resource.
func (r *rig) request(pay payment.Payment, resource string) *facilitator.Request {
	req := r.requirements()
	return &facilitator.Request{
		X402Version: 2,
		PaymentPayload: facilitator.PaymentPayload{
			X402Version: 2, Resource: &x402.Resource{URL: resource}, Accepted: req,
			Payload: x402.SignedPayment{Payer: r.payer.String(), Payment: hex.EncodeToString(pay.Bytes())},
		},
		PaymentRequirements: req,
	}
}

// sign signs a payment with the payer's key directly, outside the payer's
// bookkeeping, for stale and tampered inputs.
func (r *rig) sign(epoch uint32, ordinal, total uint64) payment.Payment {
	return payment.Sign(r.payKey.GetPrivateKey().AsStdKey(), r.payerObj.Warrant(r.prov), epoch, ordinal, total)
}

func (r *rig) pay(t testing.TB) payment.Payment {
	t.Helper()
	pay, err := r.payerObj.Pay(context.Background(), r.prov, 1, price)
	require.NoError(t, err)
	return pay
}

// post sends body to path with the token and decodes the answer into out.
func (r *rig) post(t testing.TB, path string, body any, out any) int {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	return r.do(t, http.MethodPost, path, bytes.NewReader(b), token, out)
}

func (r *rig) do(t testing.TB, method, path string, body io.Reader, tok string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), string(b))
	}
	return resp.StatusCode
}

// receipts counts the receipts the provider's store holds.
func (r *rig) receipts(t testing.TB) int {
	t.Helper()
	n := 0
	require.NoError(t, r.store.Receipts(context.Background(), store.ReceiptFilter{}, func(store.Receipt) error { n++; return nil }))
	return n
}

// TestSupportedAndAuth: GET /supported names the scheme, the network, the
// provider and payment-identifier; every endpoint refuses a request
// without the bearer token (401) or with another.
func TestSupportedAndAuth(t *testing.T) {
	r := newRig(t)
	var sup facilitator.SupportedResponse
	require.Equal(t, http.StatusOK, r.do(t, http.MethodGet, "/supported", nil, token, &sup))
	require.Len(t, sup.Kinds, 1)
	k := sup.Kinds[0]
	require.Equal(t, 2, k.X402Version)
	require.Equal(t, "micropay-warrant", k.Scheme)
	require.Equal(t, "iota-isc:"+r.e.ID().String(), k.Network)
	require.Equal(t, r.prov.String(), k.Extra["payTo"])
	require.Equal(t, contract.Contract.Hname().String(), k.Extra["contract"])
	require.Equal(t, []string{"payment-identifier"}, sup.Extensions)
	for _, path := range []string{"/supported", "/verify", "/settle"} {
		method := http.MethodPost
		if path == "/supported" {
			method = http.MethodGet
		}
		require.Equal(t, http.StatusUnauthorized, r.do(t, method, path, strings.NewReader("{}"), "", nil), path)
		require.Equal(t, http.StatusUnauthorized, r.do(t, method, path, strings.NewReader("{}"), strings.Repeat("f", 64), nil), path)
	}
	require.Zero(t, r.receipts(t))
}

// TestVerifyStoresNothingSettleStoresAndTheSettlerRedeems: /verify
// accepts a payment and stores nothing; /settle stores it and answers the
// commitment identifier and the charge; verifying it again is refused (a
// stored payment buys nothing more); settling it again is a replay
// charged 0; the provider's settler redeems the newest payment on chain:
// balances to the token.
func TestVerifyStoresNothingSettleStoresAndTheSettlerRedeems(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	pay := r.pay(t)
	req := r.request(pay, "http://shop/piece/1")

	var v facilitator.VerifyResponse
	require.Equal(t, http.StatusOK, r.post(t, "/verify", req, &v))
	require.True(t, v.IsValid, v.InvalidMessage)
	require.Equal(t, r.payer.String(), v.Payer)
	require.EqualValues(t, price, v.Extra.Price)
	require.Zero(t, r.receipts(t), "verify stores nothing")

	var s facilitator.SettleResponse
	require.Equal(t, http.StatusOK, r.post(t, "/settle", req, &s))
	require.True(t, s.Success, s.ErrorMessage)
	require.Equal(t, "micropay:1:1", s.Transaction)
	require.Equal(t, "iota-isc:"+r.e.ID().String(), s.Network)
	require.EqualValues(t, price, *s.Amount)
	require.Equal(t, x402.OutcomeServed, s.Extra.Outcome)
	require.EqualValues(t, warrant-price, s.Extra.Backed)
	require.Equal(t, 1, r.receipts(t))

	require.Equal(t, http.StatusOK, r.post(t, "/verify", req, &v))
	require.False(t, v.IsValid, "a stored payment buys nothing more")
	require.Equal(t, facilitator.ReasonPrefix+"ordinal_not_increasing", v.InvalidReason)
	require.EqualValues(t, 1, v.Extra.Position.LastOrdinal)

	var again facilitator.SettleResponse
	require.Equal(t, http.StatusOK, r.post(t, "/settle", req, &again))
	require.True(t, again.Success, again.ErrorMessage)
	require.EqualValues(t, 0, *again.Amount, "a replay is not charged again")
	require.Equal(t, x402.OutcomeReplayed, again.Extra.Outcome)
	require.Equal(t, 1, r.receipts(t))

	second := r.pay(t)
	require.Equal(t, http.StatusOK, r.post(t, "/settle", r.request(second, "http://shop/piece/2"), &s))
	require.True(t, s.Success, s.ErrorMessage)
	require.Equal(t, "micropay:1:2", s.Transaction)

	before, err := r.e.L2Balance(ctx, r.prov)
	require.NoError(t, err)
	feesBefore := r.provSeam.Fees()
	_, err = r.provider.SettleNow(ctx, nil)
	require.NoError(t, err)
	info, err := r.e.WarrantInfo(ctx, r.payer, r.prov)
	require.NoError(t, err)
	require.EqualValues(t, 2*price, info.Paid)
	require.EqualValues(t, warrant-2*price, info.Balance)
	after, err := r.e.L2Balance(ctx, r.prov)
	require.NoError(t, err)
	require.Equal(t, before+2*price-(r.provSeam.Fees()-feesBefore), after, "provider: both pieces less the settle's gas")
	require.NoError(t, solochain.Do(func() { r.e.Chain.CheckAccountLedger() }))
}

// TestPaymentIdentifierMakesSettleIdempotent: a repeated id with the same
// payload gets the first answer (charged the price, not a replay); the
// same id with another payment is invalid_payload and stores nothing.
func TestPaymentIdentifierMakesSettleIdempotent(t *testing.T) {
	r := newRig(t)
	withID := func(req *facilitator.Request, id string) *facilitator.Request {
		req.PaymentPayload.Extensions = map[string]json.RawMessage{
			"payment-identifier": json.RawMessage(`{"info":{"required":false,"id":"` + id + `"}}`),
		}
		return req
	}
	req := withID(r.request(r.pay(t), "http://shop/a"), "pay_7d5d747be160e280504c099d984bcfe0")
	var first, again facilitator.SettleResponse
	require.Equal(t, http.StatusOK, r.post(t, "/settle", req, &first))
	require.True(t, first.Success, first.ErrorMessage)
	require.Equal(t, http.StatusOK, r.post(t, "/settle", req, &again))
	require.Equal(t, first, again)
	require.EqualValues(t, price, *again.Amount)

	other := withID(r.request(r.pay(t), "http://shop/b"), "pay_7d5d747be160e280504c099d984bcfe0")
	var reused facilitator.SettleResponse
	require.Equal(t, http.StatusOK, r.post(t, "/settle", other, &reused))
	require.False(t, reused.Success)
	require.Equal(t, facilitator.ReasonPayload, reused.ErrorReason)
	require.Contains(t, reused.ErrorMessage, "another payment")

	short := withID(r.request(r.pay(t), "http://shop/c"), "short")
	require.Equal(t, http.StatusOK, r.post(t, "/settle", short, &reused))
	require.Equal(t, facilitator.ReasonPayload, reused.ErrorReason)
	require.Equal(t, 1, r.receipts(t))
}

// TestBadInputIsRefusedAsX402SaysAndStoresNothing: a tampered payload, a
// replayed older payment, a wrong network, scheme or version, requirements
// the payload did not accept, and stale cumulative totals are each
// answered isValid/success false with x402's reason, on /verify and on
// /settle; nothing is stored and no funds move. A stale total's refusal
// carries the payer's position for the corrective 402.
func TestBadInputIsRefusedAsX402SaysAndStoresNothing(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	var ok facilitator.SettleResponse
	for i := 0; i < 2; i++ {
		require.Equal(t, http.StatusOK, r.post(t, "/settle", r.request(r.pay(t), "http://shop/"+string(rune('a'+i))), &ok))
		require.True(t, ok.Success, ok.ErrorMessage)
	}
	// The position now: epoch 1, ordinal 2, total 2*price.
	infoBefore, err := r.e.WarrantInfo(ctx, r.payer, r.prov)
	require.NoError(t, err)
	first := r.sign(1, 1, price)

	cases := []struct {
		name     string
		req      func() *facilitator.Request
		reason   string
		position bool
	}{
		{"tampered total", func() *facilitator.Request {
			p := r.sign(1, 3, 3*price)
			p.Total += 1_000 // the signature no longer covers it
			return r.request(p, "http://shop/t")
		}, facilitator.ReasonPrefix + "bad_signature", true},
		{"tampered payTo", func() *facilitator.Request {
			req := r.request(r.sign(1, 3, 3*price), "http://shop/t")
			req.PaymentRequirements.PayTo, req.PaymentPayload.Accepted.PayTo = r.payer.String(), r.payer.String()
			return req
		}, facilitator.ReasonRequirements, false},
		{"replayed older payment", func() *facilitator.Request { return r.request(first, "http://shop/other") },
			facilitator.ReasonPrefix + "ordinal_not_increasing", true},
		{"wrong network", func() *facilitator.Request {
			req := r.request(r.sign(1, 3, 3*price), "http://shop/t")
			req.PaymentRequirements.Network, req.PaymentPayload.Accepted.Network = "eip155:8453", "eip155:8453"
			return req
		}, facilitator.ReasonNetwork, false},
		{"wrong scheme", func() *facilitator.Request {
			req := r.request(r.sign(1, 3, 3*price), "http://shop/t")
			req.PaymentRequirements.Scheme, req.PaymentPayload.Accepted.Scheme = "exact", "exact"
			return req
		}, facilitator.ReasonScheme, false},
		{"wrong version", func() *facilitator.Request {
			req := r.request(r.sign(1, 3, 3*price), "http://shop/t")
			req.PaymentPayload.X402Version = 1
			return req
		}, facilitator.ReasonVersion, false},
		{"accepted a lower price", func() *facilitator.Request {
			req := r.request(r.sign(1, 3, 3*price), "http://shop/t")
			req.PaymentPayload.Accepted.Amount = 1
			return req
		}, facilitator.ReasonRequirements, false},
		{"stale total: below what was accepted", func() *facilitator.Request { return r.request(r.sign(1, 3, price), "http://shop/t") },
			facilitator.ReasonPrefix + "total_below_paid", true},
		{"stale total: no increment", func() *facilitator.Request { return r.request(r.sign(1, 3, 2*price), "http://shop/t") },
			facilitator.ReasonPrefix + "underpaid", true},
		{"stale epoch", func() *facilitator.Request { return r.request(r.sign(2, 1, price), "http://shop/t") },
			facilitator.ReasonPrefix + "wrong_epoch", true},
		{"over the balance", func() *facilitator.Request { return r.request(r.sign(1, 3, warrant+1), "http://shop/t") },
			facilitator.ReasonFunds, true},
		{"malformed payment", func() *facilitator.Request {
			req := r.request(r.sign(1, 3, 3*price), "http://shop/t")
			req.PaymentPayload.Payload.Payment = req.PaymentPayload.Payload.Payment[:80]
			return req
		}, facilitator.ReasonPayload, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v facilitator.VerifyResponse
			require.Equal(t, http.StatusOK, r.post(t, "/verify", c.req(), &v))
			require.False(t, v.IsValid)
			require.Equal(t, c.reason, v.InvalidReason, v.InvalidMessage)
			require.NotEmpty(t, v.InvalidMessage)
			if c.position {
				require.NotNil(t, v.Extra, "a refusal states the position")
				require.EqualValues(t, 1, v.Extra.Position.Epoch)
				require.EqualValues(t, 2, v.Extra.Position.LastOrdinal)
				require.EqualValues(t, 2*price, v.Extra.Position.LastTotal)
			} else {
				require.Nil(t, v.Extra)
			}
			var s facilitator.SettleResponse
			require.Equal(t, http.StatusOK, r.post(t, "/settle", c.req(), &s))
			require.False(t, s.Success)
			require.Equal(t, c.reason, s.ErrorReason, s.ErrorMessage)
			require.Empty(t, s.Transaction)
			require.Equal(t, 2, r.receipts(t), "nothing stored")
		})
	}
	_, err = r.provider.SettleNow(ctx, nil)
	require.NoError(t, err)
	info, err := r.e.WarrantInfo(ctx, r.payer, r.prov)
	require.NoError(t, err)
	require.EqualValues(t, 2*price, info.Paid, "only the two accepted payments are redeemed")
	require.Equal(t, infoBefore.Balance-2*price, info.Balance)
}

// TestMalformedBodies: an undecodable body is 400 and one over 64 KiB is
// 413, each with the response type's JSON naming invalid_payload.
func TestMalformedBodies(t *testing.T) {
	r := newRig(t)
	var v facilitator.VerifyResponse
	require.Equal(t, http.StatusBadRequest, r.do(t, http.MethodPost, "/verify", strings.NewReader("{"), token, &v))
	require.Equal(t, facilitator.ReasonPayload, v.InvalidReason)
	big := `{"x402Version":2,"paymentPayload":{"payload":{"payer":"` + strings.Repeat("a", 70<<10) + `"}}}`
	var s facilitator.SettleResponse
	require.Equal(t, http.StatusRequestEntityTooLarge, r.do(t, http.MethodPost, "/settle", strings.NewReader(big), token, &s))
	require.Equal(t, facilitator.ReasonPayload, s.ErrorReason)
	require.Zero(t, r.receipts(t))
}

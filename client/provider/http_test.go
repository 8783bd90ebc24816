package provider_test

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/x402"
	"github.com/micropay/micropay/contract/payment"
)

const piecePrice = 1_000

// meterToken is the POST /pay credential of the test servers.
const meterToken = "meter0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"

// server runs the provider's HTTP surface on loopback: a paywalled /piece,
// the POST /pay endpoint, the operator API and /metrics.
func (h *harness) server() *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle("/piece", h.p.Paywall(provider.FixedPrice(piecePrice, "one piece"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "the piece")
	})))
	pay, err := h.p.PayHandler(provider.PayConfig{Price: piecePrice, Token: meterToken})
	require.NoError(h.t, err)
	mux.Handle("/pay", pay)
	mux.Handle("/operator/", http.StripPrefix("/operator", operatorAPI(h.t, h.p)))
	srv := httptest.NewServer(mux)
	h.t.Cleanup(srv.Close)
	return srv
}

func newMetricsHarness(t *testing.T) (*harness, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *provider.Config) { c.Metrics = provider.NewMetrics(reg) })
	provider.CollectWarrants(reg, h.p)
	return h, reg
}

func (h *harness) signatureHeader(p payment.Payment) string {
	hdr, err := x402.Encode(x402.PaymentPayload{
		X402Version: x402.Version,
		Accepted: x402.Requirements{
			Scheme: x402.Scheme, Network: x402.Network(h.chain.ID().String()), Amount: piecePrice,
			Asset: x402.Asset, PayTo: h.prov.String(),
		},
		Payload: x402.SignedPayment{Payer: h.payer.String(), Payment: hex.EncodeToString(p.Bytes())},
	})
	require.NoError(h.t, err)
	return hdr
}

func get(t *testing.T, url string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestPaywall(t *testing.T) {
	h := newHarness(t)
	srv := h.server()

	resp := get(t, srv.URL+"/piece", map[string]string{x402.HeaderPayer: h.payer.String()})
	require.Equal(t, http.StatusPaymentRequired, resp.StatusCode)
	var pr x402.PaymentRequired
	require.NoError(t, x402.Decode(resp.Header.Get(x402.HeaderRequired), &pr))
	require.Equal(t, x402.Version, pr.X402Version)
	require.Len(t, pr.Accepts, 1)
	offer := pr.Accepts[0]
	require.Equal(t, x402.Scheme, offer.Scheme)
	require.EqualValues(t, piecePrice, offer.Amount)
	require.Equal(t, h.prov.String(), offer.PayTo)
	require.Equal(t, x402.Network(h.chain.ID().String()), offer.Network)
	require.Equal(t, h.payer.String(), offer.Extra.Payer, "the payer's position is included")
	require.EqualValues(t, 1, offer.Extra.Epoch)
	require.EqualValues(t, warrantFunds, offer.Extra.Backed)

	resp = get(t, srv.URL+"/piece", map[string]string{x402.HeaderSignature: h.signatureHeader(h.next(piecePrice))})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, "the piece", string(body))
	var pres x402.PaymentResponse
	require.NoError(t, x402.Decode(resp.Header.Get(x402.HeaderResponse), &pres))
	require.True(t, pres.Success)
	require.EqualValues(t, 1, pres.Extra.Ordinal)
	require.EqualValues(t, piecePrice, pres.Extra.Total)
	require.EqualValues(t, warrantFunds-piecePrice, pres.Extra.Backed)
}

// TestRejectionsOverHTTP: every refusal reason, through the paywall and the
// POST endpoint: the status, the reason, and nothing stored.
func TestRejectionsOverHTTP(t *testing.T) {
	h, reg := newMetricsHarness(t)
	srv := h.server()
	resp := get(t, srv.URL+"/piece", map[string]string{x402.HeaderSignature: h.signatureHeader(h.next(piecePrice))})
	require.Equal(t, http.StatusOK, resp.StatusCode)

	badSig := h.sign(1, 2, 2*piecePrice)
	badSig.Signature[5] ^= 1
	cases := []struct {
		name   string
		pay    payment.Payment
		reason string
	}{
		{"wrong epoch", h.sign(2, 2, 2*piecePrice), "wrong_epoch"},
		{"replayed ordinal", h.sign(1, 1, 2*piecePrice), "ordinal_not_increasing"},
		{"total below accepted", h.sign(1, 2, piecePrice-1), "total_below_paid"},
		{"underpaid", h.sign(1, 2, piecePrice+1), "underpaid"},
		{"overspending", h.sign(1, 2, warrantFunds+1), "over_balance"},
		{"forged", badSig, "bad_signature"},
	}
	for _, c := range cases {
		t.Run("paywall/"+c.name, func(t *testing.T) {
			before, _ := h.newest()
			resp := get(t, srv.URL+"/piece", map[string]string{x402.HeaderSignature: h.signatureHeader(c.pay)})
			require.Equal(t, http.StatusPaymentRequired, resp.StatusCode)
			var pr x402.PaymentRequired
			require.NoError(t, x402.Decode(resp.Header.Get(x402.HeaderRequired), &pr))
			require.Equal(t, c.reason, pr.Reason)
			require.NotEmpty(t, pr.Error)
			var pres x402.PaymentResponse
			require.NoError(t, x402.Decode(resp.Header.Get(x402.HeaderResponse), &pres))
			require.False(t, pres.Success)
			require.Equal(t, c.reason, pres.ErrorReason)
			after, _ := h.newest()
			// The payment, not its outcome: an earlier piece's served mark is
			// written after its answer, so it may land between the two reads.
			require.Equal(t, before.Payment, after.Payment, "nothing stored")
		})
		t.Run("post/"+c.name, func(t *testing.T) {
			before, _ := h.newest()
			status, body := h.postPay(srv.URL, h.payer.String(), hex.EncodeToString(c.pay.Bytes()))
			require.Equal(t, http.StatusPaymentRequired, status)
			require.Equal(t, c.reason, body["reason"])
			after, _ := h.newest()
			// The payment, not its outcome: an earlier piece's served mark is
			// written after its answer, so it may land between the two reads.
			require.Equal(t, before.Payment, after.Payment, "nothing stored")
		})
	}

	good := h.sign(1, 2, 2*piecePrice)
	malformed := []struct {
		name    string
		headers map[string]string
	}{
		{"not base64", map[string]string{x402.HeaderSignature: "%%%"}},
		{"short payment", map[string]string{x402.HeaderSignature: h.headerWith(func(p *x402.PaymentPayload) { p.Payload.Payment = p.Payload.Payment[:20] })}},
		{"other network", map[string]string{x402.HeaderSignature: h.headerWith(func(p *x402.PaymentPayload) { p.Accepted.Network = "iota-isc:other" })}},
		{"other provider", map[string]string{x402.HeaderSignature: h.headerWith(func(p *x402.PaymentPayload) { p.Accepted.PayTo = h.payer.String() })}},
		{"bad payer", map[string]string{x402.HeaderSignature: h.headerWith(func(p *x402.PaymentPayload) { p.Payload.Payer = "nobody" })}},
	}
	_ = good
	for _, c := range malformed {
		t.Run("paywall/malformed/"+c.name, func(t *testing.T) {
			before, _ := h.newest()
			resp := get(t, srv.URL+"/piece", c.headers)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			var body map[string]string
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			require.Equal(t, provider.ReasonMalformed, body["reason"])
			after, _ := h.newest()
			require.Equal(t, before.Payment, after.Payment, "nothing stored")
		})
	}
	for name, hexPay := range map[string]string{"not hex": "zz", "wrong version": "02" + hex.EncodeToString(good.Bytes()[1:]), "long": hex.EncodeToString(append(good.Bytes(), 0))} {
		t.Run("post/malformed/"+name, func(t *testing.T) {
			status, body := h.postPay(srv.URL, h.payer.String(), hexPay)
			require.Equal(t, http.StatusBadRequest, status)
			require.Equal(t, provider.ReasonMalformed, body["reason"])
		})
	}

	metrics := scrape(t, reg)
	require.Contains(t, metrics, `micropay_payments_rejected_total{reason="bad_signature"} 2`)
	require.Contains(t, metrics, "micropay_payments_accepted_total 1")
	require.Contains(t, metrics, "micropay_warrant_unsettled_base_tokens{payer=")
}

func (h *harness) headerWith(mut func(p *x402.PaymentPayload)) string {
	p := x402.PaymentPayload{
		X402Version: x402.Version,
		Accepted: x402.Requirements{
			Scheme: x402.Scheme, Network: x402.Network(h.chain.ID().String()), Amount: piecePrice,
			Asset: x402.Asset, PayTo: h.prov.String(),
		},
		Payload: x402.SignedPayment{Payer: h.payer.String(), Payment: hex.EncodeToString(h.sign(1, 2, 2*piecePrice).Bytes())},
	}
	mut(&p)
	hdr, err := x402.Encode(p)
	require.NoError(h.t, err)
	return hdr
}

// postPay POSTs a payment to /pay with the meter credential.
func (h *harness) postPay(base, payer, hexPayment string) (int, map[string]any) {
	b, _ := json.Marshal(provider.PayRequest{Payer: payer, Payment: hexPayment, Resource: "call-42"})
	req, err := http.NewRequest(http.MethodPost, base+"/pay", bytes.NewReader(b))
	require.NoError(h.t, err)
	req.Header.Set("Authorization", "Bearer "+meterToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(h.t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func scrape(t *testing.T, reg *prometheus.Registry) string {
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestPostPayAndOperatorAPI(t *testing.T) {
	h, reg := newMetricsHarness(t)
	srv := h.server()
	for i := 0; i < 3; i++ {
		status, body := h.postPay(srv.URL, h.payer.String(), hex.EncodeToString(h.next(2_000).Bytes()))
		require.Equal(t, http.StatusOK, status, "%v", body)
		require.Equal(t, true, body["accepted"])
	}

	resp := get(t, srv.URL+"/operator/warrants", operatorAuth)
	var ws []provider.WarrantView
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ws))
	require.Len(t, ws, 1)
	require.EqualValues(t, 6_000, ws[0].Unsettled)
	require.EqualValues(t, 3, ws[0].LastOrdinal)

	r := operatorPost(t, srv.URL+"/operator/settle?payer="+h.payer.String())
	require.Equal(t, http.StatusOK, r.StatusCode)
	var settled struct{ Settlements []provider.SettlementView }
	require.NoError(t, json.NewDecoder(r.Body).Decode(&settled))
	require.Len(t, settled.Settlements, 1)
	require.Equal(t, "landed", settled.Settlements[0].State)
	require.EqualValues(t, 6_000, settled.Settlements[0].Paid)
	require.EqualValues(t, 6_000, h.info().Paid)

	resp = get(t, srv.URL+"/operator/receipts?format=csv", operatorAuth)
	rows, err := csv.NewReader(resp.Body).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4, "header and three receipts")
	require.Contains(t, strings.Join(rows[0], ","), "ordinal")
	require.Equal(t, h.payer.String(), rows[1][0], "agent IDs as the chain's tools print them")
	require.Equal(t, h.prov.String(), rows[1][1])

	resp = get(t, srv.URL+"/operator/receipts?format=jsonl&payer="+h.payer.String(), operatorAuth)
	b, _ := io.ReadAll(resp.Body)
	require.Len(t, strings.Split(strings.TrimSpace(string(b)), "\n"), 3)
	resp = get(t, srv.URL+"/operator/receipts?format=xml", operatorAuth)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	metrics := scrape(t, reg)
	require.Contains(t, metrics, `micropay_settlements_total{outcome="landed"} 1`)
	require.Contains(t, metrics, "micropay_settled_base_tokens_total 6000")
}

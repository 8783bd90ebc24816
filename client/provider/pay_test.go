package provider_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract/payment"
)

// postPayRaw POSTs body to /pay with the Authorization header auth (none
// if empty) and returns the status, the decoded answer and the headers.
func postPayRaw(t *testing.T, base, auth string, body io.Reader) (int, map[string]any, http.Header) {
	t.Helper()
	status, answer, header := postPayBytes(t, base, auth, body)
	var out map[string]any
	require.NoError(t, json.Unmarshal(answer, &out), "%s", answer)
	return status, out, header
}

// postPayBytes is postPayRaw with the answer as sent.
func postPayBytes(t *testing.T, base, auth string, body io.Reader) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/pay", body)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, answer, resp.Header
}

func (h *harness) payBody(pay string, extra map[string]any) io.Reader {
	m := map[string]any{"payer": h.payer.String(), "payment": pay, "resource": "call-1"}
	for k, v := range extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	require.NoError(h.t, err)
	return bytes.NewReader(b)
}

// TestPayNeedsMeterToken: POST /pay without the meter token, or with a
// wrong one, is 401 and stores nothing.
func TestPayNeedsMeterToken(t *testing.T) {
	h := newHarness(t)
	srv := h.server()
	pay := hex.EncodeToString(h.next(piecePrice).Bytes())
	for name, auth := range map[string]string{
		"none":         "",
		"wrong token":  "Bearer " + strings.Repeat("0", len(meterToken)),
		"token prefix": "Bearer " + meterToken[:len(meterToken)-1],
		"not bearer":   "Basic " + meterToken,
	} {
		t.Run(name, func(t *testing.T) {
			status, body, hdr := postPayRaw(t, srv.URL, auth, h.payBody(pay, nil))
			require.Equal(t, http.StatusUnauthorized, status)
			require.Equal(t, "unauthorized", body["reason"])
			require.Contains(t, hdr.Get("WWW-Authenticate"), "Bearer")
			_, stored := h.newest()
			require.False(t, stored, "nothing stored")
		})
	}
	status, body, _ := postPayRaw(t, srv.URL, "Bearer "+meterToken, h.payBody(pay, nil))
	require.Equal(t, http.StatusOK, status, "%v", body)
}

// TestPayPriceComesFromConfig: the price of a POSTed piece is the
// configured one: a payment raising the total by less (or by nothing) is
// refused and burns nothing; a request naming another price is refused;
// an accepted receipt carries the increment paid.
func TestPayPriceComesFromConfig(t *testing.T) {
	h := newHarness(t)
	srv := h.server()
	auth := "Bearer " + meterToken

	for name, total := range map[string]uint64{"zero increment": 0, "below the price": piecePrice - 1} {
		t.Run(name, func(t *testing.T) {
			status, body, _ := postPayRaw(t, srv.URL, auth, h.payBody(hex.EncodeToString(h.sign(1, 1, total).Bytes()), nil))
			require.Equal(t, http.StatusPaymentRequired, status)
			require.Equal(t, "underpaid", body["reason"], "%v", body)
			_, stored := h.newest()
			require.False(t, stored, "nothing stored: the payment is still the consumer's to spend")
		})
	}
	status, body, _ := postPayRaw(t, srv.URL, auth, h.payBody(hex.EncodeToString(h.sign(1, 1, 0).Bytes()), map[string]any{"price": "0"}))
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body["error"], "configured price of 1000")

	status, body, _ = postPayRaw(t, srv.URL, auth, h.payBody(hex.EncodeToString(h.next(piecePrice).Bytes()), map[string]any{"price": "1000"}))
	require.Equal(t, http.StatusOK, status, "%v", body)
	status, body, _ = postPayRaw(t, srv.URL, auth, h.payBody(hex.EncodeToString(h.next(3*piecePrice).Bytes()), nil))
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Equal(t, "3000", body["receipt"].(map[string]any)["price"], "the increment paid")
	r, _ := h.newest()
	require.EqualValues(t, 3*piecePrice, r.Price)
}

// TestPayBodyLimit: a POST /pay body over 4 KiB is 413, declared or
// chunked.
func TestPayBodyLimit(t *testing.T) {
	h := newHarness(t)
	srv := h.server()
	big := h.payBody(hex.EncodeToString(h.next(piecePrice).Bytes()), map[string]any{"resource": strings.Repeat("r", 8<<10)})
	status, body, _ := postPayRaw(t, srv.URL, "Bearer "+meterToken, io.MultiReader(big))
	require.Equal(t, http.StatusRequestEntityTooLarge, status, "%v", body)
	require.Contains(t, body["error"], "over 4096 bytes")
	_, stored := h.newest()
	require.False(t, stored)
}

func TestPayHandlerConfig(t *testing.T) {
	h := newHarness(t)
	_, err := h.p.PayHandler(provider.PayConfig{Price: 0, Token: meterToken})
	require.ErrorContains(t, err, "Price is 0")
	_, err = h.p.PayHandler(provider.PayConfig{Price: piecePrice, Token: "short"})
	require.ErrorContains(t, err, "meter token of 5 characters")
}

// TestAcceptRefusesZeroPrice: a piece priced 0 buys nothing, so a payment
// offered for it is refused before any look-up and not stored.
func TestAcceptRefusesZeroPrice(t *testing.T) {
	h := newHarness(t)
	_, err := h.accept(h.sign(1, 1, 0), 0)
	rej, ok := provider.IsRejection(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, provider.ReasonZeroPrice, rej.Reason)
	_, stored := h.newest()
	require.False(t, stored)
	require.Zero(t, provider.WarrantStates(h.p))
}

// secondPayer opens a warrant of a new payer for h's provider and returns
// a signer of its payments.
func (h *harness) secondPayer() (isc.AgentID, func(ordinal, total uint64) payment.Payment) {
	key := cryptolib.NewKeyPair()
	agent := chain.AgentOf(key)
	require.NoError(h.t, h.chain.Fund(h.ctx, agent, 50_000_000))
	_, err := chain.AddWarrant(h.ctx, h.chain, key, chain.AddWarrantRequest{Provider: h.prov, Amount: warrantFunds, RegisterKey: true})
	require.NoError(h.t, err)
	w := chain.PaymentWarrant(h.chain, agent, h.prov)
	return agent, func(ordinal, total uint64) payment.Payment {
		return payment.Sign(key.GetPrivateKey().AsStdKey(), w, 1, ordinal, total)
	}
}

// postBatch POSTs items as a PayBatch and returns the status and answer.
func postBatch(t *testing.T, base string, items []map[string]any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"payments": items})
	require.NoError(t, err)
	status, answer, _ := postPayBytes(t, base, "Bearer "+meterToken, bytes.NewReader(b))
	return status, answer
}

// storedOrdinals lists the ordinals the store holds for payer's warrant.
func (h *harness) storedOrdinals(payer isc.AgentID) []uint64 {
	w := h.p.WarrantID(payer)
	var out []uint64
	require.NoError(h.t, h.store.Receipts(h.ctx, store.ReceiptFilter{Warrant: &w}, func(r store.Receipt) error {
		out = append(out, r.Payment.Ordinal)
		return nil
	}))
	return out
}

// TestPayBatchRefusesOnlyTheBadPayment: a batch of five payments, of two
// payers, with one bad signature and one unreadable payer among them, gets
// 200 with a result per payment in order: the good ones accepted with
// their receipts and stored before the answer (then concluded served), the
// bad ones refused each with its reason, stored nowhere.
func TestPayBatchRefusesOnlyTheBadPayment(t *testing.T) {
	h := newHarness(t)
	srv := h.server()
	other, signOther := h.secondPayer()
	item := func(payer string, p payment.Payment) map[string]any {
		return map[string]any{"payer": payer, "payment": hex.EncodeToString(p.Bytes()), "resource": "call"}
	}
	forged := h.next(piecePrice) // ordinal 1 with a broken signature
	forged.Signature[0] ^= 1
	items := []map[string]any{
		item(h.payer.String(), forged),
		item(h.payer.String(), h.next(piecePrice)), // ordinal 2
		item("not-an-agent-id", h.next(piecePrice)),
		item(other.String(), signOther(1, piecePrice)),
		item(h.payer.String(), h.next(piecePrice)), // ordinal 4
	}
	status, answer := postBatch(t, srv.URL, items)
	require.Equal(t, http.StatusOK, status, "%s", answer)
	var got provider.PayBatchResponse
	require.NoError(t, json.Unmarshal(answer, &got))
	require.Len(t, got.Results, len(items))

	require.False(t, got.Results[0].Accepted)
	require.Equal(t, "bad_signature", got.Results[0].Reason, "%+v", got.Results[0])
	require.NotEmpty(t, got.Results[0].Error)
	require.False(t, got.Results[2].Accepted)
	require.Equal(t, provider.ReasonMalformed, got.Results[2].Reason)
	require.Contains(t, got.Results[2].Error, "not-an-agent-id")
	for i, ordinal := range map[int]uint64{1: 2, 3: 1, 4: 4} {
		res := got.Results[i]
		require.True(t, res.Accepted, "payment %d: %+v", i, res)
		require.NotNil(t, res.Receipt)
		require.Equal(t, ordinal, res.Receipt.Ordinal, "payment %d", i)
	}
	require.EqualValues(t, 2*piecePrice, got.Results[1].Receipt.Price, "ordinal 2 pays for the forged ordinal 1's increment too")

	require.Equal(t, []uint64{2, 4}, h.storedOrdinals(h.payer), "stored before the answer; the forged payment is not")
	require.Equal(t, []uint64{1}, h.storedOrdinals(other))
	waitFor(t, "the batch's pieces concluded served", func() bool {
		r, _ := h.newest()
		return r.Outcome == store.Served
	})
}

// TestPayBatchOverTheBoundRefusedWhole: a batch of MaxPayBatch+1 payments
// is refused whole with 413 and a clear error, storing none of them; a
// body carrying both a payment and a batch is 400.
func TestPayBatchOverTheBoundRefusedWhole(t *testing.T) {
	h := newHarness(t)
	srv := h.server()
	items := make([]map[string]any, provider.MaxPayBatch+1)
	for i := range items {
		items[i] = map[string]any{"payer": h.payer.String(), "payment": hex.EncodeToString(h.next(piecePrice).Bytes())}
	}
	status, answer := postBatch(t, srv.URL, items)
	require.Equal(t, http.StatusRequestEntityTooLarge, status, "%s", answer)
	require.Contains(t, string(answer), "at most 64 payments")
	require.Empty(t, h.storedOrdinals(h.payer))

	status, answer = postBatch(t, srv.URL, items[:provider.MaxPayBatch])
	require.Equal(t, http.StatusOK, status, "%s", answer)
	require.Len(t, h.storedOrdinals(h.payer), provider.MaxPayBatch, "a batch at the bound is taken")

	body, err := json.Marshal(map[string]any{"payer": h.payer.String(), "payments": items[:1]})
	require.NoError(t, err)
	status, out, _ := postPayRaw(t, srv.URL, "Bearer "+meterToken, bytes.NewReader(body))
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, out["error"], "not both")
}

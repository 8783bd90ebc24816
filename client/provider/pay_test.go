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

	"github.com/micropay/micropay/client/provider"
)

// postPayRaw POSTs body to /pay with the Authorization header auth (none
// if empty) and returns the status, the decoded answer and the headers.
func postPayRaw(t *testing.T, base, auth string, body io.Reader) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/pay", body)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out, resp.Header
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

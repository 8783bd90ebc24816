package devnet_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/devnet"
)

func FuzzUint64(f *testing.F) {
	for _, s := range []string{`0`, `"0"`, `18446744073709551615`, `"18446744073709551616"`, `-1`, `1e3`, `" 1"`, `"`, `null`, `"+1"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var u devnet.Uint64
		if err := json.Unmarshal(b, &u); err != nil {
			return
		}
		out, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		var back devnet.Uint64
		if err := json.Unmarshal(out, &back); err != nil || back != u {
			t.Fatalf("%s read as %d, written as %s, read back as %d (%v)", b, u, out, back, err)
		}
		if want := `"` + strconv.FormatUint(uint64(u), 10) + `"`; string(out) != want {
			t.Fatalf("written as %s, want %s", out, want)
		}
	})
}

// serve runs one request through the devnet's handler.
func serve(d *devnet.Devnet, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, req)
	return rec
}

// requireWaspAnswer checks that a status is one the route may answer and
// that an error comes with a Wasp error body.
func requireWaspAnswer(t *testing.T, rec *httptest.ResponseRecorder, allowed ...int) {
	for _, s := range allowed {
		if rec.Code == s {
			if s >= 400 {
				var e devnet.ErrorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == nil {
					t.Fatalf("status %d with body %q: not a Wasp error", rec.Code, rec.Body)
				}
			}
			return
		}
	}
	t.Fatalf("status %d (%s), want one of %v", rec.Code, rec.Body, allowed)
}

func FuzzOffLedgerRoute(f *testing.F) {
	d, err := devnet.New(devnet.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = d.Shutdown(context.Background()) })
	key := cryptolib.NewKeyPair()
	good := isc.NewOffLedgerRequest(d.ChainID(), isc.Hn("micropay"), isc.Hn("publicKey"), nil, 0, 1000).Sign(key)
	f.Add(d.ChainID().String(), iotago.EncodeHex(good.Bytes()), "")
	f.Add(d.ChainID().String(), "0x00", `{"chainId":1}`)
	f.Add("", "", `{"chainId":"`)
	f.Fuzz(func(t *testing.T, chainID, request, raw string) {
		body, err := json.Marshal(map[string]string{"chainId": chainID, "request": request})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range []string{string(body), raw} {
			requireWaspAnswer(t, serve(d, http.MethodPost, "/v1/requests/offledger", b),
				http.StatusAccepted, http.StatusBadRequest, http.StatusNotFound)
		}
	})
}

func FuzzFaucetRoute(f *testing.F) {
	d, err := devnet.New(devnet.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = d.Shutdown(context.Background()) })
	agent := chain.AgentOf(cryptolib.NewKeyPair()).String()
	f.Add(`{"agentId":"` + agent + `","amount":"1000"}`)
	f.Add(`{"agentId":"` + agent + `","amount":0}`)
	f.Add(`{"agentId":"x","amount":1}`)
	f.Add(`{"seconds":5}`)
	f.Fuzz(func(t *testing.T, body string) {
		requireWaspAnswer(t, serve(d, http.MethodPost, "/devnet/faucet", body), http.StatusOK, http.StatusBadRequest)
		requireWaspAnswer(t, serve(d, http.MethodPost, "/devnet/clock/advance", body), http.StatusOK, http.StatusBadRequest)
	})
}

package provider

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/micropay/micropay/contract/payment"
)

// FuzzDecodePayRequest: any POST /pay body decodes to a payment priced at
// the configured price, or is refused with 400 or 413; never a panic.
func FuzzDecodePayRequest(f *testing.F) {
	pay := "01" + strings.Repeat("00", 84)
	f.Add([]byte(`{"payer":"x","payment":"` + pay + `","resource":"call-1"}`))
	f.Add([]byte(`{"payer":"x","payment":"` + pay + `","price":"0"}`))
	f.Add([]byte(`{"payer":"x","payment":"zz","price":7}`))
	f.Add([]byte(`{"price":"1000","extra":1}`))
	f.Add([]byte(`{"resource":"` + strings.Repeat("r", 5000) + `"}`))
	const price = 1000
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/pay", bytes.NewReader(body))
		reqs, batch, status, err := decodePayBody(httptest.NewRecorder(), r)
		if err != nil {
			if status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
				t.Fatalf("refused with status %d: %v", status, err)
			}
			return
		}
		if batch {
			return // FuzzDecodePayBatch
		}
		in, err := (&Provider{lookups: &lookups{}}).payRequest(reqs[0], price)
		if err != nil {
			return
		}
		if in.Price != price {
			t.Fatalf("price %d, want the configured %d", in.Price, price)
		}
		if got := in.Payment.Bytes(); len(got) != payment.WireSize || got[0] != payment.Version {
			t.Fatalf("decoded a payment of %d bytes, version %d", len(got), got[0])
		}
	})
}

package provider

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecodePayBatch: any POST /pay body decodes to one payment no larger
// than a single body may be, or to a batch of 1 to MaxPayBatch payments, or
// is refused with 400 or 413; never a panic.
func FuzzDecodePayBatch(f *testing.F) {
	item := `{"payer":"x","payment":"01` + strings.Repeat("00", 84) + `","resource":"call-1"}`
	f.Add([]byte(`{"payments":[` + item + `]}`))
	f.Add([]byte(`{"payments":[` + item + `,` + item + `,{"payer":"y","price":"10"}]}`))
	f.Add([]byte(`{"payments":[` + strings.TrimSuffix(strings.Repeat(item+",", MaxPayBatch+1), ",") + `]}`))
	f.Add([]byte(`{"payments":[]}`))
	f.Add([]byte(`{"payments":null}`))
	f.Add([]byte(`{"payments":{"payer":"x"}}`))
	f.Add([]byte(`{"payer":"x","payments":[` + item + `]}`))
	f.Add([]byte(`{"payments":[{"extra":1}]}`))
	f.Add([]byte(`{"payments":[` + item + `]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/pay", bytes.NewReader(body))
		reqs, batch, status, err := decodePayBody(httptest.NewRecorder(), r)
		switch {
		case err != nil:
			if status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
				t.Fatalf("refused with status %d: %v", status, err)
			}
		case !batch:
			if len(reqs) != 1 || len(body) > maxPayBody {
				t.Fatalf("a single body of %d bytes gave %d payments", len(body), len(reqs))
			}
		case len(reqs) < 1 || len(reqs) > MaxPayBatch:
			t.Fatalf("a batch of %d payments", len(reqs))
		}
	})
}

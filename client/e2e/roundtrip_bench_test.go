package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/consumer"
)

// BenchmarkPiece measures one paid piece over loopback HTTP against the
// real provider (paywall, acceptance, durable store) on the embedded
// chain, with a durable payer state: "402-exchange" as every piece was
// paid before pinned terms were paid pre-emptively (an unpaid request, its
// 402, the paid request; AllowPriceChange keeps it so), "pinned" with the
// origin's provider and price pinned (one paid request). roundtrips/piece
// counts the HTTP requests the provider saw.
func BenchmarkPiece(b *testing.B) {
	for _, c := range []struct {
		name     string
		exchange bool
	}{{"402-exchange", true}, {"pinned", false}} {
		b.Run(c.name, func(b *testing.B) {
			s, paywall := newShop(b, 1)
			var requests atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				paywall.ServeHTTP(w, r)
			}))
			defer srv.Close()
			tr, err := consumer.NewTransport(s.payer, consumer.TransportOptions{Base: srv.Client().Transport,
				MaxPrice: 1, MaxTotal: 1 << 40, AllowPriceChange: c.exchange})
			require.NoError(b, err)
			client := &http.Client{Transport: tr}
			fetch := func() {
				resp, err := client.Get(srv.URL + "/piece")
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			fetch() // pins the origin and its price
			requests.Store(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				fetch()
			}
			b.StopTimer()
			b.ReportMetric(float64(requests.Load())/float64(b.N), "roundtrips/piece")
		})
	}
}

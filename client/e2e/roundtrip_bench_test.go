package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
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
			ctx := context.Background()
			e, err := solochain.New(solochain.Options{Name: b.Name()})
			require.NoError(b, err)
			defer e.Close()
			provKey, payKey := cryptolib.NewKeyPair(), cryptolib.NewKeyPair()
			prov, payer := chain.AgentOf(provKey), chain.AgentOf(payKey)
			require.NoError(b, e.Fund(ctx, prov, funds))
			require.NoError(b, e.Fund(ctx, payer, 1_000_000_000))
			st, err := store.Open(filepath.Join(b.TempDir(), "provider"))
			require.NoError(b, err)
			defer st.Close()
			p, err := provider.New(ctx, provider.Config{Chain: e, Key: provKey, Store: st, PollInterval: 30 * time.Second,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			require.NoError(b, err)
			var requests atomic.Int64
			paywall := p.Paywall(provider.FixedPrice(1, "one piece"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "piece")
			}))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				paywall.ServeHTTP(w, r)
			}))
			defer srv.Close()
			states, err := consumer.OpenPayerState(filepath.Join(b.TempDir(), "payer"))
			require.NoError(b, err)
			defer states.Close()
			c2 := &consumer.Consumer{Chain: e, Key: payKey, Payer: consumer.NewPayer(e, payKey, states)}
			_, err = c2.AddWarrant(ctx, prov, 900_000_000, 0)
			require.NoError(b, err)
			tr, err := consumer.NewTransport(c2.Payer, consumer.TransportOptions{Base: srv.Client().Transport,
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

package provider_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract/payment"
)

// BenchmarkIntake measures the provider accepting payments into the durable
// (pebble, fsync) store: in-process (Accept) and over HTTP on loopback
// (POST /pay), with 1 and 64 consumers paying concurrently, each on its own
// warrant. Payments are signed before the timer starts: this is the
// provider's cost. It reports payments/s and p50/p99 latency.
// benchToken is the POST /pay credential of the benchmark's server.
const benchToken = "bench0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"

func BenchmarkIntake(b *testing.B) {
	for _, transport := range []string{"inprocess", "http"} {
		for _, consumers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/consumers-%d", transport, consumers), func(b *testing.B) {
				benchIntake(b, transport == "http", consumers)
			})
		}
	}
}

type benchPayer struct {
	agent isc.AgentID
	pays  []payment.Payment
}

func benchIntake(b *testing.B, overHTTP bool, consumers int) {
	ctx := context.Background()
	e, err := solochain.New(solochain.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	provKey := cryptolib.NewKeyPair()
	prov := chain.AgentOf(provKey)
	perPayer := b.N/consumers + 2
	payers := make([]*benchPayer, consumers)
	for i := range payers {
		key := cryptolib.NewKeyPair()
		agent := chain.AgentOf(key)
		if err := e.Fund(ctx, agent, 100_000_000); err != nil {
			b.Fatal(err)
		}
		if _, err := chain.AddWarrant(ctx, e, key, chain.AddWarrantRequest{Provider: prov, Amount: 50_000_000, RegisterKey: true}); err != nil {
			b.Fatal(err)
		}
		w := chain.PaymentWarrant(e, agent, prov)
		bp := &benchPayer{agent: agent, pays: make([]payment.Payment, perPayer)}
		for j := range bp.pays {
			ord := uint64(j + 1)
			bp.pays[j] = payment.Sign(key.GetPrivateKey().AsStdKey(), w, 1, ord, ord*10)
		}
		payers[i] = bp
	}
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p, err := provider.New(ctx, provider.Config{
		Chain: e, Key: provKey, Store: st, InfoMaxAge: 9 * time.Minute, // below the default margin; no expiry in a run
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	var url string
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: consumers}}
	if overHTTP {
		pay, err := p.PayHandler(provider.PayConfig{Price: 10, Token: benchToken})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(pay)
		defer srv.Close()
		url = srv.URL
	}
	pay := func(bp *benchPayer, j int) error {
		if !overHTTP {
			_, err := p.Accept(ctx, provider.Payment{Payer: bp.agent, Payment: bp.pays[j], Price: 10})
			return err
		}
		body, _ := json.Marshal(provider.PayRequest{Payer: bp.agent.String(), Payment: hex.EncodeToString(bp.pays[j].Bytes())})
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+benchToken)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// Warm the provider's cache of each warrant (one chain read each).
	for _, bp := range payers {
		if err := pay(bp, 0); err != nil {
			b.Fatal(err)
		}
	}

	latencies := make([][]time.Duration, consumers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, bp := range payers {
		n := b.N / consumers
		if i < b.N%consumers {
			n++
		}
		wg.Add(1)
		go func(i int, bp *benchPayer, n int) {
			defer wg.Done()
			lat := make([]time.Duration, 0, n)
			for j := 1; j <= n; j++ {
				t0 := time.Now()
				if err := pay(bp, j); err != nil {
					b.Error(err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			latencies[i] = lat
		}(i, bp, n)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "payments/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}
